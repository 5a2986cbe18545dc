"""Alerts people trust: the day's alert record, and which messages a run sends (at most one per run and model).

Noise control, with its state on S3 so it survives workers, retries and reruns:
- **episodes**: a rule fires on bad days (a finding at warning or critical); an episode starts on its first bad day
  and lasts until the rule stayed quiet for `alerts.resolve_after` days in a row (a "resolved" message follows), so
  a rule hovering at its line (bad, good, bad) is one episode, not one page per crossing. Hysteresis: an episode is
  alerted once the rule was bad `alerts.fire_after` days in a row.
- **dedup**: each message about an episode is claimed with a conditional S3 write (`alert-state/sent/<rule>/
  start=<day>.<kind>.json`) before it is sent, so a rerun, a retry or a concurrent run never sends it twice.
- **cooldown**: a new episode of a rule within `alerts.cooldown_days` of the resolution of its previous alerted
  episode waits (it is sent by a later run if it still lasts).
- **quiet runs never page**: a run of a day older than `alerts.max_age_days`, any backfill run, or a run told not to
  notify records its alerts (alerts.json, decisions.json) and adds them to the model's pending digest; the digest is
  sent once, when no quiet run added to it for `alerts.digest_quiet_minutes`.

Whether a day was bad comes from the metric store (`alerting_rules` of each published day), never from the wall
clock or the order runs happened in; only the quiet-run test looks at today's date.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from monitoring import history
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, ModelLayout
from monitoring.rules import Finding, Severity
from monitoring.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)

HISTORY_DAYS = 120  # how far back an episode's start is looked for


def alert_record(layout: DayLayout, findings: list[Finding], reports: dict[str, str]) -> dict:
    severity = max(findings, key=lambda f: f.severity.rank).severity.value if findings else None
    return {"model": layout.model, "day": layout.day.isoformat(), "severity": severity,
            "findings": [f.model_dump(mode="json") for f in findings], "reports": reports}


def record_alerts(store: ObjectStore, layout: DayLayout, findings: list[Finding], reports: dict[str, str]) -> str:
    """Write alerts.json for the day and log each finding at error level; returns the record's S3 URL."""
    record = alert_record(layout, findings, reports)
    url = store.put_json(layout.alerts, record)
    for finding in findings:
        log.error("ALERT %s %s %s [%s]: %s Action: %s", layout.model, layout.day, finding.rule,
                  finding.severity.value, finding.message, finding.action)
    log.error("ALERT %s %s: %d finding(s), record at %s", layout.model, layout.day, len(findings), url)
    return url


def clear_alerts(store: ObjectStore, layout: DayLayout) -> bool:
    """Remove an alert record left by an earlier run of a day that is now healthy. True if one was removed."""
    if store.exists(layout.alerts):
        store.delete(layout.alerts)
        return True
    return False


# --- messages --------------------------------------------------------------------------------------------------
class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Notice(_Frozen):
    kind: str  # "alert" or "resolved"
    rule: str
    severity: str
    episode_start: str
    message: str
    action: str


class Message(_Frozen):
    """One message of one run of one model: its new alerts and resolutions, grouped, with links to the evidence."""

    model: str
    day: str
    notices: list[Notice]
    still_firing: list[str]  # rules of episodes already alerted that go on (context, not re-sent)
    links: dict[str, str]

    @property
    def severity(self) -> str:
        ranks = [Severity(n.severity).rank for n in self.notices if n.kind != "resolved"]
        return ["info", "warning", "critical"][max(ranks)] if ranks else "resolved"

    @property
    def title(self) -> str:
        alerts = [n.rule for n in self.notices if n.kind == "alert"]
        resolved = [n.rule for n in self.notices if n.kind == "resolved"]
        failed = [n.rule for n in self.notices if n.kind == "failure"]
        late = [n.rule for n in self.notices if n.kind == "late"]
        parts = ([f"{len(alerts)} alert(s): {', '.join(alerts)}"] if alerts else []) + (
            [f"resolved: {', '.join(resolved)}"] if resolved else []) + (
            [f"failed: {', '.join(failed)}"] if failed else []) + ([f"late: {', '.join(late)}"] if late else [])
        return f"[{self.severity}] {self.model} {self.day}: {'; '.join(parts)}"

    def text(self) -> str:
        lines = [self.title]
        for n in self.notices:
            since = {"alert": f" (since {n.episode_start})", "resolved": f" (episode from {n.episode_start})"}.get(
                n.kind, "")
            lines.append(f"- {n.kind.upper()} {n.rule} [{n.severity}]{since}: {n.message}"
                         + (f" What to do: {n.action}" if n.action else ""))
        if self.still_firing:
            lines.append(f"Still firing, already alerted: {', '.join(self.still_firing)}.")
        if "day_page" in self.links:
            lines.append(f"Day page: {self.links['day_page']}")
        return "\n".join(lines)

    def payload(self) -> dict:
        """The JSON body of the webhook channel."""
        return {"model": self.model, "day": self.day, "severity": self.severity, "title": self.title,
                "notices": [n.model_dump() for n in self.notices], "still_firing": self.still_firing,
                "links": self.links}


