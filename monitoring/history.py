"""The metric store: one small object per model-day, compacted into one history per model for reading.

Pages and trends read the history, never raw logs. The compacted history is rebuilt from the per-day objects of
published days (those with a manifest) after each run, so days published out of order still give a correct history.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

from pydantic import BaseModel, ConfigDict

from monitoring import health
from monitoring.layout import DayLayout, ModelLayout, day_of
from monitoring.rules import Finding
from monitoring.storage import ObjectStore
from monitoring.summary import DaySummary, drift_effect

CSV = "text/csv; charset=utf-8"


class FeatureDriftPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    score: float | None
    threshold: float
    drifted: bool
    line: float | None = None  # calibrated: what the score had to pass that day (its band's edge or the threshold)
    effect: float | None = None  # the drift as an effect, larger is more (a distance; a test's effect size, not its p)


class DayMetrics(BaseModel):
    """What the history keeps of one published model-day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    day: str
    status: str
    health_score: float
    rows: int
    quarantined_share: float
    mean_score: float | None
    positive_rate: float | None
    reference_mean_score: float | None
    reference_positive_rate: float | None
    drift_share: float
    dataset_drift: bool
    drifted_features: list[str]
    prediction_drift: bool
    max_missing_share: float
    low_confidence_share: float | None = None  # classifiers: share of predictions with max(p, 1 - p) below the limit
    findings: list[str]
    # the findings at warning or critical, by episode key (`Finding.episode`): what alerts and its hysteresis count
    alerting_rules: list[str] = []
    critical_rules: list[str] = []
    features: dict[str, FeatureDriftPoint]
    # Performance of the day's predictions as far as labels have arrived (None before the first label run):
    labelled: int | None = None
    label_coverage: float | None = None
    labels_complete: bool | None = None
    performance: dict[str, float | None] = {}
    baseline_performance: dict[str, float | None] = {}
    performance_degraded: list[str] = []
    # Calibrated mode: where the day's figures lie when nothing changed (bands at the day's size), and the 95%
    # confidence intervals of its performance:
    positive_rate_band: tuple[float, float] | None = None
    volume_band: tuple[float, float] | None = None
    performance_intervals: dict[str, tuple[float, float]] = {}
    # Performance estimated before the labels (CBPE, DLE) with its sampling-error band, and once the day's labels are
    # complete, how far the estimate was from what they gave (estimated - realized) and which metrics missed by more
    # than chance:
    estimate_method: str | None = None
    estimated_performance: dict[str, float | None] = {}
    estimated_bands: dict[str, tuple[float, float]] = {}
    estimate_errors: dict[str, float] = {}
    estimate_unreliable: list[str] = []
    # The judged segments (monitoring.segments): the largest drift inside each, its band's edge, fired or not
    segments: dict[str, FeatureDriftPoint] = {}
    # Multiclass: each class's recall over the day's labelled rows (the classes that have some), the reference's
    # recall of each class judged against it, and the classes whose recall collapsed (monitoring.classes)
    class_recall: dict[str, float] = {}
    reference_class_recall: dict[str, float] = {}
    classes_collapsed: list[str] = []


def day_metrics(summary: DaySummary, findings: list[Finding]) -> DayMetrics:
    pred = summary.prediction_drift
    perf = summary.performance
    labelled = {} if perf is None else {
        "labelled": perf.labelled, "label_coverage": perf.coverage, "labels_complete": perf.complete,
        "performance": perf.metrics, "baseline_performance": perf.baseline or {},
        "performance_degraded": [d.metric for d in perf.degraded], "performance_intervals": perf.intervals or {},
        "class_recall": {c: f.recall for c, f in (perf.per_class or {}).items() if f.support},
        "reference_class_recall": {c.label: c.reference_recall for c in perf.class_recalls},
        "classes_collapsed": [c.label for c in perf.class_recalls if c.collapsed]}
    estimate, check = summary.estimated_performance, perf.estimate_check if perf else None
    estimated = {} if estimate is None else {
        "estimate_method": estimate.method, "estimated_performance": estimate.metrics,
        "estimated_bands": estimate.bands}
    if estimate is not None and estimate.baseline and not labelled.get("baseline_performance"):
        estimated["baseline_performance"] = estimate.baseline  # the same reference's: before the first label too
    if check is not None:
        estimated |= {"estimate_errors": check.errors, "estimate_unreliable": check.unreliable}
    return DayMetrics(**labelled, **estimated,
        model=summary.model, day=summary.day, status=health.status_of(findings),
        health_score=health.health_score(summary, findings), rows=summary.rows.read,
        quarantined_share=summary.rows.quarantined_share, mean_score=pred.mean_score,
        positive_rate=pred.positive_rate, reference_mean_score=pred.reference_mean_score,
        reference_positive_rate=pred.reference_positive_rate, drift_share=summary.data_drift.drift_share,
        dataset_drift=summary.data_drift.dataset_drift, drifted_features=summary.data_drift.drifted_features,
        prediction_drift=pred.drifted, max_missing_share=summary.data_quality.max_missing_share,
        low_confidence_share=summary.operations.low_confidence_share,
        findings=[f.rule for f in findings],
        alerting_rules=sorted({f.episode for f in findings if f.severity.rank >= 1}),
        critical_rules=sorted({f.episode for f in findings if f.severity.rank >= 2}),
        features={name: FeatureDriftPoint(score=d.score, threshold=d.threshold, drifted=d.drifted,
                                          line=_line(d) if d.verdict and d.verdict.band else None,
                                          effect=drift_effect(d))
                  for name, d in summary.data_drift.features.items()},
        positive_rate_band=_positive_rate_band(summary), volume_band=_volume_band(summary),
        segments=_segment_points(summary),
    )


