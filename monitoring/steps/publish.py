"""Step 4: publish the staged reports and summary with the day's entry of the metric store, manifest last, then judge
the trailing windows the day completes or changes (`judge_trailing`); and fold what later runs tell about a published
day (its labels, its trailing judgement) into its summary (`refresh_summary`)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, NamedTuple

from monitoring import history, manifest, reference_store, rules, trailing, window_state, windows
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, ModelLayout
from monitoring.records import LabelsReport, Performance
from monitoring.reference import ReferenceProfile
from monitoring.steps.weekly import update_weeks
from monitoring.storage import JSON, ObjectStore, canonical
from monitoring.summary import DaySummary, summary_from_json
from monitoring.trailing import TrailingJudgement

log = logging.getLogger(__name__)

SUMMARY_REFRESH_ROUNDS = 5


class LaterSections(NamedTuple):
    """What runs after a day's own tell about it: the performance of its predictions and the labels that landed on it
    (monitoring.steps.performance), and its trailing judgement (`judge_trailing`); None before they are written."""

    performance: Performance | None
    labels: LabelsReport | None
    trailing: TrailingJudgement | None

    def folded_into(self, summary: DaySummary) -> DaySummary:
        return summary.with_labels(self.performance, self.labels).with_trailing(self.trailing)


def _read(store: ObjectStore, key: str, kind):
    try:
        return kind.model_validate_json(store.get_bytes(key))
    except FileNotFoundError:
        return None


def later_sections(store: ObjectStore, layout: DayLayout) -> LaterSections:
    """The day's performance.json, labels.json and window.json."""
    return LaterSections(_read(store, layout.performance, Performance), _read(store, layout.labels_report, LabelsReport),
                         _read(store, layout.trailing, TrailingJudgement))


def publish_day(store: ObjectStore, model: ModelConfig, day: Any, run: dict[str, Any] | None = None, *,
                now: dt.datetime) -> dict[str, str]:
    """Publish the staged reports and summary with the day's entry of the metric store, manifest last. A rerun keeps
    what labels already told about the day (performance only grows with more labels)."""
    layout = DayLayout.of(model, day)
    summary = later_sections(store, layout).folded_into(summary_from_json(store.get_bytes(layout.staged_summary)))
    metrics = history.day_metrics(summary, rules.findings(summary, model))
    mark_stale_pages(store, layout, summary.to_json())
    urls = manifest.publish(store, layout, run or {}, now, [
        (layout.summary, summary.to_json(), JSON),
        (layout.day_metrics, metrics.model_dump_json(indent=2).encode(), JSON),
        *([(layout.state, store.get_bytes(layout.staged_state), JSON)] if store.exists(layout.staged_state) else []),
    ], reports=summary.report_names)
    for name, url in sorted(urls.items()):
        log.info("published %s", url)
    judge_trailing(store, model, layout.day, now)
    update_weeks(store, model, [layout.day], layout.day)
    return urls


def judge_trailing(store: ObjectStore, model: ModelConfig, day: dt.date, now: dt.datetime) -> list[dt.date]:
    """The trailing judgement (monitoring.trailing) of a just-published day and of every later published day whose
    inputs it is one of, made again wherever its inputs changed, and folded into their summaries; the days whose
    summaries changed.

    Whatever order a backfill's runs publish their days in, the last of two days to be published judges the other's
    window or its own with both: once all are published, every day's judgement is the one its inputs give."""
    layout = DayLayout.of(model, day)
    reach = dt.timedelta(days=trailing.reach(model)) if trailing.judged(model) else None
    states = window_state.read_days(store, model, windows.days_between(day - reach, day + reach),
                                    labels=False) if reach else {}
    references: dict[str, window_state.WindowState] = {}
    profiles: dict[str, ReferenceProfile] = {}

    def reference_of(version: str) -> window_state.WindowState:
        if version not in references:
            references[version] = window_state.reference_state_of(store, model, version)
        return references[version]

    def profile_of(version: str) -> ReferenceProfile:
        if version not in profiles:
            profiles[version] = reference_store.load_or_fit(store, model, ModelLayout.of(model), version)
        return profiles[version]

    summaries: dict[dt.date, DaySummary | None] = {}

    def summary_of(other: dt.date) -> DaySummary | None:  # read once, whichever of the two asks first
        if other not in summaries:
            summaries[other] = _read(store, layout.on(other).summary, DaySummary)
        return summaries[other]

    def drifted_on(other: dt.date) -> set[str]:
        summary = summary_of(other)
        if summary is None:
            return set()
        inside = {f"{r.key}|{c}" for r in (summary.segments.segments if summary.segments else []) for c in r.fired}
        return rules.drifted_today(summary) | inside

    def estimated_on(other: dt.date) -> set[str]:
        summary = summary_of(other)
        estimate = summary.estimated_performance if summary else None
        inside = {f"{s.key}|{s.metric}" for s in (summary.segments.estimated if summary and summary.segments else [])
                  if s.degraded}
        return ({d.metric for d in estimate.degraded} if estimate else set()) | inside

    changed = []
    for other in [day, *sorted(d for d in states if d > day)]:
        other_layout = layout.on(other)
        if other != day and not manifest.is_published(store, other_layout):
            continue  # being published: its own run judges it after
        kept = _bytes(store, other_layout.trailing)
        stored = TrailingJudgement.model_validate_json(kept) if kept is not None else None
        wanted = trailing.inputs_of(model, other, states, reference_of) if reach else None
        rejudged = (stored.inputs_sha256 if stored else None) != wanted
        if not rejudged and kept is not None and manifest.recorded(
                store, other_layout, other_layout.trailing) != manifest.sha256(kept):
            manifest.record_update(store, other_layout, [(other_layout.trailing, kept)], now)  # a run died before
        if rejudged:
            judged = (trailing.judge(model, other, states, reference_of, drifted_on, profile_of, estimated_on)
                      if wanted else None)
            if judged is not None:
                data = canonical(judged)
                store.put_bytes(other_layout.trailing, data, JSON)
                manifest.record_update(store, other_layout, [(other_layout.trailing, data)], now)
            else:
                store.delete(other_layout.trailing)
                manifest.record_update(store, other_layout, [], now, removed=[other_layout.trailing])
            log.info("trailing window of %s judged%s", other, f": fired {sorted(judged.fired) or 'nothing'}"
                     if judged is not None else " (none: a day of its window is not published)")
        if refresh_summary(store, model, other_layout, now):  # also what a run that died before left undone
            changed.append(other)
    return changed


def refresh_summary(store: ObjectStore, model: ModelConfig, layout: DayLayout, now: dt.datetime) -> bool:
    """Fold the day's performance.json, labels.json and window.json into its published summary.json and metric-store
    entry, and list both in its manifest; True when any of them changed (its pages are then stale: see `mark_stale_pages`).

    A run that died between these writes left them disagreeing: the next run finds and completes them, whatever it
    has to do besides. Other runs may update the same day's performance at the same time: after writing, the
    components are read again and the summary is rebuilt if one changed meanwhile, so the last summary written holds
    the latest of both."""
    changed = False
    for _ in range(SUMMARY_REFRESH_ROUNDS):
        sections = later_sections(store, layout)
        current = store.get_bytes(layout.summary)
        summary = sections.folded_into(summary_from_json(current))
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
        if later_sections(store, layout) == sections:
            return changed
    raise RuntimeError(f"the performance or trailing judgement of {layout.model} on {layout.day} kept changing while "
                       "it was folded into its summary; the next run retries")


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
