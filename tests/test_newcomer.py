"""A newcomer's first model, as a data engineer meets it: the shared California housing data (a classifier no one
here wrote) monitored from the documentation alone, against the local S3 server. A config entry written by `init`
from the reference file, edited, checked against the reference in the bucket, three days run from the command line
with `--dry-run` and without, labels held back by their completion marker and read once it lands; and each thing a
newcomer met on the way (a CSV reference, retraining left out, errors that say what to set, stray label files, a
trial run holding the real retraining)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

from monitoring.cli import main
from monitoring.config import ConfigError, load_config, parse_config
from tests.conftest import BUCKET, ROOT

DATASETS = ROOT.parent / "shared" / "datasets"
DAYS = [dt.date(2026, 11, 2) + dt.timedelta(days=n) for n in range(3)]
ROWS = 600

pytestmark = pytest.mark.skipif(not DATASETS.is_dir(), reason="the shared datasets are beside the checkout")


@pytest.fixture
def bucket(s3_server):
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=o["Key"])
    client.delete_bucket(Bucket=BUCKET)


def put(client, key: str, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    if key.endswith(".csv"):
        buffer.write(frame.to_csv(index=False).encode())
    else:
        frame.to_parquet(buffer, index=False)
    client.put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())


def keys(client, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
                  for o in page.get("Contents", []))


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def day_logs() -> dict[dt.date, pd.DataFrame]:
    """Three days of the housing classifier's predictions (its analysis rows, given times on each day)."""
    analysis = pd.read_csv(DATASETS / "california_housing_analysis.csv")
    logs = {}
    for n, day in enumerate(DAYS):
        rows = analysis.iloc[n * ROWS:(n + 1) * ROWS].copy()
        rows["timestamp"] = [pd.Timestamp(day) + pd.Timedelta(seconds=i * 100) for i in range(len(rows))]
        logs[day] = rows
    return logs


