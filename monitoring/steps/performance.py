"""Step 5: performance, as labels arrive.

The run of day D joins the labels known on D to the valid predictions of every day of the label window; rewrites the
performance (performance.json, the Evidently model performance report, the summary) of each published day whose
labels grew; records the labels that landed on D (labels.json, labels_quarantine.parquet); and judges the
prediction day whose labels came due, each day against the reference version it was monitored with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from monitoring import ingest, judging, labels, manifest, metrics, reference_store, reports, window_state, windows
from monitoring.config import ModelConfig
from monitoring.estimators import Estimate
from monitoring.layout import PERFORMANCE_REPORT, DayLayout
from monitoring.records import LabelsReport, Performance, WindowPerformance
from monitoring.reference import ReferenceProfile
from monitoring.sampling import hash_sample
from monitoring.steps.publish import later_sections, refresh_summary
from monitoring.steps.weekly import update_weeks
from monitoring.storage import HTML, JSON, PARQUET, ObjectStore, canonical

log = logging.getLogger(__name__)


def _day_predictions(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> pd.DataFrame | None:
    """The valid predictions of a processed day (id, score, decision, segment columns), or None when the day was not
    processed."""
    if not store.exists(layout.staged_valid_rows):
        return None
    # the segment columns too, when the day's rows carry them: the headline metric is judged inside each segment
    return ingest.read_columns(store, layout.staged_valid_rows, [model.columns.id, *model.columns.predictions],
                               list(model.segments.names))


def _monitored(store: ObjectStore, layout: DayLayout) -> tuple[str | None, Estimate | None]:
    """The reference version a published day was monitored against and its estimated performance (None, None when
    it is not published)."""
    try:
        summary = store.get_json(layout.summary)
    except FileNotFoundError:
        return None, None
    estimate = summary.get("estimated_performance")
    return summary.get("reference_version"), Estimate.model_validate(estimate) if estimate else None


class _References:
    """The fitted profile of each version the window's days were monitored with, fitted or read once per run."""

    def __init__(self, store: ObjectStore, model: ModelConfig, layout: DayLayout) -> None:
        self.store, self.model, self.layout = store, model, layout
        self.current = reference_store.current_version(store, layout)
        self.profiles: dict[str, ReferenceProfile] = {}

    def of(self, version: str | None) -> ReferenceProfile:
        version = version or self.current
        if version not in self.profiles:
            self.profiles[version] = reference_store.load_or_fit(self.store, self.model, self.layout, version)
        return self.profiles[version]

    def labelled_sample(self, profile: ReferenceProfile) -> pd.DataFrame | None:
        """The version's Evidently sample with its label as `label`, or None when the reference has no labels."""
        frame = reference_store.evidently_sample(self.store, self.layout, profile)
        column = self.model.labels.column
        return frame.rename(columns={column: labels.LABEL}) if column in frame.columns else None


@dataclass(frozen=True)
class _Stored:
    """What a published day holds of its performance, read once per label run: the manifest's records (None: the day
    is not published), performance.json's bytes and their record."""

    listed: dict[str, str] | None
    data: bytes | None
    performance: Performance | None

    @classmethod
    def read(cls, store: ObjectStore, layout: DayLayout) -> _Stored:
        listed = manifest.listed(store, layout)
        data = _bytes(store, layout.performance) if listed is not None else None
        return cls(listed, data, Performance.model_validate_json(data) if data is not None else None)

    def holds(self, key: str, stored: bytes | None, data: bytes) -> bool:
        """`key` holds `data` (its bytes `stored`) and the manifest lists it (a run that died in between left one or
        the other)."""
        return (stored == data and self.listed is not None
                and self.listed.get(key.rsplit("/", 1)[-1]) == manifest.sha256(data))


def _bytes(store: ObjectStore, key: str) -> bytes | None:
    try:
        return store.get_bytes(key)
    except FileNotFoundError:
        return None


