"""Bad input, each with its exact outcome: a clear error naming the file, row or column and the fix, or rows
quarantined with a reason. Never a bare stack trace, never a row silently dropped."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pytest

from monitoring import steps
from monitoring.config import ConfigError, LogFormat, parse_config
from monitoring.contract import ContractError
from monitoring.ingest import IngestError, MissingPartitionError
from monitoring.layout import DayLayout, LayoutError
from monitoring.reference_store import MissingReferenceError
from tests.conftest import BUCKET
from tests.helpers import day_log, get_json, now, parquet_bytes, put, put_frame, read, seed_days

DAY = dt.date(2026, 10, 5)
PREFIX = "predictions/loan_approval/dt=2026-10-05/"


@pytest.fixture
def reference(s3_client, trained):
    seed_days(s3_client, trained, {})
    return s3_client


def contract_of(store, model) -> dict:
    return store.get_json(DayLayout.of(model, DAY).staged_contract)


def quarantine_of(s3_client) -> pd.DataFrame:
    key = "staging/loan_approval/dt=2026-10-05/quarantine.parquet"
    return pd.read_parquet(io.BytesIO(s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()))


def with_csv_model(model):
    return model.model_copy(update={"storage": model.storage.model_copy(update={"log_format": LogFormat.CSV})})


def with_jsonl_model(model):
    return model.model_copy(update={"storage": model.storage.model_copy(update={"log_format": LogFormat.JSONL})})


# --- files ----------------------------------------------------------------------------------------------------------
def test_truncated_parquet_names_the_file(reference, store, loan_model, trained):
    data = parquet_bytes(day_log(trained, DAY, rows=200))
    put(reference, PREFIX + "part-0.parquet", data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/predictions/.*/part-0.parquet as parquet.*"
                                          r"Re-export the file"):
        steps.validate_day(store, loan_model, DAY, now=now())


def test_a_zero_byte_parquet_object_names_the_file(reference, store, loan_model):
    put(reference, PREFIX + "part-0.parquet", b"")
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/.*part-0.parquet as parquet"):
        steps.validate_day(store, loan_model, DAY, now=now())


def test_an_empty_parquet_file_beside_others_adds_no_rows(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=300)
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    put_frame(reference, PREFIX + "part-1.parquet", frame.iloc[:0])
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_read"] == stats["rows_valid"] == 300


def test_an_empty_day_names_the_missing_prefix(reference, store, loan_model):
    with pytest.raises(MissingPartitionError, match=r"s3://ml-monitoring/predictions/loan_approval/dt=2026-10-05/"):
        steps.find_day_files(store, loan_model, DAY, now=now())


def test_a_zero_byte_csv_adds_no_rows(reference, store, loan_model, trained):
    model = with_csv_model(loan_model)
    put_frame(reference, PREFIX + "part-0.csv", day_log(trained, DAY, rows=100))
    put(reference, PREFIX + "part-1.csv", b"")
    assert steps.validate_day(store, model, DAY, now=now())["rows_read"] == 100


def test_non_utf8_csv_names_the_file(reference, store, loan_model, trained):
    model = with_csv_model(loan_model)
    text = day_log(trained, DAY, rows=20).to_csv(index=False).replace("CA", "Caf\u00e9")
    put(reference, PREFIX + "part-0.csv", text.encode("latin-1"))
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/.*part-0.csv as csv: line \d+ is not UTF-8 text \(byte 0xe9\)"):
        steps.validate_day(store, model, DAY, now=now())


def test_a_broken_json_line_names_the_file(reference, store, loan_model, trained):
    model = with_jsonl_model(loan_model)
    lines = day_log(trained, DAY, rows=10).to_json(orient="records", lines=True, date_format="iso").splitlines()
    lines[4] = lines[4][:30]
    put(reference, PREFIX + "part-0.jsonl", "\n".join(lines))
    with pytest.raises(IngestError, match=r"cannot read s3://ml-monitoring/.*part-0.jsonl as jsonl"):
        steps.validate_day(store, model, DAY, now=now())


def test_mixed_file_formats_in_one_day_are_refused(reference, store, loan_model, trained):
    put_frame(reference, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10))
    put_frame(reference, PREFIX + "part-1.jsonl", day_log(trained, DAY, rows=10))
    with pytest.raises(IngestError, match=r"1 file\(s\) under .* are not parquet logs, e.g. .*part-1.jsonl"):
        steps.validate_day(store, loan_model, DAY, now=now())


def test_files_differing_in_column_types_are_read_together(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=200)
    put_frame(reference, PREFIX + "part-0.parquet", frame.iloc[:100])
    put_frame(reference, PREFIX + "part-1.parquet", frame.iloc[100:].astype({"credit_score": str}))
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_valid"] == 200
    staged = staged_rows(reference)
    assert staged["credit_score"].dtype == "float64"
    assert staged["credit_score"].tolist() == frame["credit_score"].astype(float).tolist()


@pytest.mark.parametrize("folder", ["_temporary/0/_temporary/attempt_01/", ".spark-staging/", "sub/_tmp/"])
def test_spark_and_hadoop_staging_folders_are_not_read_as_logs(reference, store, loan_model, trained, folder):
    frame = day_log(trained, DAY, rows=200)
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    put_frame(reference, PREFIX + folder + "part-0.parquet", frame)  # an attempt's copy of the committed rows
    fresh = frame.assign(prediction_id=frame["prediction_id"] + "-new")
    put_frame(reference, PREFIX + folder + "part-1.parquet", fresh)  # rows that would count as new traffic
    assert steps.find_day_files(store, loan_model, DAY, now=now()) == [PREFIX + "part-0.parquet"]
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_read"] == stats["rows_valid"] == 200 and stats["reasons"] == {}


def test_label_files_in_staging_folders_are_not_read(reference, store, loan_model, trained):
    frame = labelled_day(reference, store, loan_model, trained, range(50_000, 50_300))
    next_day = DAY + dt.timedelta(days=1)
    labels = pd.DataFrame({"prediction_id": frame["prediction_id"].astype(str).iloc[:100], "repaid": 1})
    land = f"labels/loan_approval/dt={next_day}/"
    put_frame(reference, land + "part-0.parquet", labels)
    put_frame(reference, land + "_temporary/0/part-0.parquet", labels.assign(repaid=0))  # would conflict
    put_frame(reference, land + ".staging/part-1.parquet",
              pd.DataFrame({"prediction_id": frame["prediction_id"].astype(str).iloc[100:200], "repaid": 1}))
    steps.performance_day(store, loan_model, next_day, now=now())
    report = get_json(reference, f"reports/loan_approval/dt={next_day}/labels.json")
    assert report["rows"] == report["joined"] == 100 and report["problems"] == {}
    assert [f["key"] for f in report["files"]] == [land + "part-0.parquet"]


def test_a_reference_version_ignores_its_staging_folders(s3_client, store, loan_model, trained):
    from monitoring import reference_store
    from monitoring.layout import ModelLayout

    seed_days(s3_client, trained, {})
    put(s3_client, "reference/loan_approval/v=v1/_temporary/0/part-0.parquet", b"not parquet at all")
    profile = reference_store.load_or_fit(store, loan_model, ModelLayout.of(loan_model))
    assert profile.rows == len(trained[1])


def with_column_twice(frame: pd.DataFrame, column: str) -> bytes:
    """The frame as parquet with `column` written twice."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table.append_column(column, table[column]), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_file_with_a_repeated_column_name_fails_in_one_line_naming_file_and_column(s3_client, trained, capsys, fmt):
    import re

    seed_days(s3_client, trained, {})
    frame = day_log(trained, DAY, rows=50)
    if fmt == "csv":  # a header repeating a column: the id column's header is renamed to another column's name
        frame = frame[["approval_probability", *[c for c in frame.columns if c != "approval_probability"]]]
        text = frame.to_csv(index=False).split("\n", 1)
        data = (text[0].replace("state", "approval_probability") + "\n" + text[1]).encode()
        config = shipped_with(storage__log_format="csv")
    else:
        data = with_column_twice(frame, "approval_probability")
        config = None
    put(s3_client, PREFIX + f"part-0.{fmt}", data)
    argv = ["run", "--model", "loan_approval", "--day", DAY.isoformat()]
    if config is not None:
        import tempfile

        import yaml

        path = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        yaml.safe_dump(config, path)
        path.close()
        argv += ["--config", path.name]
    found, err = cli(argv, capsys)
    assert found == 3 and "Traceback" not in err
    assert re.match(rf"error \(IngestError, exit 3\): cannot read s3://ml-monitoring/.*part-0.{fmt} as {fmt}: column "
                    r"'approval_probability' appears 2 times", error_lines(err)[0]), err