def failure_message(model: str, day: str, task: str, run_id: str, tries: int, error: str,
                    links: dict[str, str]) -> Message:
    """The notice of a monitoring task that failed after its retries (sent through the alert channels)."""
    return Message(model=model, day=day, still_firing=[], links=links, notices=[Notice(
        kind="failure", rule=task, severity="critical", episode_start=day,
        message=f"task {task} of run {run_id} failed after {tries} tries: {error[:500]}",
        action="Open the task's log in Airflow; fix the cause named there and clear the task to rerun the day.")])


def logs_late(store: ObjectStore, model: ModelConfig, day: str, *, now: dt.datetime, backfill: bool,
              found: Callable[[], bool]) -> Message | None:
    """The one "logs late" notice of a model-day whose `storage.deadline_minutes` passed: None for a backfill, a day
    older than `alerts.max_age_days`, logs that have landed by now (`found`), or a day already noticed (the first
    caller claims the day on S3: a rerun or a second run of the day sends nothing)."""
    layout = DayLayout.of(model, day)
    why = quiet_reason(model, layout.day, now.date(), backfill, True)
    if why:
        log.info("logs of %s %s late, no notice: %s", model.name, day, why)
        return None
    if found():
        log.info("logs of %s %s landed after all: no notice", model.name, day)
        return None
    minutes = model.storage.deadline_minutes
    if not store.create_json(layout.late_notice("logs", day), {"day": layout.day.isoformat(), "at": now.isoformat()}):
        log.info("logs of %s %s late: the notice went out already", model.name, day)
        return None
    return Message(model=model.name, day=layout.day.isoformat(), still_firing=[],
                   links={"expected_at": store.url(layout.predictions_dir)}, notices=[Notice(
                       kind="late", rule="logs_late", severity="warning", episode_start=layout.day.isoformat(),
                       message=(f"no complete prediction logs under {store.url(layout.predictions_dir)} "
                                f"{minutes} minutes after the day ended (storage.deadline_minutes); the run keeps "
                                f"waiting up to storage.wait_minutes ({model.storage.wait_minutes})"),
                       action="Check the job that exports the model's prediction logs; the run goes on by itself "
                              "once they land.")])


class Plan(_Frozen):
    """What a run does about notifications, and why (written to decisions.json)."""

    quiet: str | None  # why nothing is sent by this run (backfill, old day, told not to), else None
    message: Message | None
    skipped: list[str]  # plain words: notices not sent and why (already sent, cooldown, hysteresis)


# --- episodes ---------------------------------------------------------------------------------------------------
def bad_days(recent: dict[str, history.DayMetrics], day: dt.date, today_rules: list[str]) -> dict[str, set[str]]:
    """Alerting rules per published day up to `day` (see history.rules_by_day), this day's from its own run."""
    return {**{d: set(m.alerting_rules) for d, m in recent.items()}, day.isoformat(): set(today_rules)}


def _episode_start(rule: str, known: dict[str, set[str]], day: dt.date, resolve_after: int) -> dt.date:
    """First bad day of the episode `rule` is in on `day` (a bad day): back over bad days and over quiet gaps shorter
    than `resolve_after` (the episode was never resolved across them), to a gap that resolved it or an unknown day."""
    start, back, quiet = day, 1, 0
    while back < HISTORY_DAYS:
        rules = known.get((day - dt.timedelta(days=back)).isoformat())
        if rules is None:
            break
        if rule in rules:
            start, quiet = day - dt.timedelta(days=back), 0
        else:
            quiet += 1
            if quiet >= resolve_after:
                break
        back += 1
    return start


