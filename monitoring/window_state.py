"""The mergeable state of a model-day: what a window of days is judged on without rereading the days.

A published day keeps, beside its reports, the raw figures of its valid rows (`WindowState`, `state.json` in the
day's folder, listed in its manifest); the states of any set of days merge (`merge`) into the state of the window
they make, exactly where the figures are sums and within a stated bound where they are sketches:

- **numerical columns** (the features, the score or class scores, a regressor's prediction): rows, values present,
  their sum, the sum of squared deviations (Chan's parallel formula), min, max, and the count in each bin of the
  **model's fixed edges**: quantiles of the model's first reference version, fixed at the first state the model
  wrote (`StateEdges`, `reference/<model>/_state/edges.json`) and never moved by a later reference version, so days
  under different versions merge; an open-ended bin either side takes what falls outside them. Counts are exact;
  the sum and the squared deviations are floating-point sums (equal to the concatenation's up to rounding).
- **categorical columns** (the categorical features and a classifier's decision): every category's count, exact up
  to `CATEGORY_LIMIT` distinct categories; past that, a heavy-hitters sketch (Apache DataSketches' frequent items)
  holds the counts, each within `epsilon x rows` of the truth (the sketch's a-priori error), and an HLL sketch the
  number of distinct categories (within 2% at 95%).
- **the score** (a multiclass model's top score) and **the latency**: KLL quantile sketches; a quantile of a merged
  window is within the sketch's normalized rank error (about 1.3% at k = 200, 99% confidence) of the truth.
- **the expected confusion counts** of the performance estimator (CBPE), k x k (rows: actual, columns: predicted;
  binary models: classes 0 and 1), and the rows predicted as each class.
- **DLE's expected losses** of a regressor (`LossState`): the rows estimated (the day's sample) and the sums of their
  expected absolute and squared errors, from which the window's estimated MAE and RMSE follow exactly.
- **the label join's counts**: the labelled rows and the realized confusion counts of a classifier, a regressor's
  error sums (n, sum, sum of squares, sum of absolute values). The day's label runs write them beside its state as
  its labels land (`label_state.json`, `LabelState`); `read_day` puts the two together.
- **each configured segment** (`segments:` of the model; a reference version's fitted segment keys, such as
  `channel=web` or a bucket of `loan_amount`): the numerical and categorical columns' and the score's counts, as
  above, of the segment's rows, CBPE's expected confusion counts of a binary classifier's segment
  (`segment_expected`) or DLE's expected losses of a regressor's (`segment_losses`), and its label join's counts
  (`LabelState.segments`); segments merge key by key (a segment a day has no row in adds nothing).

The state is versioned (`STATE_SCHEMA`); a re-published day (a rerun) replaces its state, and later labels their
counts. A rerun of an unchanged day keeps the published bytes (the KLL sketches draw random bits).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from monitoring import metrics, reference_store
from monitoring.config import ModelConfig, Scoring
from monitoring.estimators import Estimate
from monitoring.layout import DayLayout, ModelLayout
from monitoring.reference import ReferenceProfile
from monitoring.segments import SegmentsFit, SegmentTally
from monitoring.storage import JSON, ObjectStore
from monitoring.vocabulary import LABEL, Record

STATE_SCHEMA = 5  # 2: with the segments' counts; 3: with their expected confusion counts; 4: DLE's expected losses;
# 5: DLE's expected losses inside each segment
EDGES_SCHEMA = 1
LABEL_STATE_SCHEMA = 2  # 2: with the segments' counts
EDGE_QUANTILES = 64  # the fixed edges of a numerical column: up to this many distinct quantiles of the reference
CATEGORY_LIMIT = 256  # distinct categories a column counts exactly; past it, the heavy-hitters sketch
HEAVY_HITTERS_LG_MAP = 9  # the frequent-items sketch's map (2^9 slots): counts within 3.5 / 2^9 = 0.7% of the rows
HLL_LG_K = 12  # the distinct-count sketch of a high-cardinality column (about 1.6% relative error)
KLL_K = 200
READERS = 8  # states read side by side


def _ds():
    """Apache DataSketches, imported when a state is counted or read (not by the DAG files that import the steps)."""
    import datasketches

    return datasketches


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


# --- the model's fixed edges ----------------------------------------------------------------------------------------
class StateEdges(Record):
    """The inner bin edges of each numerical column, fixed for the model (an open bin either side of them)."""

    schema_version: int = EDGES_SCHEMA
    fixed_from: str  # the reference version the edges were first taken from
    columns: dict[str, list[float]]

    def covering(self, reference: pd.DataFrame, columns: Iterable[str], version: str) -> StateEdges:
        """These edges, with edges for the columns they lack taken from `reference` (a column added to the model
        later); the columns they have keep theirs."""
        missing = [c for c in columns if c not in self.columns]
        if not missing:
            return self
        return self.model_copy(update={"columns": {**self.columns, **fit_edges(reference, missing, version).columns}})


def fit_edges(reference: pd.DataFrame, columns: Iterable[str], version: str) -> StateEdges:
    """Up to `EDGE_QUANTILES` distinct quantiles of each column's reference values (none for an empty column)."""
    found = {}
    for column in columns:
        values = pd.to_numeric(reference[column], errors="coerce").to_numpy(dtype=float) \
            if column in reference.columns else np.array([])
        values = values[np.isfinite(values)]
        edges = np.unique(np.quantile(values, np.linspace(0, 1, EDGE_QUANTILES + 1))) if len(values) else []
        found[column] = [float(e) for e in edges]
    return StateEdges(fixed_from=version, columns=found)


