"""The model's data contract: schema and value checks, coercion to typed columns, quarantine with reasons.

A schema break (a required column missing from a file) fails the day with a message naming the file. Row-level
violations never fail alone: the row goes to quarantine with every reason it broke the contract, and the day fails
only when the quarantined share passes the model's `contract.max_rejected_share`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from monitoring.config import ModelConfig
from monitoring.coercion import as_id, as_label, as_number, as_timestamp, as_zero_one, epoch_hint
from monitoring.ids import ID_HASH, id_hashes
from monitoring.ingest import SOURCE_FILE, SOURCE_ROW, FileRead
from monitoring.text import clip, clip_all, listing
from monitoring.vocabulary import CATEGORICAL, NUMERICAL, TOP_SCORE

REASON = "reason"


class ContractError(ValueError):
    """The day's logs break the model's data contract as a whole."""


@dataclass(frozen=True)
class ContractResult:
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    reasons: dict[str, int] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    examples: dict[str, str] = field(default_factory=dict)  # the first reason text of each code, for errors

    @property
    def rows_valid(self) -> int:
        return len(self.valid)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)


class SeenIds:
    """64-bit hashes of the ids met so far in the day, in sorted runs merged like a binary counter: a batch is looked
    up in O(batch x log day) and the day's ids take 8 bytes each. Two different ids share a hash with a chance of
    about n^2 / 2^65 (3 in a million for 10 million ids a day): that row would be quarantined as a duplicate, with
    its reason, never dropped."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        found = np.zeros(len(hashes), dtype=bool)
        for run in self.runs:
            at = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            found |= run[at] == hashes
        return found

    def add(self, hashes: np.ndarray) -> None:
        run = _sorted_unique(hashes)
        while self.runs and len(self.runs[-1]) <= len(run):
            run = _sorted_unique(np.concatenate([self.runs.pop(), run]))
        self.runs.append(run)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """`np.unique(values)`, by a stable sort: numpy 2 finds unique integers by hashing and then sorts them, blind to
    sorted input; a stable sort merges sorted runs far faster (benchmarks/README.md)."""
    ordered = np.sort(values, kind="stable")
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


@dataclass
class ContractTally:
    """The day's contract figures, summed over the results of its batches."""

    rows_read: int = 0
    rows_valid: int = 0
    reasons: Counter = field(default_factory=Counter)
    extra_columns: set[str] = field(default_factory=set)
    examples: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, *results: ContractResult) -> ContractTally:
        tally = cls()
        for result in results:
            tally.add(result)
        return tally

    def add(self, result: ContractResult) -> None:
        self.rows_read += result.rows_read
        self.rows_valid += result.rows_valid
        self.reasons.update(result.reasons)
        self.extra_columns.update(result.extra_columns)
        for code, text in result.examples.items():
            self.examples.setdefault(code, text)

    @property
    def rows_quarantined(self) -> int:
        return self.rows_read - self.rows_valid

    @property
    def rejected_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    def stats(self) -> dict:
        return {"rows_read": self.rows_read, "rows_valid": self.rows_valid,
                "rows_quarantined": self.rows_quarantined, "rejected_share": self.rejected_share,
                "reasons": dict(sorted(self.reasons.items())),
                "extra_columns": sorted({clip(c) for c in self.extra_columns})}


def valid_schema(model: ModelConfig) -> pa.Schema:
    """The typed columns of the valid rows, the same for every batch and every day of the model."""
    cols = model.columns
    fields = [pa.field(cols.id, pa.string()), pa.field(cols.timestamp, pa.timestamp("ns", tz="UTC")),
              *(pa.field(c, pa.float64()) for c in cols.score_columns)]
    if model.is_multiclass:
        fields.append(pa.field(TOP_SCORE, pa.float64()))
    if cols.decision:
        fields.append(pa.field(cols.decision, pa.string() if model.is_multiclass else pa.int64()))
    if cols.latency:
        fields.append(pa.field(cols.latency, pa.float64()))
    fields += [pa.field(c, pa.float64()) for c in cols.numerical]
    fields += [pa.field(c, pa.string()) for c in cols.categorical]
    fields += [pa.field(c, pa.string() if kind == CATEGORICAL else pa.float64())
               for c, kind in model.extra_segment_columns.items()]
    return pa.schema([*fields, pa.field(ID_HASH, pa.uint64())])


