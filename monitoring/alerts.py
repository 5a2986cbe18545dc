"""Alerts people trust, on S3: the day's alert record, the messages already sent (each claimed once with a conditional
write, `alert-state/sent/<rule>/start=<day>.<kind>.json`, so a rerun, a retry or a concurrent run never sends it
twice), their delivery, the "logs late" notice, and the digest of quiet runs (sent once, when no quiet run added to
it for `alerts.digest_quiet_minutes`). Which messages a run sends is decided in `monitoring.episodes`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from monitoring.config import ModelConfig
from monitoring.episodes import Message, Notice, NoticePlan, open_starts, quiet_reason
from monitoring.layout import DayLayout, ModelLayout
from monitoring.rules import Finding, Severity
from monitoring.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)


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
    why = quiet_reason(model.alerts.max_age_days, layout.day, now.date(), backfill, True)
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


def sent_episodes(store: ObjectStore, layout: ModelLayout) -> dict[str, dict[str, set[str]]]:
    """Episodes with a message, per rule: rule -> episode start -> kinds sent ("alert", "resolved"). One listing."""
    episodes: dict[str, dict[str, set[str]]] = {}
    for key in store.keys(layout.sent_alerts_dir):
        rule, start, kind = layout.parse_sent_alert(key)
        episodes.setdefault(rule, {}).setdefault(start, set()).add(kind)
    return episodes


def open_segments(store: ObjectStore, layout: ModelLayout, sent: dict[str, dict[str, set[str]]]) -> dict[str, str]:
    """The segment of each segment's episode still open (alerted, not resolved): episode key -> segment, read from
    its alert's record (the key holds only the segment's digest), so its resolution can say where."""
    found = {}
    for episode, starts in sent.items():
        still_open = open_starts(starts)
        if "-" not in episode or not still_open:
            continue
        try:
            segment = store.get_json(layout.sent_alert(episode, still_open[-1], "alert")).get("segment")
        except FileNotFoundError:
            continue
        if segment:
            found[episode] = segment
    return found


Sender = Callable[[Message], list[str]]  # sends to every channel; returns what was done, per channel


def deliver(store: ObjectStore, layout: DayLayout, planned: NoticePlan, send: Sender, now: str) -> list[str]:
    """Claim each notice (so no other run sends it), send the message once, and return what happened.

    A claim is released when sending fails, so the task's retry sends it."""
    if planned.message is None or planned.quiet:
        return []
    claimed = []
    for notice in planned.message.notices:
        key = layout.sent_alert(notice.episode or notice.rule, notice.episode_start, notice.kind)
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
