"""Verdicts with a known error rate: each statistic of a day judged against what no change gives at its size.

In `drift.threshold_mode: calibrated` (the default) a statistic fires only when all of these hold:

- its value lies **outside the no-change band** for a day of its size (fitted on the model's reference,
  `monitoring.calibration`; k = `drift.band_sigma` standard deviations, 3 by default);
- it is **at least the minimum effect**: a distance method's configured threshold (`drift.numerical_threshold`, ...,
  so a 10-million-row day does not page on a tiny, "significant" move), `drift.min_effect` for a test's effect
  size, `rules.positive_rate.min_change`, `rules.low_confidence.min_increase`, `quality.min_missing_increase`,
  `rules.multivariate_drift.min_increase`, a metric's `min_drop`;
- for the features of a day, it survives the **false discovery control** across them: Benjamini-Hochberg at
  `drift.fdr` (5%) on their tail probabilities.

A column whose reference holds fewer than `drift.min_reference_rows` values, or that the calibration could not
measure, gets no calibrated verdict: it is reported as a reference too small to tell, and never fires. An explicit
per-column threshold (`drift.columns.<column>.threshold`) is a fixed line and wins over the calibration for its
column. In `fixed` mode every statistic is judged by its configured line alone, as before calibration existed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from monitoring import drift
from monitoring.calibration import NullModel, benjamini_hochberg
from monitoring.config import ModelConfig

if TYPE_CHECKING:
    import pandas as pd

    from monitoring.drift import ColumnDriftResult
    from monitoring.operations import Operations
    from monitoring.quality import ColumnQuality
    from monitoring.reference import ReferenceProfile

Mode = Literal["calibrated", "fixed", "small_reference"]


class Judgement(BaseModel):
    """One statistic of a day judged: its value, the day's size, the band no change gives at that size, and why it
    fired or not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    return f"{value:.1%}" if unit == "%" else f"{value:.3g}"


class DayVerdicts(BaseModel):
    """How a day's statistics were judged, and the judgements of its rates and of the model's joint drift (the drift
    columns' are beside their scores)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str  # "calibrated" or "fixed"
    band_sigma: float
    fdr: float
    expected_false_alarms_per_month: float | None  # feature-drift verdicts expected in 30 no-change days this size
    statistics: dict[str, Judgement]  # positive_rate, low_confidence_share, missing:<column>, reconstruction_error


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
        fires = value is not None and (value < line if method and drift.is_test(method) else value >= line)
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
    low, high = null.lower(rows, k), null.upper(rows, k)
    up, down = change > high, change < low
    outside = {"up": up, "down": down, "both": up or down}[direction]
    if direction == "both":
        tail = 2 * min(null.tail(change, rows, upward=True), null.tail(change, rows, upward=False))
    else:
        tail = null.tail(change, rows, upward=direction == "up")
    effect = abs(change) / abs(relative_to) if relative_to else abs(change)
    return Judgement(value=change, rows=rows, reference_rows=reference_rows, mode="calibrated", band=(low, high),
                     tail=min(1.0, tail), effect=effect, min_effect=min_effect, outside=outside,
                     fired=outside and effect >= min_effect)


def control_discoveries(judgements: dict[str, Judgement], fdr: float) -> dict[str, Judgement]:
    """The features' judgements after Benjamini-Hochberg at `fdr` over the calibrated ones' tail probabilities: a
    feature that is not a discovery is not significant and does not fire."""
    tails = {name: j.tail for name, j in judgements.items() if j.mode == "calibrated" and j.tail is not None}
    found = benjamini_hochberg(tails, fdr)
    return {name: j.model_copy(update={"significant": name in found, "fired": j.fired and name in found})
            if name in tails else j for name, j in judgements.items()}


def false_alarms_per_month(judgements: dict[str, Judgement], nulls: dict[str, NullModel | None], k: float,
                           fdr: float) -> float | None:
    """The expected days with a false feature-drift verdict in 30 days of the same size when nothing changes: each
    calibrated feature fires by chance at most with the band's tail, the first discovery's level (fdr / m) and the
    chance of reaching its minimum effect; taken as independent."""
    calibrated = {name: j for name, j in judgements.items() if j.mode == "calibrated" and j.band is not None}
    if not calibrated:
        return None
    m = len(calibrated)
    quiet = 1.0
    for name, judgement in calibrated.items():
        chance = min(nominal_tail(k), fdr / m)
        null = nulls.get(name)
        if null is not None and judgement.min_effect is not None:
            chance = min(chance, null.tail(judgement.min_effect, judgement.rows))
        quiet *= 1 - chance
    return 30 * (1 - quiet)


def day_levels(model: ModelConfig, profile: ReferenceProfile, operations: Operations,
               quality: dict[str, ColumnQuality], errors: list[float] | None) -> dict[str, Judgement]:
    """The judgements of the day's rates (exact, over every valid row) and of its mean reconstruction error (over
    the rows compared, whose errors are `errors`), against the reference's; none in fixed mode."""
    from monitoring.calibration import null_name

    if not model.drift.calibrated:
        return {}
    k, rules, found = model.drift.band_sigma, model.rules, {}
    ops, reference = operations, profile.operations
    if ops.positive_rate is not None and reference.positive_rate is not None:
        found[null_name("positive_rate")] = level(
            ops.positive_rate - reference.positive_rate, ops.volume, profile.null(null_name("positive_rate")), k,
            rules.positive_rate.min_change, profile.rows, "both")
    if ops.low_confidence_share is not None and reference.low_confidence_share is not None:
        found[null_name("low_confidence_share")] = level(
            ops.low_confidence_share - reference.low_confidence_share, ops.volume,
            profile.null(null_name("low_confidence_share")), k, rules.low_confidence.min_increase, profile.rows, "up")
    for column, figures in quality.items():
        name = null_name("missing", column)
        found[name] = level(figures.missing_share - profile.missing_share(column), ops.volume, profile.null(name), k,
                            model.quality.min_missing_increase, profile.rows, "up")
    if errors and profile.reconstruction_error:
        name = null_name("reconstruction_error")
        found[name] = level(sum(errors) / len(errors) - profile.reconstruction_error, len(errors),
                            profile.null(name), k, rules.multivariate_drift.min_increase, profile.rows, "up",
                            relative_to=profile.reconstruction_error)
    return found


def day_verdicts(model: ModelConfig, profile: ReferenceProfile, columns: dict[str, ColumnDriftResult],
                 operations: Operations, quality: dict[str, ColumnQuality], current: pd.DataFrame) -> DayVerdicts:
    """How the day was judged: the mode, the rates' and the model's judgements, the expected false alarms
    (`current`: the rows compared, whose reconstruction error is measured)."""
    from monitoring.calibration import null_name

    settings, pca = model.drift, profile.multivariate
    errors = pca.errors(current).tolist() if pca is not None and len(current) and settings.calibrated else None
    features = {c: columns[c].verdict for c in model.columns.features if columns[c].verdict is not None}
    nulls = {c: profile.null(null_name("drift", c)) for c in features}
    return DayVerdicts(mode=settings.threshold_mode, band_sigma=settings.band_sigma, fdr=settings.fdr,
                       expected_false_alarms_per_month=false_alarms_per_month(features, nulls, settings.band_sigma,
                                                                              settings.fdr),
                       statistics=day_levels(model, profile, operations, quality, errors))