# --- columns --------------------------------------------------------------------------------------------------------
def test_a_missing_required_column_names_file_and_column(reference, store, loan_model, trained):
    put_frame(reference, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10).drop(columns=["state"]))
    with pytest.raises(ContractError, match=r"part-0.parquet lacks required column\(s\) \['state'\]"):
        steps.validate_day(store, loan_model, DAY, now=now())


def test_an_extra_column_is_reported_in_the_summary(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=300)
    frame["debug_blob"] = "x"
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    steps.run_day(store, loan_model, DAY, now=now())
    summary = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")
    assert "debug_blob" in summary["rows"]["extra_columns"]


def staged_rows(client) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(read(client, "staging/loan_approval/dt=2026-10-05/valid.parquet")))


def test_a_numeric_column_stored_as_text_is_coerced(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=50)
    put_frame(reference, PREFIX + "part-0.parquet", frame.astype({"loan_amount": str}))
    assert steps.validate_day(store, loan_model, DAY, now=now())["rows_valid"] == 50
    staged = staged_rows(reference)
    assert staged["loan_amount"].dtype == "float64"
    assert staged["loan_amount"].tolist() == frame["loan_amount"].astype(float).tolist()


@pytest.mark.parametrize("value,reason", [
    ("abc", "bad_number: annual_income abc is not a number"),
    (np.inf, "infinite_value: annual_income inf is infinite"),
    (-np.inf, "infinite_value: annual_income -inf is infinite"),
])
def test_bad_numbers_are_quarantined_with_their_reason(reference, store, loan_model, trained, value, reason):
    frame = day_log(trained, DAY, rows=100).astype({"annual_income": object})
    frame.loc[7, "annual_income"] = value
    put_frame(reference, PREFIX + "part-0.parquet", frame.astype({"annual_income": str}) if value == "abc" else frame)
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_quarantined"] == 1
    assert quarantine_of(reference)["reason"].tolist() == [reason]