def test_a_newcomer_goes_from_a_reference_file_to_monitored_days_from_the_command_line(bucket, s3_server, capsys,
                                                                                      tmp_path):
    reference = DATASETS / "california_housing_reference.csv"
    # init: an entry guessed from the reference file, every guess said.
    code, entry, _ = cli(["init", "--model", "housing", "--reference", str(reference), "--bucket", BUCKET], capsys)
    assert code == 0
    guessed = yaml.safe_load(entry)["models"]["housing"]
    assert guessed["task"] == "binary_classification"
    assert {k: guessed["columns"][k] for k in ("id", "timestamp", "score", "decision")} == {
        "id": "id", "timestamp": "timestamp", "score": "y_pred_proba", "decision": "y_pred"}
    assert guessed["columns"]["numerical"] == ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population",
                                               "AveOccup", "Latitude", "Longitude"]
    assert guessed["labels"]["column"] == "clf_target" and "retraining" not in guessed
    assert "# guessed: named like a score or prediction" in entry and "lag_days: 7  # TODO" in entry

    # Edit: the lag, a marker for the label folders only; the reference uploaded as it is, a CSV.
    guessed["labels"].update({"lag_days": 1, "completion_marker": "_SUCCESS"})
    guessed["performance"] = {"min_labelled_rows": 50}
    config = tmp_path / "models.yaml"
    config.write_text(yaml.safe_dump({"models": {"housing": guessed}}))
    bucket.put_object(Bucket=BUCKET, Key="reference/housing/v=v1/reference.csv", Body=reference.read_bytes())
    bucket.put_object(Bucket=BUCKET, Key="reference/housing/CURRENT.json", Body=b'{"version": "v1"}')
    base = ["--config", str(config), "--endpoint-url", s3_server]

    code, out, _ = cli(["check-config", "--against-reference", *base], capsys)
    assert code == 0 and "FAIL" not in out, out
    assert "housing: binary_classification, s3://ml-monitoring, retraining DAG none (requests are only recorded)" in out
    assert "ok   range of y_pred_proba: 0 to 1, allowed [0, 1]" in out
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text(config.read_text().replace("score: y_pred_proba", "score: y_pred_prob"))
    code, out, _ = cli(["check-config", "--against-reference", "--config", str(misspelt), "--endpoint-url",
                        s3_server], capsys)
    assert code == 3 and "FAIL score y_pred_prob: missing from the reference" in out

    logs = day_logs()
    for day, frame in logs.items():
        put(bucket, f"predictions/housing/dt={day}/part-0.parquet", frame)
    # A dry run writes nothing outside the staging area.
    code, out, _ = cli(["run", "--model", "housing", "--day", str(DAYS[0]), "--dry-run", *base], capsys)
    assert code == 0 and "nothing was written outside staging/" in json.loads(out)["dry_run"]
    assert [k for k in keys(bucket) if not k.startswith(("staging/", "predictions/", "reference/housing/v=",
                                                          "reference/housing/CURRENT"))] == []
    code, _, _ = cli(["run", "--model", "housing", "--day", str(DAYS[0]), *base], capsys)
    assert code == 0 and "reports/housing/dt=2026-11-02/summary.json" in keys(bucket, "reports/")

    # Day 1's labels land on day 2 without their marker: left for later, and said so; a label file outside the dt=
    # folders is never read, and said so.
    truth = pd.read_csv(DATASETS / "california_housing_analysis_gt.csv")
    labels = truth[truth["id"].isin(logs[DAYS[0]]["id"])]
    put(bucket, f"labels/housing/dt={DAYS[1]}/part-0.parquet", labels)
    put(bucket, "labels/housing/labels-2026-11-02.parquet", labels)
    code, _, _ = cli(["run", "--model", "housing", "--day", str(DAYS[1]), *base], capsys)
    report = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/housing/dt={DAYS[1]}/labels.json")["Body"]
                        .read())
    assert code == 0 and report["rows"] == 0 and len(report["waiting"]) == 1
    assert "has label files but no _SUCCESS marker (labels.completion_marker: _SUCCESS)" in report["waiting"][0]
    assert any("labels-2026-11-02.parquet is outside the label folders and is not read: labels go under "
               "s3://ml-monitoring/labels/housing/dt=<YYYY-MM-DD" in p for p in report["file_problems"])
    first = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/housing/dt={DAYS[0]}/summary.json")["Body"]
                       .read())
    assert first["performance"]["labelled"] == 0
    decisions = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/housing/dt={DAYS[1]}/decisions.json")[
        "Body"].read())
    missing = next(f for f in decisions["findings"] if f["rule"] == "labels_missing")
    assert "1 label folder(s) wait for their completion marker _SUCCESS" in missing["message"]
    assert missing["action"].startswith("Write the label folders' completion marker")

    # The marker lands: day 3's run reads the labels, and day 1's performance is judged against the reference's.
    bucket.put_object(Bucket=BUCKET, Key=f"labels/housing/dt={DAYS[1]}/_SUCCESS", Body=b"")
    code, out, _ = cli(["run", "--model", "housing", "--day", str(DAYS[2]), *base], capsys)
    first = json.loads(bucket.get_object(Bucket=BUCKET, Key=f"reports/housing/dt={DAYS[0]}/summary.json")["Body"]
                       .read())
    assert code == 0 and first["performance"]["labelled"] == len(labels) == ROWS
    assert first["performance"]["metrics"]["roc_auc"] > 0.8
    assert keys(bucket, "retraining/") == []  # a run from the shell never claims retraining


def test_a_retraining_request_from_the_shell_is_said_plainly_and_takes_no_claim(s3_client, store, loan_model,
                                                                              trained):
    from monitoring import steps
    from monitoring.steps import decide
    from tests.helpers import now, seed_days

    drifted = {dt.date(2026, 10, n): 14 for n in (4, 5)}
    seed_days(s3_client, trained, drifted, rows=1_000)
    model = loan_model.model_copy(update={"retraining": loan_model.retraining.model_copy(update={
        "min_labelled_rows": 0})})
    for day in drifted:
        decision = steps.run_day(store, model, day, now=now(), claim_retraining=False)
    assert decision.retrain is None and decision.retrain_held.startswith(decide.SHELL_DOES_NOT_TRIGGER)
    assert "dataset drift" in decision.retrain_held
    assert "Contents" not in s3_client.list_objects_v2(Bucket=BUCKET, Prefix="retraining/")


