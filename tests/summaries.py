"""Typed day summaries and metric-store entries built in memory, for tests of pages and rules (no Evidently, no S3)."""

from __future__ import annotations

import datetime as dt

from monitoring.history import DayMetrics, FeatureDriftPoint
from monitoring.operations import Operations
from monitoring.metrics import ReliabilityBin
from monitoring.quality import ColumnQuality
from monitoring.records import ColumnDrift, DueDay, LabelsReport, Performance
from monitoring.summary import DataDrift, DataQuality, DaySummary, PredictionDrift, RowCounts
from monitoring.verdicts import Degradation

DAY = "2026-10-14"
DUE = "2026-10-09"
HOSTILE = '<script>window.__xss = 1</script>"\'><img src=x onerror="window.__xss=2">'
CLASSIFICATION = {"accuracy": 0.81, "precision": 0.78, "recall": 0.74, "f1": 0.712, "roc_auc": 0.88,
                  "log_loss": 0.44, "calibration_error": 0.031}
CLASSIFICATION_BASELINE = {"accuracy": 0.84, "precision": 0.8, "recall": 0.82, "f1": 0.815, "roc_auc": 0.9,
                           "log_loss": 0.4, "calibration_error": 0.02}
REGRESSION = {"mae": 0.731, "rmse": 0.954, "mape": 6.25, "r2": 0.612}
REGRESSION_BASELINE = {"mae": 0.5, "rmse": 0.7, "mape": 4.5, "r2": 0.74}


def _drift(score: float, drifted: bool = False) -> ColumnDrift:
    return ColumnDrift(kind="numerical", method="wasserstein", threshold=0.1, score=score, drifted=drifted)


def _operations(regression: bool) -> Operations:
    return Operations(
        volume=1000, mean_score=11.2 if regression else 0.61, reference_mean_score=10.9 if regression else 0.6,
        positive_rate=None if regression else 0.58, reference_positive_rate=None if regression else 0.57,
        mean_confidence=None if regression else 0.8, reference_mean_confidence=None if regression else 0.8,
        low_confidence_share=None if regression else 0.12, reference_low_confidence_share=None if regression else 0.1,
        low_confidence_threshold=0.6, score_quantiles={"p10": 0.2, "p50": 0.6, "p90": 0.9}, latency_ms=None)


def summary(*, regression: bool = False, performance: Performance | None = None,
            labels: LabelsReport | None = None, day: str = DAY) -> DaySummary:
    ops = _operations(regression)
    return DaySummary(
        model="loan_rate" if regression else "loan_approval", day=day, reference_version="v1", reference_rows=5000,
        files=[{"key": "part-0.parquet", "rows": 1000}],
        rows=RowCounts(read=1000, valid=1000, quarantined=0, quarantined_share=0.0, quarantine_reasons={},
                       sampled_for_reports=1000, extra_columns=[]),
        data_drift=DataDrift(dataset_drift=False, drift_share=0.0, dataset_drift_share_threshold=0.2,
                             drifted_features=[], features={"credit_score": _drift(0.02)}),
        prediction_drift=PredictionDrift(drifted=False, columns={"score": _drift(0.03)}, mean_score=ops.mean_score,
                                         reference_mean_score=ops.reference_mean_score,
                                         positive_rate=ops.positive_rate,
                                         reference_positive_rate=ops.reference_positive_rate),
        data_quality=DataQuality(max_missing_share=0.0, columns={
            "credit_score": ColumnQuality(kind="numerical", missing_share=0.0, mean=700.0, reference_mean=698.0)}),
        operations=ops, reports={"data_drift": "data_drift.html"}, performance=performance, labels=labels)


def classification_performance(**update) -> Performance:
    found = Performance(
        day=DAY, labels_as_of="2026-10-17", complete=False, predictions=1000, labelled=640, coverage=0.64,
        label_digest="abc", metrics=CLASSIFICATION, baseline=CLASSIFICATION_BASELINE,
        degraded=[Degradation(metric="f1", value=0.712, baseline=0.815, worse_by=0.103, relative=0.126,
                              limit="more than 0.05 worse or more than 10% worse", retrain=False)],
        confusion={"tp": 301, "fp": 85, "tn": 178, "fn": 76}, intervals={"f1": (0.69, 0.733), "roc_auc": (0.85, 0.91)},
        calibration=[ReliabilityBin(low=i / 10, high=(i + 1) / 10, count=40 + 7 * i, mean_score=i / 10 + 0.05,
                                    observed_rate=min(1.0, i / 10 + 0.08)) for i in range(10)],
        report="model_performance.html")
    return found.model_copy(update=update)


