"""Operational KPIs of a model-day from its logs: volume, positive rate, confidence, latency.

Computed on every valid row (never a sample), against the reference where it has the same column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from monitoring.config import ModelConfig

QUANTILES = (0.1, 0.5, 0.9)


class Operations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    volume: int
    mean_score: float | None
    reference_mean_score: float | None
    positive_rate: float | None
    reference_positive_rate: float | None
    mean_confidence: float | None
    reference_mean_confidence: float | None
    low_confidence_share: float | None
    reference_low_confidence_share: float | None
    low_confidence_threshold: float
    score_quantiles: dict[str, float]
    latency_ms: dict[str, float] | None


def _confidence(scores: pd.Series) -> pd.Series:
    """How sure the model was: max(p, 1 - p), from 0.5 (a coin toss) to 1."""
    return np.maximum(scores, 1 - scores)


def _mean(series: pd.Series) -> float | None:
    series = series.dropna()
    return float(series.mean()) if len(series) else None


def operations(valid: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> Operations:
    cols, threshold = model.columns, model.operations.low_confidence
    scores, ref_scores = valid[cols.score].dropna(), reference[cols.score].dropna()
    latency = None
    if cols.latency and cols.latency in valid.columns and valid[cols.latency].notna().any():
        values = valid[cols.latency].dropna()
        latency = {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}
    return Operations(
        volume=len(valid),
        mean_score=_mean(scores), reference_mean_score=_mean(ref_scores),
        positive_rate=_mean(valid[cols.decision]) if cols.decision else None,
        reference_positive_rate=_mean(reference[cols.decision]) if cols.decision else None,
        mean_confidence=_mean(_confidence(scores)), reference_mean_confidence=_mean(_confidence(ref_scores)),
        low_confidence_share=_mean((_confidence(scores) < threshold).astype(float)) if len(scores) else None,
        reference_low_confidence_share=(_mean((_confidence(ref_scores) < threshold).astype(float))
                                        if len(ref_scores) else None),
        low_confidence_threshold=threshold,
        score_quantiles={f"p{int(q * 100)}": float(scores.quantile(q)) for q in QUANTILES} if len(scores) else {},
        latency_ms=latency,
    )