def _write_performance(store: ObjectStore, model: ModelConfig, layout: DayLayout, found: Performance,
                       joined: pd.DataFrame, counted: window_state.LabelState, references: _References,
                       now: dt.datetime, held: _Stored) -> bool:
    """Write a published day's performance when its labels grew (or became complete), or record it again when a
    run died between writing and recording it; True when written (its summary is then refreshed). `held`: what the
    day holds, as this run read it.

    Never replaces a performance computed with later labels (a rerun or backfill of an older day keeps it)."""
    if held.listed is None:
        return False  # its own run publishes it; the next run after that fills in its performance
    stored = held.performance
    if stored and stored.labels_as_of > found.labels_as_of:
        return False
    report_key, report_json_key = (layout.report(PERFORMANCE_REPORT, ext) for ext in ("html", "json"))
    counts = counted.model_dump_json().encode()
    written: list[tuple[str, bytes]] | None = None
    behind = bool(stored and stored.report and stored.report_labelled is not None
                  and stored.report_labelled < found.labelled)  # drawn on fewer labels (reports.redraw_performance)
    settled = found.complete or found.labelled >= found.predictions  # no more labels to wait for
    if stored and stored.label_digest == found.label_digest and not (settled and behind):
        # the same labels: the report and intervals stand
        same = found.model_copy(update={"report": stored.report, "report_skipped": stored.report_skipped,
                                        "report_labelled": stored.report_labelled, "intervals": stored.intervals})
        if held.holds(layout.performance, held.data, canonical(same)) and held.holds(
                layout.label_state, _bytes(store, layout.label_state), counts):
            return False  # nothing new, and the manifest lists it: written and recorded whole (a day published
            # before the label join's counts were kept, or kept per segment, gains them below)
        written = _existing(store, [report_key, report_json_key] if same.report else [])
        if written is not None:  # labels complete now, or an earlier run died before recording: record again
            found = same
    elif (stored and stored.report and not settled and model.reports.redraw_performance == "complete"
          and (written := _existing(store, [report_key, report_json_key])) is not None):
        # more labels, not yet complete: the figures and intervals follow them, the report waits for completion
        found = found.model_copy(update={
            "intervals": _intervals(joined, model, found), "report": stored.report, "report_skipped": None,
            "report_labelled": stored.report_labelled})
    if written is None:
        found, written = _performance_report(store, model, layout, found, joined, references)
    store.put_bytes(layout.label_state, counts, JSON)
    written.append((layout.label_state, counts))
    if found.report is None:
        for key in (report_key, report_json_key):
            store.delete(key)
    data = canonical(found)
    store.put_bytes(layout.performance, data, JSON)
    manifest.record_update(store, layout, [*written, (layout.performance, data)], now,
                           removed=[] if found.report else [report_key, report_json_key])
    return True


def _existing(store: ObjectStore, keys: list[str]) -> list[tuple[str, bytes]] | None:
    """The objects' bytes, or None when one of them is missing."""
    try:
        return [(key, store.get_bytes(key)) for key in keys]
    except FileNotFoundError:
        return None


def _intervals(joined: pd.DataFrame, model: ModelConfig, found: Performance) -> dict | None:
    """Each metric's bootstrap interval over the labelled rows (seeded by the labels: a rerun draws the same)."""
    return metrics.intervals(joined, model.scoring, seed=int(found.label_digest[:8], 16)) or None


def _performance_report(store: ObjectStore, model: ModelConfig, layout: DayLayout, found: Performance,
                        joined: pd.DataFrame, references: _References) -> tuple[Performance, list[tuple[str, bytes]]]:
    """The day's performance with its confidence intervals and the Evidently report of its labelled predictions
    (written), and the report's (key, bytes); no report before the first label."""
    if not len(joined):
        return found.model_copy(update={"report_skipped": "no labels yet"}), []
    found = found.model_copy(update={"intervals": _intervals(joined, model, found)})
    labelled_reference = references.labelled_sample(references.of(found.reference_version))
    rendered = reports.build_performance_report(hash_sample(joined, model.columns.id, model.reports.max_rows),
                                                labelled_reference, model)
    if isinstance(rendered, str):
        return found.model_copy(update={"report": None, "report_skipped": rendered}), []
    written = [(layout.report(PERFORMANCE_REPORT, "html"), rendered.html.encode()),
               (layout.report(PERFORMANCE_REPORT, "json"), rendered.json.encode())]
    for key, data in written:
        store.put_bytes(key, data, HTML if key.endswith(".html") else JSON)
    log.info("performance report of %s (%d labelled predictions): %s", layout.day, len(joined),
             store.url(written[0][0]))
    return found.model_copy(update={"report": f"{PERFORMANCE_REPORT}.html", "report_skipped": None,
                                    "report_labelled": len(joined)}), written


