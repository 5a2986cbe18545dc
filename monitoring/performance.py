"""Model performance once labels arrive: a prediction day's metrics against the reference's baseline, its label
coverage, and the verdict on the day whose labels came due.

Figures are exact, computed on every labelled prediction of the day (scikit-learn, no sampling); Evidently's
performance report, built on the same rows (sampled above `reports.max_rows`), is the full picture for people.

A day is *judged* once, by the run of the day its labels came due (`labels.lag_days` later), and only when enough of
it is labelled (`performance.min_coverage`, `performance.min_labelled_rows`). A metric is degraded when it is worse
than the reference's baseline by more than its rule's `max_drop` (absolute) or `max_relative_drop` (relative); past
`retrain_drop` / `retrain_relative_drop` it is also a retraining reason. For log loss, calibration error, MAE, RMSE
and MAPE "worse" means higher.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from monitoring.config import LOWER_IS_BETTER, MetricRule, ModelConfig
from monitoring.labels import LABEL

CALIBRATION_BINS = 10
ERROR_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
PREDICTED = "_predicted_label"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalibrationBin(_Frozen):
    low: float
    high: float
    count: int
    mean_score: float
    observed_rate: float


class Degradation(_Frozen):
    metric: str
    value: float
    baseline: float
    worse_by: float  # how much worse than the baseline (positive = worse)
    relative: float | None  # worse_by / |baseline|
    limit: str  # the rule, in words
    retrain: bool  # past the retraining limit too

    def describe(self) -> str:
        relative = f" or {self.relative:.0%}" if self.relative is not None else ""
        return (f"{self.metric} {self.value:.3f} vs {self.baseline:.3f} in the reference "
                f"({self.worse_by:.3f}{relative} worse; alert when {self.limit})")


class Performance(_Frozen):
    """performance.json of a prediction day: what its labels, as known on `labels_as_of`, say about the model."""

    day: str
    labels_as_of: str
    complete: bool  # labels.lag_days have passed: its labels should all be in
    predictions: int
    labelled: int
    coverage: float
    label_digest: str
    metrics: dict[str, float | None]
    baseline: dict[str, float | None] | None
    degraded: list[Degradation]
    confusion: dict[str, int] | None = None  # classification: tp, fp, tn, fn
    calibration: list[CalibrationBin] | None = None  # classification
    errors: dict[str, float] | None = None  # regression: mean error and error quantiles
    report: str | None = None  # the Evidently report beside it, once the day has labels
    report_skipped: str | None = None
    reference_version: str | None = None  # the version the day was monitored against: its baseline is this one's


Status = Literal["judged", "too_few_labels", "no_predictions"]


class Verdict(_Frozen):
    """The judgement on the prediction day whose labels came due on the run's day."""

    day: str
    status: Status
    labelled: int
    coverage: float | None
    metrics: dict[str, float | None]
    baseline: dict[str, float | None] | None
    degraded: list[Degradation]
    reference_version: str | None = None  # the model version that made the judged predictions (its baseline)
    current_version: str | None = None  # the version in use on the run's day

    @property
    def superseded(self) -> bool:
        """The judged predictions came from a version that has been replaced since (e.g. retrained)."""
        return bool(self.reference_version and self.current_version and self.reference_version != self.current_version)

    @property
    def retrain(self) -> list[Degradation]:
        """Degradations past the retraining limit; none when the version that made them is no longer in use."""
        return [] if self.superseded else [d for d in self.degraded if d.retrain]


class LabelsReport(_Frozen):
    """labels.json of a run's day: the labels that became known that day, and the verdict on the prediction day
    whose labels came due."""

    day: str
    files: list[dict[str, str | int]]
    rows: int
    joined: int  # usable labels that labelled a prediction of the window
    problems: dict[str, int]  # rejected or unknown label rows, per reason (see monitoring.labels)
    file_problems: list[str]  # files that could not be used at all
    due: Verdict


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def predicted_labels(frame: pd.DataFrame, model: ModelConfig) -> pd.Series:
    """The 0/1 decision the model took: its decision column, else its score against the probability threshold."""
    cols = model.columns
    if cols.decision:
        return frame[cols.decision].astype(int)
    return (frame[cols.score] >= model.performance.probability_threshold).astype(int)


def _calibration(y: np.ndarray, p: np.ndarray) -> tuple[list[CalibrationBin], float]:
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    bins, error = [], 0.0
    for i in range(CALIBRATION_BINS):
        inside = index == i
        if inside.any():
            mean_score, rate = float(p[inside].mean()), float(y[inside].mean())
            bins.append(CalibrationBin(low=float(edges[i]), high=float(edges[i + 1]), count=int(inside.sum()),
                                       mean_score=mean_score, observed_rate=rate))
            error += inside.mean() * abs(mean_score - rate)
    return bins, float(error)


