"""Which features explain a model's behaviour, fitted once per reference version, and the two rankings that use it.

Feature importance is permutation importance: shuffle one feature's values across the rows, keeping everything else,
and measure how much worse the predictions get; a feature the model leans on costs a lot, one it ignores costs
nothing. It needs no access to the model's internals, so it works the same for any estimator or pipeline.

Two ways, the first one that can be used:

- "model": the model artifact itself (an unpickled scikit-learn estimator or pipeline taking the raw feature columns)
  scored against the reference's labels, with ROC AUC for a classifier and the negative mean absolute error for a
  regressor. This is what the model has learnt to depend on to get the label right.
- "surrogate": without an artifact, without labels, or when the artifact fails on the reference's columns, a
  gradient-boosted tree model (`HistGradientBoostingRegressor`, categories encoded as such) is fitted to predict the
  model's own score from the features on one half of the rows, and permuted on the other half with R². This is
  what the model's output depends on, whatever the label; measured on held-out rows so that features the surrogate
  merely memorised do not count.

Each feature's importance is the mean drop over 5 shuffles, clipped at 0 (a shuffle that helps is noise), and the
importances are normalised to sum to 1 so that versions and models compare. At most `max_rows` rows are used, drawn
deterministically: the same reference gives the same importances.

The rankings:

- `rank_features`: a day's drift of each feature weighted by its importance (the impact), so that a slightly drifted
  feature the model relies on comes before a strongly drifted one it ignores.
- `correlation_ranking`: NannyML's CorrelationRanker carried over: over many days, the Pearson correlation of each
  feature's daily drift with the daily change in performance (a worsening counted positive), strongest first.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import numpy as np
import pandas as pd

from monitoring.vocabulary import Record

log = logging.getLogger(__name__)

MIN_ROWS = 50  # fewer usable rows say nothing reliable about which feature matters
REPEATS = 5  # shuffles of each feature; their mean drop is its importance
DECIMALS = 6  # importances rounded: the same inputs give the same bytes
SURROGATE_SCORING = "r2 of the model's score"


class FeatureImportance(Record):
    """Which features explain the model's behaviour, for one reference version."""

    method: Literal["model", "surrogate"]  # the model artifact on labelled rows, or a surrogate of the model's score
    scoring: str  # what the permutation measured ("roc_auc", "neg_mean_absolute_error", "r2 of the model's score")
    rows: int  # rows the permutation was measured on
    importances: dict[str, float]  # feature -> share of the total drop when shuffled (sum 1, or all 0); every feature

    def describe(self) -> str:
        """One sentence for a page: which way was used and on how many rows."""
        if self.method == "model":
            return (f"Feature importance: permutation importance of the model itself on {self.rows:,} labelled "
                    f"reference rows ({self.scoring}).")
        return (f"Feature importance: permutation importance of a surrogate model fitted to predict the model's score, "
                f"measured on {self.rows:,} held-out reference rows ({self.scoring}).")


class RankedFeature(Record):
    """A feature's place in a day's ranking: its drift weighted by its importance."""

    feature: str
    drift: float | None  # the day's drift effect of the feature (e.g. a distance)
    importance: float | None  # from FeatureImportance (None without one)
    impact: float  # drift * importance (drift alone without importance); 0 when drift is None
    drifted: bool  # the caller's verdict


class Correlation(Record):
    """How closely a feature's daily drift followed the daily performance change."""

    feature: str
    correlation: float | None  # Pearson r of the feature's daily drift with the daily performance change
    p_value: float | None
    days: int  # days with both values


# --- feature importance ---------------------------------------------------------------------------------------------
def _normalised(drops: np.ndarray, features: list[str]) -> dict[str, float]:
    """Mean drops clipped at 0 and scaled to sum 1 (all 0 when none is positive), rounded."""
    clipped = np.clip(np.nan_to_num(np.asarray(drops, dtype=float), nan=0.0), 0.0, None)
    total = float(clipped.sum())
    shares = clipped / total if total > 0 else clipped
    return {feature: round(float(share), DECIMALS) for feature, share in zip(features, shares)}


