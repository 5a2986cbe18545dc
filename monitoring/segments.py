"""Segments: slices of the traffic (a channel, a region, an amount bucket, a pair of them) judged on their own, each
against the reference's same slice and at its own size (`segments` of the config; docs/segments.md).

- **Coding** (`ColumnCoding`, `Dimension`): a categorical segment column keeps its `max_per_column` values with the
  most reference rows, the rest pooled as "(other values)"; a bucketed column is cut at its configured edges; a row
  without a value is in "(missing)". A crossed pair keeps its most frequent combinations, the rest pooled as
  "(other combinations)". Keys read as people write them: `channel=web`, `amount in [5,000, 20,000)`,
  `channel=web × amount < 5,000`.
- **Fit, once per reference version** (`SegmentsFit.fit`): each segment's share of the reference, every monitored
  column's shares in the model's fitted bins inside it (the deciles of the whole reference for a numerical column,
  its categories for a categorical one, so a segment and the day speak of the same bins), and the no-change band of
  each statistic at the segment's size, from held-out replicate days drawn **inside the segment** (its chunks
  against the rest of it, as `monitoring.replicates` draws the day's); a segment's share gets its band from the
  replicate days of the whole reference.
- **The day** (`SegmentTally`): every valid row counted, batch by batch, in the same pass as the day's figures: rows,
  bin counts, missing values, score sum and positives per segment; values the reference never had.
- **Judging** (`judge`): a segment's share (a level) and each column's Jensen-Shannon distance on the fitted bins
  inside it (a distance), the same verdicts as the day's (`monitoring.verdicts`) at the segment's size, handed to
  the day's one family (`monitoring.judging.judge_day`): adding segments does not raise a model-day's no-change
  alert rate. A segment with fewer than `min_rows` reference or day rows is too small to tell and never fires. A
  value the reference never had and the day has plenty of is a new segment; a segment the reference makes certain
  to appear that does not is a vanished one.
- **Ranking** (`report`): segments by impact, the share of the day's rows they hold times their largest fired drift,
  or the change of their share; findings only for changes the whole day does not show as well (a column drifted
  in a segment at least `CONCENTRATION` times more than in the whole day, or drifted there and not overall).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from monitoring import distances, replicates
from monitoring.bands import NullModel, fit_null
from monitoring.config import SegmentsConfig, SegmentSpec
from monitoring.estimators import confusion_metrics, dle_metric
from monitoring.metrics import metric_of_counts
from monitoring.text import number
from monitoring.verdicts import Judgement, control, distance, empirical, level, nominal_tail
from monitoring.vocabulary import Record

MISSING, OTHER, OTHER_COMBINATIONS = "(missing)", "(other values)", "(other combinations)"
MAX_KNOWN = 10_000  # reference values remembered per column to tell a new value from a pooled one
MAX_NEW_VALUES = 100  # values unseen in the reference counted per column on a day
MAX_BINS = 200  # categorical columns with more categories are not judged inside segments
MIN_FIT_ROWS = 40  # a segment with fewer reference rows gets no band
COUNTED = ("accuracy", "precision", "recall", "f1")  # metrics of a classifier's confusion counts
CONCENTRATION = 2.0  # a segment's drift is its own finding when this many times the whole day's
CERTAIN = -math.log(1e-6)  # n x share at which a value's absence (or presence) is a one-in-a-million accident


def _edge(value: float) -> str:
    return number(value)


class ColumnCoding(Record):
    """How one segment column's values become segment codes."""

    column: str
    kind: Literal["values", "buckets"]
    values: list[str] = []  # kept values, most reference rows first (values)
    edges: list[float] = []  # bucket edges (buckets)
    known: list[str] | None = None  # every reference value (values), None past MAX_KNOWN

    @property
    def labels(self) -> list[str]:
        """The segment of each code (a key's value part), the last one "(missing)"."""
        if self.kind == "values":
            return [f"={v}" for v in self.values] + [f" {OTHER}", f" {MISSING}"]
        text = [_edge(e) for e in self.edges]
        inner = [f" in [{lo}, {hi})" for lo, hi in zip(text[:-1], text[1:])]
        return [f" < {text[0]}", *inner, f" ≥ {text[-1]}", f" {MISSING}"]

    def codes(self, series: pd.Series) -> np.ndarray:
        """Each row's code (the position of its label)."""
        missing = len(self.labels) - 1
        if self.kind == "buckets":
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            found = np.searchsorted(np.array(self.edges), values, side="right")
            return np.where(np.isnan(values), missing, found).astype(np.int64)
        found = pd.Index(self.values, dtype=object).get_indexer(series.astype(str))  # values compared as text
        found = np.where(found < 0, len(self.values), found)  # pooled
        return np.where(series.isna().to_numpy(), missing, found).astype(np.int64)

    def new_values(self, series: pd.Series) -> pd.Series:
        """The count of each value the reference never had (none when it had too many to remember)."""
        if self.kind != "values" or self.known is None:
            return pd.Series(dtype="int64")
        present = series.dropna().astype(str)
        return present[~present.isin(self.known)].value_counts()

    @classmethod
    def fit(cls, column: str, series: pd.Series, edges: tuple[float, ...] | None, cap: int) -> ColumnCoding:
        if edges is not None:
            return cls(column=column, kind="buckets", edges=list(edges))
        counts = series.dropna().astype(str).value_counts()
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
        return cls(column=column, kind="values", values=list(counts.index[:cap]),
                   known=sorted(counts.index) if len(counts) <= MAX_KNOWN else None)


