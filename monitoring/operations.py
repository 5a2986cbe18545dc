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


def confidence(scores: pd.Series) -> pd.Series:
    """How sure the model was: max(p, 1 - p), from 0.5 (a coin toss) to 1."""
    return np.maximum(scores, 1 - scores)


def _mean(series: pd.Series) -> float | None:
    series = series.dropna()
    return float(series.mean()) if len(series) else None


def reference_figures(reference: pd.DataFrame, model: ModelConfig) -> dict[str, float | None]:
    """The reference's side of the operational figures (confidence for classifiers only: a regression's output is
    not a probability)."""
    cols = model.columns
    scores = reference[cols.score].dropna()
    sure = confidence(scores)
    classifier = model.is_classification and len(scores)
    return {"reference_mean_score": _mean(scores),
            "reference_positive_rate": _mean(reference[cols.decision]) if cols.decision else None,
            "reference_mean_confidence": _mean(sure) if classifier else None,
            "reference_low_confidence_share": float((sure < model.operations.low_confidence).mean())
            if classifier else None}

