"""Ground truth that arrives days late: the label partitions of a window of days, checked and joined to the
predictions they label.

Labels land in `labels/<model>/dt=<L>/`, where L is the day they became known (not the prediction day), keyed by
the prediction id. The run for day D reads the label days of its window, never a day after D: a rerun or a backfill
of D sees the labels as they were known on D, so its outputs are reproducible.

Bad labels are counted and reported, never silently joined. Each rejected row goes to the day's
`labels_quarantine.parquet` with one of these reasons:

| reason | the row |
|---|---|
| `missing_id` | has no prediction id |
| `wrong_type` | has a label that is not 0/1 (classification) or not a finite number (regression) |
| `duplicate` | repeats the label of an id already labelled with the same value (the first is joined, once) |
| `conflicting` | labels an id that has another label with a different value (none of them is joined) |
| `unknown_id` | labels no prediction of the window (counted for the labels that landed on the run's day) |

A whole file that cannot be used (unreadable, or without the id or label column) is reported by name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring import ingest
from monitoring.config import ModelConfig
from monitoring.contract import as_label, as_number
from monitoring.layout import DayLayout
from monitoring.storage import ObjectStore

log = logging.getLogger(__name__)

ID, LABEL, LABEL_DAY, RAW, REASON = "id", "label", "label_day", "raw_label", "reason"


@dataclass(frozen=True)
class LabelFile:
    key: str
    day: str
    rows: int


@dataclass
class LabelWindow:
    """The usable labels of a window of label days and what was rejected."""

    labels: pd.DataFrame  # id (str), label (float), label_day (ISO str): one row per labelled id
    rejected: pd.DataFrame  # id, raw_label, label_day, _source_file, reason
    files: list[LabelFile] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)  # one message per file that could not be used

    def rows_of(self, day: str) -> int:
        return sum(f.rows for f in self.files if f.day == day)


def _empty_labels() -> pd.DataFrame:
    return pd.DataFrame({ID: pd.Series(dtype=object), LABEL: pd.Series(dtype="float64"),
                         LABEL_DAY: pd.Series(dtype=object)})


def _read_day(store: ObjectStore, model: ModelConfig, layout: DayLayout,
              problems: list[str]) -> tuple[list[pd.DataFrame], list[LabelFile]]:
    day = layout.day.isoformat()
    try:
        objects = ingest.list_day_files(store, layout.labels_dir, model.labels_format,
                                        model.storage.completion_marker, model.storage.settle_seconds)
    except ingest.MissingPartitionError:
        return [], []  # no labels became known that day: normal
    except ingest.PartitionIncompleteError as exc:
        log.warning("labels of %s are left for a later run: %s", day, exc)
        return [], []
    except ingest.IngestError as exc:
        problems.append(str(exc))
        return [], []
    id_column, label_column = model.label_id_column, model.labels.column
    frames, files = [], []
    for obj in objects:
        try:
            frame = ingest.read_file(store, obj.key, model.labels_format)
        except ingest.IngestError as exc:
            problems.append(str(exc))
            continue
        missing = [c for c in (id_column, label_column) if c not in frame.columns]
        if missing and len(frame):
            problems.append(f"label file {store.url(obj.key)} lacks column(s) {missing} (it has "
                            f"{[c for c in frame.columns if not c.startswith('_')]}); none of its rows were used. "
                            "Fix the export or the model's labels.column / labels.id_column.")
            continue
        files.append(LabelFile(obj.key, day, len(frame)))
        if len(frame):
            frames.append(pd.DataFrame({ID: frame[id_column], RAW: frame[label_column], LABEL_DAY: day,
                                        ingest.SOURCE_FILE: obj.key}))
    return frames, files


def _typed(raw: pd.Series, classification: bool) -> pd.Series:
    """The label as a float, NaN where it is not of the model's type (booleans and "true"/"false" count as 1/0)."""
    text = raw.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    text = text.replace({"true": 1, "false": 0})
    values, _ = as_number(text.astype(object) if text.dtype == object else text)
    values = values.where(np.isfinite(values))
    if classification:
        values = values.where(values.isin([0.0, 1.0]))
    return values


