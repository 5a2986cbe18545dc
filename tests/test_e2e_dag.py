"""The real DAGs, run with `dag.test()` against moto's S3 server on loopback (a real HTTP endpoint)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import boto3
import pytest

from tests import data
from tests.conftest import BUCKET, ROOT
from tests.helpers import seed_days, write_day

pytestmark = pytest.mark.e2e

CLEAN, DRIFTED = dt.date(2026, 10, 5), dt.date(2026, 10, 14)
SECRET = "wJalrXUtnFEMI-K7MDENG-never-log-me"  # the connection's password: it must not leak anywhere


@pytest.fixture(scope="module")
def airflow_db():
    """A fresh SQLite metadata database in this test run's own AIRFLOW_HOME."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def s3(s3_server, trained):
    os.environ["AIRFLOW_CONN_MONITORING_S3"] = json.dumps({
        "conn_type": "aws", "login": "testing", "password": SECRET,
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}})
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    seed_days(client, trained, {CLEAN: 5, DRIFTED: 14}, rows=2000, bad_rows=3)
    yield client
    os.environ.pop("AIRFLOW_CONN_MONITORING_S3", None)


@pytest.fixture(scope="module")
def without_labels(tmp_path_factory):
    """The shipped config without loan_approval's label feed: a drifted day asks for retraining at once (with labels
    it waits for the drifted days' labels, see test_e2e_loop), and the retraining DAG only records the request."""
    import yaml

    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"]["loan_approval"].pop("labels")
    path = tmp_path_factory.mktemp("config") / "models.yaml"
    path.write_text(yaml.safe_dump(document))
    saved = os.environ["MONITORING_CONFIG"]
    os.environ["MONITORING_CONFIG"] = str(path)
    yield path
    os.environ["MONITORING_CONFIG"] = saved


@pytest.fixture(scope="module")
def dags(airflow_db, without_labels):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


