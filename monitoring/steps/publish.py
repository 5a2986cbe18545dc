"""Step 4: publish the staged reports and summary with the day's entry of the metric store, manifest last; and fold
what labels later tell about a published day into its summary (`refresh_summary`)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from monitoring import history, manifest, rules
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.records import LabelsReport, Performance
from monitoring.storage import JSON, ObjectStore
from monitoring.summary import summary_from_json

log = logging.getLogger(__name__)

SUMMARY_REFRESH_ROUNDS = 5


def label_sections(store: ObjectStore, layout: DayLayout) -> tuple[Performance | None, LabelsReport | None]:
    """The day's performance.json and labels.json (None before the labels' runs wrote them)."""
    def read(key: str, kind):
        try:
            return kind.model_validate_json(store.get_bytes(key))
        except FileNotFoundError:
            return None

    return read(layout.performance, Performance), read(layout.labels_report, LabelsReport)


def publish_day(store: ObjectStore, model: ModelConfig, day: Any, run: dict[str, Any] | None = None, *,
                now: dt.datetime) -> dict[str, str]:
    """Publish the staged reports and summary with the day's entry of the metric store, manifest last. A rerun keeps
    what labels already told about the day (performance only grows with more labels)."""
    layout = DayLayout.of(model, day)
    summary = summary_from_json(store.get_bytes(layout.staged_summary)).with_labels(*label_sections(store, layout))
    metrics = history.day_metrics(summary, rules.findings(summary, model))
    mark_stale_pages(store, layout, summary.to_json())
    urls = manifest.publish(store, layout, run or {}, now, [
        (layout.summary, summary.to_json(), JSON),
        (layout.day_metrics, metrics.model_dump_json(indent=2).encode(), JSON),
        *([(layout.state, store.get_bytes(layout.staged_state), JSON)] if store.exists(layout.staged_state) else []),
    ], reports=summary.report_names)
    for name, url in sorted(urls.items()):
        log.info("published %s", url)
    return urls


def refresh_summary(store: ObjectStore, model: ModelConfig, layout: DayLayout, now: dt.datetime) -> bool:
    """Fold the day's performance.json and labels.json into its published summary.json and metric-store entry, and
    list both in its manifest; True when any of them changed (its pages are then stale: see `mark_stale_pages`).

    A run that died between these writes left them disagreeing: the next run finds and completes them, whatever it
    has to do besides. Other runs may update the same day's performance at the same time: after writing, the
    components are read again and the summary is rebuilt if one changed meanwhile, so the last summary written holds
    the latest of both."""
    changed = False
    for _ in range(SUMMARY_REFRESH_ROUNDS):
        sections = label_sections(store, layout)
        current = store.get_bytes(layout.summary)
        summary = summary_from_json(current).with_labels(*sections)
        data = summary.to_json()
        metrics = history.day_metrics(summary, rules.findings(summary, model)).model_dump_json(indent=2).encode()
        stale = [(key, new) for key, new, old in ((layout.summary, data, current),
                                                  (layout.day_metrics, metrics, _bytes(store, layout.day_metrics)))
                 if new != old]
        unrecorded = any(manifest.recorded(store, layout, key) != manifest.sha256(new)
                         for key, new in ((layout.summary, data), (layout.day_metrics, metrics)))
        if stale or unrecorded:
            mark_stale_pages(store, layout, data)
            for key, new in stale:
                store.put_bytes(key, new, JSON)
            manifest.record_update(store, layout, [(layout.summary, data), (layout.day_metrics, metrics)], now)
            changed = True
        if label_sections(store, layout) == sections:
            return changed
    raise RuntimeError(f"the performance of {layout.model} on {layout.day} kept changing while it was folded into "
                       "its summary; the next run retries")


def _bytes(store: ObjectStore, key: str) -> bytes | None:
    try:
        return store.get_bytes(key)
    except FileNotFoundError:
        return None


def mark_stale_pages(store: ObjectStore, layout: DayLayout, summary: bytes) -> None:
    """Before a published day's summary changes: its pages are to be redrawn from `summary`. The next `update_site`
    (this run's, its retry's or any later run's) redraws them and removes the marker once what it drew is that
    summary, so a run that dies between the summary and its pages leaves them to be redrawn, not stale for good."""
    store.put_json(layout.stale_page, {"day": layout.day.isoformat(), "summary_sha256": manifest.sha256(summary)})
