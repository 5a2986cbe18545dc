"""Performance metrics of labelled predictions: exact, vectorized, the same figures as scikit-learn's
(`tests/test_metrics.py` checks them), fast enough for the thousands of replicate days behind a reference's
no-change bands.

Labelled rows carry their label in the column `label` (`monitoring.vocabulary.LABEL`). For classifiers: accuracy,
precision, recall, F1, ROC-AUC, log loss and the calibration error (over ten reliability bins of the score), with the
confusion counts and the reliability bins themselves; for multiclass classifiers: accuracy, the macro and weighted
averages of the classes' precision, recall and F1 (over the classes that occur in the labels or the decisions, as
scikit-learn's), the macro one-vs-rest ROC-AUC (over the classes with both labelled and other rows) and log loss,
with each class's figures and the confusion matrix; for regressors: MAE, RMSE, MAPE (percent) and R2, with the
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


class ClassFigures(Record):
    """One class of a multiclass model, one-vs-rest: its labelled rows (support), how often it was predicted, and its
    precision, recall and F1."""

    support: int
    predicted: int
    precision: float
    recall: float
    f1: float


class Figures(Record):
    """A labelled set of predictions' metrics, and (binary classifiers) its confusion counts and reliability bins,
    (multiclass) each class's figures and the confusion matrix, or (regressors) its error distribution."""

    metrics: dict[str, float | None]
    confusion: dict[str, int] | None = None  # tp, fp, tn, fn
    reliability: list[ReliabilityBin] | None = None
    errors: dict[str, float] | None = None  # mean error and error quantiles
    per_class: dict[str, ClassFigures] | None = None  # multiclass, in the classes' order
    confusion_matrix: list[list[int]] | None = None  # multiclass: [labelled class][predicted class], classes' order


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def predicted_labels(frame: pd.DataFrame, scoring: Scoring) -> pd.Series:
    """The decision the model took: its decision column, else its score against the probability threshold (a
    multiclass model's: the index of the predicted class, its decision column's or its highest score's)."""
    if scoring.is_multiclass:
        if scoring.decision:
            return pd.Series(class_indices(frame[scoring.decision], scoring.classes), index=frame.index)
        return pd.Series(frame[list(scoring.scores)].to_numpy(dtype=float).argmax(axis=1), index=frame.index)
    if scoring.decision:
        return frame[scoring.decision].astype(int)
    return (frame[scoring.score] >= scoring.probability_threshold).astype(int)


