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
import math
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from monitoring.config import LOWER_IS_BETTER, ModelConfig
from monitoring.labels import LABEL
from monitoring.verdicts import Judgement

if TYPE_CHECKING:
    from monitoring.reference import ReferenceProfile

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
    verdict: Judgement | None = None  # calibrated: the change against its no-change band at the day's labelled size

    def describe(self) -> str:
        relative = f" or {self.relative:.0%}" if self.relative is not None else ""
        return (f"{self.metric} {self.value:.3f} vs {self.baseline:.3f} in the reference "
                f"({self.worse_by:.3f}{relative} worse; alert when {self.limit})")


class EstimateCheck(_Frozen):
    """How the day's estimate (CBPE, DLE) compares with its realized performance once its labels are complete."""

    method: str
    estimated: dict[str, float]
    errors: dict[str, float]  # estimated - realized
    bands: dict[str, float]  # how far the error may go by chance: 3 standard errors of the realized value
    unreliable: list[str]  # metrics whose error left its band: the estimate did not hold (concept drift?)


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
    # Each metric's 95% confidence interval over the labelled rows (bootstrap): where the day's true value lies.
    intervals: dict[str, tuple[float, float]] | None = None
    estimate_check: EstimateCheck | None = None  # once complete: the day's estimate against its realized figures
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
    estimate_check: EstimateCheck | None = None

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
    # labels.deadline_days: the prediction day whose labels are that many days past due, if still too few
    overdue: Verdict | None = None


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


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """The area under the ROC curve as the Mann-Whitney statistic (ties counted half); None with one class."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = len(y) - positives
    if not positives or not negatives:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def classification_metrics(y: np.ndarray, p: np.ndarray, yhat: np.ndarray) -> dict[str, float | None]:
    """The metrics of labelled predictions (labels y, scores p, decisions yhat): vectorized, the same figures as
    scikit-learn's (tests/test_labels.py checks it), fast enough for the calibration's thousands of replicate days."""
    tp = int(((yhat == 1) & (y == 1)).sum())
    fp = int(((yhat == 1) & (y == 0)).sum())
    fn = int(((yhat == 0) & (y == 1)).sum())
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "accuracy": float((y == yhat).mean()),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "roc_auc": roc_auc(y, p),
        "log_loss": float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean()),
        "calibration_error": _calibration(y, p)[1],
    }


def regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float | None]:
    error = prediction - y
    nonzero = y != 0
    total = ((y - y.mean()) ** 2).sum()
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error ** 2).mean())),
        "mape": float(100 * np.abs(error[nonzero] / y[nonzero]).mean()) if nonzero.any() else None,  # percent
        "r2": _finite(1 - (error ** 2).sum() / total) if total > 0 else None,
    }


def classification_figures(frame: pd.DataFrame, model: ModelConfig) -> dict:
    y = frame[LABEL].to_numpy(dtype=int)
    p = frame[model.columns.score].to_numpy(dtype=float)
    yhat = predicted_labels(frame, model).to_numpy()
    bins, _ = _calibration(y, p)
    confusion = {"tp": int(((yhat == 1) & (y == 1)).sum()), "fp": int(((yhat == 1) & (y == 0)).sum()),
                 "tn": int(((yhat == 0) & (y == 0)).sum()), "fn": int(((yhat == 0) & (y == 1)).sum())}
    return {"metrics": classification_metrics(y, p, yhat), "confusion": confusion, "calibration": bins}


def regression_figures(frame: pd.DataFrame, model: ModelConfig) -> dict:
    y = frame[LABEL].to_numpy(dtype=float)
    prediction = frame[model.columns.score].to_numpy(dtype=float)
    error = prediction - y
    return {
        "metrics": regression_metrics(y, prediction),
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


def degradations(metrics: dict[str, float | None], reference: dict[str, float | None] | None, model: ModelConfig,
                 labelled: int = 0, fitted: ReferenceProfile | None = None) -> list[Degradation]:
    """The metrics worse than the reference's baseline: past their rule's line (fixed mode), or (calibrated, the
    default: every metric the task reports, `ModelConfig.judged_metrics`) outside the no-change band of a day of
    `labelled` rows and by at least the metric's minimum effect (`min_drop`, `min_relative_drop`), the day's metrics
    judged together as one family (`monitoring.verdicts`). Past its rule's `retrain_drop` / `retrain_relative_drop`
    too: a retraining reason."""
    from monitoring import verdicts
    from monitoring.calibration import null_name

    found, family, candidates = [], {}, {}
    rules = model.metric_rules
    for metric in sorted(model.judged_metrics):
        rule = rules.get(metric)
        value, base = metrics.get(metric), (reference or {}).get(metric)
        if value is None or base is None:
            continue
        worse = value - base if metric in LOWER_IS_BETTER else base - value
        relative = worse / abs(base) if base else None

        def past(absolute: float | None, share: float | None) -> bool:
            return bool((absolute is not None and worse > absolute) or
                        (share is not None and relative is not None and relative > share))

        null = fitted.null(null_name("metric", metric)) if fitted is not None else None
        if model.drift.calibrated and null is not None:
            absolute, share = model.min_drop(metric)
            family[metric] = verdicts.level(value - base, labelled, null, model.drift.band_sigma,
                                            absolute if absolute is not None else share, fitted.rows,
                                            "up" if metric in LOWER_IS_BETTER else "down",
                                            relative_to=None if absolute is not None else base)
            low, high = family[metric].band
            candidates[metric] = Degradation(
                metric=metric, value=value, baseline=base, worse_by=worse, relative=relative,
                limit=(f"outside what no change gives on {labelled:,} labelled rows ({base + low:.3f} to "
                       f"{base + high:.3f}) and {_limit(absolute, share)}"),
                retrain=rule is not None and past(rule.retrain_drop, rule.retrain_relative_drop))
        elif rule is not None and past(rule.max_drop, rule.max_relative_drop):
            found.append(Degradation(
                metric=metric, value=value, baseline=base, worse_by=worse, relative=relative,
                limit=_limit(rule.max_drop, rule.max_relative_drop),
                retrain=past(rule.retrain_drop, rule.retrain_relative_drop)))
    judged = verdicts.control(family, model.drift.band_sigma, model.drift.fdr)  # the day's metrics, one family
    found += [candidates[m].model_copy(update={"verdict": judged[m]}) for m in sorted(judged) if judged[m].fired]
    return sorted(found, key=lambda d: d.metric)


BOOTSTRAP = 200  # resamples of the labelled rows for the confidence intervals
CONFIDENCE = 0.95


def intervals(frame: pd.DataFrame, model: ModelConfig, seed: int) -> dict[str, tuple[float, float]]:
    """Each metric's 95% confidence interval: the percentiles of its value over bootstrap resamples of the labelled
    rows (a seeded generator: a rerun gives the same interval)."""
    if len(frame) < 2:
        return {}
    y = frame[LABEL].to_numpy(dtype=float)
    p = frame[model.columns.score].to_numpy(dtype=float)
    yhat = predicted_labels(frame, model).to_numpy() if model.is_classification else None
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(frame), len(frame))
        found = (classification_metrics(y[rows].astype(int), p[rows], yhat[rows]) if model.is_classification
                 else regression_metrics(y[rows], p[rows]))
        for metric, value in found.items():
            if value is not None and np.isfinite(value):
                draws.setdefault(metric, []).append(value)
    tail = 100 * (1 - CONFIDENCE) / 2
    return {m: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
            for m, v in draws.items() if len(v) >= BOOTSTRAP // 2}


def evaluate(*, joined: pd.DataFrame, predictions: int, model: ModelConfig, day: dt.date, as_of: dt.date,
             fitted: ReferenceProfile, label_digest: str) -> Performance:
    """The performance of prediction day `day` from its labelled predictions `joined`, as known on `as_of`, against
    the baseline of the reference version the day was monitored with (`fitted`)."""
    found = figures(joined, model)
    return Performance(
        day=day.isoformat(), labels_as_of=as_of.isoformat(), complete=(as_of - day).days >= model.labels.lag_days,
        predictions=predictions, labelled=len(joined), coverage=len(joined) / predictions if predictions else 0.0,
        label_digest=label_digest, metrics=found["metrics"], baseline=fitted.performance,
        degraded=degradations(found["metrics"], fitted.performance, model, len(joined), fitted) if len(joined) else [],
        confusion=found.get("confusion"), calibration=found.get("calibration"), errors=found.get("errors"),
        reference_version=fitted.version,
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
                   reference_version=performance.reference_version, current_version=current_version,
                   estimate_check=performance.estimate_check if enough else None)


def estimate_check(estimate, realized: dict[str, float | None], fitted: ReferenceProfile,
                   labelled: int) -> EstimateCheck | None:
    """The day's estimate (`estimation.Estimate`) against the figures its complete labels gave; None without one.
    An error beyond 3 standard errors of the realized value (at the day's labelled rows) is not chance."""
    if estimate is None or not labelled:
        return None
    fit = fitted.cbpe or fitted.dle
    errors, bands, estimated = {}, {}, {}
    for metric, value in estimate.metrics.items():
        actual = realized.get(metric)
        se = fit.errors[metric].at(labelled) if fit is not None and metric in fit.errors else None
        if metric == "rmse" and fitted.dle is not None:
            variance, mean = fitted.dle.squared_errors
            se = math.sqrt(variance / (4 * labelled * mean)) if mean > 0 else None
        if value is None or actual is None or se is None:
            continue
        estimated[metric], errors[metric], bands[metric] = value, value - actual, 3 * se
    return EstimateCheck(method=estimate.method, estimated=estimated, errors=errors, bands=bands,
                         unreliable=sorted(m for m in errors if abs(errors[m]) > bands[m]))