def test_nan_features_are_kept_and_counted_as_missing(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=400)
    frame.loc[:39, "credit_score"] = np.nan
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    steps.run_day(store, loan_model, DAY, now=now())
    summary = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")
    assert summary["rows"]["valid"] == 400
    assert summary["data_quality"]["columns"]["credit_score"]["missing_share"] == 0.1


@pytest.mark.parametrize("change,code", [
    ({"prediction_id": None}, "missing_id"),
    ({"event_time": "yesterday-ish"}, "bad_timestamp"),
    ({"event_time": "2026-10-04T23:59:59Z"}, "timestamp_outside_day"),
    ({"approval_probability": 1.2}, "score_out_of_range"),
    ({"approval_probability": -0.01}, "score_out_of_range"),
    ({"approval_probability": np.nan}, "missing_score"),
    ({"approved": 7}, "bad_decision"),
])
def test_row_violations_are_quarantined_never_dropped(reference, store, loan_model, trained, change, code):
    frame = day_log(trained, DAY, rows=100).astype({k: object for k in change})
    for column, value in change.items():
        frame.loc[3, column] = value
    put_frame(reference, PREFIX + "part-0.parquet", frame.astype({"event_time": str}) if "event_time" in change
              else frame)
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_read"] == 100 and stats["rows_valid"] + stats["rows_quarantined"] == 100
    assert stats["reasons"] == {code: 1}
    quarantined = quarantine_of(reference)
    assert quarantined["_source_row"].tolist() == [3]
    assert quarantined["_source_file"].tolist() == [PREFIX + "part-0.parquet"]


def test_duplicate_ids_keep_the_first_and_quarantine_the_rest(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=100)
    frame.loc[10:12, "prediction_id"] = frame.loc[9, "prediction_id"]
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["reasons"] == {"duplicate_id": 3}
    assert quarantine_of(reference)["_source_row"].tolist() == [10, 11, 12]


