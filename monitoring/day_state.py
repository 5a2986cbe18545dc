"""The state of a model-day: its exact figures, gathered batch by batch in one pass over its valid rows (`DayState`).

Memory stays flat whatever the day's size: per numerical column a few running numbers and a histogram on the
reference's bins, per categorical column the count of each category (so a category seen in three rows of a
hundred million is never lost), per day the running sums of the operational figures. Only the score and latency
quantiles come from the day's deterministic sample (`sampling.HashSample`); they are exact when the day fits in it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.config import FitSettings
from monitoring.estimators import ExpectedConfusion, ExpectedMulticlassConfusion
from monitoring.metrics import predicted_labels
from monitoring.operations import QUANTILES, Operations, confidence
from monitoring.quality import NEW_CATEGORY_EXAMPLES, ColumnQuality, Distribution, categorical_distribution, finite, psi
from monitoring.reference import CategoricalBaseline, NumericalBaseline, ReferenceProfile
from monitoring.segments import SegmentTally
from monitoring.text import clip


class _Numbers:
    """Count, missing, mean and spread (merged with Chan's formula), min, max, values outside the reference's range,
    and the histogram on the reference's bins of one numerical column."""

    def __init__(self, reference: NumericalBaseline) -> None:
        self.reference = reference
        self.range = (reference.min, reference.max) if reference.count else None
        self.edges = np.array(reference.edges, dtype=float)
        self.bins = np.zeros(len(reference.bins), dtype=np.int64)
        self.rows = self.missing = self.count = self.outside = 0
        self.mean = self.m2 = 0.0
        self.min, self.max = np.inf, -np.inf

    def add(self, values: pd.Series) -> None:
        present = values.to_numpy(dtype=float, na_value=np.nan)
        present = present[~np.isnan(present)]
        self.rows += len(values)
        self.missing += len(values) - len(present)
        if not len(present):
            return
        n, mean = len(present), float(present.mean())
        m2 = float(((present - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta ** 2 * self.count * n / total
        self.count = total
        self.min, self.max = min(self.min, float(present.min())), max(self.max, float(present.max()))
        if self.range:
            self.outside += int(((present < self.range[0]) | (present > self.range[1])).sum())
        if len(self.bins):
            self.bins += np.bincount(np.searchsorted(self.edges, present, side="left"), minlength=len(self.bins))

    def quality(self) -> ColumnQuality:
        present = self.count > 0
        distribution = None
        if self.reference.count:
            distribution = Distribution(bins=self.reference.bins, reference=self.reference.shares,
                                        current=[float(c) / self.count if present else 0.0 for c in self.bins])
        return ColumnQuality(
            kind="numerical", missing_share=self.missing / self.rows if self.rows else 0.0,
            mean=finite(self.mean) if present else None, reference_mean=self.reference.mean,
            std=finite((self.m2 / (self.count - 1)) ** 0.5) if self.count > 1 else None,
            min=finite(self.min) if present else None, max=finite(self.max) if present else None,
            out_of_range_share=self.outside / self.rows if self.rows else 0.0, distribution=distribution,
            psi=psi(distribution) if present else None,
        )


class _Categories:
    """Missing values and the count of every category of one categorical column."""

    def __init__(self, reference: CategoricalBaseline) -> None:
        self.reference = pd.Series(reference.counts, dtype="int64")
        self.counts = pd.Series(dtype="int64")
        self.rows = self.missing = 0

    def add(self, values: pd.Series) -> None:
        present = values.dropna().astype(str)
        self.rows += len(values)
        self.missing += len(values) - len(present)
        self.counts = self.counts.add(present.value_counts(), fill_value=0).astype("int64")

    def quality(self) -> ColumnQuality:
        distribution = categorical_distribution(self.counts, self.reference)
        new = self.counts[~self.counts.index.isin(self.reference.index)]
        new = new.sort_index().sort_values(ascending=False, kind="stable")
        return ColumnQuality(
            kind="categorical", missing_share=self.missing / self.rows if self.rows else 0.0,
            distinct=int(len(self.counts)), new_categories=[clip(c) for c in new.index[:NEW_CATEGORY_EXAMPLES]],
            new_category_share=float(new.sum() / self.rows) if self.rows else 0.0,
            distribution=distribution, psi=psi(distribution) if len(self.counts) and len(self.reference) else None,
        )


class DayState:
    """Feed it the day's valid rows in batches (`add`), then read the day's quality and operational figures, against
    the fitted reference (`settings`: the model's, as the reference was fitted with)."""

    def __init__(self, settings: FitSettings, reference: ReferenceProfile) -> None:
        scoring = settings.scoring
        self.settings, self.scoring, self.reference = settings, scoring, reference
        self.numbers = {c: _Numbers(reference.numerical[c])
                        for c in (*settings.numerical, scoring.score, *scoring.scores)}
        self.categories = {c: _Categories(reference.categorical[c]) for c in settings.categorical}
        self.rows = self.positives = self.low_confidence = 0
        self.confidence = 0.0
        # CBPE: the expected confusion matrix of every valid row, from its calibrated probability
        self.expected = ExpectedConfusion(reference.cbpe) if reference.cbpe is not None else None
        self.expected_classes = (ExpectedMulticlassConfusion(reference.cbpe_multiclass)
                                 if reference.cbpe_multiclass is not None else None)
        # the configured segments, every row counted in the same pass (monitoring.segments)
        self.segments = (SegmentTally(reference.segments, scoring.score,
                                      scoring.decision if scoring.is_classification else None)
                         if reference.segments is not None and settings.segments is not None else None)

    def add(self, batch: pd.DataFrame) -> DayState:
        scoring = self.scoring
        self.rows += len(batch)
        for column, tally in (*self.numbers.items(), *self.categories.items()):
            tally.add(batch[column])
        if scoring.decision and scoring.is_classification:
            self.positives += int(batch[scoring.decision].sum())
        if not scoring.is_regression:
            sure = confidence(batch[scoring.score].dropna(), scoring.is_multiclass)
            self.confidence += float(sure.sum())
            self.low_confidence += int((sure < self.settings.low_confidence).sum())
        expected = None
        if self.expected is not None and len(batch):  # calibrated once, for the day and for its segments
            expected = (self.expected.fit.probabilities(batch[scoring.score].to_numpy(dtype=float)),
                        predicted_labels(batch, scoring).to_numpy())
            self.expected.add_probabilities(*expected)
        if self.expected_classes is not None and len(batch):
            self.expected_classes.add(batch[list(scoring.scores)].to_numpy(dtype=float),
                                      predicted_labels(batch, scoring).to_numpy())
        if self.segments is not None:
            self.segments.add(batch, expected)
        return self

    def quality(self) -> dict[str, ColumnQuality]:
        """By column: every numerical feature, the score, every categorical feature."""
        return {column: tally.quality() for column, tally in (*self.numbers.items(), *self.categories.items())}

    def operations(self, sample: pd.DataFrame, latency_column: str | None = None) -> Operations:
        """Volume, rates and confidence of the whole day; score and latency quantiles of `sample` (a deterministic
        sample of the day, or the day itself)."""
        cols, threshold = self.scoring, self.settings.low_confidence
        scored = self.numbers[cols.score].count
        classifier = not cols.is_regression
        scores = sample[cols.score].dropna()
        latency = None
        if latency_column and latency_column in sample.columns and sample[latency_column].notna().any():
            values = sample[latency_column].dropna()
            latency = {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}
        baseline = self.reference.operations
        return Operations(
            volume=self.rows,
            mean_score=self.numbers[cols.score].mean if scored else None,
            positive_rate=self.positives / self.rows if cols.decision and cols.is_classification and self.rows else None,
            mean_confidence=self.confidence / scored if classifier and scored else None,
            low_confidence_share=self.low_confidence / scored if classifier and scored else None,
            low_confidence_threshold=threshold,
            score_quantiles={f"p{int(q * 100)}": float(scores.quantile(q)) for q in QUANTILES} if len(scores) else {},
            latency_ms=latency,
            reference_mean_score=baseline.mean_score, reference_positive_rate=baseline.positive_rate,
            reference_mean_confidence=baseline.mean_confidence,
            reference_low_confidence_share=baseline.low_confidence_share,
        )
