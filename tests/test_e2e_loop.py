"""The retraining loop closes through the real DAGs, on the demo's story, against the local S3 server.

Each day is served, then monitored, the way it happens in production: the serving stack logs the day with the model
version in use (`demo.seed.serve_day`), then the day's monitoring run (`dag.test`) processes it. From demo day 12
the approval model's inputs drift. Labels land 1-5 days late (the demo's label files).

- day 12 pages once (one message grouping its alerts); the drift goes on and no day after it pages again;
- retraining waits for the labels of the drifted days and is requested once, by the first run that has them, with a
  window starting on the drift's first day;
- the retraining DAG (run from that request's conf) promotes a new version and its reference;
- the next day, served by the new version, is monitored against the new baseline and is healthy; the verdict on the
  old version's drifted predictions, due meanwhile, informs without paging;
- after two healthy days a "resolved" message goes out.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import boto3
import pytest
import yaml

from tests.conftest import BUCKET, ROOT
from tests.helpers import env_vars, get_json, post_receiver, project_dags

pytestmark = pytest.mark.e2e

TODAY = dt.datetime.now(dt.timezone.utc).date()
DRIFT_DAY = 12
NUMBERS = range(DRIFT_DAY, DRIFT_DAY + 7)  # demo days 12-18, the last one yesterday
DAYS = {n: TODAY - dt.timedelta(days=DRIFT_DAY + 7 - n) for n in NUMBERS}
MODEL = "loan_approval"
HOOK = "/hooks/loop"


@pytest.fixture(scope="module")
def world(s3_server, trained, tmp_path_factory):
    """The shipped loan_approval config with a webhook channel, its v1 model and reference, and every label file of
    days 12-18 (labels do not depend on the model that served: the same ids whatever the version)."""
    from demo.seed import DayLog, label_frames, model_day_log, seed_labels, seed_reference

    server, posts = post_receiver()
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    settings = document["models"][MODEL]
    settings["alerts"] = {"max_age_days": 10, "channels": [
        {"type": "webhook", "conn_id": "loop_webhook", "endpoint": HOOK}]}
    config = tmp_path_factory.mktemp("config") / "models.yaml"
    document["models"] = {MODEL: settings}
    config.write_text(yaml.safe_dump(document))
    env = {
        "AIRFLOW_CONN_MONITORING_S3": json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                                                  "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}),
        "AIRFLOW_CONN_LOOP_WEBHOOK": json.dumps({"conn_type": "http", "host": "127.0.0.1", "schema": "http",
                                                 "port": server.server_address[1]}),
        "MONITORING_CONFIG": str(config),
    }
    with env_vars(env):
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        model, reference = trained
        seed_reference(client, BUCKET, model, reference)
        v1_logs = [DayLog(DAYS[n], n, model_day_log(MODEL, model, DAYS[n], n)) for n in NUMBERS]
        for label_day, frame in label_frames(MODEL, v1_logs, until=DAYS[NUMBERS[-1]]).items():
            seed_labels(client, BUCKET, MODEL, label_day, frame)
        yield client, posts
    server.shutdown()


@pytest.fixture(scope="module")
def dags(world):
    return project_dags()


def serve_and_monitor(dags, client, number: int) -> tuple[str, dict[str, str], dict]:
    """Serve demo day `number` with the version in use, run its monitoring; (version, task states, decisions)."""
    import pendulum

    from demo.seed import serve_day

    day = DAYS[number]
    version = serve_day(client, BUCKET, MODEL, day, number)
    run = dags[f"monitor_{MODEL}"].test(
        logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC").add(days=1))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    return version, states, get_json(client, f"reports/{MODEL}/dt={day}/decisions.json")


def messages(posts) -> list[dict]:
    return [json.loads(body) for path, body in posts if path == HOOK]


def test_drift_pages_once_retraining_waits_for_labels_promotes_and_the_next_days_are_healthy(dags, world):
    from airflow.models.dagrun import DagRun

    client, posts = world

    def retraining_runs():  # the metadata database is shared with other test modules: only the runs made here
        return [r for r in DagRun.find(dag_id=f"retrain_{MODEL}") if r.run_id not in earlier]

    earlier = {r.run_id for r in DagRun.find(dag_id=f"retrain_{MODEL}")}
    version, states, decisions = serve_and_monitor(dags, client, 12)
    assert version == "v1" and states["alert"] == "success" and states["trigger_retraining"] == "skipped"
    assert len(messages(posts)) == 1 and messages(posts)[0]["severity"] == "critical"
    assert {n["rule"] for n in messages(posts)[0]["notices"]} >= {"dataset_drift", "prediction_drift"}
    assert decisions["retraining_held"].startswith(f"waiting for labels: the predictions from {DAYS[12]} to "
                                                   f"{DAYS[12]} have 0 labels so far")

    number = 13
    while True:  # the drift goes on; the labels of the drifted days trickle in
        version, states, decisions = serve_and_monitor(dags, client, number)
        assert version == "v1" and states["alert"] == "success"
        if states["trigger_retraining"] == "success":
            break
        assert decisions["retraining_held"].startswith("waiting for labels"), decisions
        number += 1
        assert number <= 16, "retraining was never requested"
    assert len(messages(posts)) == 1  # no day of the ongoing drift paged again
    request = decisions["retraining"]
    assert request["window"] == {"first": DAYS[12].isoformat(), "last": DAYS[number].isoformat()}
    runs = retraining_runs()
    assert [r.run_id for r in runs] == [f"monitoring__{MODEL}__{DAYS[number]}"]  # requested once
    assert runs[0].conf == request

    # The retraining DAG, from the request's conf (the scheduler would run the queued run the same way).
    retraining = dags[f"retrain_{MODEL}"].test(run_conf=runs[0].conf)
    states = {ti.task_id: str(ti.state) for ti in retraining.get_task_instances()}
    assert str(retraining.state) == "success" and states["promote"] == "success", states
    new = f"r{DAYS[number]:%Y%m%d}"
    outcome = get_json(client, f"retraining/{MODEL}/results/dt={DAYS[number]}.json")
    assert outcome["promoted"] and outcome["candidate_version"] == new and outcome["rows"]["holdout"] >= 1000
    assert outcome["days"][0] == DAYS[12].isoformat()  # learnt from the drifted days only
    assert get_json(client, f"reference/{MODEL}/CURRENT.json") == {"version": new}

    # The next day is served by the new version and monitored against its reference: healthy.
    version, states, decisions = serve_and_monitor(dags, client, number + 1)
    summary = get_json(client, f"reports/{MODEL}/dt={DAYS[number + 1]}/summary.json")
    assert version == new and summary["reference_version"] == new
    assert states["healthy"] == "success" and decisions["branches"] == ["healthy"], decisions["why"]
    assert summary["data_drift"]["drifted_features"] == [] and not summary["prediction_drift"]["drifted"]
    due = summary["labels"]["due"]  # the first drifted day's predictions, made by v1, are due now
    assert due["day"] == DAYS[number + 1 - 5].isoformat() and due["reference_version"] == "v1"
    assert due["current_version"] == new and due["degraded"]  # v1 did worse on them than on its reference...
    judged = next(f for f in decisions["findings"] if f["rule"] == "performance_degradation")
    assert judged["severity"] == "info" and f"Version {new} has replaced it since" in judged["message"]
    assert len(messages(posts)) == 1  # ...which informs, and one healthy day is not yet a recovery

    version, states, decisions = serve_and_monitor(dags, client, number + 2)
    assert states["healthy"] == "success" and states["trigger_retraining"] == "skipped"
    assert len(messages(posts)) == 2
    resolved = messages(posts)[-1]
    assert resolved["severity"] == "resolved" and resolved["day"] == DAYS[number + 2].isoformat()
    assert {n["rule"] for n in resolved["notices"]} >= {"dataset_drift", "prediction_drift"}
    assert [r.run_id for r in retraining_runs() if r.run_id.startswith("monitoring__")] == [runs[0].run_id]
