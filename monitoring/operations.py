"""Operational KPIs of a model-day from its logs: volume, positive rate, confidence, latency.

Computed on every valid row (never a sample) by `monitoring.day_state`, against the reference's own figures (fitted in
`monitoring.reference`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict


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
    trailing_volume_log_sd: float | None = None  # the spread of their logarithms (calibrated volume band)


def confidence(scores: pd.Series, top: bool = False) -> pd.Series:
    """How sure the model was: max(p, 1 - p), from 0.5 (a coin toss) to 1; `top`: the scores are a multiclass
    model's top scores, its confidence as they are (from 1/classes to 1)."""
    return scores if top else np.maximum(scores, 1 - scores)
