"""Listing and reading one day of prediction logs (parquet, JSON lines, CSV) from the object store.

Every failure names the file. Rows are never dropped here: each row keeps the file and line it came from, so the
contract can quarantine it with a reason a person can trace back.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from monitoring.config import LogFormat
from monitoring.storage import ObjectStore, StoredObject

log = logging.getLogger(__name__)

BATCH_ROWS = 100_000  # rows of a day handled at once: memory is bounded by a batch, not by the day
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"


class IngestError(RuntimeError):
    """A day's logs cannot be read; the message names the S3 location and what to do."""


class MissingPartitionError(IngestError):
    """The day's partition has no log files."""


class PartitionIncompleteError(IngestError):
    """The day's partition is still being written; retrying later is the fix."""


@dataclass(frozen=True)
class FileRead:
    key: str
    rows: int
    bytes: int
    columns: tuple[str, ...]


def is_hidden(key: str, prefix: str) -> bool:
    """A marker or hidden file, or any object inside a folder below `prefix` whose name starts with `_` or `.`: Spark's
    and Hadoop's staging folders (`_temporary/`, `.spark-staging/`) hold attempts' copies of rows, never the day's."""
    return any(part.startswith(("_", ".")) for part in key[len(prefix):].split("/"))


def list_day_files(store: ObjectStore, prefix: str, log_format: LogFormat, completion_marker: str | None = None,
                   settle_seconds: int = 0, now: dt.datetime | None = None) -> list[StoredObject]:
    """The day's log files, sorted by key. Fails when there are none, when a file is in another format, or when the
    partition is still being written (its completion marker is missing, or its newest file is too recent). A
    partition that holds only its completion marker is complete and empty: no files (a day of no traffic)."""
    listing = store.list(prefix)
    objects = [o for o in listing if not is_hidden(o.key, prefix)]
    if not objects and completion_marker and any(o.key == prefix + completion_marker for o in listing):
        return []
    if not objects:
        raise MissingPartitionError(
            f"no prediction logs under {store.url(prefix)}: the day's partition is missing or empty. "
            f"Check that the model's logs for that day were exported (expected *{', *'.join(log_format.suffixes)})."
        )
    wrong = [o.key for o in objects if not o.key.lower().endswith(log_format.suffixes)]
    if wrong:
        raise IngestError(
            f"{len(wrong)} file(s) under {store.url(prefix)} are not {log_format.value} logs, e.g. "
            f"{store.url(wrong[0])}; the model's config says log_format: {log_format.value}. "
            "Move them out of the partition or fix storage.log_format."
        )
    if completion_marker and not any(o.key == prefix + completion_marker for o in listing):
        raise PartitionIncompleteError(
            f"{store.url(prefix)} has no {completion_marker} marker yet: the export of the day is still running or "
            f"failed. The task retries; the day is processed once the exporter writes {completion_marker}."
        )
    if not settle_seconds:
        return objects
    if now is None:
        raise ValueError("storage.settle_seconds needs the time of the check (now)")
    age = now.timestamp() - max(o.last_modified for o in objects)
    if age < settle_seconds:
        raise PartitionIncompleteError(
            f"the newest file under {store.url(prefix)} is {age:.0f}s old, younger than storage.settle_seconds "
            f"({settle_seconds}s): files may still be arriving. The task retries."
        )
    return objects


def _read_table(data: bytes, log_format: LogFormat) -> pa.Table:
    if log_format is LogFormat.PARQUET:
        source = pq.ParquetFile(io.BytesIO(data))
        _distinct_columns(source.schema_arrow.names)  # else pyarrow's own error says only "Multiple matches"
        return source.read()
    if not data.strip():
        return pa.table({})
    try:  # pyarrow would read non-UTF-8 text as binary values without a word
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ValueError(f"line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); export the file as UTF-8") from None
    if log_format is LogFormat.JSONL:
        return pa_json.read_json(io.BytesIO(data))
    # Every CSV column is read as text: the contract coerces, so "abc" in a numeric column is quarantined,
    # not turned into a whole-file type error.
    return pa_csv.read_csv(io.BytesIO(data), convert_options=pa_csv.ConvertOptions(auto_dict_encode=False,
                                                                                     strings_can_be_null=True))