def classification_figures(frame: pd.DataFrame, model: ModelConfig) -> dict:
    from sklearn import metrics as m

    y = frame[LABEL].to_numpy(dtype=int)
    p = frame[model.columns.score].to_numpy(dtype=float)
    yhat = predicted_labels(frame, model).to_numpy()
    both = len(np.unique(y)) == 2
    tn, fp, fn, tp = m.confusion_matrix(y, yhat, labels=[0, 1]).ravel()
    bins, calibration_error = _calibration(y, p)
    return {
        "metrics": {
            "accuracy": float(m.accuracy_score(y, yhat)),
            "precision": float(m.precision_score(y, yhat, zero_division=0)),
            "recall": float(m.recall_score(y, yhat, zero_division=0)),
            "f1": float(m.f1_score(y, yhat, zero_division=0)),
            "roc_auc": float(m.roc_auc_score(y, p)) if both else None,
            "log_loss": float(m.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
            "calibration_error": calibration_error,
        },
        "confusion": {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)},
        "calibration": bins,
    }


def regression_figures(frame: pd.DataFrame, model: ModelConfig) -> dict:
    y = frame[LABEL].to_numpy(dtype=float)
    error = frame[model.columns.score].to_numpy(dtype=float) - y
    nonzero = y != 0
    total = ((y - y.mean()) ** 2).sum()
    return {
        "metrics": {
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error ** 2).mean())),
            "mape": float(100 * np.abs(error[nonzero] / y[nonzero]).mean()) if nonzero.any() else None,  # percent
            "r2": _finite(1 - (error ** 2).sum() / total) if total > 0 else None,
        },
        "errors": {"mean_error": float(error.mean()),
                   **{f"p{int(q * 100)}": float(np.quantile(error, q)) for q in ERROR_QUANTILES}},
    }


def figures(frame: pd.DataFrame, model: ModelConfig) -> dict:
    """metrics (and confusion + calibration, or error distribution) of labelled rows; empty metrics without rows."""
    if frame.empty:
        return {"metrics": dict.fromkeys(model.metric_names)}
    return classification_figures(frame, model) if model.is_classification else regression_figures(frame, model)


def baseline(reference: pd.DataFrame, model: ModelConfig) -> dict[str, float | None] | None:
    """The reference's metrics (it carries labels), or None when it has no label column."""
    if model.labels is None or model.labels.column not in reference.columns:
        return None
    return figures(reference.rename(columns={model.labels.column: LABEL}), model)["metrics"]


def _limit(absolute: float | None, relative: float | None) -> str:
    parts = [f"more than {absolute:g} worse" if absolute is not None else None,
             f"more than {relative:.0%} worse" if relative is not None else None]
    return " or ".join(p for p in parts if p)


def degradations(metrics: dict[str, float | None], reference: dict[str, float | None] | None,
                 rules: dict[str, MetricRule]) -> list[Degradation]:
    found = []
    for metric, rule in sorted(rules.items()):
        value, base = metrics.get(metric), (reference or {}).get(metric)
        if value is None or base is None:
            continue
        worse = value - base if metric in LOWER_IS_BETTER else base - value
        relative = worse / abs(base) if base else None

        def past(absolute: float | None, share: float | None) -> bool:
            return bool((absolute is not None and worse > absolute) or
                        (share is not None and relative is not None and relative > share))

        if past(rule.max_drop, rule.max_relative_drop):
            found.append(Degradation(
                metric=metric, value=value, baseline=base, worse_by=worse, relative=relative,
                limit=_limit(rule.max_drop, rule.max_relative_drop),
                retrain=past(rule.retrain_drop, rule.retrain_relative_drop)))
    return found


def evaluate(*, joined: pd.DataFrame, predictions: int, model: ModelConfig, day: dt.date, as_of: dt.date,
             reference_metrics: dict[str, float | None] | None, label_digest: str,
             reference_version: str | None = None) -> Performance:
    """The performance of prediction day `day` from its labelled predictions `joined`, as known on `as_of`, against
    the baseline `reference_metrics` of the version the day was monitored with (`reference_version`)."""
    found = figures(joined, model)
    return Performance(
        day=day.isoformat(), labels_as_of=as_of.isoformat(), complete=(as_of - day).days >= model.labels.lag_days,
        predictions=predictions, labelled=len(joined), coverage=len(joined) / predictions if predictions else 0.0,
        label_digest=label_digest, metrics=found["metrics"], baseline=reference_metrics,
        degraded=degradations(found["metrics"], reference_metrics, model.metric_rules) if len(joined) else [],
        confusion=found.get("confusion"), calibration=found.get("calibration"), errors=found.get("errors"),
        reference_version=reference_version,
    )


def verdict(performance: Performance | None, day: dt.date, model: ModelConfig,
            current_version: str | None = None) -> Verdict:
    """Judge the day whose labels came due; a day with too few labels is not judged (and says so).
    `current_version` is the version in use on the run's day: a verdict on predictions of a replaced version never
    asks for retraining (see `Verdict.retrain`)."""
    if performance is None:
        return Verdict(day=day.isoformat(), status="no_predictions", labelled=0, coverage=None,
                       metrics={}, baseline=None, degraded=[], current_version=current_version)
    enough = (performance.coverage >= model.performance.min_coverage and
              performance.labelled >= model.performance.min_labelled_rows)
    return Verdict(day=performance.day, status="judged" if enough else "too_few_labels",
                   labelled=performance.labelled, coverage=performance.coverage, metrics=performance.metrics,
                   baseline=performance.baseline, degraded=performance.degraded if enough else [],
                   reference_version=performance.reference_version, current_version=current_version)