class Dimension(Record):
    """One segment column, or a crossed pair: its segments and how a row's codes map to them."""

    name: str  # "channel", or "channel × region"
    codings: list[ColumnCoding]
    keys: list[str]  # the segments' keys
    lookup: list[int]  # combined code (first column's code x second's count + second's) -> segment

    def segments(self, frame: pd.DataFrame) -> np.ndarray:
        codes = [c.codes(frame[c.column]) if c.column in frame.columns
                 else np.full(len(frame), len(c.labels) - 1, dtype=np.int64) for c in self.codings]
        combined = codes[0] if len(codes) == 1 else codes[0] * len(self.codings[1].labels) + codes[1]
        return np.asarray(self.lookup, dtype=np.int64)[combined]

    @classmethod
    def single(cls, coding: ColumnCoding) -> Dimension:
        labels = coding.labels
        return cls(name=coding.column, codings=[coding], keys=[coding.column + label for label in labels],
                   lookup=list(range(len(labels))))

    @classmethod
    def crossed(cls, first: ColumnCoding, second: ColumnCoding, frame: pd.DataFrame, cap: int) -> Dimension:
        """The `cap` - 1 combinations with the most reference rows, the rest pooled."""
        a, b = first.labels, second.labels
        combined = first.codes(frame[first.column]) * len(b) + second.codes(frame[second.column])
        counts = np.bincount(combined, minlength=len(a) * len(b))
        kept = [int(i) for i in np.argsort(-counts, kind="stable")[:cap - 1] if counts[i] > 0]
        name = f"{first.column} × {second.column}"
        keys = [f"{first.column}{a[i // len(b)]} × {second.column}{b[i % len(b)]}" for i in kept]
        keys.append(f"{name} {OTHER_COMBINATIONS}")
        position = {code: n for n, code in enumerate(kept)}
        return cls(name=name, codings=[first, second], keys=keys,
                   lookup=[position.get(code, len(kept)) for code in range(len(a) * len(b))])


class BinnedColumn(Record):
    """A monitored column's fitted bins, as the segments count it: `edges` (numerical: the model's fitted inner
    edges) or `categories` (categorical, one more bin for values the reference never had)."""

    column: str
    edges: list[float] | None = None
    categories: list[str] | None = None

    @property
    def bins(self) -> int:
        return len(self.edges) + 1 if self.edges is not None else len(self.categories) + 1

    def codes(self, series: pd.Series) -> np.ndarray:
        """Each row's bin, `bins` for a missing value."""
        if self.edges is not None:
            values = series.to_numpy(dtype=float, na_value=np.nan)
            found = np.searchsorted(np.array(self.edges), values, side="left")
            return np.where(np.isnan(values), self.bins, found).astype(np.int64)
        found = pd.Index(self.categories, dtype=object).get_indexer(series.astype(str))
        found = np.where(found < 0, len(self.categories), found)
        return np.where(series.isna().to_numpy(), self.bins, found).astype(np.int64)


class SegmentBaseline(Record):
    """One segment of the reference: its rows, its share, each column's bin counts, and the no-change bands of its
    statistics at its size."""

    key: str
    rows: int
    share: float
    counts: dict[str, list[int]]  # column -> reference rows in each fitted bin, inside the segment
    drift_nulls: dict[str, NullModel] = {}  # column -> Jensen-Shannon distance of a day's segment, no change
    share_null: NullModel | None = None
    performance: float | None = None  # the headline metric on the segment's labelled reference rows
    performance_null: NullModel | None = None  # its no-change change (a day's segment minus the reference's)
    confusion: tuple[int, int, int, int] | None = None  # a classifier's labelled rows: (tp, fp, fn, tn) inside it
    estimated_performance: float | None = None  # the metric as the estimator (CBPE, DLE) sees its reference rows


