import pandas as pd
import pytest

from monitoring.config import LogFormat
from monitoring.ingest import IngestError, MissingPartitionError, list_day_files, read_batches
from tests.helpers import day_log, put, put_frame

PREFIX = "predictions/loan_approval/dt=2026-10-14/"


@pytest.mark.parametrize("log_format,suffix", [(LogFormat.PARQUET, "parquet"), (LogFormat.JSONL, "jsonl"),
                                               (LogFormat.CSV, "csv")])
def test_every_row_of_every_file_is_read_with_its_source(store, s3_client, trained, log_format, suffix):
    frame = day_log(trained, rows=300)
    put_frame(s3_client, f"{PREFIX}part-0.{suffix}", frame.iloc[:100])
    put_frame(s3_client, f"{PREFIX}part-1.{suffix}", frame.iloc[100:])
    files = list_day_files(store, PREFIX, log_format)
    batches = [list(read_batches(store, f.key, log_format, batch_rows=64)) for f in files]
    day = pd.concat([batch for file in batches for batch in file], ignore_index=True)
    assert len(day) == 300 and [sum(map(len, file)) for file in batches] == [100, 200]
    assert [len(batch) for batch in batches[1]] == [64, 64, 64, 8]
    assert day["_source_file"].iloc[150] == f"{PREFIX}part-1.{suffix}"
    assert day["_source_row"].iloc[150] == 50
    assert "credit_score" in batches[0][0].columns


def test_a_missing_partition_names_the_s3_prefix(store):
    with pytest.raises(MissingPartitionError, match=r"no prediction logs under s3://ml-monitoring/predictions/loan_approval/dt=2026-10-14/"):
        list_day_files(store, PREFIX, LogFormat.PARQUET)


def test_a_partition_with_only_a_success_marker_counts_as_missing(store, s3_client):
    put(s3_client, PREFIX + "_SUCCESS", b"")
    with pytest.raises(MissingPartitionError):
        list_day_files(store, PREFIX, LogFormat.PARQUET)


def test_markers_beside_the_logs_are_not_read(store, s3_client, trained):
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, rows=10))
    put(s3_client, PREFIX + "_SUCCESS", b"")
    assert [f.key for f in list_day_files(store, PREFIX, LogFormat.PARQUET)] == [PREFIX + "part-0.parquet"]


def test_a_file_in_another_format_is_an_error_not_silently_skipped(store, s3_client, trained):
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, rows=10))
    put_frame(s3_client, PREFIX + "part-1.csv", day_log(trained, rows=10))
    with pytest.raises(IngestError, match=r"not parquet logs, e.g. s3://ml-monitoring/.*part-1.csv"):
        list_day_files(store, PREFIX, LogFormat.PARQUET)


def test_a_corrupt_parquet_file_is_named_in_the_error(store, s3_client):
    put(s3_client, PREFIX + "part-0.parquet", b"PAR1 this is not parquet")
    files = list_day_files(store, PREFIX, LogFormat.PARQUET)
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/.*part-0.parquet as parquet"):
        list(read_batches(store, files[0].key, LogFormat.PARQUET))


def test_a_broken_json_line_is_named_in_the_error(store, s3_client):
    put(s3_client, PREFIX + "part-0.jsonl", '{"prediction_id": "a"}\n{"prediction_id": \n')
    files = list_day_files(store, PREFIX, LogFormat.JSONL)
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/.*part-0.jsonl as jsonl"):
        list(read_batches(store, files[0].key, LogFormat.JSONL))
