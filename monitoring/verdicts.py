"""Verdicts with a known error rate: each statistic of a day judged against what no change gives at its size, and
the day's statistics judged together, so that a model that did not change alarms by chance as rarely as `k` says.

In `drift.threshold_mode: calibrated` (the default) a statistic fires only when all of these hold:

- its value lies **outside the no-change band** for a day of its size (fitted on the model's reference,
  `monitoring.bands`; k = `drift.band_sigma` standard deviations, 3 by default);
- it is **at least the minimum effect**: a distance method's configured threshold (`drift.numerical_threshold`, ...,
  so a 10-million-row day does not page on a tiny, "significant" move), `drift.min_effect` for a test's effect
  size, `rules.positive_rate.min_change`, `rules.low_confidence.min_increase`, `quality.min_missing_increase`,
  `rules.multivariate_drift.min_increase`, a metric's `min_drop`;
- it is a **discovery of the day's family**: the calibrated statistics of a monitored day (every column's drift,
  the positive rate, the low-confidence share, the missing shares, the joint drift) form one family, and the
  metrics of a day whose labels came due another. A family alarms at all only when its tail probabilities pass
  Simes' global test at the tail of a k-sigma event (0.135% at k = 3): a model-day on which nothing changed alarms
  with about that chance, however many features the model has, so a model pages by chance about once in two years
  (30 x 0.135% = 0.04 expected false alarms a month and family). When it does, Benjamini-Hochberg at `drift.fdr`
  (5%) over the same tails chooses which statistics fire: among a day's fired statistics at most that share is
  expected to be chance.

Per statistic, k=3 bands alone would let a model of 20 statistics alarm on 2.7% of its no-change days (measured:
3.8% on synthetic 300-row days before the family gate); the gate is what makes the rate a property of the model,
not of its number of columns.

A column whose reference holds fewer than `drift.min_reference_rows` values, or that the calibration could not
measure, gets no calibrated verdict: it is reported as a reference too small to tell, and never fires. An explicit
per-column threshold (`drift.columns.<column>.threshold`) is a fixed line and wins over the calibration for its
column (outside the family). In `fixed` mode every statistic is judged by its configured line alone, as before
calibration existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from monitoring.bands import NullModel
from monitoring.text import number
from monitoring.vocabulary import Record, is_test

Mode = Literal["calibrated", "fixed", "small_reference"]


class Judgement(Record):
    """One statistic of a day judged: its value, the day's size, the band no change gives at that size, and why it
    fired or not."""

    value: float | None
    rows: int  # the day's rows the value was measured on
    reference_rows: int  # the reference's rows it was compared with
    mode: Mode
    band: tuple[float, float] | None = None  # no change lands inside with the band's probability (calibrated)
    tail: float | None = None  # how often no change gives a value at least this far (calibrated)
    effect: float | None = None  # the size of the change, in the unit of `min_effect`
    min_effect: float | None = None
    outside: bool = False  # outside the band, on the side that alarms
    significant: bool = True  # survived the false discovery control (features)
    fired: bool = False

    def words(self, unit: str = "") -> str:
        """The verdict in plain words, for the pages and the findings."""
        if self.mode == "small_reference":
            return f"reference too small to tell ({self.reference_rows} rows)"
        if self.value is None:
            return "not measured"
        value = _fmt(self.value, unit)
        if self.mode == "fixed":
            return f"{value} against the fixed line {_fmt(self.min_effect, unit)}"
        low, high = self.band
        band = f"{_fmt(low, unit)} to {_fmt(high, unit)}"
        return (f"{value}; no change on a day of {self.rows:,} rows against {self.reference_rows:,} reference rows "
                f"stays within {band}; the smallest change that counts is {_fmt(self.min_effect, unit)}")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1%}" if unit == "%" else number(value)


class DayVerdicts(Record):
    """How a day's statistics were judged, and the judgements of its rates and of the model's joint drift (the drift
    columns' are beside their scores)."""

    mode: str  # "calibrated" or "fixed"
    band_sigma: float
    fdr: float
    expected_false_alarms_per_month: float | None  # at most, in 30 no-change days: the gate's level
    statistics: dict[str, Judgement]  # positive_rate, low_confidence_share, missing:<column>, reconstruction_error
    # what the days before add, the model-day's second family (monitoring.trailing), folded in once judged: the
    # trailing window's statistics (mean_shift:<column>, distance:<column>) and each column's slow-drift CUSUM
    # (gradual:<column>)
    window: dict[str, Judgement] = {}


def nominal_tail(k: float) -> float:
    """The chance a normal value lies beyond k standard deviations on one side (0.135% for k = 3)."""
    return 0.5 * math.erfc(k / math.sqrt(2))


def distance(value: float | None, rows: int, null: NullModel | None, k: float, min_effect: float,
             reference_rows: int, enough_reference: bool) -> Judgement:
    """A drift distance (larger is more drift) against its band; `min_effect` is the method's threshold."""
    if not enough_reference or null is None:
        return Judgement(value=value, rows=rows, reference_rows=reference_rows, mode="small_reference",
                         min_effect=min_effect)
    if value is None:
        return Judgement(value=None, rows=rows, reference_rows=reference_rows, mode="calibrated", min_effect=min_effect)
    high = null.upper(rows, k)
    outside = value > high
    return Judgement(value=value, rows=rows, reference_rows=reference_rows, mode="calibrated", band=(0.0, high),
                     tail=null.tail(value, rows), effect=value, min_effect=min_effect, outside=outside,
                     fired=outside and value >= min_effect)


def test(p_value: float | None, effect: float | None, rows: int, k: float, min_effect: float, reference_rows: int,
         enough_reference: bool) -> Judgement:
    """A test's p-value (smaller is more drift), paired with its effect size: outside the band is p below the
    band's tail."""
    if not enough_reference:
        return Judgement(value=p_value, rows=rows, reference_rows=reference_rows, mode="small_reference",
                         min_effect=min_effect)
    if p_value is None:
        return Judgement(value=None, rows=rows, reference_rows=reference_rows, mode="calibrated", min_effect=min_effect)
    edge = nominal_tail(k)
    outside = p_value < edge
    return Judgement(value=p_value, rows=rows, reference_rows=reference_rows, mode="calibrated", band=(edge, 1.0),
                     tail=p_value, effect=effect, min_effect=min_effect, outside=outside,
                     fired=outside and effect is not None and effect >= min_effect)


def fixed(value: float | None, rows: int, reference_rows: int, line: float, method: str | None = None,
          fires: bool | None = None) -> Judgement:
    """A statistic judged by its configured line alone (a drift score: at or past its threshold)."""
    if fires is None:
        fires = value is not None and (value < line if method and is_test(method) else value >= line)
    return Judgement(value=value, rows=rows, reference_rows=reference_rows, mode="fixed", min_effect=line,
                     fired=bool(fires))


def level(change: float | None, rows: int, null: NullModel | None, k: float, min_effect: float, reference_rows: int,
          direction: Literal["up", "down", "both"], relative_to: float | None = None) -> Judgement:
    """The change of a rate or metric from the reference's value against its band. `direction`: the side that
    alarms. `relative_to`: the minimum effect is relative to this value (e.g. 5% of the reference's error)."""
    if null is None:
        return Judgement(value=change, rows=rows, reference_rows=reference_rows, mode="small_reference",
                         min_effect=min_effect)
    if change is None:
        return Judgement(value=None, rows=rows, reference_rows=reference_rows, mode="calibrated", min_effect=min_effect)
    return _against_band(change, rows, reference_rows, (null.lower(rows, k), null.upper(rows, k)),
                         lambda upward: null.tail(change, rows, upward=upward), min_effect, direction, relative_to)


def empirical(change: float | None, simulated: np.ndarray, rows: int, k: float, min_effect: float,
              reference_rows: int, direction: Literal["up", "down", "both"],
              relative_to: float | None = None) -> Judgement:
    """The change of a rate or metric against no-change changes drawn from its predictive distribution
    (`simulated`, thousands of them): the band is their quantiles at the k-sigma tails, the tail the share of them at
    least as far (one added to both counts, so it is never 0). For a statistic whose no-change distribution is
    skewed at the day's size, where `level`'s normal tail would be several times too small. A change beyond every
    draw gets at most the normal tail of the draws' mean and sd: the draws' resolution (1 / (draws + 1)) would
    otherwise be the smallest tail, and over a family of many segments too large to ever open its gate alone."""
    if change is None:
        return Judgement(value=None, rows=rows, reference_rows=reference_rows, mode="calibrated", min_effect=min_effect)
    edge = nominal_tail(k)
    band = tuple(float(v) for v in np.quantile(simulated, [edge, 1 - edge]))
    draws, mean, sd = len(simulated), float(simulated.mean()), float(simulated.std())

    def tail_of(upward: bool) -> float:
        beyond = int((simulated >= change).sum() if upward else (simulated <= change).sum())
        if beyond or sd == 0:
            return (beyond + 1) / (draws + 1)
        return min(1 / (draws + 1), nominal_tail((change - mean) / sd if upward else (mean - change) / sd))
    return _against_band(change, rows, reference_rows, band, tail_of, min_effect, direction, relative_to)


def _against_band(change: float, rows: int, reference_rows: int, band: tuple[float, float],
                  tail_of: Callable[[bool], float], min_effect: float, direction: Literal["up", "down", "both"],
                  relative_to: float | None) -> Judgement:
    """A change judged against its no-change band (`tail_of(upward)`: how often no change goes at least this far
    up, or down): outside on the side that alarms, and past the minimum effect (relative to `relative_to`)."""
    low, high = band
    up, down = change > high, change < low
    outside = {"up": up, "down": down, "both": up or down}[direction]
    tail = 2 * min(tail_of(True), tail_of(False)) if direction == "both" else tail_of(direction == "up")
    effect = abs(change) / abs(relative_to) if relative_to else abs(change)
    return Judgement(value=change, rows=rows, reference_rows=reference_rows, mode="calibrated", band=(low, high),
                     tail=min(1.0, tail), effect=effect, min_effect=min_effect, outside=outside,
                     fired=outside and effect >= min_effect)


def benjamini_hochberg(tails: dict[str, float], fdr: float) -> set[str]:
    """The names whose tail probabilities are discoveries at false discovery rate `fdr` (Benjamini-Hochberg)."""
    ranked = sorted(tails.items(), key=lambda kv: kv[1])
    m, found = len(ranked), 0
    for i, (_, p) in enumerate(ranked, start=1):
        if p <= fdr * i / m:
            found = i
    return {name for name, _ in ranked[:found]}


def control(judgements: dict[str, Judgement], k: float, fdr: float) -> dict[str, Judgement]:
    """A family's judgements after the day's gate and the false discovery control (see the module's doc): the
    calibrated ones that are not discoveries are not significant and do not fire; the others are left as they are."""
    tails = {name: j.tail for name, j in judgements.items() if j.mode == "calibrated" and j.tail is not None}
    found = benjamini_hochberg(tails, fdr) if benjamini_hochberg(tails, nominal_tail(k)) else set()
    return {name: j.model_copy(update={"significant": name in found, "fired": j.fired and name in found})
            if name in tails else j for name, j in judgements.items()}


def false_alarms_per_month(judgements: dict[str, Judgement], k: float) -> float | None:
    """At most how many no-change days of 30 the family alarms on: the gate's level, 30 x the k-sigma tail (none
    without a calibrated statistic)."""
    if not any(j.mode == "calibrated" and j.tail is not None for j in judgements.values()):
        return None
    return 30 * nominal_tail(k)


class Degradation(Record):
    """A performance metric judged worse than the reference's baseline."""

    metric: str
    value: float
    baseline: float
    worse_by: float  # how much worse than the baseline (positive = worse)
    relative: float | None  # worse_by / |baseline|
    limit: str  # the rule, in words
    retrain: bool  # past the retraining limit too
    verdict: Judgement | None = None  # calibrated: the change against its no-change band at the day's labelled size

    def describe(self) -> str:
        relative = f" or {self.relative:.0%}" if self.relative is not None else ""
        return (f"{self.metric} {self.value:.3f} vs {self.baseline:.3f} in the reference "
                f"({self.worse_by:.3f}{relative} worse; alert when {self.limit})")
