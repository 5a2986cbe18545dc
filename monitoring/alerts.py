"""The alert record of a model-day (`alerts.json`) and the log line an on-call person greps for."""

from __future__ import annotations

import logging

from monitoring.layout import DayLayout
from monitoring.rules import Finding
from monitoring.storage import ObjectStore

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
