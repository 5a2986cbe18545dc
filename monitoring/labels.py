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
| `missing_label` | has an empty label |
| `wrong_type` | has a label that is not 0/1 (classification) or not a finite number (regression) |
| `duplicate` | repeats the label of an id already labelled with the same value (the first is joined, once) |
| `conflicting` | labels an id that has another label with a different value (none of them is joined) |
| `unknown_id` | labels no prediction of the window (counted for the labels that landed on the run's day) |

Each quarantined row keeps the file and row it came from (`_source_file`, `_source_row`) and a `detail` in words.
Label ids are normalized as the predictions' ids are (`coercion.as_id`: text, surrounding spaces removed, an integer
written with decimals such as `50005.0` as `50005`), so an id that differs only in format still labels its
prediction. A whole file that cannot be used (unreadable, or without the id or label column) is reported by name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring import ingest
from monitoring.config import ModelConfig
from monitoring.coercion import as_id, as_label, as_number, as_zero_one
from monitoring.layout import DayLayout
from monitoring.storage import ObjectStore
from monitoring.text import clip_all, listing
from monitoring.vocabulary import LABEL

log = logging.getLogger(__name__)

ID, LABEL_DAY, RAW, REASON, DETAIL = "id", "label_day", "raw_label", "reason", "detail"
QUARANTINE_COLUMNS = [ID, RAW, LABEL_DAY, ingest.SOURCE_FILE, ingest.SOURCE_ROW, REASON, DETAIL]


@dataclass(frozen=True)
class LabelFile:
    key: str
    day: str
    rows: int


@dataclass
class LabelWindow:
    """The usable labels of a window of label days and what was rejected."""

    labels: pd.DataFrame  # id (str), label (float), label_day (ISO str), source file and row: one row per id
    rejected: pd.DataFrame  # QUARANTINE_COLUMNS
    files: list[LabelFile] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)  # one message per file that could not be used
    waiting: list[str] = field(default_factory=list)  # label folders left for a later run (no completion marker yet)
    strays: list[str] = field(default_factory=list)  # label objects outside the dt= folders: never read



def _empty_labels() -> pd.DataFrame:
    return pd.DataFrame({ID: pd.Series(dtype=object), LABEL: pd.Series(dtype="float64"),
                         LABEL_DAY: pd.Series(dtype=object), ingest.SOURCE_FILE: pd.Series(dtype=object),
                         ingest.SOURCE_ROW: pd.Series(dtype="int64")})


def _read_day(store: ObjectStore, model: ModelConfig, layout: DayLayout, problems: list[str],
              waiting: list[str]) -> tuple[list[pd.DataFrame], list[LabelFile]]:
    day = layout.day.isoformat()
    marker = model.labels_marker
    try:
        objects = ingest.list_day_files(store, layout.labels_dir, model.labels_format, marker,
                                        model.storage.settle_seconds)
    except ingest.MissingPartitionError:
        return [], []  # no labels became known that day: normal
    except ingest.PartitionIncompleteError as exc:
        log.warning("labels of %s are left for a later run: %s", day, exc)
        if marker and not store.exists(layout.labels_dir + marker):
            setting = model.labels.completion_marker or "unset: the logs' storage.completion_marker"
            waiting.append(f"{store.url(layout.labels_dir)} has label files but no {marker} marker "
                           f"(labels.completion_marker: {setting}): they are read once it lands; write it, or set "
                           "labels.completion_marker: none")
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
                            f"{listing([c for c in frame.columns if not c.startswith('_')], limit=40)}); none of its rows were used. "
                            "Fix the export or the model's labels.column / labels.id_column.")
            continue
        files.append(LabelFile(obj.key, day, len(frame)))
        if len(frame):
            frames.append(pd.DataFrame({ID: frame[id_column], RAW: frame[label_column], LABEL_DAY: day,
                                        ingest.SOURCE_FILE: obj.key, ingest.SOURCE_ROW: frame[ingest.SOURCE_ROW]}))
    return frames, files


def stray_objects(store: ObjectStore, layout: DayLayout, shown: int = 5) -> list[str]:
    """Label objects of the model outside the `dt=YYYY-MM-DD/` folders (never read), each with the folder expected;
    markers and hidden files are not strays."""
    root = layout.labels_root
    objects, folders = store.list_level(root)
    strays = [o.key for o in objects if not ingest.is_hidden(o.key, root)]
    strays += [f for f in folders if not _LABEL_FOLDER.fullmatch(f[len(root):]) and not ingest.is_hidden(f, root)]
    return [f"{store.url(key)} is outside the label folders and is not read: labels go under "
            f"{store.url(root)}dt=<YYYY-MM-DD, the day they became known>/" for key in strays[:shown]] + (
        [f"... and {len(strays) - shown} more label object(s) outside the dt= folders"] if len(strays) > shown else [])


_LABEL_FOLDER = re.compile(r"dt=\d{4}-\d{2}-\d{2}/")


def _typed(raw: pd.Series, classification: bool) -> pd.Series:
    """The label as a float, NaN where it is not of the model's type (booleans and "true"/"false" count as 1/0, as
    in a decision column)."""
    text = raw.map(lambda v: v.strip() if isinstance(v, str) else v) if raw.dtype == object else raw
    values, _ = (as_zero_one if classification else as_number)(text)
    values = values.where(np.isfinite(values))
    if classification:
        values = values.where(values.isin([0.0, 1.0]))
    return values