def _one_thread():
    """OpenMP and BLAS held to one thread: a few thousand rows need no more, and on a worker running several tasks at
    once, threads spinning for busy cores made a one-second fit take twenty."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows, shuffled by `seed` (the same rows for the same inputs)."""
    return frame.sample(n=min(len(frame), max_rows), random_state=seed)


def _of_the_model(frame: pd.DataFrame, features: list[str], label: str, is_classification: bool, model: object,
                  max_rows: int, seed: int, multiclass: bool = False) -> FeatureImportance | None:
    """Permutation importance of the model artifact on the labelled rows; None when the labels cannot be used. A
    multiclass model's is measured by its log loss (ROC-AUC one-vs-rest needs every class in the sample)."""
    from sklearn.inspection import permutation_importance

    if multiclass:
        target = frame[label].astype(object).where(frame[label].isna(), frame[label].astype(str))
        target = target.where(target.isin([str(c) for c in getattr(model, "classes_", [])]))
    else:
        target = pd.to_numeric(frame[label], errors="coerce")
    labelled = frame.loc[target.notna()]
    if len(labelled) < MIN_ROWS:
        return None
    rows = _sample(labelled, max_rows, seed)
    y = target.loc[rows.index]
    if not multiclass:
        y = y.astype(int) if is_classification else y.astype(float)
    if y.nunique() < 2:  # one class (or one value): no ROC AUC, nothing for a shuffle to worsen
        return None
    scoring = "neg_log_loss" if multiclass else "roc_auc" if is_classification else "neg_mean_absolute_error"
    with _one_thread():
        result = permutation_importance(model, rows[features], y.to_numpy(), scoring=scoring, n_repeats=REPEATS,
                                        random_state=seed)
    return FeatureImportance(method="model", scoring=scoring, rows=len(rows),
                             importances=_normalised(result.importances_mean, features))


def _surrogate_pipeline(numerical: list[str], categorical: list[str], seed: int):
    """Categories ordinal-encoded (unknown and missing as -1, which the trees treat as missing), numbers as they are."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    parts = []
    if categorical:  # first, so that the trees' categorical columns are the first ones
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1,
                                 max_categories=255)  # the trees take at most 255 categories; rarer ones pooled
        parts.append(("categories", encoder, categorical))
    if numerical:
        parts.append(("numbers", "passthrough", numerical))
    trees = HistGradientBoostingRegressor(
        random_state=seed, max_iter=100, early_stopping=False,  # no inner split: every fitted row counts, same result
        categorical_features=list(range(len(categorical))) or None)
    return Pipeline([("encode", ColumnTransformer(parts)), ("trees", trees)])


def _surrogate_inputs(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> pd.DataFrame:
    """The features as the surrogate takes them: numbers as floats, categories as strings (missing ones NaN)."""
    inputs = pd.DataFrame(index=frame.index)
    for column in numerical:
        inputs[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in categorical:  # one type per column, as the encoder requires
        inputs[column] = frame[column].astype(str).astype(object).where(frame[column].notna(), np.nan)
    return inputs[numerical + categorical]


def _of_a_surrogate(frame: pd.DataFrame, numerical: list[str], categorical: list[str], score: str, max_rows: int,
                    seed: int) -> FeatureImportance | None:
    """Permutation importance of a surrogate fitted to predict the model's score; None with too few scored rows."""
    from sklearn.inspection import permutation_importance

    if score not in frame.columns:
        return None
    target = pd.to_numeric(frame[score], errors="coerce")
    scored = frame.loc[np.isfinite(target.astype(float))]
    if len(scored) < MIN_ROWS:
        return None
    rows = _sample(scored, max_rows, seed)  # already shuffled: the first half fits, the second is permuted
    features = numerical + categorical
    inputs, y = _surrogate_inputs(rows, numerical, categorical), target.loc[rows.index].astype(float).to_numpy()
    half = len(rows) // 2
    with _one_thread():
        surrogate = _surrogate_pipeline(numerical, categorical, seed).fit(inputs.iloc[:half], y[:half])
        result = permutation_importance(surrogate, inputs.iloc[half:], y[half:], scoring="r2", n_repeats=REPEATS,
                                        random_state=seed)
    return FeatureImportance(method="surrogate", scoring=SURROGATE_SCORING, rows=len(rows) - half,
                             importances=_normalised(result.importances_mean, features))