def test_a_model_retrained_elsewhere_needs_no_retraining_block_and_its_request_is_recorded(s3_client, store,
                                                                                           loan_model, trained):
    from monitoring import steps
    from monitoring.steps import decide
    from tests.helpers import now, seed_days

    settings = loan_model.model_dump(mode="json", exclude={"retraining"})
    settings["retraining"] = {"min_labelled_rows": 0}
    model = parse_config({"models": {"loan_approval": {k: v for k, v in settings.items() if k != "name"}}}).model(
        "loan_approval")
    assert model.retraining.dag_id is None and not model.retraining.ships_dag
    day = dt.date(2026, 10, 5)
    seed_days(s3_client, trained, {day: 14}, rows=1_000)
    decision = steps.run_day(store, model, day, now=now())
    assert decision.retrain is not None and decision.retrain.dag_id is None
    url = decide.record_request_only(store, model, day)
    assert url == f"s3://{BUCKET}/retraining/loan_approval/requests/dt=2026-10-05.json"
    assert store.get_json("retraining/loan_approval/requests/dt=2026-10-05.json")["request"]["day"] == "2026-10-05"


def test_a_model_without_a_retraining_dag_gets_a_recording_task_in_its_dag(tmp_path):
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"]["loan_rate"].pop("retraining")
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(document))
    from tests.helpers import env_vars, project_dags

    with env_vars({"MONITORING_CONFIG": str(path)}):
        dags = project_dags()
    task = dags["monitor_loan_rate"].get_task("trigger_retraining")
    assert type(task).__name__ != "TriggerDagRunOperator" and "retrain_loan_rate" not in dags
    assert type(dags["monitor_loan_approval"].get_task("trigger_retraining")).__name__ == "TriggerDagRunOperator"


def test_every_missing_key_is_reported_at_once_with_what_to_set():
    with pytest.raises(ConfigError) as error:
        parse_config({"models": {"m": {"columns": {"id": "i"}, "labels": {"column": "y"}}}})
    message = str(error.value)
    assert "key 'storage': missing: a block; set storage.bucket (" in message
    assert "key 'columns.timestamp': missing: set it: " in message and "key 'columns.score': required for a binary_classification model" in message
    assert "key 'labels.lag_days': missing: set it: days after a prediction day" in message
    assert "retraining" not in message


def test_a_reference_in_csv_or_json_lines_is_read_like_the_logs(s3_client, store, loan_model, trained):
    from monitoring import reference_store
    from monitoring.layout import ModelLayout

    _, frame = trained
    layout = ModelLayout.of(loan_model)
    s3_client.put_object(Bucket=BUCKET, Key="reference/loan_approval/v=v1/part-0.csv",
                         Body=frame.iloc[:5_000].to_csv(index=False).encode())
    s3_client.put_object(Bucket=BUCKET, Key="reference/loan_approval/v=v1/part-1.jsonl",
                         Body=frame.iloc[5_000:].to_json(orient="records", lines=True).encode())
    s3_client.put_object(Bucket=BUCKET, Key="reference/loan_approval/CURRENT.json", Body=b'{"version": "v1"}')
    typed = reference_store.read_frame(store, loan_model, layout, "v1")
    assert len(typed) == len(frame) and typed["annual_income"].dtype == "float64"
    assert typed["annual_income"].round(2).tolist() == frame["annual_income"].round(2).tolist()


def test_the_committed_json_schema_is_the_generated_one_and_validates_the_shipped_config():
    import jsonschema

    from monitoring.config_reference import SCHEMA_COMMAND, schema

    committed = json.loads((ROOT / "docs" / "config.schema.json").read_text())
    assert committed == schema(), f"regenerate it: {SCHEMA_COMMAND}"
    jsonschema.validate(yaml.safe_load((ROOT / "config" / "models.yaml").read_text()), committed)
    with pytest.raises(jsonschema.ValidationError, match="'treshold' was unexpected"):
        jsonschema.validate({"models": {"m": {"drift": {"treshold": 0.2}}}}, committed)
    assert "(required: in the model's entry or in `defaults`)" in committed["$defs"]["StorageConfig"]["properties"][
        "bucket"]["description"]
    load_config()  # the shipped config still loads