def _last_bad_before(rule: str, known: dict[str, set[str]], before: dt.date) -> dt.date | None:
    bad = [d for d, rules in known.items() if rule in rules and d < before.isoformat()]
    return dt.date.fromisoformat(max(bad)) if bad else None


def _streak(rule: str, known: dict[str, set[str]], day: dt.date, bad: bool) -> int:
    """Consecutive known days ending on `day` on which `rule` was bad (or good, with bad=False)."""
    count = 0
    while count < HISTORY_DAYS:
        rules = known.get((day - dt.timedelta(days=count)).isoformat())
        if rules is None or (rule in rules) != bad:
            return count
        count += 1
    return count


def _sent(store: ObjectStore, layout: ModelLayout) -> dict[str, dict[str, set[str]]]:
    """Episodes with a message, per rule: rule -> episode start -> kinds sent ("alert", "resolved"). One listing."""
    episodes: dict[str, dict[str, set[str]]] = {}
    for key in store.keys(layout.sent_alerts_dir):
        rule, start, kind = layout.parse_sent_alert(key)
        episodes.setdefault(rule, {}).setdefault(start, set()).add(kind)
    return episodes


def quiet_reason(model: ModelConfig, day: dt.date, today: dt.date, backfill: bool, notify: bool) -> str | None:
    if not notify:
        return "the run was told not to notify"
    if backfill:
        return "a backfill run never pages (its alerts go to the digest)"
    age = (today - day).days
    if age > model.alerts.max_age_days:
        return f"the day is {age} days old, older than alerts.max_age_days ({model.alerts.max_age_days})"
    return None


def plan(store: ObjectStore, model: ModelConfig, layout: DayLayout, alerting: list[Finding],
         links: dict[str, str], quiet: str | None, recent: dict[str, history.DayMetrics]) -> Plan:
    """Which new alerts and resolutions this run's message carries. `recent`: the metric store's days up to this
    one (`history.rules_by_day`), which tell how long each rule has fired."""
    settings = model.alerts
    day = layout.day
    known = bad_days(recent, day, [f.rule for f in alerting])
    sent_by_rule = _sent(store, layout)
    notices, still, skipped = [], [], []
    for finding in alerting:
        streak = _streak(finding.rule, known, day, bad=True)
        first = _episode_start(finding.rule, known, day, settings.resolve_after)
        start = first.isoformat()
        sent = sent_by_rule.get(finding.rule, {})
        if "alert" in sent.get(start, set()):
            still.append(finding.rule)
            skipped.append(f"{finding.rule}: already alerted for its episode since {start}")
            continue
        if streak < settings.fire_after:
            skipped.append(f"{finding.rule}: bad {streak} day(s) in a row, alerted from {settings.fire_after}")
            continue
        earlier = sorted(s for s, kinds in sent.items() if s < start and "alert" in kinds)
        last_bad = _last_bad_before(finding.rule, known, first) if earlier else None
        resolved_on = last_bad + dt.timedelta(days=settings.resolve_after) if last_bad else None
        if resolved_on and (day - resolved_on).days < settings.cooldown_days:
            skipped.append(f"{finding.rule}: cooling down, its episode since {earlier[-1]} resolved on {resolved_on} "
                           f"(alerts.cooldown_days {settings.cooldown_days})")
            continue
        notices.append(Notice(kind="alert", rule=finding.rule, severity=finding.severity.value, episode_start=start,
                              message=finding.message, action=finding.action))
    firing = {f.rule for f in alerting}
    for rule, sent in sorted(sent_by_rule.items()):
        if rule in firing:
            continue
        open_episodes = sorted(s for s, kinds in sent.items()
                               if "alert" in kinds and "resolved" not in kinds and s <= day.isoformat())
        quiet_days = _streak(rule, known, day, bad=False)
        if open_episodes and quiet_days >= settings.resolve_after:
            notices.append(Notice(kind="resolved", rule=rule, severity="info", episode_start=open_episodes[-1],
                                  message=f"{rule} has not fired for {quiet_days} day(s).", action=""))
    message = Message(model=model.name, day=day.isoformat(), notices=notices, still_firing=sorted(still),
                      links=links) if notices else None
    return Plan(quiet=quiet, message=message, skipped=skipped)


