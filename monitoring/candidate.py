"""A retraining candidate and its comparison with the model in use: pure functions of labelled frames and the
current model, no object store (`monitoring.retraining` reads the window and writes the outcome).

The labelled window is split by a hash of the prediction id (the same rows on every rerun) into a training part and a
held-out slice; the candidate is an untrained copy of the current model (`sklearn.base.clone`) fitted on the training
part; both are scored on the held-out slice, and the candidate wins only when it beats the current model's headline
metric by `min_gain` (relative). A winning candidate's reference is the whole window scored out of fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from monitoring import contract, metrics
from monitoring.config import ModelConfig
from monitoring.ids import id_hashes
from monitoring.storage import rounded
from monitoring.vocabulary import LABEL, LOWER_IS_BETTER, TOP_SCORE

HOLDOUT_SHARE = 0.25  # share of the labelled window held out to compare the models
MIN_GAIN = 0.01  # a candidate must beat the current model's headline metric by this much (relative) to be promoted
MIN_TRAIN_ROWS = 500
MIN_HOLDOUT_ROWS = 200
HASH_BUCKETS = 10_000


class RetrainingError(ValueError):
    """A retraining request that cannot be carried out; the message says what to fix."""


@dataclass(frozen=True)
class Retrained:
    """A candidate fitted on the training part, and both models' figures on the held-out slice."""

    candidate: Any
    train_rows: int
    holdout: pd.DataFrame  # scored by the candidate, with the label column `label`
    current_metrics: dict[str, float | None]
    candidate_metrics: dict[str, float | None]
    frame: pd.DataFrame  # the labelled window the candidate was fitted and validated on