def run_monitoring(dags, day: dt.date):
    """A manual run processes the last full day before its logical date: run at day+1 00:00 to process `day`."""
    import pendulum

    run = dags["monitor_loan_approval"].test(logical_date=pendulum.datetime(day.year, day.month, day.day,
                                                                            tz="UTC").add(days=1))
    assert run.data_interval_start.date() == day
    return run, {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def read(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def report_keys(client, day: dt.date) -> dict[str, str]:
    prefix = f"reports/loan_approval/dt={day.isoformat()}/"
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"].removeprefix(prefix): client.head_object(Bucket=BUCKET, Key=o["Key"])["ContentType"]
            for o in listing}


def test_a_clean_day_runs_through_airflow_and_takes_the_healthy_branch(dags, s3):
    run, states = run_monitoring(dags, CLEAN)
    assert str(run.state) == "success"
    assert states["healthy"] == "success"
    assert states["alert"] == "skipped" and states["trigger_retraining"] == "skipped"
    keys = report_keys(s3, CLEAN)
    for name in ("data_drift", "prediction_drift", "data_quality"):
        assert keys[f"{name}.html"].startswith("text/html")
        assert keys[f"{name}.json"] == "application/json"
    assert keys["summary.json"] == "application/json"
    assert keys["index.html"].startswith("text/html")
    assert keys["quarantine.parquet"] == "application/vnd.apache.parquet"
    assert "alerts.json" not in keys
    summary = json.loads(read(s3, "reports/loan_approval/dt=2026-10-05/summary.json"))
    assert summary["data_drift"]["drifted_features"] == [] and summary["data_drift"]["dataset_drift"] is False
    assert summary["rows"]["read"] == 2000 and summary["rows"]["quarantined"] == 3


def test_a_drifted_day_alerts_flags_the_injected_features_and_triggers_retraining(dags, s3):
    run, states = run_monitoring(dags, DRIFTED)
    assert str(run.state) == "success"
    assert states["alert"] == "success" and states["trigger_retraining"] == "success"
    assert states["healthy"] == "skipped"
    summary = json.loads(read(s3, "reports/loan_approval/dt=2026-10-14/summary.json"))
    assert summary["data_drift"]["drifted_features"] == sorted(data.DRIFTED)
    assert summary["prediction_drift"]["drifted"] is True
    alerts = json.loads(read(s3, "reports/loan_approval/dt=2026-10-14/alerts.json"))
    assert {f["rule"] for f in alerts["findings"]} >= {"dataset_drift", "prediction_drift", "new_categories"}

    from airflow.models.dagrun import DagRun

    # (other test modules share this run's metadata database: only this day's run counts)
    retrain_runs = [r for r in DagRun.find(dag_id="retrain_loan_approval") if r.run_id.endswith("__2026-10-14")]
    assert [r.run_id for r in retrain_runs] == ["monitoring__loan_approval__2026-10-14"]
    conf = retrain_runs[0].conf
    assert conf["model"] == "loan_approval" and conf["day"] == "2026-10-14"
    assert conf["reasons"][0].startswith("dataset drift")
    assert conf["evidence"]["data_drift"].endswith("reports/loan_approval/dt=2026-10-14/data_drift.html")

    # The retraining DAG receives that conf and records the request with its evidence.
    retrain = dags["retrain_loan_approval"].test(run_conf=conf)
    assert str(retrain.state) == "success"
    recorded = json.loads(read(s3, "retraining/loan_approval/requests/dt=2026-10-14.json"))
    assert recorded["request"] == conf


def test_a_rerun_of_a_day_overwrites_the_same_keys_with_an_identical_summary(dags, s3):
    run_monitoring(dags, DRIFTED)
    prefix = "reports/loan_approval/dt=2026-10-14/"
    before = {name: read(s3, prefix + name) for name in report_keys(s3, DRIFTED)}
    _, states = run_monitoring(dags, DRIFTED)
    after = {name: read(s3, prefix + name) for name in report_keys(s3, DRIFTED)}
    assert before.keys() == after.keys()
    assert after["summary.json"] == before["summary.json"]
    assert after["alerts.json"] == before["alerts.json"]
    for name in ("data_drift.json", "prediction_drift.json", "data_quality.json"):
        assert json.loads(after[name]) == json.loads(before[name])
    # The day's retraining request already exists: the rerun does not start a second one.
    assert states["trigger_retraining"] == "skipped"
    from airflow.models.dagrun import DagRun

    assert len(DagRun.find(dag_id="retrain_loan_approval", run_id="monitoring__loan_approval__2026-10-14")) == 1


def test_a_day_without_logs_fails_naming_the_missing_prefix(dags, s3, caplog):
    day = dt.date(2026, 10, 20)
    from monitoring import steps
    from tests.helpers import now
    from monitoring.config import load_config
    from monitoring.ingest import MissingPartitionError
    from monitoring.storage import ObjectStore

    model = load_config().model("loan_approval")
    with pytest.raises(MissingPartitionError,
                       match=r"no prediction logs under s3://ml-monitoring/predictions/loan_approval/dt=2026-10-20/"):
        steps.find_day_files(ObjectStore(s3, BUCKET), model, day, now=now())


def test_no_credential_reaches_logs_xcom_or_published_objects(dags, s3):
    from pathlib import Path

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run_monitoring(dags, CLEAN)
    for path in Path(os.environ["AIRFLOW_HOME"]).rglob("*"):
        if path.is_file() and path.suffix != ".db":
            assert SECRET not in path.read_text(errors="ignore"), path
    with create_session() as session:
        values = [json.dumps(x.value, default=str) for x in session.query(XComModel).all()]
    assert values and not any(SECRET in v for v in values)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            if not obj["Key"].startswith(("predictions/", "reference/", "models/")):
                assert SECRET.encode() not in read(s3, obj["Key"]), obj["Key"]


def test_a_manual_run_from_the_trigger_form_processes_the_chosen_day(dags, s3):
    import pendulum

    from airflow.dag_processing.dagbag import DagBag

    # dag.test() folds run_conf into the DAG object's params: use a DAG of this test's own.
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["monitor_loan_approval"]
    s3.delete_object(Bucket=BUCKET, Key="reports/loan_approval/dt=2026-10-05/summary.json")
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 20, tz="UTC"), run_conf={"day": CLEAN.isoformat()})
    assert str(run.state) == "success"
    summary = json.loads(read(s3, "reports/loan_approval/dt=2026-10-05/summary.json"))
    assert summary["day"] == "2026-10-05"