def _segment_points(summary: DaySummary) -> dict[str, FeatureDriftPoint]:
    found = {}
    for result in summary.segments.segments if summary.segments is not None else []:
        verdict = result.top_verdict
        if result.status == "judged" and verdict is not None and verdict.value is not None:
            found[result.key] = FeatureDriftPoint(score=verdict.value, threshold=verdict.min_effect or 0.0,
                                                  drifted=bool(result.fired), line=max(verdict.band[1], verdict.min_effect or 0.0)
                                                  if verdict.band else None)
    return found


def _line(drift) -> float:
    """The score a calibrated drift verdict needed: past its band's upper edge and its threshold."""
    return max(drift.verdict.band[1], drift.threshold)


def _positive_rate_band(summary: DaySummary) -> tuple[float, float] | None:
    judged = summary.verdicts.statistics.get("positive_rate") if summary.verdicts else None
    base = summary.operations.reference_positive_rate
    if judged is None or judged.band is None or base is None:
        return None
    return base + judged.band[0], base + judged.band[1]


def _volume_band(summary: DaySummary) -> tuple[float, float] | None:
    """The volume the trailing days' ups and downs allow (calibrated mode with two trailing days or more)."""
    ops = summary.operations
    if not (summary.verdicts and summary.verdicts.mode == "calibrated" and ops.trailing_volume
            and ops.trailing_volume_log_sd is not None):
        return None
    spread = math.exp(summary.verdicts.band_sigma * ops.trailing_volume_log_sd)
    return ops.trailing_volume / spread, ops.trailing_volume * spread


CSV_COLUMNS = ["day", "status", "health_score", "rows", "quarantined_share", "mean_score", "positive_rate",
               "drift_share", "dataset_drift", "prediction_drift", "max_missing_share", "drifted_features", "findings",
               "labelled", "label_coverage", "labels_complete"]


def to_csv(days: list[DayMetrics]) -> bytes:
    """One row per day; performance metrics as `perf_<metric>` columns (empty until the day has labels), estimated
    ones as `est_<metric>` (empty without a labelled reference), a multiclass model's recall of each class as
    `recall_<class>`."""
    metrics = sorted({m for d in days for m in d.performance})
    estimated = sorted({m for d in days for m in d.estimated_performance})
    classes = sorted({c for d in days for c in d.class_recall})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + [f"perf_{m}" for m in metrics] + [f"est_{m}" for m in estimated]
                    + [f"recall_{c}" for c in classes])
    for d in days:
        row = d.model_dump()
        writer.writerow([" ".join(v) if isinstance(v := row[c], list) else ("" if v is None else v)
                         for c in CSV_COLUMNS] + ["" if (v := d.performance.get(m)) is None else v for m in metrics]
                        + ["" if (v := d.estimated_performance.get(m)) is None else v for m in estimated]
                        + ["" if (v := d.class_recall.get(c)) is None else v for c in classes])
    return buffer.getvalue().encode()


def _published_keys(store: ObjectStore, layout: ModelLayout) -> list[str]:
    """Per-day metric objects of days that have a manifest (readers trust nothing else)."""
    return [key for key in store.keys(layout.metrics_dir) if store.exists(layout.on(day_of(key)).manifest)]


COMPACTION_ROUNDS = 5


def compact(store: ObjectStore, layout: ModelLayout) -> list[DayMetrics]:
    """Rebuild the model's history (JSON and CSV) from the per-day objects of published days.

    Two runs of the model may compact at once. Each re-lists after writing and compacts again when a day appeared
    meanwhile, so the last history written includes every day published before it: no update is lost.
    """
    keys = _published_keys(store, layout)
    for _ in range(COMPACTION_ROUNDS):
        days = sorted((DayMetrics.model_validate_json(store.get_bytes(k)) for k in keys), key=lambda d: d.day)
        store.put_json(layout.history(), {"model": layout.model, "days": [d.model_dump(mode="json") for d in days]})
        store.put_bytes(layout.history("csv"), to_csv(days), CSV)
        latest = _published_keys(store, layout)
        if latest == keys:
            return days
        keys = latest
    raise RuntimeError(f"the history of {layout.model} kept changing while it was compacted; the next run retries")


def published_days_before(store: ObjectStore, layout: DayLayout, days: int) -> dict[str, DayMetrics]:
    """The per-day metric objects of the published days among the `days` before the layout's day.

    Read directly (not from the compacted history), so they do not wait for another run's compaction."""
    found = {}
    for back in range(1, days + 1):
        day = layout.on(layout.day - dt.timedelta(days=back))
        if store.exists(day.manifest):
            try:
                found[day.day.isoformat()] = DayMetrics.model_validate_json(store.get_bytes(day.day_metrics))
            except FileNotFoundError:
                continue
    return found


RECENT_DAYS = 7  # days that may not be in the compacted history yet (it is rebuilt by update_site, in parallel)


def rules_by_day(store: ObjectStore, layout: DayLayout, today: DayMetrics | None = None) -> dict[str, DayMetrics]:
    """The published days up to the layout's day (its own entry from `today` when given): the compacted history,
    completed with the per-day objects of the last days, which another run may not have compacted yet."""
    known = {d.day: d for d in read_history(store, layout) if d.day < layout.day.isoformat()}
    known.update(published_days_before(store, layout, RECENT_DAYS))
    if today is not None:
        known[layout.day.isoformat()] = today
    return known


def read_history(store: ObjectStore, layout: ModelLayout) -> list[DayMetrics]:
    """The compacted history of the model (empty before its first published day)."""
    try:
        document = store.get_json(layout.history())
    except FileNotFoundError:
        return []
    return [DayMetrics.model_validate(d) for d in document["days"]]