def folds(frame: pd.DataFrame, id_column: str, holdout_share: float = HOLDOUT_SHARE) -> np.ndarray:
    """Each row's fold, by a hash of the prediction id (the same on every rerun): fold 0 is the held-out slice
    (`holdout_share` of the rows), the rest is cut into folds of about the same size."""
    if not 0 < holdout_share < 1:
        raise RetrainingError(f"holdout_share {holdout_share} must be between 0 and 1")
    buckets = id_hashes(frame[id_column]) % HASH_BUCKETS
    held = round(holdout_share * HASH_BUCKETS)
    others = max(1, round((1 - holdout_share) / holdout_share))
    return np.where(buckets < held, 0, 1 + (buckets - held) * others // (HASH_BUCKETS - held))


def split(frame: pd.DataFrame, id_column: str, holdout_share: float = HOLDOUT_SHARE
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, held-out slice), by a hash of the prediction id: the same rows on every rerun."""
    held = folds(frame, id_column, holdout_share) == 0
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def scored(estimator: Any, frame: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """`frame` with the model's prediction columns as `estimator` predicts them from the raw feature columns:
    the probability of class 1 and the decision at `performance.probability_threshold`, each class's probability
    and the class of the highest (multiclass), or the predicted value."""
    cols = model.columns
    features = frame[list(cols.features)]
    out = frame.copy()
    if model.is_multiclass:
        known = [str(c) for c in getattr(estimator, "classes_", [])]
        absent = [c for c in cols.classes if c not in known]
        if absent:
            raise RetrainingError(f"the {model.name!r} model predicts classes {known}, not {absent} of the classes "
                                  f"the monitoring scores (columns.scores); the window's labels lack them?")
        probabilities = estimator.predict_proba(features)[:, [known.index(c) for c in cols.classes]]
        for i, column in enumerate(cols.score_columns):
            out[column] = probabilities[:, i]
        out[TOP_SCORE] = probabilities.max(axis=1)
        if cols.decision:
            out[cols.decision] = np.asarray(cols.classes, dtype=object)[probabilities.argmax(axis=1)]
    elif model.is_classification:
        classes = list(getattr(estimator, "classes_", []))
        if 1 not in classes:
            raise RetrainingError(f"the {model.name!r} model predicts classes {classes}, not 0/1: the monitoring "
                                  "scores the probability of class 1")
        probability = estimator.predict_proba(features)[:, classes.index(1)]
        out[cols.score] = probability
        if cols.decision:
            out[cols.decision] = (probability >= model.performance.probability_threshold).astype("int64")
    else:
        out[cols.score] = estimator.predict(features)
    return out


def _target(frame: pd.DataFrame, model: ModelConfig) -> pd.Series:
    if model.is_multiclass:
        return frame[LABEL].astype(str)
    return frame[LABEL].astype("int64" if model.is_classification else "float64")


def fit_candidate(current: Any, train: pd.DataFrame, model: ModelConfig) -> Any:
    """An untrained copy of the current model (same pipeline and hyperparameters) fitted on the training part."""
    from sklearn.base import clone

    candidate = clone(current)
    try:
        candidate.fit(train[list(model.columns.features)], _target(train, model))
    except (ValueError, TypeError) as exc:
        raise RetrainingError(f"fitting a copy of the {model.name!r} model on {len(train)} labelled rows failed: "
                              f"{exc}. The model must take the raw feature columns {list(model.columns.features)} "
                              "(transforms inside its pipeline).") from exc
    return candidate


def holdout_metrics(estimator: Any, holdout: pd.DataFrame,
                    model: ModelConfig) -> tuple[pd.DataFrame, dict[str, float | None]]:
    """The held-out slice scored by `estimator`, and its metrics there, rounded as the outcome stores them (the
    outcome in memory equals the outcome read back)."""
    frame = scored(estimator, holdout, model)
    return frame, rounded(metrics.figures(frame, model.scoring).metrics)


def retrain(current: Any, frame: pd.DataFrame, model: ModelConfig, holdout_share: float = HOLDOUT_SHARE) -> Retrained:
    """Fit a candidate on the training part of the labelled `frame` and score both models on the held-out slice."""
    train, holdout = split(frame, model.columns.id, holdout_share)
    candidate = fit_candidate(current, train, model)
    _, current_metrics = holdout_metrics(current, holdout, model)
    candidate_holdout, candidate_metrics = holdout_metrics(candidate, holdout, model)
    return Retrained(candidate, len(train), candidate_holdout, current_metrics, candidate_metrics, frame)


def cross_fitted(result: Retrained, current: Any, model: ModelConfig, holdout_share: float = HOLDOUT_SHARE
                 ) -> pd.DataFrame:
    """The whole labelled window scored out of fold, as the candidate's reference: the held-out slice by the
    candidate itself, each other fold by a copy of the current model fitted on the other folds (the candidate's
    method on as many rows), so no row is scored by a model that learned it and the reference holds every labelled
    row of the window, not a quarter of them."""
    fold = folds(result.frame, model.columns.id, holdout_share)
    parts = [result.holdout]
    for i in sorted(set(fold) - {0}):
        estimator = fit_candidate(current, result.frame[fold != i].reset_index(drop=True), model)
        parts.append(scored(estimator, result.frame[fold == i].reset_index(drop=True), model))
    return pd.concat(parts, ignore_index=True).sort_values(model.columns.id, kind="stable").reset_index(drop=True)


def too_little(frame: pd.DataFrame, model: ModelConfig, holdout_share: float = HOLDOUT_SHARE) -> str | None:
    """Why the labelled window cannot give a candidate worth comparing, or None."""
    train, holdout = split(frame, model.columns.id, holdout_share)
    if len(train) < MIN_TRAIN_ROWS or len(holdout) < MIN_HOLDOUT_ROWS:
        return (f"too few labelled predictions: {len(train)} to train on and {len(holdout)} held out (at least "
                f"{MIN_TRAIN_ROWS} and {MIN_HOLDOUT_ROWS} are needed); widen the window or wait for labels")
    if not model.is_regression and train[LABEL].nunique() < 2:
        return "the labelled predictions of the window all have the same label: nothing to learn"
    return None


def compare(metric: str, current: float | None, candidate: float | None, min_gain: float = MIN_GAIN
            ) -> tuple[bool, str]:
    """Whether the candidate beats the current model on `metric` by at least `min_gain` (relative), in words."""
    if current is None or candidate is None:
        return False, f"{metric} could not be computed on the held-out slice for both models"
    lower = metric in LOWER_IS_BETTER
    gain = current - candidate if lower else candidate - current
    needed = min_gain * abs(current)
    target = current - needed if lower else current + needed
    relative = f" ({gain / abs(current):+.1%})" if current else ""
    if gain > 0 and gain >= needed:
        return True, (f"the candidate's {metric} {candidate:.4f} beats the current model's {current:.4f} by "
                      f"{gain:.4f}{relative}, at least the {min_gain:.0%} required")
    return False, (f"the candidate's {metric} {candidate:.4f} is not better than the current model's {current:.4f} "
                   f"by {min_gain:.0%} (it needed {'at most' if lower else 'at least'} {target:.4f})")


def new_reference(holdout: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """The candidate's reference: the labelled window scored out of fold (`cross_fitted`), with the id, features,
    extra segment columns, prediction columns and the label under `labels.column`, checked against the reference contract the monitoring
    applies."""
    cols = model.columns
    # the segment columns the model does not use travel with the rows: the new version's segments are fitted on them
    kept = [cols.id, *cols.features, *model.extra_segment_columns, *cols.predictions, LABEL]
    frame = holdout[kept].rename(columns={LABEL: model.labels.column})
    if model.is_classification:
        frame[model.labels.column] = frame[model.labels.column].astype("int64")
    contract.prepare_reference(frame, model, "of the retrained candidate")  # raises what the monitoring would
    return frame.reset_index(drop=True)
