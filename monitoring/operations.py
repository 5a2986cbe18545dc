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
    # Mean volume of the published days before this one (rules.volume.window_days), for the volume rule:
    trailing_volume: float | None = None
    trailing_volume_days: int = 0


def _confidence(scores: pd.Series) -> pd.Series:
    """How sure the model was: max(p, 1 - p), from 0.5 (a coin toss) to 1."""
    return np.maximum(scores, 1 - scores)


def _mean(series: pd.Series) -> float | None:
    series = series.dropna()
    return float(series.mean()) if len(series) else None


def _low_confidence_share(scores: pd.Series, threshold: float) -> float | None:
    return _mean((_confidence(scores) < threshold).astype(float)) if len(scores) else None


def _confidence_figures(scores: pd.Series, ref_scores: pd.Series, threshold: float) -> dict[str, float | None]:
    return {"mean_confidence": _mean(_confidence(scores)), "reference_mean_confidence": _mean(_confidence(ref_scores)),
            "low_confidence_share": _low_confidence_share(scores, threshold),
            "reference_low_confidence_share": _low_confidence_share(ref_scores, threshold)}


def operations(valid: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> Operations:
    """Confidence figures are for classifiers only (a regression's output is not a probability)."""
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
        **(_confidence_figures(scores, ref_scores, threshold) if model.is_classification else
           dict.fromkeys(("mean_confidence", "reference_mean_confidence", "low_confidence_share",
                          "reference_low_confidence_share"))),
        low_confidence_threshold=threshold,
        score_quantiles={f"p{int(q * 100)}": float(scores.quantile(q)) for q in QUANTILES} if len(scores) else {},
        latency_ms=latency,
    )