class SegmentsFit(Record):
    """What a reference version's fit knows of its segments."""

    rows: int
    columns: list[BinnedColumn]
    dimensions: list[Dimension]
    baselines: dict[str, SegmentBaseline]  # by key; segments the reference has rows in
    metric: str | None = None  # the headline metric judged inside each segment (labelled references only)

    @classmethod
    def fit(cls, frame: pd.DataFrame, spec: SegmentSpec, columns: list[BinnedColumn], salt: int = 0,
            metric: tuple[str, Callable[[np.ndarray], float | None]] | None = None,
            confusion: Callable[[np.ndarray], tuple[int, int, int, int]] | None = None,
            estimated: Callable[[np.ndarray], float] | None = None) -> SegmentsFit:
        """`metric`: the headline metric's name and its value on reference rows (positions), for a labelled
        reference: each segment's baseline and the no-change band of its change inside the segment. `confusion`:
        a classifier's confusion counts of reference rows, kept per segment when the metric is one of them
        (`COUNTED`): the day's segment is judged on their predictive draws (`judge_performance`). `estimated`: the
        metric as the estimator sees reference rows, the baseline of the segment's estimate before the labels."""
        codings = {c: ColumnCoding.fit(c, frame[c], None, spec.max_per_column - 1) for c in spec.columns}
        codings.update({c: ColumnCoding.fit(c, frame[c], edges, 0) for c, edges in spec.buckets.items()})
        dimensions = [Dimension.single(codings[c]) for c in spec.columns + tuple(spec.buckets)]
        dimensions += [Dimension.crossed(codings[a], codings[b], frame, spec.max_per_column) for a, b in spec.crossed]
        columns = [c for c in columns if c.bins <= MAX_BINS + 1]
        bins = np.column_stack([c.codes(frame[c.column]) for c in columns]) if columns else np.zeros((len(frame), 0))
        baselines = {}
        for dimension in dimensions:
            segment = dimension.segments(frame)
            counts = np.bincount(segment, minlength=len(dimension.keys))
            share_nulls = _share_nulls(segment, len(dimension.keys), _seed(dimension.name) ^ salt)
            for index, key in enumerate(dimension.keys):
                rows = np.flatnonzero(segment == index)
                if not len(rows):
                    continue
                counted = {c.column: np.bincount(bins[rows, j], minlength=c.bins + 1)[:c.bins].tolist()
                           for j, c in enumerate(columns)}
                nulls = (_drift_nulls(bins[rows], columns, _seed(dimension.name, key) ^ salt)
                         if len(rows) >= MIN_FIT_ROWS else {})
                performance = performance_null = cells = estimate = None
                if metric is not None and len(rows) >= MIN_FIT_ROWS:
                    performance = metric[1](rows)
                    performance_null = _metric_null(rows, metric[1], _seed(dimension.name, key, metric[0]) ^ salt)
                    cells = confusion(rows) if confusion is not None and metric[0] in COUNTED else None
                    estimate = float(estimated(rows)) if estimated is not None else None
                baselines[key] = SegmentBaseline(key=key, rows=int(counts[index]), share=counts[index] / len(frame),
                                                 counts=counted, drift_nulls=nulls,
                                                 share_null=share_nulls.get(index), performance=performance,
                                                 performance_null=performance_null, confusion=cells,
                                                 estimated_performance=estimate)
        return cls(rows=len(frame), columns=columns, dimensions=dimensions, baselines=baselines,
                   metric=metric[0] if metric else None)

    def members(self, key: str, frame: pd.DataFrame) -> np.ndarray:
        """Which rows of `frame` are in the segment `key`."""
        for dimension in self.dimensions:
            if key in dimension.keys:
                return dimension.segments(frame) == dimension.keys.index(key)
        return np.zeros(len(frame), dtype=bool)


def _seed(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "little")


def _drift_nulls(bins: np.ndarray, columns: list[BinnedColumn], seed: int) -> dict[str, NullModel]:
    """Each column's no-change Jensen-Shannon distance inside one segment (`bins`: its reference rows' bins), from
    replicate days of the segment held out from the rest of it (`replicates.replicate_days`)."""
    rows = len(bins)
    widths = [c.bins + 1 for c in columns]
    offsets = np.concatenate([[0], np.cumsum(widths)])[:-1]
    flat = bins + offsets  # one bincount counts every column of a replicate day
    total = np.bincount(flat.ravel(), minlength=sum(widths))
    values: dict[tuple[int, int], list[float]] = {}
    n_eff: dict[int, list[float]] = {}
    how: dict[int, str] = {}
    days = list(replicates.replicate_days(rows, rows, np.random.default_rng(seed)))
    by_size: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for day in days:
        mine = np.bincount(flat[day.day].ravel(), minlength=len(total))
        theirs = (total - mine if len(day.reference) + len(day.day) == rows
                  else np.bincount(flat[day.reference].ravel(), minlength=len(total)))
        by_size.setdefault(day.size, []).append((mine, theirs))
        how[day.size] = day.how
        n, m = len(day.day), len(day.reference)
        n_eff.setdefault(day.size, []).append(n * m / (n + m))
    for size, pairs in by_size.items():
        mine, theirs = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        for j, (offset, width) in enumerate(zip(offsets, widths)):
            found = distances.jensenshannon_counts(theirs[:, offset:offset + width - 1], mine[:, offset:offset + width - 1])
            values[(j, size)] = [float(v) for v in found if np.isfinite(v)]
    nulls = {}
    for j, column in enumerate(columns):
        points = replicates.null_points({size: values[(j, size)] for size in by_size}, n_eff, how)
        null = fit_null("distance", rows, points) if points else None
        if null is not None and null.sd_fit is not None:  # one value throughout the segment: no band, never judged
            nulls[column.column] = null
    return nulls