def read_window(store: ObjectStore, model: ModelConfig, layout: DayLayout, first: dt.date, last: dt.date) -> LabelWindow:
    """Read and check the labels that became known from `first` to `last` (inclusive)."""
    problems: list[str] = []
    waiting: list[str] = []
    frames: list[pd.DataFrame] = []
    files: list[LabelFile] = []
    day = first
    while day <= last:
        day_frames, day_files = _read_day(store, model, layout.on(day), problems, waiting)
        frames += day_frames
        files += day_files
        day += dt.timedelta(days=1)
    strays = stray_objects(store, layout)
    for problem in [*problems, *strays]:
        log.warning("unusable label file: %s", problem)
    if not frames:
        return LabelWindow(_empty_labels(), pd.DataFrame(columns=QUARANTINE_COLUMNS), files, problems, waiting,
                           strays)
    rows = pd.concat(frames, ignore_index=True)
    rows[ID] = as_id(rows[ID])
    classes = model.columns.classes
    rows[LABEL] = as_label(rows[RAW]) if classes else _typed(rows[RAW], model.is_classification)
    reason = pd.Series(None, index=rows.index, dtype=object)
    detail = pd.Series(None, index=rows.index, dtype=object)

    def reject(mask: pd.Series, code: str, text: pd.Series | str) -> None:
        mask = mask & reason.isna()
        reason[mask] = code
        detail[mask] = text[mask] if isinstance(text, pd.Series) else text

    raw_text = rows[RAW].map(lambda v: None if _empty(v) else str(v))
    reject(rows[ID].isna(), "missing_id", f"{model.label_id_column} is empty")
    reject(raw_text.isna(), "missing_label", f"{model.labels.column} is empty")
    if classes:
        reject(~rows[LABEL].isin(classes), "unknown_class", model.labels.column + " " + clip_all(raw_text.fillna(""))
               + f" is not one of the classes {listing(classes)}")
    expected = "0 or 1" if model.is_classification else "a finite number"
    reject(rows[LABEL].isna(), "wrong_type", model.labels.column + " " + clip_all(raw_text.fillna("")) + f" is not {expected}")
    usable = reason.isna()
    # Oldest label first, so the kept copy of a repeated label is the one that arrived first.
    order = rows[usable].sort_values([LABEL_DAY, ingest.SOURCE_FILE, ingest.SOURCE_ROW], kind="stable")
    distinct_values = order.groupby(ID)[LABEL].transform("nunique")
    conflicting = order.index[distinct_values > 1]
    reject(rows.index.isin(conflicting), "conflicting",
           "id " + clip_all(rows[ID].astype(str)) + " has labels that contradict each other; none of them is joined")
    agreeing = order[distinct_values == 1]
    repeated = agreeing.index[agreeing.duplicated(ID, keep="first")]
    reject(rows.index.isin(repeated), "duplicate", "id " + clip_all(rows[ID].astype(str)) + " was already labelled with the "
                                                   "same value; the first copy is joined")
    kept = rows.loc[reason.isna(), [ID, LABEL, LABEL_DAY, ingest.SOURCE_FILE, ingest.SOURCE_ROW]]
    kept = kept.sort_values(ID, kind="stable").reset_index(drop=True)
    rejected = rows.loc[reason.notna(), [ID, LABEL_DAY, ingest.SOURCE_FILE, ingest.SOURCE_ROW]].copy()
    rejected[RAW] = raw_text[reason.notna()]
    rejected[REASON], rejected[DETAIL] = reason[reason.notna()], detail[reason.notna()]
    return LabelWindow(kept, rejected[QUARANTINE_COLUMNS].reset_index(drop=True), files, problems, waiting, strays)


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def join(predictions: pd.DataFrame, id_column: str, window: LabelWindow) -> pd.DataFrame:
    """The predictions that have a label, with `label` and `label_day` columns (an inner join on the id)."""
    joined = predictions.merge(window.labels[[ID, LABEL, LABEL_DAY]], left_on=id_column, right_on=ID, how="inner",
                               validate="many_to_one")
    return joined.drop(columns=[ID] if id_column != ID else []).sort_values(id_column, kind="stable").reset_index(drop=True)


def digest(joined: pd.DataFrame, id_column: str) -> str:
    """A fingerprint of which predictions are labelled with what: it changes exactly when the labels grew or moved."""
    text = "\n".join(f"{i}\t{v!r}" for i, v in zip(joined[id_column], joined[LABEL]))
    return hashlib.sha256(text.encode()).hexdigest()


def landed_problems(window: LabelWindow, day: str, joined_ids: set[str],
                    searched: tuple[dt.date, dt.date] | None = None) -> tuple[Counter[str], pd.DataFrame]:
    """Problems of the labels that landed on `day`: the rejected rows, plus usable labels of no known prediction
    (`searched`: the first and last prediction day looked at, for the rows' detail).

    Returns the count per reason and the rows to quarantine (each with its reason, file, row and detail)."""
    rejected = window.rejected[window.rejected[LABEL_DAY] == day]
    landed = window.labels[window.labels[LABEL_DAY] == day]
    unknown = landed[~landed[ID].isin(joined_ids)]
    where = f" of {searched[0]}..{searched[1]}" if searched else " of the label window"
    unknown_rows = pd.DataFrame({ID: unknown[ID], RAW: unknown[LABEL].map(_text), LABEL_DAY: day,
                                 ingest.SOURCE_FILE: unknown[ingest.SOURCE_FILE],
                                 ingest.SOURCE_ROW: unknown[ingest.SOURCE_ROW], REASON: "unknown_id",
                                 DETAIL: "no prediction" + where + " has id " + clip_all(unknown[ID].astype(str))},
                                columns=QUARANTINE_COLUMNS)
    counts = Counter(rejected[REASON]) + Counter({"unknown_id": len(unknown)} if len(unknown) else {})
    frames = [f for f in (rejected, unknown_rows) if len(f)]
    quarantine = pd.concat(frames, ignore_index=True) if frames else rejected.iloc[0:0]
    return counts, quarantine