# --- the parts of a state -------------------------------------------------------------------------------------------
class NumericalState(Record):
    rows: int = 0
    count: int = 0  # values present
    total: float = 0.0
    m2: float = 0.0  # the sum of squared deviations from the mean
    min: float | None = None
    max: float | None = None
    bins: list[int]  # len(edges) + 1: below the first edge, [e_i, e_i+1), at or above the last edge

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None

    def merge(self, other: NumericalState) -> NumericalState:
        if len(self.bins) != len(other.bins):
            raise ValueError("numerical states on different edges do not merge")
        count = self.count + other.count
        m2 = self.m2 + other.m2
        if self.count and other.count:
            m2 += (other.mean - self.mean) ** 2 * self.count * other.count / count
        present = [x for x in (self, other) if x.count]
        return NumericalState(
            rows=self.rows + other.rows, count=count, total=self.total + other.total, m2=m2,
            min=min(x.min for x in present) if present else None, max=max(x.max for x in present) if present else None,
            bins=[a + b for a, b in zip(self.bins, other.bins)])


class CategoricalState(Record):
    rows: int = 0
    missing: int = 0
    counts: dict[str, int] | None = {}  # exact, while the column has at most CATEGORY_LIMIT distinct categories
    heavy_hitters: str | None = None  # else: a frequent-strings sketch (base64) ...
    distinct_sketch: str | None = None  # ... and an HLL sketch of the distinct categories

    @property
    def exact(self) -> bool:
        return self.counts is not None

    def distinct(self) -> float:
        if self.exact:
            return float(len(self.counts))
        return _ds().hll_sketch.deserialize(_decode(self.distinct_sketch)).get_estimate()

    def top(self, limit: int = 20) -> list[tuple[str, int, int]]:
        """The most frequent categories: (category, lower bound, upper bound) of each count (equal when exact)."""
        if self.exact:
            ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            return [(c, n, n) for c, n in ranked]
        sketch = _ds().frequent_strings_sketch.deserialize(_decode(self.heavy_hitters))
        found = sketch.get_frequent_items(_ds().frequent_items_error_type.NO_FALSE_NEGATIVES)
        return [(item, int(low), int(high)) for item, _, low, high in found[:limit]]

    def error_bound(self) -> int:
        """The most a sketched count can be off (0 while exact)."""
        if self.exact:
            return 0
        sketch = _ds().frequent_strings_sketch.deserialize(_decode(self.heavy_hitters))
        return int(math.ceil(sketch.epsilon * sketch.total_weight))

    def merge(self, other: CategoricalState) -> CategoricalState:
        rows, missing = self.rows + other.rows, self.missing + other.missing
        if self.exact and other.exact:
            counts = dict(self.counts)
            for category, n in other.counts.items():
                counts[category] = counts.get(category, 0) + n
            return _categories(rows, missing, counts)
        items, distinct = self._as_sketches()
        more_items, more_distinct = other._as_sketches()
        items.merge(more_items)
        union = _hll_union(distinct, more_distinct)
        return CategoricalState(rows=rows, missing=missing, counts=None, heavy_hitters=_encode(items.serialize()),
                                distinct_sketch=_encode(union.serialize_compact()))

    def _as_sketches(self) -> tuple:
        if not self.exact:
            return (_ds().frequent_strings_sketch.deserialize(_decode(self.heavy_hitters)),
                    _ds().hll_sketch.deserialize(_decode(self.distinct_sketch)))
        items, distinct = _ds().frequent_strings_sketch(HEAVY_HITTERS_LG_MAP), _ds().hll_sketch(HLL_LG_K)
        for category, n in self.counts.items():
            items.update(category, n)
            distinct.update(category)
        return items, distinct