def _metric_null(rows: np.ndarray, value: Callable[[np.ndarray], float | None], seed: int) -> NullModel | None:
    """The headline metric's no-change change inside one segment (`rows`: its reference rows), from replicate days
    of the segment held out from the rest of it."""
    values: dict[int, list[float]] = {}
    n_eff: dict[int, list[float]] = {}
    how: dict[int, str] = {}
    for day in replicates.replicate_days(len(rows), len(rows), np.random.default_rng(seed)):
        mine, theirs = value(rows[day.day]), value(rows[day.reference])
        how[day.size] = day.how
        n, m = len(day.day), len(day.reference)
        n_eff.setdefault(day.size, []).append(n * m / (n + m))
        if mine is not None and theirs is not None and math.isfinite(mine - theirs):
            values.setdefault(day.size, []).append(mine - theirs)
    points = replicates.null_points({size: values.get(size, []) for size in how}, n_eff, how)
    null = fit_null("level", len(rows), points) if points else None
    return null if null is not None and null.sd_fit is not None else None  # no spread: no band


def _share_nulls(segment: np.ndarray, segments: int, seed: int) -> dict[int, NullModel]:
    """Each segment's no-change change of share (the day's minus the reference's), from replicate days of the
    whole reference."""
    rows = len(segment)
    values: dict[tuple[int, int], list[float]] = {}
    n_eff: dict[int, list[float]] = {}
    how: dict[int, str] = {}
    compared = min(rows, replicates.MAX_COMPARED)
    for day in replicates.replicate_days(rows, compared, np.random.default_rng(seed)):
        mine = np.bincount(segment[day.day], minlength=segments) / len(day.day)
        theirs = np.bincount(segment[day.reference], minlength=segments) / len(day.reference)
        for index, change in enumerate(mine - theirs):
            values.setdefault((index, day.size), []).append(float(change))
        how[day.size] = day.how
        n, m = len(day.day), len(day.reference)
        n_eff.setdefault(day.size, []).append(n * m / (n + m))
    nulls = {}
    for index in range(segments):
        points = replicates.null_points({size: values.get((index, size), []) for size in how}, n_eff, how)
        null = fit_null("level", rows, points) if points else None
        if null is not None and null.sd_fit is not None:  # no spread: no band (a zero tail would open the family)
            nulls[index] = null
    return nulls


