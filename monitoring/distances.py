"""Drift scores of one column, exactly as Evidently computes them: its own stattest functions for every method, and
numpy versions of the two default ones (the normed Wasserstein distance and the Jensen-Shannon distance), fast enough
for the thousands of replicate days behind a reference's no-change bands and checked against Evidently's
(`tests/test_distances.py`).

What a method's score means (a distance or a test's p-value) is the vocabulary's (`monitoring.vocabulary`). Evidently
is imported inside the functions (it takes seconds to import: `monitoring.evidently_adapter`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import distance

from monitoring.evidently_adapter import import_evidently, in_order
from monitoring.vocabulary import CATEGORICAL

def _clean(values: pd.Series) -> pd.Series:
    return values.replace([float("inf"), float("-inf")], float("nan")).dropna()


def score(method: str, kind: str, reference: pd.Series, current: pd.Series) -> float | None:
    """The method's score of `current` against `reference` (missing and infinite values left out, as Evidently does);
    None when either side has no values. Categories reach Evidently as their ranks in sorted order: its stattests
    sum over a `set` of them, whose order (and so the score's last digits) would follow the process's hash seed."""
    import_evidently()
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    reference, current = _clean(reference), _clean(current)
    if reference.empty or current.empty:
        return None
    if kind == CATEGORICAL:
        ranks = {v: i for i, v in enumerate(in_order(set(reference.unique()) | set(current.unique())))}
        reference, current = reference.map(ranks), current.map(ranks)
    column_type = ColumnType.Categorical if kind == CATEGORICAL else ColumnType.Numerical
    test = get_stattest(reference, current, column_type, method)
    return float(test(reference, current, column_type, None).drift_score)


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's first Wasserstein distance over the reference's standard deviation (at least 0.001), as Evidently."""
    u, v = np.sort(reference), np.sort(current)
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, values[:-1], side="right") / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas) / max(float(np.std(reference)), 0.001))


def jensenshannon_numerical(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's Jensen-Shannon distance of a numerical column: Sturges bins of both sides together when the
    reference has more than 20 distinct values, else the values themselves."""
    if len(np.unique(reference)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        return float(distance.jensenshannon(np.histogram(reference, bins)[0] / len(reference),
                                            np.histogram(current, bins)[0] / len(current)))
    keys, codes = np.unique(np.concatenate([reference, current]), return_inverse=True)
    return jensenshannon_codes(codes[:len(reference)], codes[len(reference):], len(keys))


def jensenshannon_codes(reference: np.ndarray, current: np.ndarray, categories: int) -> float:
    """Jensen-Shannon distance of two sets of category codes (categories seen on neither side weigh nothing)."""
    return float(distance.jensenshannon(np.bincount(reference, minlength=categories) / len(reference),
                                        np.bincount(current, minlength=categories) / len(current)))


def jensenshannon_counts(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (natural log, as `jensenshannon_codes` and Evidently) of the shares of two count
    vectors, row by row when given matrices (one row a day, its columns the bins): the distance of every replicate
    day of a segment at once. A side without counts gives NaN."""
    ref, cur = np.atleast_2d(np.asarray(reference, dtype=float)), np.atleast_2d(np.asarray(current, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = ref / ref.sum(axis=1, keepdims=True)
        q = cur / cur.sum(axis=1, keepdims=True)
        m = (p + q) / 2
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=1)
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=1)
    found = np.sqrt(np.maximum((left + right) / 2, 0.0))
    found[(ref.sum(axis=1) == 0) | (cur.sum(axis=1) == 0)] = np.nan
    return found
