"""Airflow 3's own features, through a real Airflow: `airflow standalone` (LocalExecutor, PostgreSQL) on the
project's DAGs and a local S3 server, alerts posted to a local webhook receiver.

1. **Assets**: a monitoring run that publishes a day emits an event on the model's reports asset, its `extra` the
   day's verdict (read back through `GET /api/v2/assets/events`); the example DAG scheduled on the reports assets
   runs on it and writes `status.json`.
2. **Deadlines**: with `storage.deadline_minutes`, a run whose day's logs are still missing once the deadline passed
   sends one "logs late" notice and keeps waiting; the logs land and it succeeds. A backfill's run past its
   deadline, and a run whose logs were there, send nothing.
3. **Approval before promotion** (`retraining.approval: required`): the retraining run stops at the human-in-the-loop
   step showing both models' figures; rejected through the REST API it keeps the current version and records who and
   why; a second request approved through the REST API promotes, and the model's asset gets an event.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import boto3
import pytest
import yaml

from tests.conftest import BUCKET, ROOT
from tests.helpers import get_json, post_receiver, seed_reference, write_day
from tests.standalone import Standalone, stopped_after
from tests.test_retraining import demo_day, window
from tests.test_retraining import seed_days as seed_retraining_days

pytestmark = pytest.mark.e2e

MODEL = "loan_approval"
DAG_ID, RETRAIN_ID, FEED_ID = f"monitor_{MODEL}", f"retrain_{MODEL}", "monitoring_status_feed"
TODAY = dt.datetime.now(dt.timezone.utc).date()
# PUBLISHED is yesterday: its run, made before the DAG is unpaused, is the one the scheduler would make on unpausing
# (catchup is off: the latest interval), so no other scheduled run appears.
PUBLISHED, LATE, BACKFILLED = (TODAY - dt.timedelta(days=n) for n in (1, 3, 6))
HOOK = "/hooks/airflow3"
ROWS = 600


def say(message: str) -> None:
    print(f"[e2e-airflow3] {message}", flush=True)


@pytest.fixture(scope="module")
def world(s3_server, trained, loan_model):
    """The bucket: loan_approval's v1 and its reference; one logged day (PUBLISHED); the retraining's drifted demo
    days 12-15, validated, with their labels. LATE and BACKFILLED have no logs yet."""
    from monitoring.storage import ObjectStore

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    seed_reference(client, trained)
    write_day(client, trained, PUBLISHED, rows=ROWS)
    estimator, _ = trained
    seed_retraining_days(client, ObjectStore(client, BUCKET), loan_model, estimator, [12, 13, 14, 15])
    server, posts = post_receiver()
    yield client, posts, server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, s3_server, world):
    client, posts, port = world
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    settings = document["models"][MODEL]
    settings["storage"].update({"deadline_minutes": 0, "wait_minutes": 20, "poke_seconds": 10})
    settings["alerts"] = {"max_age_days": 30, "channels": [{"type": "webhook", "conn_id": "hooks", "endpoint": HOOK}]}
    settings["retraining"]["approval"] = "required"
    document["models"] = {MODEL: settings}
    config = tmp_path_factory.mktemp("config") / "models.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {"MONITORING_CONFIG": str(config),
           "AIRFLOW_CONN_MONITORING_S3": json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                                                     "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}),
           "AIRFLOW_CONN_HOOKS": json.dumps({"conn_type": "http", "host": "127.0.0.1", "schema": "http", "port": port}),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    standalone = Standalone(tmp_path_factory.mktemp("airflow-home"), env, database="postgres", parallelism=4)
    with stopped_after(standalone, say):
        standalone.start()
        for dag_id in (DAG_ID, RETRAIN_ID, FEED_ID):
            standalone.wait_for(f"{dag_id} to be parsed", lambda d=dag_id: standalone.dag_exists(d), 300, every=3)
        yield standalone


def trigger(airflow: Standalone, dag_id: str, run_id: str, day: dt.date | None = None, conf: dict | None = None):
    body = {"dag_run_id": run_id, "conf": conf if conf is not None else {"day": day.isoformat()},
            "logical_date": f"{day.isoformat()}T00:00:00Z" if day is not None else None}  # required, may be null
    return airflow.call("POST", f"/dags/{dag_id}/dagRuns", json=body)


def finished(airflow: Standalone, dag_id: str, run_id: str, timeout: float = 600) -> dict:
    def done():
        run = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return run if run["state"] in ("success", "failed") else None

    return airflow.wait_for(f"{dag_id} {run_id}", done, timeout, every=3, dag_ids=(dag_id,))


def hook_messages(posts) -> list[dict]:
    return [json.loads(body) for path, body in posts if path == HOOK]


def test_a_published_day_emits_its_verdict_on_the_reports_asset_and_the_example_dag_reacts(airflow, world):
    client = world[0]
    run_id = f"published__{PUBLISHED}"
    trigger(airflow, DAG_ID, run_id, PUBLISHED)
    for dag_id in (DAG_ID, FEED_ID):
        airflow.set_paused(dag_id, False)
    run = finished(airflow, DAG_ID, run_id)
    assert run["state"] == "success", airflow.diagnostics((DAG_ID,))

    events = airflow.call("GET", "/assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id})
    assert events["total_entries"] == 1, events
    event = events["asset_events"][0]
    assert event["uri"] == f"s3://{BUCKET}/reports/{MODEL}" and event["source_task_id"] == "update_site"
    extra = event["extra"]
    assert extra["model"] == MODEL and extra["day"] == PUBLISHED.isoformat() and extra["backfill"] is False
    assert extra["status"] in ("healthy", "warning", "critical") and 0 <= extra["health_score"] <= 100
    assert extra["dataset_drift"] is False and extra["drifted_features"] == []
    assert extra["day_page"] == f"reports/{MODEL}/dt={PUBLISHED}/index.html"
    assert get_json(client, f"reports/{MODEL}/dt={PUBLISHED}/summary.json")["day"] == PUBLISHED.isoformat()
    inlets = airflow.call("GET", "/assets", params={"uri_pattern": f"predictions/{MODEL}"})["assets"]
    assert [a["uri"] for a in inlets] == [f"s3://{BUCKET}/predictions/{MODEL}"]

    def fed():
        runs = [r for r in airflow.runs(FEED_ID) if r["state"] in ("success", "failed")]
        return runs[-1] if runs else None

    feed_run = airflow.wait_for("the status feed's asset-triggered run", fed, 300, every=3, dag_ids=(FEED_ID,))
    assert feed_run["state"] == "success" and feed_run["run_type"] == "asset_triggered", feed_run
    feed = get_json(client, "reports/status.json")["models"][MODEL]
    assert feed["day"] == PUBLISHED.isoformat() and feed["status"] == extra["status"]
    # Its deadline (the day's end) had passed when the run was created; the logs were there: no notice.
    assert not [m for m in hook_messages(world[1]) if "late" in m["title"]]


def test_logs_missing_past_their_deadline_send_one_notice_and_the_run_waits_for_them(airflow, world, trained):
    client, posts, _ = world
    airflow.set_paused(DAG_ID, False)
    backfill = airflow.call("POST", "/backfills", json={
        "dag_id": DAG_ID, "from_date": f"{BACKFILLED.isoformat()}T00:00:00Z",
        "to_date": f"{BACKFILLED.isoformat()}T23:59:59Z", "max_active_runs": 1, "reprocess_behavior": "none",
        "run_backwards": False, "run_on_latest_version": True, "dag_run_conf": None})
    run_id = f"late__{LATE}"
    trigger(airflow, DAG_ID, run_id, LATE)

    def noticed():
        late = [m for m in hook_messages(posts) if m["notices"] and m["notices"][0]["kind"] == "late"]
        return late or None

    late = airflow.wait_for("the logs-late notice", noticed, 300, every=3, dag_ids=(DAG_ID,))
    time.sleep(20)  # the backfill's deadline passed at the same time: its callback has run too
    late = noticed()
    assert len(late) == 1, late
    assert late[0]["day"] == LATE.isoformat() and late[0]["notices"][0]["rule"] == "logs_late", late
    assert f"predictions/{MODEL}/dt={LATE}/" in late[0]["notices"][0]["message"]
    states = {t["task_id"]: t["state"] for t in airflow.task_instances(DAG_ID, run_id)}
    assert states["check_partition"] in ("up_for_reschedule", "running", "queued", "scheduled"), states

    write_day(client, trained, LATE, rows=ROWS)  # the logs land: the run goes on by itself
    run = finished(airflow, DAG_ID, run_id)
    assert run["state"] == "success", airflow.diagnostics((DAG_ID,))
    assert len(noticed()) == 1  # once, whatever happens to the run after
    assert not [m for m in hook_messages(posts) if m["day"] == BACKFILLED.isoformat()]
    airflow.call("PUT", f"/backfills/{backfill['id']}/cancel", expect=(200, 409))


def waiting_approval(airflow: Standalone, run_id: str) -> dict:
    def parked():
        details = airflow.call("GET", f"/dags/{RETRAIN_ID}/dagRuns/{run_id}/hitlDetails")["hitl_details"]
        return details[0] if details else None

    detail = airflow.wait_for(f"the approval of {run_id}", parked, 600, every=3, dag_ids=(RETRAIN_ID,))

    def paused():
        return {t["task_id"]: t["state"] for t in airflow.task_instances(RETRAIN_ID, run_id)}["approval"] == \
            "awaiting_input"

    airflow.wait_for(f"{run_id}'s approval task to pause", paused, 120, every=2, dag_ids=(RETRAIN_ID,))
    # A person answers in seconds at best. Airflow 3.3.2 loses an answer given within about a second of the pause,
    # while the executor still reports the paused workload (the task goes up for retry and asks again).
    time.sleep(10)
    return detail


def answer(airflow: Standalone, run_id: str, option: str, reason: str = "") -> None:
    airflow.call("PATCH", f"/dags/{RETRAIN_ID}/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails",
                 json={"chosen_options": [option], "params_input": {"reason": reason}})


def test_a_better_candidate_waits_for_approval_rejected_it_keeps_the_model_approved_it_promotes(airflow, world):
    client = world[0]
    airflow.set_paused(RETRAIN_ID, False)
    conf = {"model": MODEL, "reasons": ["dataset drift"], "evidence": {"day_page": "http://example/day"},
            "window": window(12, 15)}

    rejected = "approval__reject"
    trigger(airflow, RETRAIN_ID, rejected, conf={**conf, "day": demo_day(20).isoformat()})
    detail = waiting_approval(airflow, rejected)
    assert detail["options"] == ["Approve", "Reject"] and "r20261020" in detail["subject"]
    assert "candidate r20261020" in detail["body"] and "http://example/day" in detail["body"]
    answer(airflow, rejected, "Reject", "the drift is seasonal, wait a week")
    run = finished(airflow, RETRAIN_ID, rejected)
    states = {t["task_id"]: t["state"] for t in airflow.task_instances(RETRAIN_ID, rejected)}
    assert run["state"] == "success" and states["reject"] == "success" and states["promote"] == "skipped", states
    outcome = get_json(client, f"retraining/{MODEL}/results/dt={demo_day(20)}.json")
    assert not outcome["promoted"] and outcome["review"]["approved"] is False
    assert outcome["review"]["by"] == "admin" and "seasonal" in outcome["why"]
    assert get_json(client, f"reference/{MODEL}/CURRENT.json") == {"version": "v1"}

    approved = "approval__approve"
    trigger(airflow, RETRAIN_ID, approved, conf={**conf, "day": demo_day(21).isoformat()})
    waiting_approval(airflow, approved)
    answer(airflow, approved, "Approve")
    run = finished(airflow, RETRAIN_ID, approved)
    states = {t["task_id"]: t["state"] for t in airflow.task_instances(RETRAIN_ID, approved)}
    assert run["state"] == "success" and states["promote"] == "success" and states["reject"] == "skipped", states
    assert get_json(client, f"reference/{MODEL}/CURRENT.json") == {"version": "r20261021"}
    events = airflow.call("GET", "/assets/events", params={"source_dag_id": RETRAIN_ID})["asset_events"]
    assert [e["extra"]["version"] for e in events] == ["r20261021"], events
    assert events[0]["uri"] == f"s3://{BUCKET}/models/{MODEL}" and events[0]["extra"]["approved_by"] == "admin"
    assert events[0]["extra"]["candidate"]["f1"] > events[0]["extra"]["current"]["f1"]