def test_unseen_categories_are_kept_and_reported(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=500)
    frame.loc[:49, "home_ownership"] = "HOUSEBOAT"
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    decision = steps.run_day(store, loan_model, DAY, now=now())
    quality = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")["data_quality"]
    assert quality["columns"]["home_ownership"]["new_categories"] == ["HOUSEBOAT"]
    assert quality["columns"]["home_ownership"]["new_category_share"] == 0.1
    assert any(f.rule == "new_categories" and f.columns == ["home_ownership"] for f in decision.findings)


def test_huge_category_values_are_quoted_bounded_in_findings_messages_summary_and_pages(reference, store, loan_model,
                                                                                        trained):
    """Five 100 KB values of a categorical column: every finding, message, summary and page quotes them clipped (a
    Slack or webhook message of 500 KB would be rejected); the quarantine and the logs keep them whole."""
    frame = day_log(trained, DAY, rows=500)
    values = [letter * 100_000 for letter in "vwxyz"]
    frame.loc[:99, "home_ownership"] = [values[i % 5] for i in range(100)]
    frame["approval_probability"] = frame["approval_probability"].astype(str)
    frame.loc[100, "approval_probability"] = "n" * 100_000  # quarantined: its reason quotes the value clipped
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    decision = steps.run_day(store, loan_model, DAY, now=now())
    finding = next(f for f in decision.findings if f.rule == "new_categories")
    assert len(finding.message) < 1_000 and "(100,000 characters, #" in finding.message
    published = "reports/loan_approval/dt=2026-10-05/"
    for name in ("summary.json", "decisions.json", "alerts.json", "index.html"):
        text = read(reference, published + name).decode()
        assert "v" * 1_000 not in text and "n" * 1_000 not in text, name
        assert len(text) < 300_000, (name, len(text))
    columns = get_json(reference, published + "summary.json")["data_quality"]["columns"]["home_ownership"]
    assert len(columns["new_categories"]) == 5 and len(set(columns["new_categories"])) == 5
    assert all(len(v) < 150 for v in columns["new_categories"] + columns["distribution"]["bins"])
    quarantined = quarantine_of(reference)
    assert quarantined["approval_probability"].tolist() == ["n" * 100_000]  # the row itself is kept whole
    assert len(quarantined["reason"].iloc[0]) < 200


def test_a_categorical_column_with_a_distinct_value_per_row_is_not_sent_to_drift(reference, store, loan_model,
                                                                                 trained):
    frame = day_log(trained, DAY, rows=3000)
    frame["state"] = [f"S{i:07d}" for i in range(len(frame))]
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    decision = steps.run_day(store, loan_model, DAY, now=now())
    summary = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")
    drift = summary["data_drift"]["features"]["state"]
    assert drift["skipped"] == "3000 distinct values, above the limit of 1000 for a categorical column"
    assert drift["drifted"] is False and drift["score"] is None
    assert summary["data_quality"]["columns"]["state"]["distinct"] == 3000
    assert any(f.rule == "new_categories" and "state" in f.columns for f in decision.findings)


def test_a_categorical_column_with_a_million_distinct_values_is_counted_exactly_and_kept_out_of_drift(
        reference, store, loan_model, trained):
    """A million-row day whose `state` is an id in disguise: the run completes, the quality section counts every
    distinct value, drift skips the column, and the Evidently pages stay a few MB (no million-bar histogram)."""
    model = loan_model.model_copy(update={"reports": loan_model.reports.model_copy(update={"max_rows": 20_000})})
    frame = day_log(trained, DAY, rows=1_000_000)
    frame["state"] = [f"S{i:07d}" for i in range(len(frame))]
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    del frame
    decision = steps.run_day(store, model, DAY, now=now())
    summary = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")
    assert summary["rows"]["read"] == summary["rows"]["valid"] == 1_000_000
    assert summary["data_quality"]["columns"]["state"]["distinct"] == 1_000_000
    assert summary["data_quality"]["columns"]["state"]["new_category_share"] == 1.0
    drift = summary["data_drift"]["features"]["state"]
    assert drift["skipped"].endswith("distinct values, above the limit of 1000 for a categorical column")
    assert drift["drifted"] is False and drift["score"] is None
    assert any(f.rule == "new_categories" and "state" in f.columns for f in decision.findings)
    for report in ("data_drift", "data_quality"):
        html = reference.get_object(Bucket=BUCKET, Key=f"reports/loan_approval/dt=2026-10-05/{report}.html")["Body"]
        assert len(html.read()) < 8_000_000, report


