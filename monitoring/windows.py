"""Two windows of days compared from their mergeable states (`monitoring.window_state`): is this week different from
last week, or from the reference?

Each monitored column gives two statistics, each judged against what no change gives at the two sides' sizes:

- **the mean shift** of a numerical column, in standard deviations of the baseline (the effect), against its
  no-change spread sqrt(1/n + 1/m) (the mean of n values moves by sd / sqrt(n); n and m the values present on each
  side): exact, from the states' sums and squared deviations, and what a small persistent shift shows first: 0.15
  sd over 2,100 rows is 5.8 of its standard errors, while the distributions' distance is still inside its noise;
- **the Jensen-Shannon distance** of the column's shares over the model's fixed bins (a categorical column: its
  categories), against replicate pairs drawn at the two sides' sizes from their pooled counts: the no-change spread
  of a binned distance at exactly the sizes compared, whatever they are (`REPLICATES` pairs, seeded by the windows
  and the column: a rerun gives the same verdict).

Each statistic fires only past its minimum effect (`min_mean_shift`, `min_distance`) and as a discovery of the
comparison's family (every statistic of the two windows: the gate at the k-sigma tail, then Benjamini-Hochberg at
`fdr`, `verdicts.control`), so a comparison of many columns alarms by chance as rarely as one of a few.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import numpy as np

from monitoring import distances, verdicts
from monitoring.verdicts import Judgement
from monitoring.vocabulary import Record
from monitoring.window_state import CategoricalState, NumericalState, WindowState

REPLICATES = 400
MEAN_SHIFT, DISTANCE = "mean_shift", "distance"


class ColumnComparison(Record):
    column: str
    kind: str  # "numerical" or "categorical"
    rows: int  # values present in the window
    baseline_rows: int
    mean: float | None = None
    baseline_mean: float | None = None
    mean_shift: Judgement | None = None  # numerical: the shift in baseline standard deviations
    distance: Judgement | None = None  # Jensen-Shannon distance of the shares in the fixed bins or the categories

    @property
    def fired(self) -> bool:
        return any(j is not None and j.fired for j in (self.mean_shift, self.distance))


class WindowComparison(Record):
    model: str
    days: list[str]  # the window's days
    baseline: str  # what it was compared with: "reference (v3)", "2026-11-01..2026-11-07", ...
    baseline_days: list[str]  # the baseline's days (none for the reference)
    rows: int
    baseline_rows: int
    band_sigma: float
    fdr: float
    columns: list[ColumnComparison]

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.fired]


def statistic(kind: str, column: str) -> str:
    return f"{kind}:{column}"


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def mean_shift(current: NumericalState, baseline: NumericalState, k: float, min_effect: float) -> Judgement | None:
    """The window's mean against the baseline's, in the baseline's standard deviations, judged on the normal
    spread of a difference of two means (None without two values and a spread on the baseline)."""
    sd = baseline.std
    if not current.count or not sd or baseline.count < 2:
        return None
    change = (current.mean - baseline.mean) / sd
    spread = math.sqrt(1 / current.count + 1 / baseline.count)
    edge = k * spread
    z = abs(change) / spread
    outside = abs(change) > edge
    return Judgement(value=change, rows=current.count, reference_rows=baseline.count, mode="calibrated",
                     band=(-edge, edge), tail=min(1.0, 2 * verdicts.nominal_tail(z)), effect=abs(change),
                     min_effect=min_effect, outside=outside, fired=outside and abs(change) >= min_effect)


def shares_distance(current: np.ndarray, baseline: np.ndarray, k: float, min_effect: float,
                    seed: int) -> Judgement | None:
    """The Jensen-Shannon distance of two count vectors against replicate pairs drawn from their pooled shares at
    their own sizes (None when a side is empty)."""
    n, m = int(current.sum()), int(baseline.sum())
    if not n or not m:
        return None
    value = float(distances.jensenshannon_counts(baseline, current)[0])
    pooled = (current + baseline) / (n + m)
    rng = np.random.default_rng(seed)
    simulated = distances.jensenshannon_counts(rng.multinomial(m, pooled, REPLICATES),
                                               rng.multinomial(n, pooled, REPLICATES))
    return verdicts.empirical(value, simulated[np.isfinite(simulated)], n, k, min_effect, m, "up")


def _category_counts(current: CategoricalState, baseline: CategoricalState) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' counts over the categories either has (a sketched side: its heavy hitters' estimates, the rest of
    its rows pooled as one more category)."""
    def counts(state: CategoricalState) -> dict[str, float]:
        if state.exact:
            return dict(state.counts)
        top = {c: (low + high) / 2 for c, low, high in state.top(limit=1_000)}
        return {**top, "(other values)": max(0.0, state.rows - state.missing - sum(top.values()))}
    mine, theirs = counts(current), counts(baseline)
    keys = sorted({*mine, *theirs})
    return (np.array([mine.get(c, 0) for c in keys], dtype=float),
            np.array([theirs.get(c, 0) for c in keys], dtype=float))


