"""Performance metrics of labelled predictions: exact, vectorized, the same figures as scikit-learn's
(`tests/test_metrics.py` checks them), fast enough for the thousands of replicate days behind a reference's
no-change bands.

Labelled rows carry their label in the column `label` (`monitoring.vocabulary.LABEL`). For classifiers: accuracy,
precision, recall, F1, ROC-AUC, log loss and the calibration error (over ten reliability bins of the score), with the
confusion counts and the reliability bins themselves; for regressors: MAE, RMSE, MAPE (percent) and R2, with the
distribution of the errors. Each metric's 95% confidence interval comes from a seeded bootstrap of the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.config import Scoring
from monitoring.vocabulary import LABEL, Record, metrics_of

RELIABILITY_BINS = 10
ERROR_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BOOTSTRAP = 200  # resamples of the labelled rows for the confidence intervals
CONFIDENCE = 0.95


class ReliabilityBin(Record):
    """One of ten bins of the score: how many predictions fell in it, their mean score and how often they were
    positive (a calibrated model's two agree)."""

    low: float
    high: float
    count: int
    mean_score: float
    observed_rate: float


class Figures(Record):
    """A labelled set of predictions' metrics, and (classifiers) its confusion counts and reliability bins or
    (regressors) its error distribution."""

    metrics: dict[str, float | None]
    confusion: dict[str, int] | None = None  # tp, fp, tn, fn
    reliability: list[ReliabilityBin] | None = None
    errors: dict[str, float] | None = None  # mean error and error quantiles


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def predicted_labels(frame: pd.DataFrame, scoring: Scoring) -> pd.Series:
    """The 0/1 decision the model took: its decision column, else its score against the probability threshold."""
    if scoring.decision:
        return frame[scoring.decision].astype(int)
    return (frame[scoring.score] >= scoring.probability_threshold).astype(int)


def reliability(y: np.ndarray, p: np.ndarray) -> tuple[list[ReliabilityBin], float]:
    """The reliability bins of scores `p` against labels `y`, and the calibration error: the bins' share-weighted
    distance between mean score and observed rate."""
    edges = np.linspace(0, 1, RELIABILITY_BINS + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, RELIABILITY_BINS - 1)
    bins, error = [], 0.0
    for i in range(RELIABILITY_BINS):
        inside = index == i
        if inside.any():
            mean_score, rate = float(p[inside].mean()), float(y[inside].mean())
            bins.append(ReliabilityBin(low=float(edges[i]), high=float(edges[i + 1]), count=int(inside.sum()),
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


# Log loss reads scores no closer to 0 or 1 than this: one confidently wrong row weighs at most ln(1000) = 6.9, however
# its score was rounded when logged (0.00, 1.00); benchmarks/README.md measures what it costs without.
LOG_LOSS_FLOOR = 1e-3


def confusion_counts(y: np.ndarray, yhat: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of labels y and decisions yhat."""
    positive, yes = yhat == 1, y == 1
    return (int((positive & yes).sum()), int((positive & ~yes).sum()), int((~positive & yes).sum()),
            int((~positive & ~yes).sum()))


def metric_of_counts(metric: str, tp, fp, fn, tn) -> np.ndarray:
    """Accuracy, precision, recall or F1 of confusion counts (numbers or arrays, element-wise), 0 where undefined,
    as `_decision_metrics` gives them."""
    tp, fp, fn, tn = (np.asarray(c, dtype=float) for c in (tp, fp, fn, tn))
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            value = (tp + tn) / (tp + fp + fn + tn)
        elif metric == "precision":
            value = tp / (tp + fp)
        elif metric == "recall":
            value = tp / (tp + fn)
        else:
            value = 2 * tp / (2 * tp + fp + fn)
    return np.nan_to_num(value, nan=0.0)


def _decision_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of labels y and decisions yhat."""
    tp, fp, fn, _ = confusion_counts(y, yhat)
    return {"accuracy": float((y == yhat).mean()), "precision": tp / (tp + fp) if tp + fp else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0, "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0}


def classification_metrics(y: np.ndarray, p: np.ndarray, yhat: np.ndarray) -> dict[str, float | None]:
    """The metrics of labelled predictions: labels y, scores p, decisions yhat."""
    clipped = np.clip(p, LOG_LOSS_FLOOR, 1 - LOG_LOSS_FLOOR)
    return {
        **_decision_metrics(y, yhat),
        "roc_auc": roc_auc(y, p),
        "log_loss": float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean()),
        "calibration_error": reliability(y, p)[1],
    }


def regression_metrics(y: np.ndarray, prediction: np.ndarray) -> dict[str, float | None]:
    """The metrics of labelled predictions: targets y, predicted values `prediction`."""
    error = prediction - y
    nonzero = y != 0
    total = ((y - y.mean()) ** 2).sum()
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error ** 2).mean())),
        "mape": float(100 * np.abs(error[nonzero] / y[nonzero]).mean()) if nonzero.any() else None,  # percent
        "r2": _finite(1 - (error ** 2).sum() / total) if total > 0 else None,
    }