def test_non_ascii_and_quoted_values_survive_as_text(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=300)
    frame.loc[:4, "state"] = 'Zürich "Nord" ☃'
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    steps.run_day(store, loan_model, DAY, now=now())
    summary = get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")
    assert summary["data_quality"]["columns"]["state"]["new_categories"] == ['Zürich "Nord" ☃']


def test_hostile_category_values_are_escaped_in_the_evidently_report(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=300)
    frame.loc[:9, "state"] = "<script>alert(1)</script>"
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    steps.run_day(store, loan_model, DAY, now=now())
    for name in ("data_drift", "data_quality", "index"):
        html = reference.get_object(Bucket=BUCKET, Key=f"reports/loan_approval/dt=2026-10-05/{name}.html")
        assert "<script>alert(1)</script>" not in html["Body"].read().decode(), name


# --- reference ------------------------------------------------------------------------------------------------------
def test_a_reference_pointer_that_is_not_json_says_what_it_must_be(s3_client, store, loan_model, trained):
    put(s3_client, "reference/loan_approval/CURRENT.json", b"v1")
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10))
    steps.validate_day(store, loan_model, DAY, now=now())
    with pytest.raises(MissingReferenceError, match=r'must be a JSON object like \{"version": "2026-01-01"\}'):
        steps.report_day(store, loan_model, DAY)


@pytest.mark.parametrize("body", ['{"version": null}', '{"version": ""}', '{"version": "  "}', '{"version": true}',
                                  '{"version": ["v1"]}', "[]"])
def test_a_reference_pointer_without_a_usable_version_is_a_missing_reference(s3_client, store, loan_model, body):
    from monitoring import reference_store as references
    from monitoring.layout import ModelLayout

    put(s3_client, "reference/loan_approval/CURRENT.json", body)
    with pytest.raises(MissingReferenceError, match=r'must be a JSON object like \{"version": "2026-01-01"\}'):
        references.current_version(store, ModelLayout.of(loan_model))


def test_decisions_written_as_true_and_false_are_read_as_labels_are(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=100)
    words = frame["approved"].map({1: "true", 0: "false"}).astype(object)
    words.iloc[:3] = [" TRUE ", "False", "yes"]
    put_frame(reference, PREFIX + "part-0.parquet", frame.assign(approved=words))
    stats = steps.validate_day(store, loan_model, DAY, now=now())
    assert stats["rows_valid"] == 99 and stats["reasons"] == {"bad_decision": 1}
    assert quarantine_of(reference)["reason"].tolist() == ["bad_decision: approved yes is not 0 or 1 (or true/false)"]
    valid = staged_rows(reference)
    assert valid["approved"].tolist()[:2] == [1, 0]
    assert valid["approved"].tolist()[2:] == frame["approved"].iloc[3:].tolist()


def test_a_reference_version_without_files_is_named(s3_client, store, loan_model, trained):
    put(s3_client, "reference/loan_approval/CURRENT.json", json.dumps({"version": "v9"}))
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10))
    steps.validate_day(store, loan_model, DAY, now=now())
    with pytest.raises(MissingReferenceError,
                       match=r"reference version 'v9' .* has no files under s3://ml-monitoring/reference/loan_approval/v=v9/"):
        steps.report_day(store, loan_model, DAY)


def test_an_empty_reference_is_refused(s3_client, store, loan_model, trained):
    _, ref = trained
    put(s3_client, "reference/loan_approval/CURRENT.json", json.dumps({"version": "v1"}))
    put_frame(s3_client, "reference/loan_approval/v=v1/reference.parquet", ref.iloc[:0])
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10))
    steps.validate_day(store, loan_model, DAY, now=now())
    with pytest.raises(ContractError, match=r"the reference .* has no rows"):
        steps.report_day(store, loan_model, DAY)