def count_rows(store: ObjectStore, key: str, log_format: LogFormat) -> int:
    """Rows in one log file: a parquet file's footer says; other formats are read."""
    if log_format is LogFormat.PARQUET:
        try:
            with store.download(key) as local:
                return pq.ParquetFile(local).metadata.num_rows
        except (pa.ArrowException, OSError, ValueError):
            pass  # unreadable: read_file names the file and the problem
    return len(read_file(store, key, log_format))


def _unreadable(store: ObjectStore, key: str, log_format: LogFormat, exc: Exception) -> IngestError:
    return IngestError(f"cannot read {store.url(key)} as {log_format.value}: {exc}. "
                       "Re-export the file or remove it from the partition.")


def _distinct_columns(names: list[str]) -> None:
    """A file whose columns repeat a name cannot be read unambiguously (which of the two is the score?)."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"column {repeated[0]!r} appears {names.count(repeated[0])} times"
                         + (f" (and {repeated[1:]} too)" if len(repeated) > 1 else "")
                         + "; each column of a file must have its own name")


def _with_source(table: pa.Table, key: str, first_row: int) -> pd.DataFrame:
    _distinct_columns(table.column_names)
    frame = table.to_pandas()
    frame[SOURCE_FILE] = key
    frame[SOURCE_ROW] = np.arange(first_row, first_row + len(frame))
    return frame


def read_file(store: ObjectStore, key: str, log_format: LogFormat) -> pd.DataFrame:
    """A small file whole (labels, a reference part), each row with its source file and row number."""
    data = store.get_bytes(key)
    try:
        table = _read_table(data, log_format)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(store, key, log_format, exc) from None
    return _with_source(table, key, 0)


def batches(local, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A local parquet file's rows in record batches. Without `pre_buffer=False` pyarrow keeps every row group it has
    read until the end (memory grows with the day); with it, one batch at a time."""
    return pq.ParquetFile(local, pre_buffer=False).iter_batches(batch_size=batch_rows)


def read_batches(store: ObjectStore, key: str, log_format: LogFormat,
                 batch_rows: int | None = None) -> Iterator[pd.DataFrame]:
    """A log file's rows in frames of at most `batch_rows`, each row with its source file and row number. Parquet is
    read row group by row group from a local copy, so memory holds one batch whatever the file's size; a CSV or JSON
    lines file is parsed whole (one file, not the day), then handed on in batches."""
    first_row, batch_rows = 0, batch_rows or BATCH_ROWS
    with store.download(key) as local:
        try:
            if log_format is LogFormat.PARQUET:
                tables = (pa.Table.from_batches([b]) for b in batches(local, batch_rows))
            else:
                whole = _read_table(local.read(), log_format)
                tables = (whole.slice(start, batch_rows) for start in range(0, whole.num_rows, batch_rows))
            for table in tables:
                frame = _with_source(table, key, first_row)
                first_row += len(frame)
                yield frame
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _unreadable(store, key, log_format, exc) from None


def read_columns(store: ObjectStore, key: str, columns: list[str], optional: list[str] = ()) -> pd.DataFrame:
    """Some columns of a parquet object (staged valid rows): only those are read from a local copy. `optional`:
    columns read when the object has them, else missing in every row (rows staged before they were configured)."""
    with store.download(key) as local:
        present = set(pq.read_schema(local).names)
        frame = pq.read_table(local, columns=[*columns, *(c for c in optional if c in present)]).to_pandas()
    return frame.assign(**{c: np.nan for c in optional if c not in present})