def _record_labels(store: ObjectStore, layout: DayLayout, report: LabelsReport, quarantine: pd.DataFrame,
                   now: dt.datetime) -> None:
    """labels.json of the day, and its labels_quarantine.parquet when labels were rejected."""
    report_data = canonical(report)
    store.put_bytes(layout.labels_report, report_data, JSON)
    if len(quarantine):
        buffer = io.BytesIO()
        quarantine.to_parquet(buffer, index=False)
        store.put_bytes(layout.labels_quarantine, buffer.getvalue(), PARQUET)
        manifest.record_update(store, layout, [(layout.labels_report, report_data),
                                               (layout.labels_quarantine, buffer.getvalue())], now)
    else:
        store.delete(layout.labels_quarantine)
        manifest.record_update(store, layout, [(layout.labels_report, report_data)], now,
                               removed=[layout.labels_quarantine])


def _labelled_days(store: ObjectStore, model: ModelConfig, layout: DayLayout, window: labels.LabelWindow,
                   references: _References, now: dt.datetime) -> tuple[dict[dt.date, Performance], set[str]]:
    """Each processed day of the label window with its labels joined and judged (its performance written when it
    changed): the performance of each day looked at, and the ids the labels joined."""
    found_by_day, joined_ids = {}, set()
    for offset in range(model.labels.lookback, -1, -1):
        day_layout = layout.on(layout.day - dt.timedelta(days=offset))
        predictions = _day_predictions(store, model, day_layout)
        if predictions is None:
            continue
        joined = labels.join(predictions, model.columns.id, window)
        joined_ids.update(joined[model.columns.id])
        version, estimate = _monitored(store, day_layout)
        label_digest = labels.digest(joined, model.columns.id)
        inputs = _inputs(model, predictions, label_digest, version)
        held = _Stored.read(store, day_layout)
        settled = _settled(store, day_layout, held, inputs)
        if settled is not None:  # complete, and nothing it rests on changed since: as it stands
            found_by_day[day_layout.day] = settled
            continue
        fitted = references.of(version)
        found = judging.labelled_day(joined=joined, predictions=len(predictions), scoring=model.scoring,
                                     judging=model.metric_judging, lag_days=model.labels.lag_days,
                                     day=day_layout.day, as_of=layout.day, fitted=fitted, label_digest=label_digest,
                                     segmented=model.segments if model.segments.enabled else None)
        if found.complete:  # how the estimate made before the labels compares with them
            found = found.model_copy(update={"estimate_check": judging.estimate_check(
                estimate, found.metrics, fitted, found.labelled)})
        found = found.model_copy(update={"inputs_sha256": inputs})
        found_by_day[day_layout.day] = found
        # the label join's counts, per segment too, for the labelled window (monitoring.window_state)
        counted = window_state.label_state(joined, predictions, model.scoring, window_state.segmenter(model, fitted))
        if _write_performance(store, model, day_layout, found, joined, counted, references, now, held):
            log.info("performance of %s: %d of %d predictions labelled (%.0f%%)%s", day_layout.day, found.labelled,
                     found.predictions, 100 * found.coverage,
                     "; " + ", ".join(f"{k} {v:.3f}" for k, v in found.metrics.items() if v is not None)
                     if found.labelled else "")
    return found_by_day, joined_ids