def test_a_reference_version_that_would_escape_its_prefix_is_refused(s3_client, store, loan_model, trained):
    put(s3_client, "reference/loan_approval/CURRENT.json", json.dumps({"version": "../../predictions"}))
    put_frame(s3_client, PREFIX + "part-0.parquet", day_log(trained, DAY, rows=10))
    steps.validate_day(store, loan_model, DAY, now=now())
    with pytest.raises(LayoutError, match="not safe for an S3 key"):
        steps.report_day(store, loan_model, DAY)


# --- config and names -----------------------------------------------------------------------------------------------
def test_a_config_with_a_path_in_the_model_name_is_refused():
    with pytest.raises(ConfigError, match=r"model '../etc'.*must be 1-63 lowercase letters"):
        parse_config({"models": {"../etc": {"storage": {"bucket": "b-b"}, "columns": {
            "id": "i", "timestamp": "t", "score": "s", "numerical": ["x"]}, "retraining": {"dag_id": "r"}}}})


def test_a_day_with_a_path_never_becomes_a_key(loan_model):
    with pytest.raises(LayoutError):
        DayLayout.of(loan_model, "2026-10-05/../../secrets")


# --- the model that breaks loudest: one class, no traffic ------------------------------------------------------------
@pytest.mark.parametrize("decision", [0, 1])
def test_a_day_on_which_every_decision_is_one_class_is_published_with_a_critical_collapse(reference, store, loan_model,
                                                                                          trained, decision):
    frame = day_log(trained, DAY, rows=1000)
    frame["approved"] = decision
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    result = steps.run_day(store, loan_model, DAY, now=now())
    published = "reports/loan_approval/dt=2026-10-05/"
    summary = get_json(reference, published + "summary.json")
    assert summary["operations"]["positive_rate"] == float(decision)
    assert summary["reports"]["data_drift_html"] == "data_drift.html"
    assert reference.head_object(Bucket=BUCKET, Key=published + "prediction_drift.html")["ContentLength"] > 0
    collapse = next(f for f in result.findings if f.rule == "prediction_collapse")
    assert collapse.severity.value == "critical" and collapse.columns == ["approved"]
    assert f"all 1000 predictions had approved = {decision} (the reference: " in collapse.message
    assert "alert" in result.branches


def test_a_day_of_two_rows_is_published_without_a_collapse_verdict(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=2)
    frame["approved"] = 0
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    result = steps.run_day(store, loan_model, DAY, now=now())
    assert get_json(reference, "reports/loan_approval/dt=2026-10-05/summary.json")["rows"]["valid"] == 2
    assert "prediction_collapse" not in {f.rule for f in result.findings}  # two rows of one class: no evidence


def test_a_day_whose_every_score_is_the_same_is_a_collapse(reference, store, loan_model, trained):
    frame = day_log(trained, DAY, rows=300)
    frame["approval_probability"] = 0.42  # the logged decisions still vary: the score alone is stuck
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    result = steps.run_day(store, loan_model, DAY, now=now())
    collapse = next(f for f in result.findings if f.rule == "prediction_collapse")
    assert collapse.columns == ["approval_probability"] and collapse.severity.value == "critical"
    assert "all 300 predictions have the same approval_probability 0.42" in collapse.message


@pytest.mark.parametrize("marker", [True, False], ids=["only-its-completion-marker", "files-of-no-rows"])
def test_a_complete_but_empty_day_publishes_volume_zero_with_a_critical_volume_finding_and_joins_labels(
        reference, store, loan_model, trained, marker):
    model = loan_model.model_copy(update={"storage": loan_model.storage.model_copy(
        update={"completion_marker": "_SUCCESS" if marker else None})})
    before = DAY - dt.timedelta(days=1)
    earlier = day_log(trained, before, rows=300)
    put_frame(reference, f"predictions/loan_approval/dt={before}/part-0.parquet", earlier)
    put(reference, f"predictions/loan_approval/dt={before}/_SUCCESS", b"")
    steps.run_day(store, model, before, now=now())
    if marker:
        put(reference, PREFIX + "_SUCCESS", b"")
    else:
        put_frame(reference, PREFIX + "part-0.parquet", earlier.iloc[:0])
    labels = pd.DataFrame({"prediction_id": earlier["prediction_id"].iloc[:200], "repaid": 1})
    put_frame(reference, f"labels/loan_approval/dt={DAY}/part-0.parquet", labels)
    put(reference, f"labels/loan_approval/dt={DAY}/_SUCCESS", b"")  # the label feed's export is complete too

    result = steps.run_day(store, model, DAY, now=now())
    published = "reports/loan_approval/dt=2026-10-05/"
    summary = get_json(reference, published + "summary.json")
    assert summary["rows"]["read"] == summary["operations"]["volume"] == 0
    assert summary["reports"] == {}
    assert summary["data_drift"]["features"]["credit_score"]["skipped"] == "no valid rows on this day"
    volume = next(f for f in result.findings if f.rule == "volume")
    assert volume.severity.value == "critical" and "volume collapse" in volume.message
    assert get_json(reference, f"reports/loan_approval/dt={before}/performance.json")["labelled"] == 200
    assert "No Evidently report" in read(reference, published + "index.html").decode()


