"""Step 1 and 2: find the day's log files, then apply the data contract batch by batch and stage the valid rows and
the quarantine.

Memory holds one batch (and 8 bytes per id of the day, to find duplicates), whatever the day's size.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring import contract, ingest
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.storage import PARQUET, ObjectStore, StoredObject

log = logging.getLogger(__name__)


def day_files(store: ObjectStore, model: ModelConfig, layout: DayLayout, now: dt.datetime) -> list[StoredObject]:
    """The day's log files (none for a day that is complete but empty); raises MissingPartitionError naming the S3
    prefix when the partition is missing, PartitionIncompleteError while it is being written."""
    return ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                 model.storage.completion_marker, model.storage.settle_seconds, now)


def find_day_files(store: ObjectStore, model: ModelConfig, day: Any, *, now: dt.datetime) -> list[str]:
    """The keys of the day's log files (what `check_partition` waits for)."""
    layout = DayLayout.of(model, day)
    files = day_files(store, model, layout, now)
    log.info("found %d log file(s) under %s", len(files), store.url(layout.predictions_dir))
    return [f.key for f in files]


class QuarantineSpool:
    """A day's quarantined rows, spooled batch by batch to local parquet files (memory holds one batch however bad
    the day), then written as one file with the union of the batches' columns: text, the row number an integer."""

    def __init__(self) -> None:
        self.parts: list = []
        self.columns: dict[str, None] = {}  # an ordered set: columns in the order they were first seen

    @staticmethod
    def _schema(columns) -> pa.Schema:
        return pa.schema([(c, pa.int64() if c == ingest.SOURCE_ROW else pa.string()) for c in columns])

    def add(self, frame: pd.DataFrame) -> None:
        local = tempfile.TemporaryFile()
        self.parts.append(local)
        pq.write_table(pa.Table.from_pandas(frame, schema=self._schema(frame.columns), preserve_index=False), local)
        self.columns.update(dict.fromkeys(frame.columns))

    def write(self, target) -> None:
        schema = self._schema(self.columns)
        with pq.ParquetWriter(target, schema) as writer:
            for local in self.parts:
                local.seek(0)
                part = pq.read_table(local)
                writer.write_table(pa.table([part[c] if c in part.column_names else pa.nulls(len(part), f.type)
                                             for c, f in zip(schema.names, schema)], schema=schema))

    def close(self) -> None:
        for local in self.parts:
            local.close()


def validate_day(store: ObjectStore, model: ModelConfig, day: Any, *, now: dt.datetime) -> dict[str, Any]:
    """Read the day batch by batch, apply the data contract, stage valid rows and quarantine; fail past the rejected
    share."""
    layout = DayLayout.of(model, day)
    log_format = model.storage.log_format
    files = day_files(store, model, layout, now)
    tally, seen, quarantined, reads = contract.ContractTally(), contract.SeenIds(), QuarantineSpool(), []
    schema = contract.valid_schema(model)
    # Dictionary pages for the text columns only: a numerical column rarely repeats enough for one, and trying it
    # first was half of writing the staged rows.
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    with tempfile.TemporaryFile() as staged, contextlib.closing(quarantined):
        with pq.ParquetWriter(staged, schema, use_dictionary=text) as writer:
            for obj in files:
                rows, columns = 0, ()
                for batch in ingest.read_batches(store, obj.key, log_format):
                    columns = tuple(c for c in batch.columns if c not in (ingest.SOURCE_FILE, ingest.SOURCE_ROW))
                    contract.check_columns([ingest.FileRead(obj.key, len(batch), obj.size, columns)], model, store.url)
                    result = contract.validate(batch, model, layout.day, seen)
                    tally.add(result)
                    writer.write_table(pa.Table.from_pandas(result.valid, schema=schema, preserve_index=False))
                    if result.rows_quarantined:
                        quarantined.add(result.quarantine)
                    rows += len(batch)
                log.info("read %s rows from %s (%s bytes)", rows, store.url(obj.key), obj.size)
                reads.append(ingest.FileRead(obj.key, rows, obj.size, columns))
        if not tally.rows_read:
            log.warning("the day's partition is complete but holds no rows: it is published as a day of volume 0")
        store.upload(layout.staged_valid_rows, staged, PARQUET)
        if quarantined.parts:
            with tempfile.TemporaryFile() as local:
                quarantined.write(local)
                store.upload(layout.staged_quarantine, local, PARQUET)
            log.warning("quarantined %d of %d rows: %s", tally.rows_quarantined, tally.rows_read,
                        ", ".join(f"{k}={v}" for k, v in sorted(tally.reasons.items())))
        else:
            store.delete(layout.staged_quarantine)
    stats = {**tally.stats(), "files": [{"key": r.key, "rows": r.rows} for r in reads]}
    store.put_json(layout.staged_contract, stats)
    contract.enforce_rejected_share(tally, model, store.url(layout.staged_quarantine))
    log.info("%d valid rows of %d read from %d file(s)", tally.rows_valid, tally.rows_read, len(reads))
    return {k: stats[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "reasons")}
