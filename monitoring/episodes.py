"""Which messages a run sends about its model's alerts, decided from what is known (pure: no object store; the
messages already sent are handed in by `monitoring.alerts`, which claims and delivers them).

- **episodes**: a rule fires on bad days (a finding at warning or critical); an episode starts on its first bad day
  and lasts until the rule stayed quiet for `alerts.resolve_after` days in a row (a "resolved" message follows), so
  a rule hovering at its line (bad, good, bad) is one episode, not one page per crossing. Hysteresis: an episode is
  alerted once the rule was bad `alerts.fire_after` days in a row.
- **cooldown**: a new episode of a rule within `alerts.cooldown_days` of the resolution of its previous alerted
  episode waits (it is sent by a later run if it still lasts).
- **quiet runs never page**: a run of a day older than `alerts.max_age_days`, any backfill run, or a run told not to
  notify.

Whether a day was bad comes from the metric store (`alerting_rules` of each published day), never from the wall
clock or the order runs happened in; only the quiet-run test looks at today's date.
"""

from __future__ import annotations

import datetime as dt

from monitoring.config import AlertsConfig
from monitoring.history import DayMetrics
from monitoring.rules import Finding, Severity
from monitoring.vocabulary import Record

HISTORY_DAYS = 120  # how far back an episode's start is looked for


class Notice(Record):
    kind: str  # "alert" or "resolved"
    rule: str
    episode: str = ""  # what the episode is keyed by (`Finding.episode`): the rule, or the rule and its segment
    segment: str | None = None  # the segment a segment's finding is about
    severity: str
    episode_start: str
    message: str
    action: str


class Message(Record):
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
            where = f" in {n.segment}" if n.segment else ""
            lines.append(f"- {n.kind.upper()} {n.rule}{where} [{n.severity}]{since}: {n.message}"
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


class NoticePlan(Record):
    """What a run does about notifications, and why (written to decisions.json)."""

    quiet: str | None  # why nothing is sent by this run (backfill, old day, told not to), else None
    message: Message | None
    skipped: list[str]  # plain words: notices not sent and why (already sent, cooldown, hysteresis)


def bad_days(recent: dict[str, DayMetrics], day: dt.date, today_rules: list[str]) -> dict[str, set[str]]:
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


def quiet_reason(max_age_days: int, day: dt.date, today: dt.date, backfill: bool, notify: bool) -> str | None:
    """Why a run pages nobody (its alerts go to the digest), or None when it may send."""
    if not notify:
        return "the run was told not to notify"
    if backfill:
        return "a backfill run never pages (its alerts go to the digest)"
    age = (today - day).days
    if age > max_age_days:
        return f"the day is {age} days old, older than alerts.max_age_days ({max_age_days})"
    return None


def open_starts(sent: dict[str, set[str]]) -> list[str]:
    """The starts of a rule's episodes alerted and not yet resolved (`sent`: episode start -> kinds sent), oldest
    first."""
    return sorted(s for s, kinds in sent.items() if "alert" in kinds and "resolved" not in kinds)


def plan_notices(settings: AlertsConfig, model: str, day: dt.date, alerting: list[Finding], links: dict[str, str],
                 quiet: str | None, recent: dict[str, DayMetrics],
                 sent_by_rule: dict[str, dict[str, set[str]]], segments: dict[str, str] | None = None) -> NoticePlan:
    """Which new alerts and resolutions this run's message carries. `recent`: the metric store's days up to this
    one (`history.rules_by_day`), which tell how long each rule has fired; `sent_by_rule`: the messages already sent,
    rule -> episode start -> kinds sent ("alert", "resolved"); `segments`: the segment of each open segment's
    episode (`alerts.open_segments`), named in its resolution."""
    known = bad_days(recent, day, [f.episode for f in alerting])
    notices, still, skipped = [], [], []
    for finding in alerting:
        key = finding.episode
        streak = _streak(key, known, day, bad=True)
        first = _episode_start(key, known, day, settings.resolve_after)
        start = first.isoformat()
        sent = sent_by_rule.get(key, {})
        if "alert" in sent.get(start, set()):
            still.append(finding.rule + (f" in {finding.segment}" if finding.segment else ""))
            skipped.append(f"{key}: already alerted for its episode since {start}")
            continue
        if streak < settings.fire_after:
            skipped.append(f"{key}: bad {streak} day(s) in a row, alerted from {settings.fire_after}")
            continue
        earlier = sorted(s for s, kinds in sent.items() if s < start and "alert" in kinds)
        last_bad = _last_bad_before(key, known, first) if earlier else None
        resolved_on = last_bad + dt.timedelta(days=settings.resolve_after) if last_bad else None
        if resolved_on and (day - resolved_on).days < settings.cooldown_days:
            skipped.append(f"{key}: cooling down, its episode since {earlier[-1]} resolved on {resolved_on} "
                           f"(alerts.cooldown_days {settings.cooldown_days})")
            continue
        notices.append(Notice(kind="alert", rule=finding.rule, episode=key, segment=finding.segment,
                              severity=finding.severity.value, episode_start=start, message=finding.message,
                              action=finding.action))
    firing = {f.episode for f in alerting}
    for rule, sent in sorted(sent_by_rule.items()):
        if rule in firing:
            continue
        open_episodes = [s for s in open_starts(sent) if s <= day.isoformat()]
        quiet_days = _streak(rule, known, day, bad=False)
        if open_episodes and quiet_days >= settings.resolve_after:
            name, _, segmented = rule.partition("-")  # a segment's episode: its rule and its segment's digest
            segment = (segments or {}).get(rule)
            where = f" in {segment}" if segment else " (in one segment)" if segmented else ""
            notices.append(Notice(kind="resolved", rule=name, episode=rule, segment=segment, severity="info",
                                  episode_start=open_episodes[-1], action="",
                                  message=f"{name}{where} has not fired for {quiet_days} day(s)."))
    message = Message(model=model, day=day.isoformat(), notices=notices, still_firing=sorted(still),
                      links=links) if notices else None
    return NoticePlan(quiet=quiet, message=message, skipped=skipped)