def test_a_day_whose_logs_never_land_fails_but_still_joins_the_labels_that_landed(reference, store, loan_model,
                                                                                  trained):
    before = DAY - dt.timedelta(days=1)
    earlier = day_log(trained, before, rows=300)
    put_frame(reference, f"predictions/loan_approval/dt={before}/part-0.parquet", earlier)
    steps.run_day(store, loan_model, before, now=now())
    put_frame(reference, f"labels/loan_approval/dt={DAY}/part-0.parquet",
              pd.DataFrame({"prediction_id": earlier["prediction_id"].iloc[:120], "repaid": 0}))
    with pytest.raises(MissingPartitionError):
        steps.run_day(store, loan_model, DAY, now=now())
    assert get_json(reference, f"reports/loan_approval/dt={before}/performance.json")["labelled"] == 120
    assert get_json(reference, "reports/loan_approval/dt=2026-10-05/labels.json")["joined"] == 120


# --- the command line: one line per expected error ------------------------------------------------------------------
def cli(argv, capsys) -> tuple[int, str]:
    from monitoring.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error")]


@pytest.mark.parametrize("case,code,message", [
    ("contract", 3, r"error \(ContractError, exit 3\): 100 of 100 rows .* break the data contract"),
    ("unreadable", 3, r"error \(IngestError, exit 3\): cannot read s3://ml-monitoring/.*part-0.parquet as parquet"),
    ("no_reference", 4, r"error \(MissingReferenceError, exit 4\): no reference for model 'loan_approval'"),
    ("no_logs", 5, r"error \(MissingPartitionError, exit 5\): no prediction logs under s3://ml-monitoring/"),
    ("unknown_model", 2, r"error \(invalid configuration, exit 2\): no model named 'loan_aproval'"),
])
def test_the_cli_ends_an_expected_error_with_one_line_and_its_exit_code(s3_client, trained, capsys, case, code,
                                                                        message):
    import re

    if case != "no_reference":
        seed_days(s3_client, trained, {})
    frame = day_log(trained, DAY, rows=100)
    if case == "contract":
        frame["approval_probability"] = 2.0
    if case == "unreadable":
        put(s3_client, PREFIX + "part-0.parquet", parquet_bytes(frame)[:100])
    elif case != "no_logs":
        put_frame(s3_client, PREFIX + "part-0.parquet", frame)
    model = "loan_aproval" if case == "unknown_model" else "loan_approval"
    found, err = cli(["run", "--model", model, "--day", DAY.isoformat()], capsys)
    assert found == code
    assert "Traceback" not in err
    assert len(error_lines(err)) == 1 and re.match(message, error_lines(err)[0]), err


def test_the_cli_shows_the_traceback_of_an_expected_error_with_debug(s3_client, capsys):
    found, err = cli(["run", "--model", "loan_approval", "--day", DAY.isoformat(), "--debug"], capsys)
    assert found == 5 and "Traceback (most recent call last)" in err and len(error_lines(err)) == 1


def test_the_cli_refuses_a_malformed_day_in_one_line(capsys):
    from monitoring.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--model", "loan_approval", "--day", "2026-13-01"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("argument --day: day '2026-13-01' is not a date in the form YYYY-MM-DD")


