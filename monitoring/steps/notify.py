"""Step 7: what the run's decision means for people. `alert_day` (the `alert` branch) records the day's alerts and
sends the run's one message about new alerts and resolutions; `healthy_day` (the `healthy` branch) clears an alert
record an earlier run of the day left and may send "resolved". Both write `decisions.json`, and never page from a
quiet run (a backfill, an old day, a run told not to notify): those add to the model's digest instead.

Both read the decision `decide` persisted; neither decides anything again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from monitoring import alerts, episodes, history, manifest
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.steps.decide import Decision, read_decision
from monitoring.storage import JSON, ObjectStore, dumps

log = logging.getLogger(__name__)


def alert_day(store: ObjectStore, model: ModelConfig, day: Any, *, now: dt.datetime, backfill: bool = False,
              notify: bool = True, send: alerts.Sender | None = None) -> dict[str, Any]:
    """The `alert` branch: write alerts.json and log each finding at error level, then notify (see `_notify`)."""
    layout = DayLayout.of(model, day)
    decision = read_decision(store, model, day)
    if not decision.alerting:
        raise ValueError(f"the decision of {layout.day} for {model.name!r} has nothing to alert: it takes the "
                         "healthy branch")
    alerts.record_alerts(store, layout, decision.alerting, decision.links)
    return _notify(store, model, layout, decision, now, backfill, notify, send)


def healthy_day(store: ObjectStore, model: ModelConfig, day: Any, *, now: dt.datetime, backfill: bool = False,
                notify: bool = True, send: alerts.Sender | None = None) -> dict[str, Any]:
    """The `healthy` branch: remove an alert record an earlier run of the day left, then notify (resolutions)."""
    layout = DayLayout.of(model, day)
    decision = read_decision(store, model, day)
    if decision.alerting:
        raise ValueError(f"the decision of {layout.day} for {model.name!r} alerts: it takes the alert branch")
    if alerts.clear_alerts(store, layout):
        log.info("removed the alert record of an earlier run: the day is healthy now")
    return _notify(store, model, layout, decision, now, backfill, notify, send)


def _notify(store: ObjectStore, model: ModelConfig, layout: DayLayout, decision: Decision, now: dt.datetime,
            backfill: bool, notify: bool, send: alerts.Sender | None) -> dict[str, Any]:
    """Send this run's message when it has something new and is not quiet (else add its alerts to the digest), and
    write decisions.json."""
    quiet = episodes.quiet_reason(model.alerts.max_age_days, layout.day, now.date(), backfill, notify)
    sent = alerts.sent_episodes(store, layout)
    planned = episodes.plan_notices(model.alerts, model.name, layout.day, decision.alerting, decision.links, quiet,
                                    decision.recent or history.rules_by_day(store, layout), sent,
                                    alerts.open_segments(store, layout, sent))
    delivered: list[str] = []
    if quiet:
        alerts.add_to_digest(store, layout, decision.alerting, quiet)
        log.info("no message sent: %s", quiet)
    elif planned.message and send is None:
        delivered = ["no channel configured (alerts.channels): the message is only recorded here"]
    elif planned.message:
        delivered = alerts.deliver(store, layout, planned, send, now.isoformat(timespec="seconds"))
    for line in planned.skipped:
        log.info("not alerted: %s", line)
    record = {"model": model.name, "day": layout.day.isoformat(), "branches": decision.branches, "why": decision.why,
              "findings": [f.model_dump(mode="json") for f in decision.findings],
              "retraining": decision.retrain.conf() if decision.retrain else None,
              "retraining_held": decision.retrain_held,
              "notification": {"quiet": quiet, "message": planned.message.model_dump() if planned.message else None,
                               "skipped": planned.skipped, "delivered": delivered}}
    data = dumps(record)
    store.put_bytes(layout.decisions, data, JSON)
    manifest.record_update(store, layout, [(layout.decisions, data)], now)
    return record