def _hll_union(*sketches):
    union = _ds().hll_union(HLL_LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union.get_result()


def _categories(rows: int, missing: int, counts: dict[str, int]) -> CategoricalState:
    """Exact counts, or the sketches once there are more than CATEGORY_LIMIT categories."""
    state = CategoricalState(rows=rows, missing=missing, counts=counts)
    if len(counts) <= CATEGORY_LIMIT:
        return state
    items, distinct = state._as_sketches()
    return CategoricalState(rows=rows, missing=missing, counts=None, heavy_hitters=_encode(items.serialize()),
                            distinct_sketch=_encode(distinct.serialize_compact()))


class QuantileState(Record):
    """A KLL sketch (base64) of a column's values."""

    count: int = 0
    sketch: str | None = None

    def quantile(self, q: float) -> float | None:
        return _ds().kll_doubles_sketch.deserialize(_decode(self.sketch)).get_quantile(q) if self.count else None

    def rank_error(self) -> float:
        """The normalized rank error of a single quantile (99% confidence)."""
        if not self.count:
            return 0.0
        return _ds().kll_doubles_sketch.deserialize(_decode(self.sketch)).normalized_rank_error(False)

    def merge(self, other: QuantileState) -> QuantileState:
        if not other.count:
            return self
        if not self.count:
            return other
        sketch = _ds().kll_doubles_sketch.deserialize(_decode(self.sketch))
        sketch.merge(_ds().kll_doubles_sketch.deserialize(_decode(other.sketch)))
        return QuantileState(count=self.count + other.count, sketch=_encode(sketch.serialize()))


class ConfusionState(Record):
    """Confusion counts, k x k (rows: actual class, columns: predicted class): CBPE's expected ones (fractional) or
    the realized ones of labelled rows, and the rows predicted as each class."""

    classes: list[str]
    matrix: list[list[float]]
    predicted: list[int]

    def merge(self, other: ConfusionState) -> ConfusionState:
        if self.classes != other.classes:
            raise ValueError(f"confusion counts of classes {self.classes} and {other.classes} do not merge")
        return ConfusionState(classes=self.classes, matrix=(np.array(self.matrix) + np.array(other.matrix)).tolist(),
                              predicted=[a + b for a, b in zip(self.predicted, other.predicted)])


class ErrorState(Record):
    """A regressor's labelled rows: n, and the sums of the errors (prediction - target), their squares and their
    absolute values."""

    rows: int = 0
    total: float = 0.0
    squares: float = 0.0
    absolute: float = 0.0

    def merge(self, other: ErrorState) -> ErrorState:
        return ErrorState(rows=self.rows + other.rows, total=self.total + other.total,
                          squares=self.squares + other.squares, absolute=self.absolute + other.absolute)


class LossState(Record):
    """DLE's expected losses of a regressor's rows (a day's estimate is over its sample): the rows estimated and the
    sums of their expected absolute and squared errors."""

    rows: int
    absolute: float
    squares: float

    def merge(self, other: LossState) -> LossState:
        return LossState(rows=self.rows + other.rows, absolute=self.absolute + other.absolute,
                         squares=self.squares + other.squares)

    def metrics(self) -> dict[str, float | None]:
        """The estimated MAE (the mean expected absolute error) and RMSE (the root of the mean expected squared one),
        as `estimators.dle_metric` gives them from the rows."""
        return {"mae": self.absolute / self.rows, "rmse": math.sqrt(self.squares / self.rows)} if self.rows else {}


def loss_state(estimate: Estimate | None) -> LossState | None:
    """A day's DLE estimate as its sums (None for another estimate, or none)."""
    if estimate is None or estimate.method != "DLE" or not estimate.rows:
        return None
    mae, rmse = estimate.metrics.get("mae"), estimate.metrics.get("rmse")
    if mae is None or rmse is None:
        return None
    return LossState(rows=estimate.rows, absolute=mae * estimate.rows, squares=rmse ** 2 * estimate.rows)


def segment_losses(segmenter: Segmenter | None, sample: pd.DataFrame,
                   losses: dict[str, np.ndarray] | None) -> dict[str, LossState]:
    """DLE's expected losses inside each segment of a regressor's day (`losses`: each row of the day's `sample`'s,
    `judging.expected_losses`), by segment key; none without segments or the estimator."""
    if segmenter is None or losses is None or not len(sample):
        return {}
    return {key: LossState(rows=int(rows.sum()), absolute=float(losses["mae"][rows].sum()),
                           squares=float(losses["rmse"][rows].sum()))
            for key, rows in sorted(segmenter(sample).items()) if rows.any()}


class LabelState(Record):
    """The label join of the window's predictions, as far as their labels have landed."""

    predictions: int  # valid predictions of the days
    labelled: int  # of them, joined to a label
    confusion: ConfusionState | None = None  # a classifier's
    errors: ErrorState | None = None  # a regressor's
    # the same inside each configured segment (the reference version's segment keys), when `segmented`: counted per
    # segment (a day counted before segments were, or without them, is not; a window is segmented when all its days
    # are). A segment the day has no prediction in is absent.
    segmented: bool = False
    segments: dict[str, LabelState] = {}

    def merge(self, other: LabelState) -> LabelState:
        segmented = self.segmented and other.segmented
        segments = dict(self.segments) if segmented else {}
        for key, state in (other.segments.items() if segmented else ()):
            segments[key] = segments[key].merge(state) if key in segments else state
        return LabelState(predictions=self.predictions + other.predictions, labelled=self.labelled + other.labelled,
                          confusion=_merged(self.confusion, other.confusion), errors=_merged(self.errors, other.errors),
                          segmented=segmented, segments=dict(sorted(segments.items())))

    def metrics(self) -> dict[str, float | None]:
        """The metrics the counts give, as `metrics.figures` gives them from the rows: a binary classifier's
        accuracy, precision, recall and F1, a multiclass one's accuracy and macro and weighted averages, a
        regressor's MAE and RMSE."""
        if self.errors is not None:
            rows = self.errors.rows
            return {"mae": self.errors.absolute / rows if rows else None,
                    "rmse": math.sqrt(self.errors.squares / rows) if rows else None}
        if self.confusion is None or not self.labelled:
            return {}
        matrix = np.array(self.confusion.matrix)
        if self.confusion.classes != binary_classes():
            return metrics.multiclass_decision_metrics(matrix)
        (tn, fp), (fn, tp) = matrix
        return {m: float(metrics.metric_of_counts(m, tp, fp, fn, tn)) for m in ("accuracy", "precision", "recall", "f1")}


def binary_classes() -> list[str]:
    return ["0", "1"]


def expected_state(expected, scoring: Scoring) -> ConfusionState | None:
    """CBPE's expected counts of a day (`estimators.ExpectedConfusion` or `ExpectedMulticlassConfusion`), if any."""
    if expected is None:
        return None
    if scoring.is_multiclass:
        return ConfusionState(classes=list(scoring.classes), matrix=expected.matrix.tolist(),
                              predicted=expected.predicted.tolist())
    predicted_positive = int(round(expected.tp + expected.fp))
    return ConfusionState(classes=binary_classes(), matrix=[[expected.tn, expected.fp], [expected.fn, expected.tp]],
                          predicted=[expected.rows - predicted_positive, predicted_positive])


def segment_expected(tally: SegmentTally | None) -> dict[str, ConfusionState]:
    """CBPE's expected confusion counts inside each segment of a binary classifier's day (`SegmentTally`, counted
    with the day's rows), by segment key; none without the estimator."""
    if tally is None or not tally.estimated:
        return {}
    found = {}
    for i, dimension in enumerate(tally.fit.dimensions):
        for index, key in enumerate(dimension.keys):
            if tally.counts[i][index]:
                tp, fp, fn, tn = (float(x) for x in tally.expected[i][:, index])
                positive = int(round(tp + fp))
                found[key] = ConfusionState(classes=binary_classes(), matrix=[[tn, fp], [fn, tp]],
                                            predicted=[int(tally.counts[i][index]) - positive, positive])
    return found


def label_state(joined: pd.DataFrame, predictions: int | pd.DataFrame, scoring: Scoring,
                segmenter: Segmenter | None = None) -> LabelState:
    """The label join of a day: its valid predictions (their number, or their rows), and of the labelled ones
    (`joined`, the label in LABEL) the confusion counts of a classifier or the error sums of a regressor; with a
    `segmenter` (and the predictions' rows, with the segment columns) the same inside each segment."""
    if segmenter is not None:
        if not isinstance(predictions, pd.DataFrame):
            raise ValueError("the label join's counts per segment need the day's predictions, not their number")
        inside, made = segmenter(joined), segmenter(predictions)
        whole = label_state(joined, len(predictions), scoring)
        return whole.model_copy(update={"segmented": True, "segments": {
            key: label_state(joined[inside[key]] if key in inside else joined.iloc[:0], int(rows.sum()), scoring)
            for key, rows in sorted(made.items()) if rows.any()}})
    predictions = len(predictions) if isinstance(predictions, pd.DataFrame) else predictions
    if scoring.is_regression:
        error = (joined[scoring.score].to_numpy(dtype=float) - joined[LABEL].to_numpy(dtype=float))
        return LabelState(predictions=predictions, labelled=len(joined), errors=ErrorState(
            rows=len(error), total=float(error.sum()), squares=float((error ** 2).sum()),
            absolute=float(np.abs(error).sum())))
    y, _, yhat = metrics.arrays(joined, scoring)
    classes = list(scoring.classes) if scoring.is_multiclass else binary_classes()
    matrix = metrics.confusion_matrix(np.asarray(y, dtype=np.int64), np.asarray(yhat, dtype=np.int64), len(classes))
    return LabelState(predictions=predictions, labelled=len(joined), confusion=ConfusionState(
        classes=classes, matrix=matrix.astype(float).tolist(), predicted=matrix.sum(axis=0).tolist()))


def _merged(a, b):
    return b if a is None else a if b is None else a.merge(b)


# --- a day's or a window's state ------------------------------------------------------------------------------------
class WindowState(Record):
    schema_version: int = STATE_SCHEMA
    model: str
    days: list[dt.date]  # the days merged (one for a day's state, none for a reference's), in order
    reference_versions: list[str]  # the reference versions the days were monitored against
    edges_from: str  # the reference version the model's fixed edges came from (StateEdges.fixed_from)
    rows: int
    numerical: dict[str, NumericalState]
    categorical: dict[str, CategoricalState]
    score: QuantileState
    latency: QuantileState | None = None
    expected: ConfusionState | None = None  # CBPE's
    expected_loss: LossState | None = None  # DLE's (a regressor's)
    labels: LabelState | None = None  # every day's labels once landed; None while a day of the window has none
    source_sha256: str | None = None  # a day's: the digest of the valid rows it was counted from
    # the same counts inside each configured segment (monitoring.segments' keys, e.g. "channel=mobile_app"): numerical
    # and categorical columns and the score, on the same edges, and a binary classifier's expected confusion counts
    segments: dict[str, WindowState] = {}

    @property
    def first_day(self) -> dt.date:
        return self.days[0]

    @property
    def last_day(self) -> dt.date:
        return self.days[-1]

    def with_labels(self, labels: LabelState) -> WindowState:
        """The day's state once its labels landed (replacing what an earlier label run recorded)."""
        return self.model_copy(update={"labels": labels})

    def merge(self, other: WindowState) -> WindowState:
        """The state of the two windows together (disjoint days of the same model, on the same fixed edges)."""
        if other.model != self.model:
            raise ValueError(f"states of models {self.model!r} and {other.model!r} do not merge")
        if set(self.days) & set(other.days):
            raise ValueError(f"day(s) {sorted(set(self.days) & set(other.days))} would be counted twice")
        if other.edges_from != self.edges_from:
            raise ValueError(f"states on the edges of {self.edges_from!r} and {other.edges_from!r} do not merge")
        both = (self, other)
        return WindowState(
            model=self.model, days=sorted({*self.days, *other.days}),
            reference_versions=sorted({*self.reference_versions, *other.reference_versions}),
            edges_from=self.edges_from, rows=self.rows + other.rows,
            numerical=_merge_parts([x.numerical for x in both]),
            categorical=_merge_parts([x.categorical for x in both]),
            score=self.score.merge(other.score), latency=_merged(self.latency, other.latency),
            expected=_merged(self.expected, other.expected),
            expected_loss=_merged(self.expected_loss, other.expected_loss),
            labels=self.labels.merge(other.labels) if self.labels and other.labels else None, source_sha256=None,
            segments=_merge_segments(self, other))

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> WindowState:
        return cls.model_validate_json(data)


def monitored_columns(model: ModelConfig) -> tuple[list[str], list[str]]:
    """The numerical and categorical columns a state counts: as `day_state.DayState`, the numerical features and
    the score(s), the categorical features and a classifier's decision (so that the weekday baseline sees the
    decisions' mix, and with it the positive rate, follow the week's rhythm)."""
    scoring = model.scoring
    decision = [scoring.decision] if scoring.decision and scoring.decision not in model.columns.categorical else []
    return [*model.columns.numerical, scoring.score, *scoring.scores], [*model.columns.categorical, *decision]


def fixed_edges(store: ObjectStore, model: ModelConfig, fitted: ReferenceProfile,
                columns: list[str]) -> StateEdges:
    """The model's fixed edges: created from the reference version `fitted` the first time (the first writer wins
    a race), extended for columns added to the model since (the others keep theirs)."""
    layout = ModelLayout.of(model)
    try:
        edges = StateEdges.model_validate_json(store.get_bytes(layout.state_edges))
    except FileNotFoundError:
        edges = None
    if edges is not None and all(c in edges.columns for c in columns):
        return edges
    reference = reference_store.evidently_sample(store, layout, fitted)
    if edges is None:
        edges = fit_edges(reference, columns, fitted.version)
        if store.create_json(layout.state_edges, edges.model_dump(mode="json")):
            return edges
        return fixed_edges(store, model, fitted, columns)  # another run created them first
    edges = edges.covering(reference, columns, fitted.version)
    store.put_json(layout.state_edges, edges.model_dump(mode="json"))
    return edges


def segmenter(model: ModelConfig, fitted: ReferenceProfile | None) -> Segmenter | None:
    """Which configured segment each row of a batch is in (`segments.SegmentsFit`'s dimensions: each column,
    bucketed column and crossed pair), None without segments: key -> the rows' mask."""
    fit = fitted.segments if fitted is not None and model.segments.enabled else None
    return segment_masks(fit) if fit is not None else None


def segment_masks(fit: SegmentsFit) -> Segmenter:
    """The segmenter of a reference version's fitted segments."""
    def masks(batch: pd.DataFrame) -> dict[str, np.ndarray]:
        found = {}
        for dimension in fit.dimensions:
            codes = dimension.segments(batch)
            found.update({key: codes == index for index, key in enumerate(dimension.keys)})
        return found
    return masks


def tally_of(model: ModelConfig, day: dt.date | None, reference_version: str, edges: StateEdges,
             fitted: ReferenceProfile | None = None) -> WindowTally:
    """A state's tally on the model's columns; with the reference version's profile `fitted`, per segment too."""
    numerical, categorical = monitored_columns(model)
    return WindowTally(model=model.name, day=day, reference_version=reference_version, edges=edges,
                       numerical=numerical, categorical=categorical, score=model.scoring.score,
                       latency=model.columns.latency, segmenter=segmenter(model, fitted))


def reference_state(store: ObjectStore, model: ModelConfig, fitted: ReferenceProfile) -> WindowState:
    """The state of the reference version `fitted` (its rows handed to Evidently) on the model's fixed edges, what a
    window is compared with: counted once per version and edges, kept beside the edges."""
    layout = ModelLayout.of(model)
    edges = fixed_edges(store, model, fitted, monitored_columns(model)[0])
    key = layout.reference_state(fitted.version)
    try:
        kept = WindowState.from_json(store.get_bytes(key))
        if kept.edges_from == edges.fixed_from and kept.source_sha256 == fitted.fingerprint and all(
                c in kept.numerical for c in edges.columns) and all(
                c in kept.categorical for c in monitored_columns(model)[1]) and bool(kept.segments) == bool(
                segmenter(model, fitted)):
            return kept
    except FileNotFoundError:
        pass
    reference = reference_store.evidently_sample(store, layout, fitted)
    state = tally_of(model, None, fitted.version, edges, fitted).add(reference).state(
        source_sha256=fitted.fingerprint)
    store.put_bytes(key, state.to_json(), JSON)
    return state


def kept_reference_state(store: ObjectStore, model: ModelConfig, version: str) -> WindowState | None:
    """The state `reference_state` keeps for a reference version, None when none is kept on the model's edges of now
    (a reference version's rows never change: its fingerprint is checked by `reference_state`, which counts it)."""
    layout = ModelLayout.of(model)
    try:
        kept = WindowState.from_json(store.get_bytes(layout.reference_state(version)))
        edges = StateEdges.model_validate_json(store.get_bytes(layout.state_edges))
    except FileNotFoundError:
        return None
    return kept if kept.edges_from == edges.fixed_from and all(c in kept.numerical for c in edges.columns) else None


def reference_state_of(store: ObjectStore, model: ModelConfig, version: str) -> WindowState:
    """The state of a reference version on the model's fixed edges: the one kept, counted from the version's profile
    when none is."""
    kept = kept_reference_state(store, model, version)
    return kept if kept is not None else reference_state(
        store, model, reference_store.load_or_fit(store, model, ModelLayout.of(model), version))


def read_day(store: ObjectStore, layout: DayLayout, labels: bool = True) -> WindowState | None:
    """A published day's state with its label join's counts (None for a day published without a state; without
    `labels`, the state alone)."""
    try:
        state = WindowState.from_json(store.get_bytes(layout.state))
    except FileNotFoundError:
        return None
    if not labels:
        return state
    try:
        return state.with_labels(LabelState.model_validate_json(store.get_bytes(layout.label_state)))
    except FileNotFoundError:
        return state


def read_days(store: ObjectStore, model: ModelConfig, days: Iterable[dt.date],
              labels: bool = True) -> dict[dt.date, WindowState]:
    """The states of those of `days` that have one, by day (read side by side: a month is 30 small GETs)."""
    layout = ModelLayout.of(model)
    days = list(days)
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        states = list(pool.map(lambda day: read_day(store, layout.on(day), labels), days))
    return {day: state for day, state in zip(days, states) if state is not None}


def read_label_states(store: ObjectStore, model: ModelConfig, days: Iterable[dt.date]) -> dict[dt.date, LabelState]:
    """The label join's counts of those of `days` that have them, by day."""
    layout = ModelLayout.of(model)

    def read(day: dt.date) -> LabelState | None:
        try:
            return LabelState.model_validate_json(store.get_bytes(layout.on(day).label_state))
        except FileNotFoundError:
            return None

    days = list(days)
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        found = list(pool.map(read, days))
    return {day: state for day, state in zip(days, found) if state is not None}


def read_window(store: ObjectStore, model: ModelConfig, days: Iterable[dt.date]
                ) -> tuple[WindowState | None, list[dt.date]]:
    """The merged state of those of `days` that have one (None if none has), and the days that have none."""
    days = list(days)
    found = read_days(store, model, days)
    return (merge(found.values()) if found else None), [d for d in days if d not in found]


def _merge_segments(a: WindowState, b: WindowState) -> dict[str, WindowState]:
    """Segment by segment; a segment one side has no row in is taken as the other side has it."""
    merged = dict(a.segments)
    for key, state in b.segments.items():
        merged[key] = merged[key].merge(state) if key in merged else state
    return merged


def _merge_parts(parts: list[dict]) -> dict:
    """Column by column; a column one side lacks (added to the model later) is taken as it is."""
    merged = dict(parts[0])
    for part in parts[1:]:
        for column, state in part.items():
            merged[column] = merged[column].merge(state) if column in merged else state
    return merged


def merge(states: Iterable):
    """The state of the window the `states`' days make (or the merge of any parts of states: label states...)."""
    states = list(states)
    if not states:
        raise ValueError("no state to merge")
    found = states[0]
    for state in states[1:]:
        found = found.merge(state)
    return found


# --- a day's state, batch by batch ------------------------------------------------------------------------------------
class _NumericalTally:
    def __init__(self, edges: list[float]) -> None:
        self.edges = np.array(edges, dtype=float)
        self.state = NumericalState(bins=[0] * (len(edges) + 1))

    def add(self, values: pd.Series) -> None:
        x = values.to_numpy(dtype=float, na_value=np.nan)
        present = x[~np.isnan(x)]
        n = len(present)
        mean = float(present.mean()) if n else 0.0
        self.state = self.state.merge(NumericalState(
            rows=len(x), count=n, total=float(present.sum()), m2=float(((present - mean) ** 2).sum()),
            min=float(present.min()) if n else None, max=float(present.max()) if n else None,
            bins=np.bincount(np.searchsorted(self.edges, present, side="right"),
                             minlength=len(self.edges) + 1).tolist()))


class _CategoricalTally:
    def __init__(self) -> None:
        self.rows = self.missing = 0
        self.counts: dict[str, int] = {}
        self.sketches: tuple | None = None  # (frequent strings, HLL) past CATEGORY_LIMIT

    def add(self, values: pd.Series) -> None:
        present = values.dropna().astype(str)
        self.rows += len(values)
        self.missing += len(values) - len(present)
        counted = present.value_counts()
        if self.sketches is None:
            for category, n in counted.items():
                self.counts[category] = self.counts.get(category, 0) + int(n)
            if len(self.counts) > CATEGORY_LIMIT:
                self.sketches = CategoricalState(counts=self.counts)._as_sketches()
                self.counts = {}
            return
        items, distinct = self.sketches
        for category, n in counted.items():
            items.update(category, int(n))
            distinct.update(category)

    def state(self) -> CategoricalState:
        if self.sketches is None:
            return CategoricalState(rows=self.rows, missing=self.missing, counts=self.counts)
        items, distinct = self.sketches
        return CategoricalState(rows=self.rows, missing=self.missing, counts=None,
                                heavy_hitters=_encode(items.serialize()),
                                distinct_sketch=_encode(distinct.serialize_compact()))


class _QuantileTally:
    def __init__(self) -> None:
        self.sketch = _ds().kll_doubles_sketch(KLL_K)

    def add(self, values: pd.Series) -> None:
        x = values.to_numpy(dtype=float, na_value=np.nan)
        x = x[np.isfinite(x)]
        if len(x):
            self.sketch.update(x)

    def state(self) -> QuantileState:
        n = int(self.sketch.n)
        return QuantileState(count=n, sketch=_encode(self.sketch.serialize()) if n else None)


Segmenter = Callable[[pd.DataFrame], dict[str, np.ndarray]]


class WindowTally:
    """A day's state (a reference's: no day), fed its valid rows in batches (`add`), then read (`state`)."""

    def __init__(self, *, model: str, day: dt.date | None, reference_version: str, edges: StateEdges,
                 numerical: Iterable[str], categorical: Iterable[str], score: str, latency: str | None,
                 segmenter: Segmenter | None = None) -> None:
        self.model, self.day, self.reference_version, self.edges = model, day, reference_version, edges
        self.numerical = {c: _NumericalTally(edges.columns.get(c, [])) for c in numerical}
        self.categorical = {c: _CategoricalTally() for c in categorical}
        self.score_column, self.latency_column = score, latency
        self.score, self.latency = _QuantileTally(), _QuantileTally() if latency else None
        self.rows = 0
        self.segmenter = segmenter
        self.segments: dict[str, WindowTally] = {}

    def add(self, batch: pd.DataFrame) -> WindowTally:
        self.rows += len(batch)
        for column, tally in (*self.numerical.items(), *self.categorical.items()):
            tally.add(batch[column])
        self.score.add(batch[self.score_column])
        if self.latency is not None and self.latency_column in batch.columns:
            self.latency.add(batch[self.latency_column])
        for key, mask in (self.segmenter(batch) if self.segmenter is not None else {}).items():
            if mask.any():
                if key not in self.segments:
                    self.segments[key] = WindowTally(
                        model=self.model, day=self.day, reference_version=self.reference_version, edges=self.edges,
                        numerical=self.numerical, categorical=self.categorical, score=self.score_column, latency=None)
                self.segments[key].add(batch[mask])
        return self

    def state(self, expected: ConfusionState | None = None, source_sha256: str | None = None,
              segment_expected: dict[str, ConfusionState] | None = None,
              expected_loss: LossState | None = None,
              segment_loss: dict[str, LossState] | None = None) -> WindowState:
        """The state counted; `expected`: CBPE's expected confusion counts of the day, `segment_expected` of each
        segment (`segment_expected`); `expected_loss`: a regressor's DLE estimate as sums (`loss_state`),
        `segment_loss` of each segment (`segment_losses`)."""
        inside, losses = segment_expected or {}, segment_loss or {}
        return WindowState(
            model=self.model, days=[self.day] if self.day else [], reference_versions=[self.reference_version],
            edges_from=self.edges.fixed_from, rows=self.rows,
            numerical={c: t.state for c, t in self.numerical.items()},
            categorical={c: t.state() for c, t in self.categorical.items()},
            score=self.score.state(), latency=self.latency.state() if self.latency is not None else None,
            expected=expected, expected_loss=expected_loss, source_sha256=source_sha256,
            segments={key: tally.state(inside.get(key), expected_loss=losses.get(key))
                      for key, tally in sorted(self.segments.items())})