Sender = Callable[[Message], list[str]]  # sends to every channel; returns what was done, per channel


def deliver(store: ObjectStore, layout: DayLayout, planned: Plan, send: Sender, now: str) -> list[str]:
    """Claim each notice (so no other run sends it), send the message once, and return what happened.

    A claim is released when sending fails, so the task's retry sends it."""
    if planned.message is None or planned.quiet:
        return []
    claimed = []
    for notice in planned.message.notices:
        key = layout.sent_alert(notice.rule, notice.episode_start, notice.kind)
        record = {**notice.model_dump(), "model": layout.model, "sent_by_day": layout.day.isoformat(), "sent_at": now}
        if store.create_json(key, record):
            claimed.append((notice, key))
    if not claimed:
        return ["every notice was already sent by another run"]
    message = planned.message.model_copy(update={"notices": [n for n, _ in claimed]})
    try:
        done = send(message)
    except Exception:
        for _, key in claimed:
            try:
                store.delete(key)
            except StorageError:
                log.exception("could not release the claim %s", key)
        raise
    log.warning("NOTIFIED %s", message.title)
    return done


def _digest_findings(alerting: list[Finding]) -> list[dict[str, str]]:
    return [{"rule": f.rule, "severity": f.severity.value, "message": f.message} for f in alerting]


def add_to_digest(store: ObjectStore, layout: DayLayout, alerting: list[Finding], why: str) -> None:
    """A quiet run's alerts, for the model's next digest (rewritten by a rerun of the day, so never counted twice).
    Alerts a sent digest already reported for the day (a second backfill over the same days) are not added again."""
    findings = _digest_findings(alerting)
    reported = store.get_json(layout.digested) if store.exists(layout.digested) else None
    if not alerting or (reported is not None and reported["findings"] == findings):
        store.delete(layout.pending_digest)
        return
    store.put_json(layout.pending_digest, {"day": layout.day.isoformat(), "why_quiet": why, "findings": findings})


@dataclass(frozen=True)
class Digest:
    """A model's pending digest: its message, the days it covers and the pending records it clears once sent."""

    message: Message
    first: str
    last: str
    entries: list[dict]
    keys: list[str]


def digest(store: ObjectStore, model: ModelConfig, now: dt.datetime) -> Digest | None:
    """The pending digest of a model once no quiet run added to it for `alerts.digest_quiet_minutes`; else None."""
    layout = ModelLayout.of(model)
    pending = store.list(layout.pending_digest_dir)
    quiet_for = now.timestamp() - max((o.last_modified for o in pending), default=0.0)
    if not pending or quiet_for < 60 * model.alerts.digest_quiet_minutes:
        return None
    records = sorted(((o.key, store.get_json(o.key)) for o in pending), key=lambda r: r[1]["day"])
    entries = [entry for _, entry in records]
    by_rule: dict[str, list[str]] = {}
    for entry in entries:
        for finding in entry["findings"]:
            by_rule.setdefault(finding["rule"], []).append(entry["day"])
    notices = [Notice(kind="alert", rule=rule, severity=max(
        (f["severity"] for e in entries for f in e["findings"] if f["rule"] == rule), key=lambda s: Severity(s).rank),
        episode_start=days[0], message=f"on {len(days)} day(s) from {days[0]} to {days[-1]}", action="")
        for rule, days in sorted(by_rule.items())]
    first, last = entries[0]["day"], entries[-1]["day"]
    message = Message(model=model.name, day=f"{first}..{last} (digest of quiet runs)", notices=notices,
                      still_firing=[], links={})
    return Digest(message, first, last, entries, [key for key, _ in records])


def send_digest(store: ObjectStore, model: ModelConfig, send: Sender, now: dt.datetime) -> Message | None:
    """Send the model's pending digest once (claimed by its day range), then clear what it covered."""
    found = digest(store, model, now)
    if found is None:
        return None
    layout = ModelLayout.of(model)
    claim = layout.sent_digest(found.first, found.last)
    if store.create_json(claim, found.message.model_dump()):
        try:
            send(found.message)
        except Exception:
            store.delete(claim)
            raise
        log.warning("NOTIFIED digest %s", found.message.title)
    for key, entry in zip(found.keys, found.entries):
        store.put_json(layout.on(entry["day"]).digested, {"day": entry["day"], "findings": entry["findings"]})
        store.delete(key)
    return found.message
