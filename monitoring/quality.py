"""Exact data-quality figures of the whole valid day against the reference (never a sample).

A new category seen in three rows must not be lost, so these are computed on every valid row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from monitoring.config import ModelConfig

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
    min: float | None = None
    max: float | None = None
    out_of_range_share: float | None = None  # outside the reference's [min, max]
    distinct: int | None = None  # categorical
    new_categories: list[str] | None = None  # not seen in the reference, most frequent first
    new_category_share: float | None = None
    distribution: Distribution | None = None


def _label(value: float) -> str:
    return f"{value:.3g}"


def numerical_distribution(current: pd.Series, reference: pd.Series) -> Distribution | None:
    """Shares over the reference's deciles (open-ended first and last bins, so no value falls outside)."""
    ref, cur = reference.dropna().to_numpy(dtype=float), current.dropna().to_numpy(dtype=float)
    if not len(ref):
        return None
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, DISTRIBUTION_BINS + 1))[1:-1])
    labels = [f"≤ {_label(edges[0])}"] if len(edges) else ["all"]
    labels += [f"{_label(lo)} – {_label(hi)}" for lo, hi in zip(edges[:-1], edges[1:])]
    if len(edges):
        labels.append(f"> {_label(edges[-1])}")

    def shares(values: np.ndarray) -> list[float]:
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(labels))
        return [float(c) / len(values) if len(values) else 0.0 for c in counts]

    return Distribution(bins=labels, reference=shares(ref), current=shares(cur))


def categorical_distribution(current: pd.Series, reference: pd.Series) -> Distribution:
    """Shares of the most frequent categories of either side, the rest as 'other'."""
    ref = reference.dropna().astype(str).value_counts(normalize=True)
    cur = current.dropna().astype(str).value_counts(normalize=True)
    both = pd.concat([ref, cur], axis=1).fillna(0.0).max(axis=1)
    top = list(both.sort_index().sort_values(ascending=False, kind="stable").index[:DISTRIBUTION_CATEGORIES])
    ref_shares = [float(ref.get(c, 0.0)) for c in top]
    cur_shares = [float(cur.get(c, 0.0)) for c in top]
    if len(both) > len(top):
        top.append("other")
        ref_shares.append(max(0.0, 1.0 - sum(ref_shares)) if len(ref) else 0.0)
        cur_shares.append(max(0.0, 1.0 - sum(cur_shares)) if len(cur) else 0.0)
    return Distribution(bins=[str(c) for c in top], reference=ref_shares, current=cur_shares)


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def column_quality(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> dict[str, ColumnQuality]:
    """Quality figures of every numerical feature, the score and every categorical feature, by column."""
    rows = len(current)
    results = {}
    for column in model.columns.numerical + (model.columns.score,):
        values, ref = current[column], reference[column]
        present = values.dropna()
        ref_min, ref_max = ref.min(), ref.max()
        outside = ((present < ref_min) | (present > ref_max)).sum() if ref.notna().any() else 0
        results[column] = ColumnQuality(
            kind="numerical", missing_share=float(values.isna().mean()) if rows else 0.0,
            mean=_finite(present.mean()) if len(present) else None, reference_mean=_finite(ref.mean()),
            min=_finite(present.min()) if len(present) else None, max=_finite(present.max()) if len(present) else None,
            out_of_range_share=float(outside / rows) if rows else 0.0,
            distribution=numerical_distribution(values, ref),
        )
    for column in model.columns.categorical:
        values = current[column]
        known = set(reference[column].dropna().astype(str))
        counts = values.dropna().astype(str).value_counts()
        new = counts[~counts.index.isin(known)]
        new = new.sort_index().sort_values(ascending=False, kind="stable")
        results[column] = ColumnQuality(
            kind="categorical", missing_share=float(values.isna().mean()) if rows else 0.0,
            distinct=int(len(counts)), new_categories=[str(c) for c in new.index[:NEW_CATEGORY_EXAMPLES]],
            new_category_share=float(new.sum() / rows) if rows else 0.0,
            distribution=categorical_distribution(values, reference[column]),
        )
    return results
