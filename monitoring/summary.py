"""DaySummary: the typed summary of one model-day; `summary.json` is the contract everything downstream reads.

Deterministic by construction: the same inputs and config give the same bytes (sorted keys, rounded floats,
no wall-clock time). Run metadata (run id, times, versions) goes to the manifest instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from monitoring.estimators import Estimate
from monitoring.importance import FeatureImportance, RankedFeature, rank_features
from monitoring.operations import Operations
from monitoring.quality import ColumnQuality
from monitoring.records import ColumnDrift, LabelsReport, Performance, WindowPerformance
from monitoring.segments import SegmentsReport
from monitoring.storage import canonical
from monitoring.verdicts import DayVerdicts
from monitoring.vocabulary import Record, is_test
from monitoring.gradual import Creep
from monitoring.trailing import TrailingJudgement
from monitoring.windows import WindowComparison

SCHEMA_VERSION = 1


class RowCounts(Record):
    read: int
    valid: int
    quarantined: int
    quarantined_share: float
    quarantine_reasons: dict[str, int]
    sampled_for_reports: int
    extra_columns: list[str]


class DataDrift(Record):
    dataset_drift: bool
    drift_share: float
    dataset_drift_share_threshold: float
    drifted_features: list[str]
    features: dict[str, ColumnDrift]


class PredictionDrift(Record):
    drifted: bool
    columns: dict[str, ColumnDrift]
    mean_score: float | None
    reference_mean_score: float | None
    positive_rate: float | None
    reference_positive_rate: float | None


class DataQuality(Record):
    max_missing_share: float
    columns: dict[str, ColumnQuality]


class DaySummary(Record):
    schema_version: int = SCHEMA_VERSION
    model: str
    day: str
    reference_version: str
    reference_rows: int
    files: list[dict[str, Any]]
    rows: RowCounts
    data_drift: DataDrift
    prediction_drift: PredictionDrift
    data_quality: DataQuality
    operations: Operations
    reports: dict[str, str]
    verdicts: DayVerdicts | None = None
    estimated_performance: Estimate | None = None  # before the labels land (CBPE, DLE); null without labelled reference
    segments: SegmentsReport | None = None  # the configured segments, largest impact first (monitoring.segments)
    # Filled in once every day of the trailing window is published (monitoring.trailing), and again when one changes:
    window: WindowComparison | None = None  # the trailing window against its baseline (monitoring.windows)
    gradual: list[Creep] = []  # each numerical column's slow-drift CUSUM (monitoring.gradual)
    shown_by_days: dict[str, list[str]] = {}  # columns of those that single days showed drifted: column -> the days
    seasonal: list[str] = []  # windows.baseline weekday: drifted columns the same weekday of earlier weeks shares
    weekday_steady: list[str] = []  # windows.baseline weekday: prediction columns as on the same weekday (trailing)
    window_segments: dict[str, WindowComparison] = {}  # the window inside the segments where a column drifted
    window_estimate: WindowPerformance | None = None  # the window's performance as CBPE expects it, before labels
    # the features by drift x importance to the model (monitoring.importance), and how the importance was measured
    feature_ranking: list[RankedFeature] = []
    importance: str | None = None
    # Filled in once labels arrive, and updated in place as more arrive (see monitoring.steps.performance):
    performance: Performance | None = None  # of the predictions made on this day
    labels: LabelsReport | None = None  # the labels that landed on this day, and the verdict on the day that came due

    @property
    def report_names(self) -> list[str]:
        """The Evidently reports published with the day (none on a day without rows)."""
        return sorted({file.rsplit(".", 1)[0] for file in self.reports.values()})

    def with_labels(self, performance: Performance | None, labels: LabelsReport | None) -> DaySummary:
        return self.model_copy(update={"performance": performance, "labels": labels})

    def with_trailing(self, judgement: TrailingJudgement | None) -> DaySummary:
        """The day's trailing judgement folded in (none: the window is not judged, or not yet)."""
        verdicts = (self.verdicts.model_copy(update={"window": judgement.verdicts if judgement else {}})
                    if self.verdicts is not None else None)
        return self.model_copy(update={
            "window": judgement.window if judgement else None, "gradual": judgement.gradual if judgement else [],
            "shown_by_days": judgement.shown_by_days if judgement else {},
            "seasonal": judgement.seasonal if judgement else [],
            "weekday_steady": judgement.steady if judgement else [],
            "window_segments": judgement.segments if judgement else {},
            "window_estimate": judgement.estimate if judgement else None, "verdicts": verdicts})

    def to_json(self) -> bytes:
        return canonical(self)


def summarize(
    *, model: str, day: dt.date, contract: dict[str, Any], files: list[dict[str, Any]], sampled_rows: int,
    reference_version: str, reference_rows: int, drift: dict[str, ColumnDrift], features: tuple[str, ...],
    predictions: tuple[str, ...], quality: dict[str, ColumnQuality], dataset_drift_share: float,
    operations: Operations, reports: dict[str, str], verdicts: DayVerdicts | None = None,
    estimated_performance: Estimate | None = None, segments: SegmentsReport | None = None,
    importance: FeatureImportance | None = None,
) -> DaySummary:
    prediction_columns = {c: drift[c] for c in predictions}
    features = {c: drift[c] for c in features}
    drifted = sorted(name for name, r in features.items() if r.drifted)
    measured = [r for r in features.values() if r.skipped is None]
    share = len(drifted) / len(measured) if measured else 0.0
    return DaySummary(
        model=model, day=day.isoformat(), reference_version=reference_version, reference_rows=reference_rows,
        files=files,
        rows=RowCounts(read=contract["rows_read"], valid=contract["rows_valid"],
                       quarantined=contract["rows_quarantined"], quarantined_share=contract["rejected_share"],
                       quarantine_reasons=contract["reasons"], sampled_for_reports=sampled_rows,
                       extra_columns=contract["extra_columns"]),
        data_drift=DataDrift(dataset_drift=bool(measured) and share >= dataset_drift_share, drift_share=share,
                             dataset_drift_share_threshold=dataset_drift_share, drifted_features=drifted,
                             features=features),
        prediction_drift=PredictionDrift(
            drifted=any(r.drifted for r in prediction_columns.values()),
            columns=prediction_columns,
            mean_score=operations.mean_score, reference_mean_score=operations.reference_mean_score,
            positive_rate=operations.positive_rate, reference_positive_rate=operations.reference_positive_rate,
        ),
        data_quality=DataQuality(max_missing_share=max((q.missing_share for q in quality.values()), default=0.0),
                                 columns=quality),
        operations=operations,
        reports=reports,
        verdicts=verdicts,
        estimated_performance=estimated_performance,
        segments=segments,
        feature_ranking=rank_features({c: drift_effect(r) for c, r in features.items()}, set(drifted), importance),
        importance=importance.describe() if importance is not None else None,
    )


def drift_effect(drift: ColumnDrift) -> float | None:
    """A column's drift in the unit of its minimum effect: the distance, or a test's effect size."""
    if drift.verdict is not None and drift.verdict.effect is not None:
        return drift.verdict.effect
    return None if is_test(drift.method) else drift.score  # a p-value is not an effect


def summary_from_json(data: bytes) -> DaySummary:
    return DaySummary.model_validate_json(data)