def test_the_plugin_links_every_task_of_a_run_to_its_pages(dags, s3, monkeypatch):
    import requests
    from airflow import plugins_manager
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstancekey import TaskInstanceKey

    info = {plugin["name"]: plugin for plugin in plugins_manager.get_plugin_info()}
    assert plugins_manager.get_import_errors() == {}
    ours = info["monitoring_report_links"]
    assert not ours.get("fastapi_apps") and not ours.get("flask_blueprints")  # no endpoint of its own
    links = {link.name: link for link in plugins_manager.get_global_operator_extra_links()}
    run, _ = run_monitoring(dags, CLEAN)
    key = TaskInstanceKey(dag_id="monitor_loan_approval", task_id="publish", run_id=run.run_id, try_number=1)

    monkeypatch.setenv("MONITORING_REPORTS_BASE_URL", "https://reports.example.com")
    assert links["Day report page"].get_link(None, ti_key=key) == (
        "https://reports.example.com/reports/loan_approval/dt%3D2026-10-05/index.html")
    assert links["Model history page"].get_link(None, ti_key=key) == (
        "https://reports.example.com/reports/loan_approval/index.html")

    monkeypatch.delenv("MONITORING_REPORTS_BASE_URL")
    monkeypatch.setenv("MONITORING_PRESIGN_SECONDS", "600")
    import time
    from urllib.parse import parse_qs, urlparse

    signed = links["Day report page"].get_link(None, ti_key=key)
    query = parse_qs(urlparse(signed).query)
    if "X-Amz-Expires" in query:  # SigV4
        assert query["X-Amz-Expires"] == ["600"]
    else:  # SigV2: an absolute expiry time
        assert abs(int(query["Expires"][0]) - (time.time() + 600)) < 60
    page = requests.get(signed, timeout=10)
    assert page.status_code == 200 and "loan_approval" in page.text

    other = TaskInstanceKey(dag_id="retrain_loan_approval", task_id="record_request", run_id=run.run_id, try_number=1)
    assert links["Day report page"].get_link(None, ti_key=other) == ""


def test_a_day_breaking_the_contract_fails_at_once_without_retrying(dags, s3, trained):
    from tests.helpers import day_log, put_frame

    day = dt.date(2026, 10, 21)
    frame = day_log(trained, day, rows=500)
    frame.loc[:99, "approval_probability"] = 1.5
    put_frame(s3, "predictions/loan_approval/dt=2026-10-21/part-0.parquet", frame)
    run, states = run_monitoring(dags, day)
    assert str(run.state) == "failed"
    assert states["check_partition"] == "success" and states["validate"] == "failed"
    assert states["publish"] == "upstream_failed" and states["decide"] == "upstream_failed"
    assert states["performance"] == "success"  # the labels that landed are joined all the same
    validate = next(ti for ti in run.get_task_instances() if ti.task_id == "validate")
    assert validate.try_number == 1  # bad data does not fix itself: no retry
    quarantine = s3.head_object(Bucket=BUCKET, Key="staging/loan_approval/dt=2026-10-21/quarantine.parquet")
    assert quarantine["ContentLength"] > 0


def test_check_partition_waits_for_the_day_s_logs_then_lets_the_run_go(dags, s3, trained):
    """The sensor answers "not yet" while the day has no logs (the run waits, rescheduled, no slot held), and
    "done" with the file count once they land."""
    from airflow.sdk.execution_time.context import set_current_context

    sensor = dags["monitor_loan_approval"].get_task("check_partition")
    assert sensor.mode == "reschedule" and sensor.timeout == 360 * 60 and sensor.poke_interval == 300
    day = dt.date(2026, 9, 9)  # a day no other test of this module logs
    context = {"params": {"day": day.isoformat()}}
    with set_current_context(context):
        assert sensor.poke(context).is_done is False
        write_day(s3, trained, day, rows=300, parts=2)
        found = sensor.poke(context)
    assert found.is_done is True and found.xcom_value == 2
