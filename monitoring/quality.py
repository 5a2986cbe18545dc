"""Exact data-quality figures of the whole valid day against the reference (never a sample).

A new category seen in three rows must not be lost, so these are computed on every valid row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring.config import ModelConfig

NEW_CATEGORY_EXAMPLES = 10


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    kind: str
    missing_share: float
    # numerical
    mean: float | None = None
    reference_mean: float | None = None
    min: float | None = None
    max: float | None = None
    out_of_range_share: float | None = None  # outside the reference's [min, max]
    # categorical
    distinct: int | None = None
    new_categories: tuple[str, ...] | None = None  # not seen in the reference, most frequent first
    new_category_share: float | None = None


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def column_quality(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> tuple[ColumnQuality, ...]:
    rows = len(current)
    results = []
    for column in model.columns.numerical + (model.columns.score,):
        values, ref = current[column], reference[column]
        present = values.dropna()
        ref_min, ref_max = ref.min(), ref.max()
        outside = ((present < ref_min) | (present > ref_max)).sum() if ref.notna().any() else 0
        results.append(ColumnQuality(
            column=column, kind="numerical", missing_share=float(values.isna().mean()) if rows else 0.0,
            mean=_finite(present.mean()) if len(present) else None, reference_mean=_finite(ref.mean()),
            min=_finite(present.min()) if len(present) else None, max=_finite(present.max()) if len(present) else None,
            out_of_range_share=float(outside / rows) if rows else 0.0,
        ))
    for column in model.columns.categorical:
        values = current[column]
        known = set(reference[column].dropna().astype(str))
        counts = values.dropna().astype(str).value_counts()
        new = counts[~counts.index.isin(known)]
        new = new.sort_index().sort_values(ascending=False, kind="stable")
        results.append(ColumnQuality(
            column=column, kind="categorical", missing_share=float(values.isna().mean()) if rows else 0.0,
            distinct=int(len(counts)), new_categories=tuple(new.index[:NEW_CATEGORY_EXAMPLES]),
            new_category_share=float(new.sum() / rows) if rows else 0.0,
        ))
    return tuple(results)