def judge(current: WindowState, baseline: WindowState, *, k: float, min_mean_shift: float, min_distance: float,
          columns: list[str] | None = None) -> dict[str, Judgement]:
    """Every statistic of every column both states hold (or of `columns`), before the family is judged together
    (`compare`, or the day's family in the daily run: `judging.judge_day`)."""
    found: dict[str, Judgement] = {}
    window_key = ",".join(d.isoformat() for d in current.days)
    baseline_key = ",".join(d.isoformat() for d in baseline.days) or "reference"
    for column in columns or [*current.numerical, *current.categorical]:
        seed = _seed(current.model, window_key, baseline_key, column)
        if column in current.numerical and column in baseline.numerical:
            mine, theirs = current.numerical[column], baseline.numerical[column]
            parts = {MEAN_SHIFT: mean_shift(mine, theirs, k, min_mean_shift),
                     DISTANCE: shares_distance(np.array(mine.bins, dtype=float), np.array(theirs.bins, dtype=float),
                                               k, min_distance, seed)}
        elif column in current.categorical and column in baseline.categorical:
            counts, baseline_counts = _category_counts(current.categorical[column], baseline.categorical[column])
            parts = {DISTANCE: shares_distance(counts, baseline_counts, k, min_distance, seed)}
        else:
            continue
        found.update({statistic(kind, column): j for kind, j in parts.items() if j is not None})
    return found


def comparison(current: WindowState, baseline: WindowState, baseline_name: str, judged: dict[str, Judgement],
               k: float, fdr: float) -> WindowComparison:
    """The comparison's record from its judged statistics (after the family's control)."""
    found = []
    for column in [*current.numerical, *current.categorical]:
        parts = {kind: judged.get(statistic(kind, column)) for kind in (MEAN_SHIFT, DISTANCE)}
        if not any(parts.values()):
            continue
        if column in current.numerical:
            mine, theirs = current.numerical[column], baseline.numerical[column]
            found.append(ColumnComparison(column=column, kind="numerical", rows=mine.count,
                                          baseline_rows=theirs.count, mean=mine.mean, baseline_mean=theirs.mean,
                                          **parts))
        else:
            mine, theirs = current.categorical[column], baseline.categorical[column]
            found.append(ColumnComparison(column=column, kind="categorical", rows=mine.rows - mine.missing,
                                          baseline_rows=theirs.rows - theirs.missing, **parts))
    return WindowComparison(
        model=current.model, days=[d.isoformat() for d in current.days], baseline=baseline_name,
        baseline_days=[d.isoformat() for d in baseline.days], rows=current.rows, baseline_rows=baseline.rows,
        band_sigma=k, fdr=fdr, columns=found)


def compare(current: WindowState, baseline: WindowState, baseline_name: str, *, k: float, fdr: float,
            min_mean_shift: float, min_distance: float, columns: list[str] | None = None) -> WindowComparison:
    """Two windows judged as one family of their own."""
    judged = judge(current, baseline, k=k, min_mean_shift=min_mean_shift, min_distance=min_distance,
                   columns=columns)
    return comparison(current, baseline, baseline_name, verdicts.control(judged, k, fdr), k, fdr)


def baseline_days(days: list[dt.date], against: str | tuple[dt.date, dt.date], weeks: int) -> list[dt.date]:
    """The days a range of `days` is compared with: none for the reference, as many days just before it
    (`previous`), the same weekdays of the `weeks` weeks before (`weekday`), or a range (first, last)."""
    if against == "reference":
        return []
    if against == "previous":
        return [d - dt.timedelta(days=len(days)) for d in days]
    if against == "weekday":
        return sorted(d - dt.timedelta(weeks=w) for w in range(1, weeks + 1) for d in days)
    return days_between(*against)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from `first` to `last`, both included."""
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def weeks_covered(days: list[dt.date], baseline: list[dt.date]) -> int:
    """How many distinct earlier weeks a weekday baseline's days come from."""
    return len({(d - days[0]).days // 7 for d in baseline})