# --- the day ---------------------------------------------------------------------------------------------------------
class SegmentTally:
    """A day's rows counted per segment, batch by batch (every valid row): rows, each monitored column's bin counts
    and missing values, the score's sum and the decisions' positives; and the values the reference never had."""

    def __init__(self, fit: SegmentsFit, score: str, decision: str | None) -> None:
        self.fit, self.score, self.decision = fit, score, decision
        self.rows = 0
        self.counts = [np.zeros(len(d.keys), dtype=np.int64) for d in fit.dimensions]
        self.bins = [[np.zeros((len(d.keys), c.bins + 1), dtype=np.int64) for c in fit.columns]
                     for d in fit.dimensions]
        self.score_sum = [np.zeros(len(d.keys)) for d in fit.dimensions]
        self.scored = [np.zeros(len(d.keys), dtype=np.int64) for d in fit.dimensions]
        self.positives = [np.zeros(len(d.keys), dtype=np.int64) for d in fit.dimensions]
        # CBPE's expected confusion counts (tp, fp, fn, tn) per segment, when the reference has the estimator
        self.expected = [np.zeros((4, len(d.keys))) for d in fit.dimensions]
        self.estimated = False
        self.new: dict[str, Counter] = {}

    def add(self, batch: pd.DataFrame, expected: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Count a batch; `expected`: each row's calibrated probability of being positive and its decision (CBPE)."""
        self.rows += len(batch)
        bins = [c.codes(batch[c.column]) for c in self.fit.columns]
        score = batch[self.score].to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(score)
        for i, dimension in enumerate(self.fit.dimensions):
            segment, size = dimension.segments(batch), len(dimension.keys)
            self.counts[i] += np.bincount(segment, minlength=size)
            for j, column in enumerate(self.fit.columns):
                width = column.bins + 1
                self.bins[i][j] += np.bincount(segment * width + bins[j], minlength=size * width).reshape(size, width)
            self.score_sum[i] += np.bincount(segment[present], weights=score[present], minlength=size)
            if expected is not None:
                self.estimated = True
                probability, decided = expected
                positive, known = decided == 1, ~np.isnan(probability)
                chance = np.nan_to_num(probability)
                for row, (weights, chosen) in enumerate(((chance, positive), (1 - chance, positive),
                                                         (chance, ~positive), (1 - chance, ~positive))):
                    mask = chosen & known
                    self.expected[i][row] += np.bincount(segment[mask], weights=weights[mask], minlength=size)
            self.scored[i] += np.bincount(segment[present], minlength=size)
            if self.decision:
                decided = batch[self.decision].to_numpy(dtype=float, na_value=0.0)
                self.positives[i] += np.bincount(segment, weights=decided, minlength=size).astype(np.int64)
            if len(dimension.codings) == 1 and dimension.codings[0].column in batch.columns:
                coding = dimension.codings[0]
                new = coding.new_values(batch[coding.column])
                if len(new):
                    found = self.new.setdefault(coding.column, Counter())
                    for value, count in new.items():
                        if value in found or len(found) < MAX_NEW_VALUES:
                            found[value] += int(count)


# --- judging and ranking ---------------------------------------------------------------------------------------------
class SegmentResult(Record):
    """One segment of the day, judged against the reference's same segment."""

    key: str
    dimension: str
    rows: int
    share: float
    reference_rows: int
    reference_share: float
    status: Literal["judged", "too_few_rows", "small_reference", "new"]
    share_verdict: Judgement | None = None
    drift: dict[str, float | None] = {}  # column -> Jensen-Shannon distance on the fitted bins, against the reference's segment
    fired: dict[str, Judgement] = {}  # the columns that drifted inside the segment, with their verdicts
    top_column: str | None = None  # the column with the largest drift
    top_verdict: Judgement | None = None
    impact: float = 0.0  # the share of the day's change it carries (see the module's doc)
    mean_score: float | None = None
    positive_rate: float | None = None
    missing_share: float = 0.0  # the largest missing share of a monitored column inside it
    missing_column: str | None = None  # that column (None: nothing missing inside)
    changed: list[str] = []  # fired columns whose drift the whole day does not show as well (a finding)
    share_changed: bool = False  # its share's change is a finding
    report: str | None = None  # its Evidently data-drift report (segments.reports of the fired ones)
    finding: bool = False  # raised a finding: a changed column, or its share

    def where(self) -> str:
        return f"{self.key} ({self.rows:,} rows, {self.share:.1%} of the day; {self.reference_share:.1%} of the reference)"


class NewSegment(Record):
    key: str
    rows: int
    share: float


class SegmentPerformance(Record):
    """The headline metric of a labelled day inside one segment, against the reference's same segment."""

    key: str
    labelled: int
    metric: str
    value: float | None
    baseline: float | None
    verdict: Judgement | None = None  # None: too few labelled rows, or a segment without a band
    degraded: bool = False
    estimated_by: str | None = None  # an estimate before the labels: its method (CBPE, DLE); None: realized

    def describe(self) -> str:
        return (f"{self.metric} {number(self.value) if self.value is not None else 'n/a'} in {self.key} against "
                f"{number(self.baseline) if self.baseline is not None else 'n/a'} in the reference's same segment "
                f"({self.labelled:,} {'rows' if self.estimated_by else 'labelled rows'})")


class SegmentsReport(Record):
    """The day's segments, largest impact first, and the segments that appeared or vanished."""

    dimensions: list[str]
    min_rows: int
    max_findings: int
    reference_rows: int
    segments: list[SegmentResult]
    new: list[NewSegment] = []  # values the reference never had, with enough rows to be certain
    vanished: list[SegmentResult] = []  # segments the reference makes certain to appear, absent
    estimated: list[SegmentPerformance] = []  # the headline metric inside each segment before the labels (CBPE, DLE)

    def top(self, n: int = 3) -> list[SegmentResult]:
        return [s for s in self.segments if s.impact > 0][:n]

    def with_reports(self, reports: dict[str, str]) -> SegmentsReport:
        """The report with each segment's drift report file (`reports`: key -> file name)."""
        return self.model_copy(update={"segments": [r.model_copy(update={"report": reports[r.key]})
                                                    if r.key in reports else r for r in self.segments]})


def statistic(kind: str, key: str, column: str = "") -> str:
    """The family name of a segment statistic: `segment_share:<key>` or `segment_drift:<key>|<column>`."""
    return f"{kind}:{key}|{column}" if column else f"{kind}:{key}"


def judge(fit: SegmentsFit, tally: SegmentTally, settings: SegmentsConfig, k: float) -> dict[str, Judgement]:
    """Every segment statistic of the day, before the day's family is judged together (`judging.judge_day`)."""
    found: dict[str, Judgement] = {}
    if not tally.rows:
        return found
    for i, dimension in enumerate(fit.dimensions):
        for index, key in enumerate(dimension.keys):
            baseline, rows = fit.baselines.get(key), int(tally.counts[i][index])
            if baseline is None or baseline.rows < settings.min_rows:
                continue
            if tally.rows * baseline.share >= settings.min_rows:  # a share of a dozen expected rows is not normal
                found[statistic("segment_share", key)] = level(
                    rows / tally.rows - baseline.share, tally.rows, baseline.share_null, k, settings.min_share_change,
                    fit.rows, "both")
            if rows < settings.min_rows:
                continue
            for j, column in enumerate(fit.columns):
                counts = tally.bins[i][j][index][:column.bins]
                value = _js(baseline.counts[column.column], counts)
                found[statistic("segment_drift", key, column.column)] = distance(
                    value, int(counts.sum()), baseline.drift_nulls.get(column.column), k, settings.min_effect,
                    sum(baseline.counts[column.column]), True)
    return found


def judge_performance(fit: SegmentsFit, joined: pd.DataFrame, value: Callable[[pd.DataFrame], float | None],
                      settings: SegmentsConfig, k: float, fdr: float, min_drop: float, direction: str,
                      relative: bool) -> list[SegmentPerformance]:
    """The headline metric of each segment of labelled predictions `joined` (with their segment columns) against
    its segment's baseline, at the segment's labelled size: the segments judged together, one family (the gate
    and the false discovery control of `monitoring.verdicts`). `min_drop`: the smallest worsening that counts
    (relative to the baseline when `relative`); `direction`: "down" (higher is better) or "up"."""
    if fit.metric is None or joined.empty:
        return []
    found = _by_segment(fit, joined, lambda rows: value(joined[rows]))
    return judge_counts(fit, found, settings, k, fdr, min_drop, direction, relative)


def _by_segment(fit: SegmentsFit, frame: pd.DataFrame,
                value: Callable[[np.ndarray], float | None]) -> dict[str, tuple[int, float | None]]:
    """Each segment the reference has, with rows in `frame`: key -> its rows in `frame`, `value` of them (a mask)."""
    found: dict[str, tuple[int, float | None]] = {}
    for dimension in fit.dimensions:
        segment = dimension.segments(frame)
        for index, key in enumerate(dimension.keys):
            rows = segment == index
            if key in fit.baselines and rows.any():
                found[key] = (int(rows.sum()), value(rows))
    return found


def judge_counts(fit: SegmentsFit, values: dict[str, tuple[int, float | None]], settings: SegmentsConfig, k: float,
                 fdr: float, min_drop: float, direction: str, relative: bool,
                 estimated_by: str | None = None) -> list[SegmentPerformance]:
    """Each segment's headline metric (`values`: key -> rows, value; a day's, or a window's days' label counts summed,
    `monitoring.window_state.LabelState`) against its segment's baseline and band at its rows, the segments judged
    together as one family; fallen ones first. `estimated_by`: the estimator, for estimates, which
    are judged against the estimator's view of the reference's same segment (`SegmentBaseline.estimated_performance`).

    A metric counted from the confusion matrix is judged on its predictive draws (`predictive_changes`): at a
    segment's few hundred rows F1's no-change distribution is skewed to the left, and the replicates' normal band
    gave a tail 4 times too small 4 sd out (3 false alarms in 200 no-change days of 5,000 rows with 20 segments,
    `benchmarks.false_alarms --segments`); at sixty rows a day without a positive decision has an F1 of 0, realized
    or estimated, by chance. An estimate varies less than the realized value it stands for: the realized draws are
    its conservative band."""
    found: dict[str, SegmentPerformance] = {}
    for key, (rows, current) in values.items():
        baseline = fit.baselines[key]
        base = baseline.performance if estimated_by is None else baseline.estimated_performance
        result = SegmentPerformance(key=key, labelled=rows, metric=fit.metric, value=current, baseline=base,
                                    estimated_by=estimated_by)
        if (rows >= settings.min_rows and baseline.rows >= settings.min_rows and current is not None
                and base is not None and baseline.performance_null is not None):
            change, relative_to = current - base, base if relative else None
            if baseline.confusion is not None:
                verdict = empirical(change, predictive_changes(fit.metric, baseline.confusion, rows, key), rows, k,
                                    min_drop, baseline.rows, direction, relative_to)
            else:
                verdict = level(change, rows, baseline.performance_null, k, min_drop, baseline.rows, direction,
                                relative_to=relative_to)
            result = result.model_copy(update={"verdict": verdict})
        found[key] = result
    judged = control({key: r.verdict for key, r in found.items() if r.verdict is not None}, k, fdr)
    strong = nominal_tail(k) / max(len(judged), 1)  # a finding opens the family's gate alone, as `report`'s do
    results = [r.model_copy(update={"verdict": judged[key], "degraded": _strong(judged[key], strong)})
               if key in judged else r for key, r in found.items()]
    return sorted(results, key=lambda r: (not r.degraded, -r.labelled, r.key))


def _strong(verdict: Judgement, strong: float) -> bool:
    """A fired verdict whose tail would have opened the family's gate on its own: once a real drop opens the gate,
    the false discovery control lets a no-change segment through now and then (1 day in 100 with another segment
    flagged, `benchmarks.segments --flip 0.25`); the verdict still shows as fired on the page."""
    return verdict.fired and verdict.tail is not None and verdict.tail <= strong


PREDICTIVE_DRAWS = 50_000  # tails resolved to 2e-5; beyond every draw, the draws' normal tail (`verdicts.empirical`)


def predictive_changes(metric: str, cells: tuple[int, int, int, int], rows: int, key: str) -> np.ndarray:
    """No-change changes of a confusion-counted metric inside a segment of `rows` labelled rows against the
    reference's same segment (its counts `cells`): the segment's true cell shares drawn from their posterior given
    the reference's counts (Dirichlet, Jeffreys' prior), a day's counts drawn from them (multinomial), its metric
    minus the reference's. The reference's own sampling error and the metric's skew at the day's size are both in
    the draws. Seeded by the segment, its size and the counts: a day is judged the same way every time."""
    rng = np.random.default_rng(_seed(key, metric, str(rows), *map(str, cells)))
    shares = rng.dirichlet(np.asarray(cells, dtype=float) + 0.5, PREDICTIVE_DRAWS)
    tp, fp, fn, tn = rng.multinomial(rows, shares).T
    return metric_of_counts(metric, tp, fp, fn, tn) - float(metric_of_counts(metric, *cells))


def estimated_performance(fit: SegmentsFit, tally: SegmentTally, settings: SegmentsConfig, k: float, fdr: float,
                          min_drop: float, direction: str, relative: bool) -> list[SegmentPerformance]:
    """The headline metric inside each segment of a classifier before the labels land (CBPE: the expected confusion
    counts of the segment's rows, for accuracy, precision, recall and F1), judged as the realized one is
    (`judge_performance`), at the segment's size."""
    if fit.metric not in COUNTED or not tally.estimated:
        return []
    found: dict[str, tuple[int, float | None]] = {}
    for i, dimension in enumerate(fit.dimensions):
        for index, key in enumerate(dimension.keys):
            baseline, rows = fit.baselines.get(key), int(tally.counts[i][index])
            if baseline is None or not rows:
                continue
            tp, fp, fn, tn = tally.expected[i][:, index]
            found[key] = (rows, float(confusion_metrics(tp, fp, fn, tn, rows)[fit.metric]))
    return judge_counts(fit, found, settings, k, fdr, min_drop, direction, relative, "CBPE")


def estimated_losses(fit: SegmentsFit, sample: pd.DataFrame, losses: dict[str, np.ndarray], settings: SegmentsConfig,
                     k: float, fdr: float, min_drop: float, direction: str, relative: bool) -> list[SegmentPerformance]:
    """The headline metric inside each segment of a regression model before the labels land (DLE: `losses`, each
    sampled row's expected loss, `estimators.dle_losses`; MAE their mean, RMSE its root), judged as the realized one
    is (`judge_performance`), at the segment's size in the day's sample."""
    if fit.metric not in losses or sample.empty:
        return []
    loss = losses[fit.metric]
    found = _by_segment(fit, sample, lambda rows: dle_metric(fit.metric, loss[rows]))
    return judge_counts(fit, found, settings, k, fdr, min_drop, direction, relative, "DLE")


def _js(reference: list[int], current: np.ndarray) -> float | None:
    value = float(distances.jensenshannon_counts(np.array(reference), current)[0])
    return value if math.isfinite(value) else None


def report(fit: SegmentsFit, tally: SegmentTally, judged: dict[str, Judgement], settings: SegmentsConfig,
           drifted_overall: set[str], k: float = 3.0) -> SegmentsReport:
    """The day's segments with their final verdicts (`judged`: after the day's family control), ranked by impact;
    `drifted_overall`: the columns that drifted in the whole day. A fired segment statistic is a finding (it pages)
    only when it would have opened the day's gate alone (its tail at most the k-sigma tail over the segment
    statistics' number, Bonferroni): on a drifted day the gate is open, and the false discovery control then lets
    a no-change segment through now and then (measured in the end-to-end alert test: a 59-row segment)."""
    strong = nominal_tail(k) / max(len(judged), 1)
    overall = _overall_drift(fit, tally)
    results, vanished = [], []
    for i, dimension in enumerate(fit.dimensions):
        for index, key in enumerate(dimension.keys):
            baseline, rows = fit.baselines.get(key), int(tally.counts[i][index])
            if baseline is None and not rows:
                continue
            result = _result(fit, tally, judged, settings, i, index, key, baseline, rows, overall, drifted_overall,
                             strong)
            if baseline is not None and not rows and tally.rows * baseline.share >= max(CERTAIN, settings.min_rows):
                vanished.append(result)
            results.append(result)
    results.sort(key=lambda r: (-r.impact, -r.rows, r.key))
    flagged = 0
    for n, result in enumerate(results):
        if result.finding:
            flagged += 1
            if flagged > settings.max_findings:
                results[n] = result.model_copy(update={"finding": False, "changed": [], "share_changed": False})
    new = [NewSegment(key=f"{column}={value}", rows=count, share=count / tally.rows)
           for column, counter in sorted(tally.new.items()) for value, count in sorted(counter.items())
           if count >= settings.min_rows and count / tally.rows * fit.rows >= CERTAIN]
    # rows without a value where the reference always had one: a new segment too
    new += [NewSegment(key=r.key, rows=r.rows, share=r.share) for r in results
            if r.status == "new" and r.key.endswith(MISSING) and r.rows >= settings.min_rows
            and r.share * fit.rows >= CERTAIN]
    new.sort(key=lambda s: (-s.rows, s.key))
    return SegmentsReport(dimensions=[d.name for d in fit.dimensions], min_rows=settings.min_rows,
                          max_findings=settings.max_findings, reference_rows=fit.rows, segments=results, new=new,
                          vanished=vanished)


def _overall_drift(fit: SegmentsFit, tally: SegmentTally) -> dict[str, float | None]:
    """Each column's Jensen-Shannon distance on the fitted bins over the whole day (every segment of the first
    dimension together), against the whole reference."""
    if not fit.dimensions:
        return {}
    keys = fit.dimensions[0].keys
    found = {}
    for j, column in enumerate(fit.columns):
        reference = np.sum([fit.baselines[k].counts[column.column] for k in keys if k in fit.baselines], axis=0)
        found[column.column] = _js(list(reference), tally.bins[0][j].sum(axis=0)[:column.bins])
    return found


def _result(fit: SegmentsFit, tally: SegmentTally, judged: dict[str, Judgement], settings: SegmentsConfig, i: int,
            index: int, key: str, baseline: SegmentBaseline | None, rows: int, overall: dict[str, float | None],
            drifted_overall: set[str], strong: float) -> SegmentResult:
    share = rows / tally.rows if tally.rows else 0.0
    scored = int(tally.scored[i][index])
    missing = [tally.bins[i][j][index][c.bins] / rows for j, c in enumerate(fit.columns)] if rows else []
    most = int(np.argmax(missing)) if missing and max(missing) > 0 else None
    common = dict(key=key, dimension=fit.dimensions[i].name, rows=rows, share=share,
                  reference_rows=baseline.rows if baseline else 0, reference_share=baseline.share if baseline else 0.0,
                  mean_score=float(tally.score_sum[i][index] / scored) if scored else None,
                  positive_rate=float(tally.positives[i][index] / rows) if rows and tally.decision else None,
                  missing_share=float(max(missing, default=0.0)),
                  missing_column=fit.columns[most].column if most is not None else None)
    if baseline is None:
        return SegmentResult(status="new", **common)
    if baseline.rows < settings.min_rows:
        return SegmentResult(status="small_reference", **common)
    share_verdict = judged.get(statistic("segment_share", key))
    drift = {c.column: judged[name].value for c in fit.columns
             if (name := statistic("segment_drift", key, c.column)) in judged}
    verdicts = {c: judged[statistic("segment_drift", key, c)] for c in drift}
    fired = {c: v for c, v in verdicts.items() if v.fired}
    top = max(drift, key=lambda c: (drift[c] if drift[c] is not None else -1.0, c), default=None)
    impact = max((share * (v.value or 0.0) for v in fired.values()), default=0.0)
    if share_verdict is not None and share_verdict.fired:
        impact = max(impact, abs(share_verdict.value or 0.0))
    own = {c for c, v in fired.items() if v.tail is not None and v.tail <= strong
           and (c not in drifted_overall or (v.value or 0.0) >= CONCENTRATION * (overall.get(c) or 0.0))}
    share_finding = bool(share_verdict is not None and share_verdict.fired and share_verdict.tail is not None
                         and share_verdict.tail <= strong)
    return SegmentResult(
        status="judged" if rows >= settings.min_rows else "too_few_rows", share_verdict=share_verdict,
        drift={c: v for c, v in drift.items()}, fired=fired, top_column=top,
        top_verdict=verdicts.get(top) if top else None, impact=impact, changed=sorted(own),
        finding=bool(own) or share_finding, share_changed=share_finding,
        **common)