def _inputs(model: ModelConfig, predictions: pd.DataFrame, label_digest: str, version: str | None) -> str:
    """What a day's performance is computed from: its valid predictions, the labels they joined, the version it was
    monitored against and the settings that judge it."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(predictions, index=False).to_numpy().tobytes())
    for part in (str(window_state.LABEL_STATE_SCHEMA), label_digest, version or "", str(model.labels.lag_days),
                 model.metric_judging.model_dump_json(),
                 model.segments.model_dump_json(), model.scoring.model_dump_json()):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def _settled(store: ObjectStore, layout: DayLayout, held: _Stored, inputs: str) -> Performance | None:
    """The day's stored performance when a later label run has nothing to add to it: its labels complete, computed
    from the same `inputs`, its report drawn on all of them, and written and recorded whole (a run that died in
    between is completed by computing the day again)."""
    stored = held.performance
    if stored is None or not stored.complete or stored.inputs_sha256 != inputs:
        return None
    if stored.report and stored.report_labelled is not None and stored.report_labelled < stored.labelled:
        return None  # drawn on fewer labels: the report is drawn again (reports.redraw_performance)
    if not held.holds(layout.performance, held.data, held.data):
        return None
    return stored if store.exists(layout.label_state) else None


def _window_performance(store: ObjectStore, model: ModelConfig, layout: DayLayout, due: dt.date,
                        found_by_day: dict[dt.date, Performance], references: _References) -> WindowPerformance | None:
    """The due day's trailing window of labelled days (`windows.days`, up to it) judged together, once every day's
    labels are complete (windows.daily)."""
    if not model.windows.daily:
        return None
    days = windows.days_between(due - dt.timedelta(days=model.windows.days - 1), due)
    performances = {d: found_by_day.get(d) or later_sections(store, layout.on(d)).performance for d in days}
    performances = {d: p for d, p in performances.items() if p is not None}
    versions = {p.reference_version for p in performances.values()}
    if len(performances) < len(days) or len(versions) != 1:
        return None
    return judging.window_performance(days, window_state.read_label_states(store, model, days), performances,
                                      model.metric_judging, references.of(versions.pop()),
                                      model.performance.min_coverage,
                                      model.segments if model.segments.enabled else None)


def performance_day(store: ObjectStore, model: ModelConfig, day: Any, *, now: dt.datetime) -> dict[str, Any]:
    """Join, rewrite, record and judge (see the module's doc). Returns the days whose summaries changed."""
    layout = DayLayout.of(model, day)
    if model.labels is None:
        log.info("model %s has no labels configured: no performance monitoring", model.name)
        return {"updated_days": [], "due": None}
    first = layout.day - dt.timedelta(days=model.labels.lookback)
    window = labels.read_window(store, model, layout, first, layout.day)
    log.info("%d usable label(s) known from %s to %s in %d file(s); %d rejected", len(window.labels), first,
             layout.day, len(window.files), len(window.rejected))
    references = _References(store, model, layout)
    found_by_day, joined_ids = _labelled_days(store, model, layout, window, references, now)
    due_day = layout.day - dt.timedelta(days=model.labels.lag_days)
    overdue_day = due_day - dt.timedelta(days=model.labels.deadline_days) if model.labels.deadline_days else None
    minimum = model.performance.min_coverage, model.performance.min_labelled_rows
    counts, quarantine = labels.landed_problems(window, layout.day.isoformat(), joined_ids, (first, layout.day))
    landed = [f for f in window.files if f.day == layout.day.isoformat()]
    report = LabelsReport(
        day=layout.day.isoformat(), files=[{"key": f.key, "rows": f.rows} for f in landed],
        rows=sum(f.rows for f in landed),
        joined=int(window.labels[labels.LABEL_DAY].eq(layout.day.isoformat()).sum()) - counts.get("unknown_id", 0),
        problems=dict(sorted(counts.items())),
        file_problems=[p for p in window.file_problems if f"dt={layout.day.isoformat()}/" in p] + window.strays,
        waiting=window.waiting,
        due=judging.due_day(found_by_day.get(due_day), due_day, *minimum, references.current),
        overdue=(judging.due_day(found_by_day.get(overdue_day), overdue_day, *minimum, references.current)
                 if overdue_day else None),
        window=_window_performance(store, model, layout, due_day, found_by_day, references),
    )
    _record_labels(store, layout, report, quarantine, now)
    # Every published day looked at, not only those written now: a run that died between a day's performance and
    # its summary left them disagreeing, and this run completes them.
    changed = [d for d in sorted({*found_by_day, layout.day})
               if manifest.is_published(store, layout.on(d)) and refresh_summary(store, model, layout.on(d), now)]
    # the weeks of every day looked at (a retry after a run that died before them finds its days unchanged)
    update_weeks(store, model, sorted({*found_by_day, layout.day}), layout.day, references.of)
    log.info("labels: %d row(s) landed on %s, problems %s; due day %s: %s%s", report.rows, layout.day,
             report.problems or "none", due_day, report.due.status,
             " - degraded: " + "; ".join(d.describe() for d in report.due.degraded) if report.due.degraded else "")
    return {"updated_days": [d.isoformat() for d in changed], "due": report.due.status,
            "degraded": [d.metric for d in report.due.degraded]}