# --- config errors at their full key path, all at once --------------------------------------------------------------
def shipped_with(**changes) -> dict:
    import copy

    import yaml

    from tests.conftest import ROOT

    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    model = copy.deepcopy(document)["models"]["loan_approval"]
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = model
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    document["models"]["loan_approval"] = model
    return document


def test_a_misspelt_drift_method_is_reported_at_its_key():
    with pytest.raises(ConfigError, match=r"key 'drift.numerical_method': 'wasserstien' is not one of"):
        parse_config(shipped_with(drift__numerical_method="wasserstien"))


def test_every_config_error_of_a_block_is_reported_at_once_with_its_full_key():
    document = shipped_with(drift__columns={"credit_score": {"method": "wasserstien", "threshold": 0.2}},
                            drift__dataset_drift_share=3)
    with pytest.raises(ConfigError) as error:
        parse_config(document)
    message = str(error.value)
    assert "key 'drift.dataset_drift_share': Input should be less than or equal to 1" in message
    assert "key 'drift.columns.credit_score.method': 'wasserstien' does not fit a numerical column" in message
    assert "(top level)" not in message


# --- labels that keep their origin --------------------------------------------------------------------------------
def labelled_day(reference, store, loan_model, trained, ids) -> pd.DataFrame:
    """A processed day whose prediction ids are integers (as some serving stacks log them)."""
    frame = day_log(trained, DAY, rows=300)
    frame["prediction_id"] = ids
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    steps.run_day(store, loan_model, DAY, now=now())
    return frame


def test_label_ids_that_differ_from_the_predictions_only_in_format_still_label_them(reference, store, loan_model,
                                                                                    trained):
    labelled_day(reference, store, loan_model, trained, range(50_000, 50_300))
    next_day = DAY + dt.timedelta(days=1)
    put_frame(reference, f"labels/loan_approval/dt={next_day}/part-0.parquet",
              pd.DataFrame({"prediction_id": [" 50000", "50005.0", "50010 ", "99999"], "repaid": [1, 0, 1, 1]}))
    steps.performance_day(store, loan_model, next_day, now=now())
    assert get_json(reference, "reports/loan_approval/dt=2026-10-05/performance.json")["labelled"] == 3
    report = get_json(reference, f"reports/loan_approval/dt={next_day}/labels.json")
    assert report["joined"] == 3 and report["problems"] == {"unknown_id": 1}


def test_an_unknown_label_id_is_quarantined_with_its_file_row_and_detail(reference, store, loan_model, trained):
    labelled_day(reference, store, loan_model, trained, range(50_000, 50_300))
    next_day = DAY + dt.timedelta(days=1)
    key = f"labels/loan_approval/dt={next_day}/part-0.parquet"
    put_frame(reference, key, pd.DataFrame({"prediction_id": ["50001", "ghost", "50002"], "repaid": [1, 1, None]}))
    steps.performance_day(store, loan_model, next_day, now=now())
    quarantine = pd.read_parquet(io.BytesIO(read(reference, f"reports/loan_approval/dt={next_day}/"
                                                            "labels_quarantine.parquet")))
    rows = quarantine.set_index("reason")
    assert rows.loc["unknown_id", ["_source_file", "_source_row"]].tolist() == [key, 1]
    assert rows.loc["unknown_id", "detail"] == "no prediction of 2026-09-26..2026-10-06 has id ghost"
    assert rows.loc["missing_label", ["_source_row", "detail"]].tolist() == [2, "repaid is empty"]


# --- times written as numbers -------------------------------------------------------------------------------------
def test_epoch_second_timestamps_are_refused_with_a_hint_and_read_with_their_unit(reference, store, loan_model,
                                                                                   trained):
    frame = day_log(trained, DAY, rows=100)
    frame["event_time"] = frame["event_time"].astype("int64") // 10**9
    put_frame(reference, PREFIX + "part-0.parquet", frame)
    with pytest.raises(ContractError, match=r"timestamp_outside_day: 100; e.g. .*look like epoch seconds: "
                                            r"set columns.timestamp_unit: s"):
        steps.validate_day(store, loan_model, DAY, now=now())
    epoch = loan_model.model_copy(update={"columns": loan_model.columns.model_copy(update={"timestamp_unit": "s"})})
    assert steps.validate_day(store, epoch, DAY, now=now())["rows_valid"] == 100