def fit_importance(frame: pd.DataFrame, numerical: tuple[str, ...], categorical: tuple[str, ...], score: str,
                   label: str | None, is_classification: bool, model: object | None = None,
                   max_rows: int = 5_000, seed: int = 0, multiclass: bool = False) -> FeatureImportance | None:
    """The features' importance on a reference: of the model artifact on labelled rows when there are both, else of a
    surrogate of the model's score. None with no feature or fewer than 50 usable rows."""
    numerical, categorical = list(numerical), list(categorical)
    features = numerical + categorical
    if not features:
        return None
    frame = frame.reset_index(drop=True)  # rows are picked by index label: a repeated label would pick two
    if model is not None and label is not None and label in frame.columns:
        try:
            found = _of_the_model(frame, features, label, is_classification, model, max_rows, seed, multiclass)
        except Exception as error:  # an artifact that does not fit the reference's columns must not stop the day
            log.warning("feature importance: the model failed on the reference (%s: %s); using a surrogate of its "
                        "score instead", type(error).__name__, error)
            found = None
        if found is not None:
            return found
    return _of_a_surrogate(frame, numerical, categorical, score, max_rows, seed)


# --- rankings -------------------------------------------------------------------------------------------------------
def _number(value: float | None) -> float | None:
    """A finite float, or None (NaN and infinities count as no value)."""
    return float(value) if value is not None and math.isfinite(value) else None


def rank_features(drift: dict[str, float | None], drifted: set[str], importance: FeatureImportance | None,
                  limit: int = 10) -> list[RankedFeature]:
    """The features of `drift`, by impact (drift x importance) descending, ties by name, those without drift last."""
    ranked = []
    for feature, value in drift.items():
        value = _number(value)
        weight = importance.importances.get(feature) if importance is not None else None
        impact = 0.0 if value is None else value * weight if weight is not None else value
        ranked.append(RankedFeature(feature=feature, drift=value, importance=weight, impact=impact,
                                    drifted=feature in drifted))
    ranked.sort(key=lambda r: (r.drift is None, -r.impact, r.feature))
    return ranked[:limit]


def _pearson(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """Pearson r and its p-value; None for both when either series is constant."""
    from scipy.stats import pearsonr

    if np.ptp(x) == 0 or np.ptp(y) == 0:  # no variance: no correlation to speak of (scipy would warn and give NaN)
        return None, None
    r, p = pearsonr(x, y)
    return _number(float(r)), _number(float(p))


def correlation_ranking(drift: dict[str, list[float | None]], performance_change: list[float | None],
                        min_days: int = 5) -> list[Correlation]:
    """Each feature's correlation of its daily drift with the daily performance change (days aligned by index, only
    those with both values), strongest |r| first, ties by name; None with fewer than `min_days` days or no variance."""
    ranked = []
    for feature, values in drift.items():
        pairs = [(a, b) for a, b in zip((_number(v) for v in values), (_number(c) for c in performance_change))
                 if a is not None and b is not None]
        r = p = None
        if len(pairs) >= max(min_days, 2):  # pearsonr needs two days at the very least
            r, p = _pearson([a for a, _ in pairs], [b for _, b in pairs])
        ranked.append(Correlation(feature=feature, correlation=r, p_value=p, days=len(pairs)))
    ranked.sort(key=lambda c: (c.correlation is None, -abs(c.correlation or 0.0), c.feature))
    return ranked