class _Violations:
    """Collects (row mask, reason) pairs; a row may break several rules. A reason's detail is built for the rows that
    break the rule only (a clean day of millions of rows formats nothing)."""

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.messages: list[pd.Series] = []
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, mask: pd.Series, code: str, detail: Callable[[pd.Series], pd.Series | str] | str,
            *values: pd.Series) -> None:
        """`detail` is text, or a function of the rows' `values` (each a Series) giving their texts."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        self.counts[code] += int(mask.sum())
        text = detail if isinstance(detail, str) else detail(*(clip_all(v[mask]) for v in values))
        texts = code + ": " + pd.Series(text, index=self.index[mask.to_numpy()], dtype=object)
        self.examples.setdefault(code, texts.iloc[0])
        self.messages.append(texts)

    def reasons(self) -> pd.Series:
        reasons = pd.Series(np.nan, index=self.index, dtype=object)
        if not self.messages:
            return reasons
        joined = pd.concat(self.messages, axis=1)  # only the rows with at least one violation
        reasons.loc[joined.index] = joined.apply(lambda row: "; ".join(v for v in row if isinstance(v, str)), axis=1)
        return reasons


def check_columns(files: list[FileRead], model: ModelConfig, store_url: Callable[[str], str] = str) -> None:
    """Every non-empty file must carry every column of the contract; the error names the file."""
    cols = model.columns
    required = [cols.id, cols.timestamp, *cols.predictions, *cols.features]
    for read in files:
        missing = [c for c in required if c not in read.columns]
        if missing and read.rows:
            raise ContractError(
                f"file {store_url(read.key)} lacks required column(s) {missing} of model {model.name!r} "
                f"(it has {listing(read.columns, limit=40)}). Fix the export, or the model's 'columns' config if they were renamed."
            )


def validate(frame: pd.DataFrame, model: ModelConfig, day: dt.date, seen: SeenIds | None = None) -> ContractResult:
    """Split the day's rows (or one batch of them, with the ids of the earlier batches in `seen`) into typed valid
    rows and quarantined rows with their reasons (in the order of the checks below: ids, time, predictions,
    features)."""
    cols = model.columns
    if frame.empty:
        return ContractResult(valid=valid_schema(model).empty_table().to_pandas(),
                              quarantine=frame.assign(**{REASON: pd.Series(dtype=object)}), rows_read=0)
    extra = model.extra_segment_columns
    known = {cols.id, cols.timestamp, *cols.predictions, *cols.features, SOURCE_FILE, SOURCE_ROW, *extra,
             *([cols.latency] if cols.latency else [])}
    v = _Violations(frame.index)
    typed: dict[str, pd.Series] = {}  # one frame built at the end, not column by column
    hashes = _check_ids(frame, cols.id, v, typed, seen)
    _check_time(frame, cols.timestamp, cols.timestamp_unit, day, v, typed)
    _check_predictions(frame, model, v, typed)
    _check_features(frame, cols.numerical, cols.categorical, v, typed)
    # Segment columns the model does not use: checked like features; absent from a file, its rows are in the
    # segment "(missing)" (a finding when the reference has none there), never dropped.
    present = {c: k for c, k in extra.items() if c in frame.columns}
    _check_features(frame, tuple(c for c, k in present.items() if k == NUMERICAL),
                    tuple(c for c, k in present.items() if k == CATEGORICAL), v, typed)
    for column, kind in extra.items():
        if column not in present:
            typed[column] = pd.Series(np.nan, index=frame.index, dtype="float64" if kind == NUMERICAL else object)
    typed[ID_HASH] = hashes
    reasons = v.reasons()
    bad = reasons.notna()
    typed_frame = pd.DataFrame(typed, index=frame.index)
    valid = (typed_frame.loc[~bad] if bad.any() else typed_frame).reset_index(drop=True)
    if cols.decision and not model.is_multiclass:
        valid[cols.decision] = valid[cols.decision].astype("int64")
    return ContractResult(valid=valid, quarantine=_quarantine(frame, reasons), rows_read=len(frame),
                          reasons=dict(v.counts), extra_columns=tuple(sorted(c for c in frame if c not in known)),
                          examples=v.examples)


def _check_ids(frame: pd.DataFrame, column: str, v: _Violations, typed: dict[str, pd.Series],
               seen: SeenIds | None) -> np.ndarray:
    """Ids present and met once in the day; returns their hashes (once per row: duplicates across batches here,
    then the day's sample, `monitoring.sampling`)."""
    id_text = as_id(frame[column])
    v.add(id_text.isna(), "missing_id", f"{column} is empty")  # as_id: blank ids are missing
    duplicated = id_text.notna() & id_text.duplicated(keep="first")
    hashes = id_hashes(id_text)
    if seen is not None:
        present = id_text.notna().to_numpy()
        duplicated |= pd.Series(seen.contains(hashes) & present, index=frame.index)
        seen.add(hashes[present])
    v.add(duplicated, "duplicate_id", lambda i: f"{column} " + i + " appeared earlier in the day", id_text)
    typed[column] = id_text
    return hashes


def _check_time(frame: pd.DataFrame, column: str, unit: str | None, day: dt.date, v: _Violations,
                typed: dict[str, pd.Series]) -> None:
    """A time on the day, in UTC (epoch numbers in `unit`); a hint when the times look like epoch numbers."""
    raw = frame[column]
    ts = as_timestamp(raw, unit)
    start = pd.Timestamp(day, tz="UTC")
    unparsed = ts.isna() & raw.notna()
    outside = ts.notna() & ((ts < start) | (ts >= start + pd.Timedelta(days=1)))
    hint = epoch_hint(raw) if not unit and (unparsed.any() or outside.any()) else ""
    v.add(unparsed, "bad_timestamp", lambda t: f"{column} " + t + " is not a time" + hint, raw)
    v.add(raw.isna(), "missing_timestamp", f"{column} is empty")
    v.add(outside, "timestamp_outside_day", lambda t: f"{column} " + t + f" is not on {day}" + hint, ts)
    typed[column] = ts


def _check_predictions(frame: pd.DataFrame, model: ModelConfig, v: _Violations,
                       typed: dict[str, pd.Series]) -> None:
    """Each score a finite number within the model's range (a multiclass model's class scores summing to 1, their
    highest kept as its top score), the decision 0 or 1 (a multiclass model's: one of its classes), the latency
    (optional: an operational figure, not part of the contract) a duration."""
    cols = model.columns
    for column in cols.score_columns:
        typed[column] = _check_score(frame, column, model.score_range, v)
    if model.is_multiclass:
        _check_class_scores(cols.score_columns, model.contract.score_sum_tolerance, v, typed)
    if cols.decision and model.is_multiclass:
        typed[cols.decision] = _check_class(frame[cols.decision], cols.decision, cols.classes, "missing_decision", v)
    elif cols.decision:
        decision, not_number = as_zero_one(frame[cols.decision])
        bad = not_number | (decision.notna() & ~decision.isin([0.0, 1.0]))
        v.add(bad, "bad_decision", lambda x: f"{cols.decision} " + x + " is not 0 or 1 (or true/false)",
              frame[cols.decision])
        v.add(decision.isna() & ~not_number, "missing_decision", f"{cols.decision} is empty")
        typed[cols.decision] = decision
    if cols.latency and cols.latency in frame.columns:
        latency, not_number = as_number(frame[cols.latency])
        v.add(not_number | (latency < 0) | np.isinf(latency), "bad_latency",
              lambda x: f"{cols.latency} " + x + " is not a duration in milliseconds", frame[cols.latency])
        typed[cols.latency] = latency
    elif cols.latency:
        typed[cols.latency] = pd.Series(np.nan, index=frame.index)  # every batch has the same columns


def _check_score(frame: pd.DataFrame, column: str, score_range: tuple[float, float] | None,
                 v: _Violations) -> pd.Series:
    score, not_number = as_number(frame[column])
    v.add(not_number, "bad_score", lambda x: f"{column} " + x + " is not a number", frame[column])
    v.add(score.isna() & ~not_number, "missing_score", f"{column} is empty")
    v.add(np.isinf(score), "bad_score", lambda x: f"{column} " + x + " is infinite", score)
    if score_range:
        low, high = score_range
        v.add(score.notna() & ((score < low) | (score > high)), "score_out_of_range",
              lambda x: f"{column} " + x + f" is outside [{low}, {high}]", score)
    return score


def _check_class_scores(columns: tuple[str, ...], tolerance: float, v: _Violations,
                        typed: dict[str, pd.Series]) -> None:
    """A multiclass row's class scores are probabilities: they sum to 1 within `tolerance`; the highest is kept as
    the row's top score (its confidence)."""
    scores = pd.DataFrame({c: typed[c] for c in columns})
    total = scores.sum(axis=1, min_count=len(columns))
    v.add(total.notna() & ((total - 1).abs() > tolerance), "scores_not_summing_to_one",
          lambda t: "the class scores sum to " + t + f", not 1 (within {tolerance:g})", total.round(4).astype(str))
    typed[TOP_SCORE] = scores.max(axis=1, skipna=False)


def _check_class(raw: pd.Series, column: str, classes: tuple[str, ...], missing_code: str,
                v: _Violations) -> pd.Series:
    """A multiclass decision or label as its class's text (integer codes as '3'): a value outside the declared
    classes is `unknown_class`, an empty one `missing_code`."""
    text = as_label(raw)
    v.add(text.notna() & ~text.isin(classes), "unknown_class",
          lambda x: f"{column} " + x + f" is not one of the classes {listing(classes)}", text)
    v.add(text.isna(), missing_code, f"{column} is empty")
    return text


def _check_features(frame: pd.DataFrame, numerical: tuple[str, ...], categorical: tuple[str, ...],
                    v: _Violations, typed: dict[str, pd.Series]) -> None:
    """Numerical features finite numbers (a missing one is kept: a data-quality matter); categories as text."""
    for column in numerical:
        values, not_number = as_number(frame[column])
        v.add(not_number, "bad_number", lambda x: f"{column} " + x + " is not a number", frame[column])
        v.add(np.isinf(values), "infinite_value", lambda x: f"{column} " + x + " is infinite", values)
        typed[column] = values
    for column in categorical:
        typed[column] = as_label(frame[column])


def _quarantine(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """The rows that broke the contract, every value as text (as it came), with their reasons."""
    bad = reasons.notna()
    quarantine = frame.loc[bad].copy()
    for column in quarantine.columns:
        if column != SOURCE_ROW:
            quarantine[column] = quarantine[column].map(lambda x: None if pd.isna(x) else str(x)).astype(object)
    quarantine[REASON] = reasons[bad]
    return quarantine.reset_index(drop=True)


def prepare_reference(frame: pd.DataFrame, model: ModelConfig, where: str) -> pd.DataFrame:
    """Typed feature and prediction columns of the reference (and its label column, which gives the performance
    baseline, when it has one); it is curated, so any bad value is an error."""
    cols = model.columns
    required = [*cols.features, *cols.predictions]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ContractError(f"the reference {where} lacks column(s) {missing} of model {model.name!r}; "
                            "publish a reference version that carries every feature and prediction column.")
    if frame.empty:
        raise ContractError(f"the reference {where} has no rows; publish a non-empty reference version.")
    typed = pd.DataFrame(index=frame.index)
    binary_decision = (cols.decision,) if cols.decision and not model.is_multiclass else ()
    for column in [*cols.numerical, *cols.score_columns, *binary_decision]:
        values, not_number = (as_zero_one if column == cols.decision else as_number)(frame[column])
        if not_number.any() or np.isinf(values).any():
            raise ContractError(f"the reference {where} has {int(not_number.sum() + np.isinf(values).sum())} value(s) "
                                f"in numerical column {column!r} that are not finite numbers.")
        typed[column] = values
    if model.is_multiclass:
        _reference_classes(frame, typed, model, where)
    elif cols.decision:
        # Typed as the valid rows' decision (int64): a day of one class beside a float reference would hand
        # Evidently a mix of 0 and 1.0 as category labels, which it rejects.
        decision = typed[cols.decision]
        bad = decision.isna() | ~decision.isin([0.0, 1.0])
        if bad.any():
            raise ContractError(f"the reference {where} has {int(bad.sum())} decision(s) in {cols.decision!r} that "
                                "are not 0 or 1; publish a reference version whose decisions are 0/1.")
        typed[cols.decision] = decision.astype("int64")
    for column in cols.categorical:
        typed[column] = as_label(frame[column])
    extra = model.extra_segment_columns
    absent = [c for c in extra if c not in frame.columns]
    if absent:
        raise ContractError(f"the reference {where} lacks segment column(s) {absent} of model {model.name!r} "
                            "(segments.columns, segments.buckets): a segment is judged against the reference's same "
                            "segment; publish a reference version that carries them.")
    for column, kind in extra.items():
        if kind == CATEGORICAL:
            typed[column] = as_label(frame[column])
        else:
            values, not_number = as_number(frame[column])
            if not_number.any() or np.isinf(values).any():
                raise ContractError(f"the reference {where} has values in segment column {column!r} that are not "
                                    "finite numbers.")
            typed[column] = values
    if model.labels and model.labels.column in frame.columns and not model.is_multiclass:
        values, not_number = as_number(frame[model.labels.column])
        bad = not_number | values.isna() | np.isinf(values)
        if model.is_classification:
            bad |= ~values.isin([0.0, 1.0])
        if bad.any():
            kind = "0 or 1" if model.is_classification else "a finite number"
            raise ContractError(f"the reference {where} has {int(bad.sum())} label(s) in {model.labels.column!r} that "
                                f"are not {kind}; fix the reference or drop the label column (no baseline then).")
        typed[model.labels.column] = values
    return typed.reset_index(drop=True)


def _reference_classes(frame: pd.DataFrame, typed: pd.DataFrame, model: ModelConfig, where: str) -> None:
    """A multiclass reference by the rules of a day (its top score derived, its decisions and labels classes), but
    curated: any row that a day would quarantine is an error."""
    cols = model.columns
    v = _Violations(frame.index)
    checked = {c: typed[c] for c in cols.score_columns}
    v.add(pd.DataFrame(checked).isna().any(axis=1), "missing_score", "a class score is empty")
    _check_class_scores(cols.score_columns, model.contract.score_sum_tolerance, v, checked)
    if cols.decision:
        checked[cols.decision] = _check_class(frame[cols.decision], cols.decision, cols.classes, "missing_decision", v)
    label = model.labels.column if model.labels and model.labels.column in frame.columns else None
    if label:
        checked[label] = _check_class(frame[label], label, cols.classes, "missing_label", v)
    if v.counts:
        found = ", ".join(f"{code}: {n} row(s)" for code, n in v.counts.most_common())
        raise ContractError(f"the reference {where} of multiclass model {model.name!r} breaks the contract ({found}; "
                            f"e.g. {next(iter(v.examples.values()))}); publish a reference version whose class scores "
                            f"{list(cols.score_columns)} sum to 1 and whose decisions and labels are one of the "
                            f"classes {list(cols.classes)} (columns.scores), or drop its label column (no baseline "
                            "then).")
    for column, values in checked.items():
        typed[column] = values


def enforce_rejected_share(result: ContractTally, model: ModelConfig, where: str) -> None:
    """Fail the day when more rows than the model allows were quarantined."""
    limit = model.contract.max_rejected_share
    if result.rejected_share > limit:
        ranked = sorted(result.reasons.items(), key=lambda kv: -kv[1])
        top = ", ".join(f"{code}: {n}" for code, n in ranked[:5])
        example = result.examples.get(ranked[0][0]) if ranked else None
        raise ContractError(
            f"{result.rows_quarantined} of {result.rows_read} rows ({result.rejected_share:.1%}) of model "
            f"{model.name!r} break the data contract, above the allowed {limit:.1%} "
            f"(contract.max_rejected_share). Reasons: {top}" + (f"; e.g. {example}" if example else "") +
            f". The rejected rows with their reasons are in {where}."
        )
