"""Exact data-quality figures of the whole valid day against the reference (never a sample).

A new category seen in three rows must not be lost, so these are computed on every valid row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from monitoring.text import clip, number

NEW_CATEGORY_EXAMPLES = 10
DISTRIBUTION_BINS = 10
DISTRIBUTION_CATEGORIES = 8


class _Figures(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Figures):
    """Shares of the reference and of the day over the same bins: the small comparison picture of a column."""

    bins: list[str]
    reference: list[float]
    current: list[float]


class ColumnQuality(_Figures):
    """Quality figures of one column; numerical and categorical columns fill their own fields."""

    kind: str
    missing_share: float
    mean: float | None = None  # numerical
    reference_mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    out_of_range_share: float | None = None  # outside the reference's [min, max]
    psi: float | None = None  # population stability index over the distribution's bins
    distinct: int | None = None  # categorical
    new_categories: list[str] | None = None  # not seen in the reference, most frequent first
    new_category_share: float | None = None
    distribution: Distribution | None = None


def edge_labels(edges: np.ndarray) -> list[str]:
    """The edges as text, all with the fewest significant digits (at least 3) that tell each from the next: deciles
    at -118.32 and -118.24 read "-118.3" and "-118.2", not twice "-118"."""
    for digits in range(3, 18):
        labels = [number(float(e), digits) for e in edges]
        if all(a != b for a, b in zip(labels, labels[1:])):
            return labels
    return [repr(float(e)) for e in edges]


def reference_bins(ref: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Inner edges at the reference's deciles and the bins' labels (open-ended first and last bins, so no value falls
    outside); no bins without reference values."""
    if not len(ref):
        return np.array([]), []
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, DISTRIBUTION_BINS + 1))[1:-1])
    text = edge_labels(edges)
    labels = [f"≤ {text[0]}"] if len(edges) else ["all"]
    labels += [f"{lo} to {hi}" for lo, hi in zip(text[:-1], text[1:])]  # "-118.3 to -118.2", not "-118.3 – -118.2"
    if len(edges):
        labels.append(f"> {text[-1]}")
    return edges, labels


def shares(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares of `values` in the bins `edges` delimit."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return [float(c) / len(values) if len(values) else 0.0 for c in counts]


def categorical_distribution(current: pd.Series, reference: pd.Series) -> Distribution:
    """Shares of the most frequent categories of either side, the rest as 'other'; from each side's count of each
    category."""
    ref = reference / reference.sum() if len(reference) else reference.astype(float)
    cur = current / current.sum() if len(current) else current.astype(float)
    both = pd.concat([ref, cur], axis=1).fillna(0.0).max(axis=1)
    top = list(both.sort_index().sort_values(ascending=False, kind="stable").index[:DISTRIBUTION_CATEGORIES])
    ref_shares = [float(ref.get(c, 0.0)) for c in top]
    cur_shares = [float(cur.get(c, 0.0)) for c in top]
    if len(both) > len(top):
        top.append("other")
        ref_shares.append(max(0.0, 1.0 - sum(ref_shares)) if len(ref) else 0.0)
        cur_shares.append(max(0.0, 1.0 - sum(cur_shares)) if len(cur) else 0.0)
    return Distribution(bins=[clip(c) for c in top], reference=ref_shares, current=cur_shares)


PSI_FLOOR = 1e-4  # a bin's share is taken as at least this much, so an empty bin gives a large, finite PSI


def psi(distribution: Distribution | None) -> float | None:
    """Population stability index of the day against the reference over the distribution's bins (the reference's
    deciles, or its top categories and 'other'): sum of (day - reference) x ln(day / reference). Commonly read as
    stable below 0.1, a moderate shift up to 0.25, a major one above."""
    if distribution is None:
        return None
    pairs = [(max(r, PSI_FLOOR), max(c, PSI_FLOOR)) for r, c in zip(distribution.reference, distribution.current)]
    return float(sum((c - r) * np.log(c / r) for r, c in pairs))


def finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)