def read_window(store: ObjectStore, model: ModelConfig, layout: DayLayout, first: dt.date, last: dt.date) -> LabelWindow:
    """Read and check the labels that became known from `first` to `last` (inclusive)."""
    problems: list[str] = []
    frames: list[pd.DataFrame] = []
    files: list[LabelFile] = []
    day = first
    while day <= last:
        day_frames, day_files = _read_day(store, model, layout.on(day), problems)
        frames += day_frames
        files += day_files
        day += dt.timedelta(days=1)
    for problem in problems:
        log.warning("unusable label file: %s", problem)
    if not frames:
        return LabelWindow(_empty_labels(), pd.DataFrame(columns=[ID, RAW, LABEL_DAY, ingest.SOURCE_FILE, REASON]),
                           files, problems)
    rows = pd.concat(frames, ignore_index=True)
    rows[ID] = as_label(rows[ID])
    rows[LABEL] = _typed(rows[RAW], model.is_classification)
    reason = pd.Series(None, index=rows.index, dtype=object)
    reason[rows[ID].isna() | (rows[ID].astype(str).str.strip() == "")] = "missing_id"
    reason[reason.isna() & rows[LABEL].isna()] = "wrong_type"
    usable = reason.isna()
    # Oldest label first, so the kept copy of a repeated label is the one that arrived first.
    order = rows[usable].sort_values([LABEL_DAY, ingest.SOURCE_FILE], kind="stable")
    distinct_values = order.groupby(ID)[LABEL].transform("nunique")
    reason[order.index[distinct_values > 1]] = "conflicting"
    agreeing = order[distinct_values == 1]
    reason[agreeing.index[agreeing.duplicated(ID, keep="first")]] = "duplicate"
    kept = rows.loc[reason.isna(), [ID, LABEL, LABEL_DAY]].sort_values(ID, kind="stable").reset_index(drop=True)
    rejected = rows.loc[reason.notna(), [ID, RAW, LABEL_DAY, ingest.SOURCE_FILE]].copy()
    rejected[RAW] = rejected[RAW].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    rejected[REASON] = reason[reason.notna()]
    return LabelWindow(kept, rejected.reset_index(drop=True), files, problems)


def join(predictions: pd.DataFrame, id_column: str, window: LabelWindow) -> pd.DataFrame:
    """The predictions that have a label, with `label` and `label_day` columns (an inner join on the id)."""
    joined = predictions.merge(window.labels, left_on=id_column, right_on=ID, how="inner", validate="many_to_one")
    return joined.drop(columns=[ID] if id_column != ID else []).sort_values(id_column, kind="stable").reset_index(drop=True)


def digest(joined: pd.DataFrame, id_column: str) -> str:
    """A fingerprint of which predictions are labelled with what: it changes exactly when the labels grew or moved."""
    text = "\n".join(f"{i}\t{v!r}" for i, v in zip(joined[id_column], joined[LABEL]))
    return hashlib.sha256(text.encode()).hexdigest()


def landed_problems(window: LabelWindow, day: str, joined_ids: set[str]) -> tuple[Counter[str], pd.DataFrame]:
    """Problems of the labels that landed on `day`: the rejected rows, plus usable labels of no known prediction.

    Returns the count per reason and the rows to quarantine (each with its reason)."""
    rejected = window.rejected[window.rejected[LABEL_DAY] == day]
    landed = window.labels[window.labels[LABEL_DAY] == day]
    unknown = landed[~landed[ID].isin(joined_ids)]
    unknown_rows = pd.DataFrame({ID: unknown[ID], RAW: unknown[LABEL].map(lambda v: f"{v:g}"), LABEL_DAY: day,
                                 ingest.SOURCE_FILE: None, REASON: "unknown_id"})
    counts = Counter(rejected[REASON]) + Counter({"unknown_id": len(unknown)} if len(unknown) else {})
    frames = [f for f in (rejected, unknown_rows) if len(f)]
    quarantine = pd.concat(frames, ignore_index=True) if frames else rejected.iloc[0:0]
    return counts, quarantine
