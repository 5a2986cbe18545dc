"""The no-change band of a statistic at a day's size: what a drift score, a rate or a metric looks like when nothing
changed, as a function of how many rows the day has.

A day's statistic moves by chance, and by less on larger days. Its no-change distribution is measured on replicate
days drawn from the reference (`monitoring.replicates`) at several sizes; here, the measured points are fitted and
read:

- at each size the statistic's **mean and spread** (standard deviation) over the replicates are measured, and fitted
  against the effective size n_eff = n x N / (n + N) (N: the rows the day is compared with). A distance's spread and
  mean follow power laws whose exponents the data gives (steeper than -1/2 for binned distances on small days), by
  least squares on log scales: log sd = a + b log n_eff, log mean = c + d log n_eff. A level's spread (a rate, an
  average, a metric: a mean over the day's rows) goes as 1/sqrt(n_eff), and only its scale is fitted (log sd = a -
  1/2 log n_eff, each size weighted by its replicates): a free exponent, fitted on the few replicates of each size,
  carries its error to the sizes between the measured ones (benchmarks/README.md measures it); a level's mean (the
  day's value minus the reference's) is fitted as
  c + d / sqrt(n_eff), weighted by each size's precision (replicates / sd^2): a statistic biased on small days (a
  calibration error, a small sample's F1) keeps its bias there, and the noisy means of 100-row days do not shift
  the band of a 5,000-row day; the measured points are kept beside the fit;
- the **band** at a day of n rows is where a no-change value falls with the probability a normal value falls within
  k standard deviations (k = `drift.band_sigma`, 3 by default: 99.87% on the side that alarms). Rates and metrics
  are close to normal: mean +- k sd. Distances are skewed and non-negative, and mean + k sd would let through several
  times more no-change values than its nominal rate (4 to 8 times, measured on skewed features): their band's upper
  edge is the matching quantile of a log-normal distribution with the fitted mean and spread (a gamma one, the other
  usual choice, still let through 2 to 3 times too many on a log-normal feature);
- the **tail probability** of the day's value (how often no change gives a value at least that far) comes from the
  same distribution: it feeds the multiple-testing control across a day's statistics (`monitoring.verdicts`).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from monitoring.vocabulary import Record


class NullPoint(Record):
    """One size measured: the statistic over its replicate days."""

    size: int
    n_eff: float
    how: Literal["chunks", "subsamples"]
    replicates: int
    mean: float
    sd: float


class NullModel(Record):
    """The no-change distribution of one statistic as a function of the day's size.

    `distance`: a non-negative score that shrinks with the size (drift scores); `level`: the difference between the
    day's value and the reference's (rates, metrics), centred near 0."""

    kind: Literal["distance", "level"]
    reference_rows: int  # N: the rows a day is compared with
    # log sd = a + b log n_eff (levels: b = -1/2); None: every replicate gave the same value
    sd_fit: tuple[float, float] | None
    # distances: log mean = c + d log n_eff (None: 0); levels: mean = c + d / sqrt(n_eff)
    mean_fit: tuple[float, float] | None
    points: list[NullPoint]

    def n_eff(self, n: int) -> float:
        """The effective size of a day of n rows compared with the reference's (at least 1: a band of no rows is
        the band of one)."""
        n = max(n, 1)
        return n * self.reference_rows / (n + self.reference_rows)

    def sd(self, n: int) -> float:
        if self.sd_fit is None:
            return 0.0
        a, b = self.sd_fit
        return math.exp(a + b * math.log(self.n_eff(n)))

    def mean(self, n: int) -> float:
        if self.mean_fit is None:
            return 0.0
        c, d = self.mean_fit
        if self.kind == "level":
            return c + d / math.sqrt(self.n_eff(n))
        return math.exp(c + d * math.log(self.n_eff(n)))

    def _lognormal(self, n: int) -> tuple[float, float]:
        """(mu, sigma) of the log-normal distribution with the fitted mean and spread at n rows."""
        mean, sd = self.mean(n), self.sd(n)
        sigma = math.sqrt(math.log(1 + (sd / mean) ** 2))
        return math.log(mean) - sigma ** 2 / 2, sigma

    def upper(self, n: int, k: float) -> float:
        """The no-change value exceeded with the probability of a normal value beyond k sd."""
        mean, sd = self.mean(n), self.sd(n)
        if sd == 0.0 or (self.kind == "distance" and mean == 0.0):
            return mean
        if self.kind == "level":
            return mean + k * sd
        mu, sigma = self._lognormal(n)
        return math.exp(mu + sigma * k)  # the log-normal's quantile at the normal's k-sigma tail

    def lower(self, n: int, k: float) -> float:
        mean, sd = self.mean(n), self.sd(n)
        if self.kind == "distance":
            return 0.0
        return mean - k * sd

    def tail(self, value: float, n: int, upward: bool = True) -> float:
        """The chance that no change gives a value at least this far (upward: at least this large)."""
        from scipy import stats

        mean, sd = self.mean(n), self.sd(n)
        if sd == 0.0 or (self.kind == "distance" and mean == 0.0):
            return 1.0 if (value <= mean if upward else value >= mean) else 0.0
        if self.kind == "level":
            return float(stats.norm.sf((value - mean) / sd) if upward else stats.norm.cdf((value - mean) / sd))
        if value <= 0:
            return 1.0
        mu, sigma = self._lognormal(n)
        return float(stats.norm.sf((math.log(value) - mu) / sigma))


def _loglog(x: list[float], y: list[float]) -> tuple[float, float] | None:
    """(a, b) of log y = a + b log x by least squares; a constant when one point; None when every y is 0."""
    pairs = [(math.log(u), math.log(v)) for u, v in zip(x, y) if v > 0]
    if not pairs:
        return None
    if len(pairs) == 1:
        return pairs[0][1], 0.0
    lx, ly = np.array(pairs).T
    b, a = np.polyfit(lx, ly, 1)
    return float(a), float(b)


def _level_mean(n_eff: list[float], points: list[NullPoint]) -> tuple[float, float]:
    """(c, d) of a level's mean = c + d / sqrt(n_eff), by least squares weighted by each size's precision
    (replicates / sd^2): a statistic biased on small days (a calibration error, a small sample's F1) keeps its bias
    where the days are small, and the noisy small days' means barely move the band of a large one."""
    means = np.array([p.mean for p in points])
    weights = np.sqrt([p.replicates / max(p.sd ** 2, 1e-12) for p in points])
    if len(points) < 2:
        return float(means[0]), 0.0
    design = np.column_stack([np.ones(len(points)), 1 / np.sqrt(n_eff)])
    (c, d), *_ = np.linalg.lstsq(design * weights[:, None], means * weights, rcond=None)
    return float(c), float(d)


def _level_sd(points: list[NullPoint]) -> tuple[float, float] | None:
    """(a, -1/2) of a level's log sd = a - 1/2 log n_eff: the scale a is the mean of log(sd x sqrt(n_eff)) over the
    sizes, each weighted by its replicates (a log sd's variance is about 1 / (2 (replicates - 1))); None when every
    replicate gave the same value."""
    used = [p for p in points if p.sd > 0]
    if not used:
        return None
    weights = np.array([max(p.replicates - 1, 1) for p in used], dtype=float)
    scales = np.array([math.log(p.sd) + 0.5 * math.log(p.n_eff) for p in used])
    return float(np.average(scales, weights=weights)), -0.5


def fit_null(kind: Literal["distance", "level"], reference_rows: int, points: list[NullPoint]) -> NullModel:
    x = [p.n_eff for p in points]
    if kind == "distance":
        sd_fit = _loglog(x, [p.sd for p in points])
        mean_fit = _loglog(x, [p.mean for p in points])
    else:
        sd_fit = _level_sd(points)
        mean_fit = _level_mean(x, points)
    return NullModel(kind=kind, reference_rows=reference_rows, sd_fit=sd_fit, mean_fit=mean_fit, points=points)