def class_indices(values: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """Each value's index among `classes` (as text, as the contract types them); -1 for any other."""
    codes = pd.Categorical(values.astype(object).where(values.isna(), values.astype(str)), categories=list(classes))
    return np.asarray(codes.codes, dtype=np.int64)


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


def confusion_matrix(y: np.ndarray, yhat: np.ndarray, k: int) -> np.ndarray:
    """The k x k counts of class indices: [labelled class][predicted class]."""
    return np.bincount(y * k + yhat, minlength=k * k).reshape(k, k)


def class_figures(matrix: np.ndarray, predicted: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per class of a confusion matrix (rows: actual, columns: predicted): support, predicted count, precision, recall,
    F1 (0 where undefined). Realized counts and CBPE's expected matrix alike; `predicted` gives the rows predicted as
    each class when they are known exactly (the expected matrix's column sums equal them up to rounding)."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0) if predicted is None else predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / predicted)
        recall = np.nan_to_num(tp / support)
        f1 = np.nan_to_num(2 * tp / (support + predicted))
    return support, predicted, precision, recall, f1


def multiclass_decision_metrics(matrix: np.ndarray) -> dict[str, float | None]:
    """Accuracy and the macro and weighted precision, recall and F1 of a confusion matrix, averaged over the classes
    that occur in the labels or the decisions (scikit-learn's default labels)."""
    rows = int(matrix.sum())
    if not rows:
        return dict.fromkeys(("accuracy", *(f"{a}_{m}" for a in ("macro", "weighted")
                                            for m in ("precision", "recall", "f1"))))
    support, predicted, precision, recall, f1 = class_figures(matrix)
    present = (support + predicted) > 0
    weights = support / support.sum() if support.sum() else support
    found = {"accuracy": float(np.trace(matrix) / rows)}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        found[f"macro_{name}"] = float(values[present].mean())
        found[f"weighted_{name}"] = float((values * weights).sum())
    return found


def multiclass_metrics(y: np.ndarray, scores: np.ndarray, yhat: np.ndarray) -> dict[str, float | None]:
    """The metrics of labelled multiclass predictions: class indices y, the (rows, classes) scores, predicted class
    indices yhat."""
    k = scores.shape[1]
    found = multiclass_decision_metrics(confusion_matrix(y, yhat, k))
    areas = [a for c in range(k) if (a := roc_auc((y == c).astype(int), scores[:, c])) is not None]
    truth = np.clip(scores[np.arange(len(y)), y], LOG_LOSS_FLOOR, 1 - LOG_LOSS_FLOOR)
    return {**found, "roc_auc": float(np.mean(areas)) if areas else None,
            "log_loss": float(-np.log(truth).mean()) if len(y) else None}


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
    """The labels, the scores and (classifiers) the decisions of labelled rows, as arrays; a multiclass model's
    labels and decisions as class indices, its scores a (rows, classes) matrix."""
    if scoring.is_multiclass:
        return (class_indices(frame[LABEL], scoring.classes), frame[list(scoring.scores)].to_numpy(dtype=float),
                predicted_labels(frame, scoring).to_numpy())
    y = frame[LABEL].to_numpy(dtype=float)
    p = frame[scoring.score].to_numpy(dtype=float)
    return y, p, predicted_labels(frame, scoring).to_numpy() if scoring.is_classification else None


def metrics_of_arrays(scoring: Scoring, y: np.ndarray, p: np.ndarray,
                      yhat: np.ndarray | None) -> dict[str, float | None]:
    if scoring.is_multiclass:
        return multiclass_metrics(y, p, yhat)
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
    if scoring.is_multiclass and metric != "roc_auc" and metric != "log_loss":
        return multiclass_decision_metrics(confusion_matrix(y, yhat, p.shape[1]))[metric]
    return metrics_of_arrays(scoring, y, p, yhat).get(metric)


def figures(frame: pd.DataFrame, scoring: Scoring) -> Figures:
    """The figures of labelled rows; metrics of None without rows."""
    if frame.empty:
        return Figures(metrics=dict.fromkeys(metrics_of(scoring.task)))
    y, p, yhat = arrays(frame, scoring)
    if scoring.is_multiclass:
        matrix = confusion_matrix(y, yhat, len(scoring.classes))
        per_class = {c: ClassFigures(support=int(s), predicted=int(n), precision=float(pr), recall=float(r),
                                     f1=float(f))
                     for c, s, n, pr, r, f in zip(scoring.classes, *class_figures(matrix))}
        return Figures(metrics=multiclass_metrics(y, p, yhat), per_class=per_class,
                       confusion_matrix=matrix.tolist())
    if not scoring.is_classification:
        error = p - y
        return Figures(metrics=regression_metrics(y, p), errors={
            "mean_error": float(error.mean()),
            **{f"p{int(q * 100)}": float(np.quantile(error, q)) for q in ERROR_QUANTILES}})
    y = y.astype(int)
    confusion = {"tp": int(((yhat == 1) & (y == 1)).sum()), "fp": int(((yhat == 1) & (y == 0)).sum()),
                 "tn": int(((yhat == 0) & (y == 0)).sum()), "fn": int(((yhat == 0) & (y == 1)).sum())}
    return Figures(metrics=classification_metrics(y, p, yhat), confusion=confusion, reliability=reliability(y, p)[0])


MAPE_FLOOR = 0.05  # MAPE is judged when every label is at least this share of the labels' median magnitude


def unjudgeable(reference: pd.DataFrame, scoring: Scoring, label: str | None) -> dict[str, str]:
    """The metrics a labelled reference gives no stable no-change band, with why: a regressor's MAPE when its labels
    come near zero (of both signs, or the smallest magnitude under `MAPE_FLOOR` of the median). A row whose label is
    near zero has an unbounded percentage error, so a day's MAPE swings by one such row (the benchmark's regressor,
    whose labels pass zero on 3 rows in 100,000, paged on MAPE on 9 of 200 no-change days of 5,000 rows)."""
    if not scoring.is_regression or label is None or label not in reference.columns:
        return {}
    y = reference[label].dropna().to_numpy(dtype=float)
    if not len(y):
        return {}
    smallest, median = float(np.abs(y).min()), float(np.median(np.abs(y)))
    if (y.min() < 0 < y.max()) or smallest < MAPE_FLOOR * median:
        return {"mape": (f"the reference's labels come near zero (smallest magnitude {smallest:.3g}, median "
                         f"{median:.3g}{', of both signs' if y.min() < 0 < y.max() else ''}): a percentage error "
                         "there is unbounded, so a day's MAPE has no stable no-change band; shown, not judged (a "
                         "performance.rules line for mape judges it on that line)")}
    return {}


def reference_figures(reference: pd.DataFrame, scoring: Scoring, label: str | None) -> Figures | None:
    """The figures of a labelled reference (its label column `label`), or None when it has none."""
    if label is None or label not in reference.columns:
        return None
    return figures(reference.rename(columns={label: LABEL}), scoring)


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