def regression_performance(**update) -> Performance:
    found = Performance(
        day=DAY, labels_as_of="2026-10-17", complete=True, predictions=1000, labelled=950, coverage=0.95,
        label_digest="def", metrics=REGRESSION, baseline=REGRESSION_BASELINE,
        degraded=[Degradation(metric="mae", value=0.731, baseline=0.5, worse_by=0.231, relative=0.462,
                              limit="more than 20% worse", retrain=False)],
        errors={"mean_error": 0.118, "p5": -1.42, "p25": -0.377, "p50": 0.094, "p75": 0.611, "p95": 1.734},
        report=None, report_skipped="Evidently could not build the report: too few rows")
    return found.model_copy(update=update)


def labels_report(*, due_day: str = DUE, status: str = "judged", degraded: bool = True,
                  problems: dict[str, int] | None = None) -> LabelsReport:
    flagged = [Degradation(metric="roc_auc", value=0.81, baseline=0.9, worse_by=0.09, relative=0.1,
                           limit="more than 0.05 worse", retrain=True)] if degraded else []
    return LabelsReport(
        day=DAY, files=[{"key": "labels/loan_approval/dt=2026-10-14/part-0.parquet", "rows": 812}], rows=812,
        joined=790, problems=problems if problems is not None else {"duplicate": 3, "unknown_id": 19},
        file_problems=["labels/loan_approval/dt=2026-10-14/broken.parquet: no column 'repaid'"],
        due=DueDay(day=due_day, status=status, labelled=900 if status == "judged" else 12,
                    coverage=0.9 if status == "judged" else 0.012,
                    metrics={**CLASSIFICATION, "roc_auc": 0.81} if status == "judged" else {},
                    baseline=CLASSIFICATION_BASELINE if status == "judged" else None, degraded=flagged))


def metrics_of(s: DaySummary, **update) -> DayMetrics:
    perf = s.performance
    labelled = {} if perf is None else {
        "labelled": perf.labelled, "label_coverage": perf.coverage, "labels_complete": perf.complete,
        "performance": perf.metrics, "baseline_performance": perf.baseline or {},
        "performance_degraded": [d.metric for d in perf.degraded]}
    values = dict(
        model=s.model, day=s.day, status="warning", health_score=82.0, rows=s.rows.read, quarantined_share=0.0,
        mean_score=s.prediction_drift.mean_score, positive_rate=s.prediction_drift.positive_rate,
        reference_mean_score=s.prediction_drift.reference_mean_score,
        reference_positive_rate=s.prediction_drift.reference_positive_rate, drift_share=0.1, dataset_drift=False,
        drifted_features=[], prediction_drift=False, max_missing_share=0.0, findings=[],
        features={"credit_score": FeatureDriftPoint(score=0.02, threshold=0.1, drifted=False)}, **labelled)
    return DayMetrics(**{**values, **update})


def history(regression: bool = False, days: int = 10) -> list[DayMetrics]:
    """`days` days ending on DAY; the older ones labelled (complete), the last three still arriving, the newest none."""
    end = dt.date.fromisoformat(DAY)
    metric, base, baseline = ("mae", 0.5, REGRESSION_BASELINE) if regression else ("f1", 0.8, CLASSIFICATION_BASELINE)
    out = []
    for back in range(days - 1, -1, -1):
        day = (end - dt.timedelta(days=back)).isoformat()
        perf = None if back == 0 else (regression_performance if regression else classification_performance)(
            day=day, complete=back > 3, coverage=1.0 if back > 3 else 0.2 * (4 - back),
            metrics={metric: base + back / 100}, baseline=baseline, degraded=[])
        out.append(metrics_of(summary(regression=regression, performance=perf, day=day)))
    return out