def arrays(frame: pd.DataFrame, scoring: Scoring) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The labels, the scores and (classifiers) the decisions of labelled rows, as arrays."""
    y = frame[LABEL].to_numpy(dtype=float)
    p = frame[scoring.score].to_numpy(dtype=float)
    return y, p, predicted_labels(frame, scoring).to_numpy() if scoring.is_classification else None


def metrics_of_arrays(scoring: Scoring, y: np.ndarray, p: np.ndarray,
                      yhat: np.ndarray | None) -> dict[str, float | None]:
    return (classification_metrics(y.astype(int), p, yhat) if scoring.is_classification
            else regression_metrics(y, p))


_CHEAP = {"accuracy", "precision", "recall", "f1"}


def metric_of_arrays(scoring: Scoring, metric: str, y: np.ndarray, p: np.ndarray,
                     yhat: np.ndarray | None) -> float | None:
    """One metric of labelled predictions (as `metrics_of_arrays` gives it), without computing the others: the
    thousands of replicate days behind a segment's band need only the headline metric."""
    if scoring.is_classification and metric in _CHEAP:
        if not len(y):
            return None if metric == "accuracy" else 0.0
        return _decision_metrics(y.astype(int), yhat)[metric]
    if scoring.is_classification and metric == "roc_auc":
        return roc_auc(y.astype(int), p)
    return metrics_of_arrays(scoring, y, p, yhat).get(metric)


def figures(frame: pd.DataFrame, scoring: Scoring) -> Figures:
    """The figures of labelled rows; metrics of None without rows."""
    if frame.empty:
        return Figures(metrics=dict.fromkeys(metrics_of(scoring.task)))
    y, p, yhat = arrays(frame, scoring)
    if not scoring.is_classification:
        error = p - y
        return Figures(metrics=regression_metrics(y, p), errors={
            "mean_error": float(error.mean()),
            **{f"p{int(q * 100)}": float(np.quantile(error, q)) for q in ERROR_QUANTILES}})
    y = y.astype(int)
    confusion = {"tp": int(((yhat == 1) & (y == 1)).sum()), "fp": int(((yhat == 1) & (y == 0)).sum()),
                 "tn": int(((yhat == 0) & (y == 0)).sum()), "fn": int(((yhat == 0) & (y == 1)).sum())}
    return Figures(metrics=classification_metrics(y, p, yhat), confusion=confusion, reliability=reliability(y, p)[0])


def baseline(reference: pd.DataFrame, scoring: Scoring, label: str | None) -> dict[str, float | None] | None:
    """The metrics of a labelled reference (its label column `label`), or None when it has none."""
    if label is None or label not in reference.columns:
        return None
    return figures(reference.rename(columns={label: LABEL}), scoring).metrics


def intervals(frame: pd.DataFrame, scoring: Scoring, seed: int) -> dict[str, tuple[float, float]]:
    """Each metric's 95% confidence interval: the percentiles of its value over bootstrap resamples of the labelled
    rows (a seeded generator: a rerun gives the same interval)."""
    if len(frame) < 2:
        return {}
    y, p, yhat = arrays(frame, scoring)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(frame), len(frame))
        found = metrics_of_arrays(scoring, y[rows], p[rows], None if yhat is None else yhat[rows])
        for metric, value in found.items():
            if value is not None and np.isfinite(value):
                draws.setdefault(metric, []).append(value)
    tail = 100 * (1 - CONFIDENCE) / 2
    return {m: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
            for m, v in draws.items() if len(v) >= BOOTSTRAP // 2}
