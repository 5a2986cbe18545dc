"""What a statistic looks like when nothing changed, at the size of the day: the calibration behind every verdict.

A day's statistic (a drift score, a rate, a performance metric) moves by chance, and by less on larger days. Its
no-change distribution is measured on the reference itself (NannyML's method, with the size made explicit):

- **replicate days** of several sizes n (100, 300, 1,000, 3,000, 10,000 rows, up to half the reference) are drawn
  from the reference, each **held out** from the rows it is compared with, as a new day is: while the reference
  holds `REPLICATES` disjoint chunks of n rows, its chunks, each compared with the rest; beyond that, random chunks
  of n rows compared with random disjoint rows of the rest (subsampling: the chunks overlap each other, never the
  rows they are compared with). A bootstrap (drawing with replacement) is not used: its day and reference share
  rows, which makes them look alike and the band too narrow by a third on skewed features (measured);
- at each size the statistic's **mean and spread** (standard deviation) over the replicates are measured, and a power
  law is fitted to them against the effective size n_eff = n x N / (n + N) (N: the rows the day is compared with),
  by least squares on log scales: log sd = a + b log n_eff, and for distances log mean = c + d log n_eff. The fitted
  exponents are what the data says, not an assumed 1/2 (they come out near -1/2 for averages and rates, steeper for
  binned distances on small days); the measured points are kept beside the fit;
- the **band** at a day of n rows is where a no-change value falls with the probability a normal value falls within
  k standard deviations (k = `drift.band_sigma`, 3 by default: 99.87% on the side that alarms). Rates and metrics
  are close to normal: mean +- k sd. Distances are skewed and non-negative, and mean + k sd would let through several
  times more no-change values than its nominal rate (4 to 8 times, measured on skewed features): their band's upper
  edge is the matching quantile of a log-normal distribution with the fitted mean and spread (a gamma one, the other
  usual choice, still let through 2 to 3 times too many on a log-normal feature);
- the **tail probability** of the day's value (how often no change gives a value at least that far) comes from the
  same distribution: it feeds the multiple-testing control across features (`monitoring.verdicts`).

Everything is deterministic: the replicates are drawn from a generator seeded by the reference's fingerprint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

SIZES = (100, 300, 1_000, 3_000, 10_000)
REPLICATES = 25  # replicate days measured at each size
MAX_COMPARED = 20_000  # reference rows a replicate day is compared with (the fit carries it to the day's own)


def null_name(kind: str, column: str = "") -> str:
    """The name of a calibrated statistic: `drift:<column>`, `missing:<column>`, `metric:<metric>`, or one of
    `positive_rate`, `low_confidence_share`, `reconstruction_error`."""
    return f"{kind}:{column}" if column else kind


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NullPoint(_Frozen):
    """One size measured: the statistic over its replicate days."""

    size: int
    n_eff: float
    how: Literal["chunks", "subsamples"]
    replicates: int
    mean: float
    sd: float


class NullModel(_Frozen):
    """The no-change distribution of one statistic as a function of the day's size.

    `distance`: a non-negative score that shrinks with the size (drift scores); `level`: the difference between the
    day's value and the reference's (rates, metrics), centred near 0."""

    kind: Literal["distance", "level"]
    reference_rows: int  # N: the rows a day is compared with
    sd_fit: tuple[float, float] | None  # log sd = a + b log n_eff; None: every replicate gave the same value
    mean_fit: tuple[float, float] | None  # distances: log mean = c + d log n_eff (None: 0); levels: mean = c
    points: list[NullPoint]

    def n_eff(self, n: int) -> float:
        return n * self.reference_rows / (n + self.reference_rows)

    def sd(self, n: int) -> float:
        if self.sd_fit is None:
            return 0.0
        a, b = self.sd_fit
        return math.exp(a + b * math.log(self.n_eff(n)))

    def mean(self, n: int) -> float:
        if self.mean_fit is None:
            return 0.0
        if self.kind == "level":
            return self.mean_fit[0]
        c, d = self.mean_fit
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


def fit_null(kind: Literal["distance", "level"], reference_rows: int, points: list[NullPoint]) -> NullModel:
    x = [p.n_eff for p in points]
    sd_fit = _loglog(x, [p.sd for p in points])
    if kind == "distance":
        mean_fit = _loglog(x, [p.mean for p in points])
    else:
        weights = np.array([p.replicates for p in points], dtype=float)
        mean_fit = (float(np.average([p.mean for p in points], weights=weights)), 0.0)
    return NullModel(kind=kind, reference_rows=reference_rows, sd_fit=sd_fit, mean_fit=mean_fit, points=points)


@dataclass(frozen=True)
class ReplicateDay:
    """A no-change day drawn from the reference: its rows, and the reference rows it is compared with."""

    size: int
    how: Literal["chunks", "subsamples"]
    day: np.ndarray  # row positions in the reference
    reference: np.ndarray


def sizes_for(rows: int, sizes: tuple[int, ...] = SIZES) -> tuple[int, ...]:
    """The replicate sizes a reference of `rows` rows can hold out (at most half of it); for a small reference,
    eighths, quarters and halves of it."""
    fitting = tuple(n for n in sizes if 2 * n <= rows)
    return fitting if len(fitting) >= 3 else tuple(sorted({max(10, rows // 8), max(10, rows // 4), max(10, rows // 2)}))


def replicate_days(rows: int, compared_rows: int, rng: np.random.Generator,
                   sizes: tuple[int, ...] = SIZES) -> Iterator[ReplicateDay]:
    """Replicate days of each size, held out from the rows they are compared with (see the module's doc);
    `compared_rows`: how many reference rows a day is compared with (fewer when the rest is smaller)."""
    for size in sizes_for(rows, sizes):
        if rows // size >= REPLICATES + 1:
            order = rng.permutation(rows)
            for i in range(REPLICATES):
                rest = np.concatenate([order[:i * size], order[(i + 1) * size:]])
                yield ReplicateDay(size, "chunks", order[i * size:(i + 1) * size], rest[:compared_rows])
        else:
            for _ in range(REPLICATES):
                order = rng.permutation(rows)
                yield ReplicateDay(size, "subsamples", order[:size], order[size:size + compared_rows])


Statistic = Callable[[np.ndarray, np.ndarray], dict[str, float | None]]


def calibrate(rows: int, compared_rows: int, statistics: Statistic, kinds: dict[str, str], seed: int,
              sizes: tuple[int, ...] = SIZES) -> dict[str, NullModel]:
    """The null model of every statistic `statistics(day, reference)` returns (name -> value, None when it cannot be
    computed on that replicate; `day` and `reference` are row positions), measured on replicate days of a reference
    of `rows` rows (see the module's doc). A day is compared with `compared_rows` of them; replicate days are
    compared with at most `MAX_COMPARED` rows, which the fit against the effective size carries over."""
    rng = np.random.default_rng(seed)
    values: dict[tuple[str, int], list[float]] = {}
    how: dict[int, str] = {}
    n_eff: dict[int, list[float]] = {}
    for replicate in replicate_days(rows, min(compared_rows, MAX_COMPARED), rng, sizes):
        how[replicate.size] = replicate.how
        n, m = len(replicate.day), len(replicate.reference)
        n_eff.setdefault(replicate.size, []).append(n * m / (n + m))
        for name, value in statistics(replicate.day, replicate.reference).items():
            if value is not None and math.isfinite(value):
                values.setdefault((name, replicate.size), []).append(float(value))
    models = {}
    for name, kind in kinds.items():
        points = [NullPoint(size=size, n_eff=float(np.mean(n_eff[size])), how=how[size], replicates=len(found),
                            mean=float(np.mean(found)), sd=float(np.std(found, ddof=1)))
                  for size in sorted(how) if len(found := values.get((name, size), [])) >= 3]
        if points:
            models[name] = fit_null(kind, compared_rows, points)
    return models


def benjamini_hochberg(tails: dict[str, float], fdr: float) -> set[str]:
    """The names whose tail probabilities are discoveries at false discovery rate `fdr` (Benjamini-Hochberg)."""
    ranked = sorted(tails.items(), key=lambda kv: kv[1])
    m, found = len(ranked), 0
    for i, (_, p) in enumerate(ranked, start=1):
        if p <= fdr * i / m:
            found = i
    return {name for name, _ in ranked[:found]}
