"""A data engineer's backfill through a real Airflow: `airflow standalone` (scheduler, DAG processor, API server,
LocalExecutor) runs the project's DAGs against a local S3 server, and the backfills are created through the REST API
with the body the UI's *Backfill* form sends.

1. 21 days of `loan_approval` (drift from the 12th) are backfilled ("missing runs"): 21 runs, each processing its
   data-interval day; every day is published, days 12-21 carry alerts.json, and nothing is sent (backfills never
   page).
2. The digest DAG, triggered twice, sends exactly one digest of the backfill's alerts.
3. A second backfill of days 13-19 with "all runs" reprocesses them (7 runs) and sends nothing; every published JSON
   object under reports/loan_approval/ is byte-identical to before (manifests, summaries, Evidently's JSON, alerts,
   decisions, the history), and the digest DAG then has nothing more to send.

The metadata database is PostgreSQL (a database created for this run and dropped at the end) unless
MONITORING_E2E_DATABASE=sqlite; see DATABASE below for why.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import yaml

from tests.conftest import BUCKET, ROOT, free_port
from tests.helpers import seed_days
from tests.standalone import Standalone, stopped_after

pytestmark = pytest.mark.e2e

MODEL = "loan_approval"
DAG_ID = f"monitor_{MODEL}"
RETRAIN_DAG = f"retrain_{MODEL}"
DIGEST_DAG = "monitoring_alert_digest"
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in range(21, 0, -1)]  # the 21 days ending yesterday
NUMBERS = {day: number for number, day in enumerate(DAYS, start=1)}  # demo day numbers: drift from day 12
DRIFTED = DAYS[11:]
REPROCESSED = DAYS[12:19]  # demo days 13-19
ROWS = 800
BACKFILL_TIMEOUT = 40 * 60
# PostgreSQL by default (needs psycopg2-binary and the local server, trust auth). On SQLite a backfill created while
# the scheduler runs is not reliable: Airflow answers 503 "Database is locked. Backfill creation is not supported on
# SQLite under concurrent access. Please use PostgreSQL or MySQL." and the retry may get a 500 (seen on the second,
# "all runs" backfill). MONITORING_E2E_DATABASE=sqlite runs it on SQLite anyway.
DATABASE = os.environ.get("MONITORING_E2E_DATABASE", "postgres")

TIMINGS: dict[str, float] = {}
STATE: dict[str, object] = {}


def say(message: str) -> None:
    print(f"[e2e-backfill] {message}", flush=True)


class Timer:
    def __init__(self, phase: str) -> None:
        self.phase = phase

    def __enter__(self):
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        TIMINGS[self.phase] = round(time.monotonic() - self.started, 1)
        say(f"{self.phase}: {TIMINGS[self.phase]}s{' (failed)' if exc[0] else ''}")


@pytest.fixture(scope="module")
def receiver():
    """A local webhook endpoint that records every POST (path, JSON body, time)."""
    posts: list[dict] = []

    class Keep(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                message = json.loads(body)
            except ValueError:
                message = {"raw": body.decode("utf-8", "replace")}
            posts.append({"path": self.path, "message": message, "at": time.time()})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Keep)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": server.server_address[1], "posts": posts}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def s3(s3_server, trained):
    """The bucket with the model's reference and 21 days of its prediction logs (no labels)."""
    werkzeug = logging.getLogger("werkzeug")  # the S3 server logs every request: thousands of lines on a failure
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    with Timer("seed 21 days"):
        client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        seed_days(client, trained, NUMBERS, rows=ROWS)
    yield client
    werkzeug.setLevel(level)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, s3_server, receiver, s3):
    """`airflow standalone` with loan_approval only, its alerts posted to the receiver; stopped at the end."""
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"] = {MODEL: document["models"][MODEL]}
    document["models"][MODEL].pop("labels")  # no label feed: faster, and no "labels missing" findings
    document["models"][MODEL]["alerts"] = {"digest_quiet_minutes": 0, "channels": [
        {"type": "webhook", "conn_id": "alert_webhook", "endpoint": "/hooks/monitoring"}]}
    config = tmp_path_factory.mktemp("config") / "models.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {
        "MONITORING_CONFIG": str(config),
        "AIRFLOW_CONN_MONITORING_S3": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}),
        "AIRFLOW_CONN_ALERT_WEBHOOK": json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": receiver["port"], "schema": "http"}),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }
    if DATABASE == "postgres":
        pytest.importorskip("psycopg2", reason="MONITORING_E2E_DATABASE=postgres needs psycopg2-binary in the venv")
    standalone = Standalone(tmp_path_factory.mktemp("airflow-home"), env, database=DATABASE, parallelism=4)
    say(f"airflow standalone on port {standalone.port}, {DATABASE}"
        f"{' database ' + standalone.postgres.name if standalone.postgres else ''}, home {standalone.home}")

    try:
        with stopped_after(standalone, say):
            with Timer("start airflow standalone"):
                standalone.start()
            with Timer("DAGs parsed"):
                standalone.wait_for("the DAGs to be parsed",
                                    lambda: all(standalone.dag_exists(d) for d in (DAG_ID, RETRAIN_DAG, DIGEST_DAG)),
                                    300, every=3)
            standalone.set_paused(RETRAIN_DAG, False)  # no schedule: runs only when the monitoring DAG asks
            yield standalone
    finally:
        say(f"timings: {json.dumps(TIMINGS)}")


# --- helpers ----------------------------------------------------------------------------------------------------------
def backfill_body(first: dt.date, last: dt.date, reprocess: str) -> dict:
    """What the UI's Backfill form posts: the From day at 00:00 and the To day at its end (the picker's endOfDay),
    as UTC ISO strings; the logical dates in that range are the days processed (a CronDataIntervalTimetable run's
    logical date is the start of its data interval)."""
    return {"dag_id": DAG_ID, "from_date": f"{first.isoformat()}T00:00:00.000Z",
            "to_date": f"{last.isoformat()}T23:59:59.999Z", "max_active_runs": 3, "reprocess_behavior": reprocess,
            "run_backwards": False, "run_on_latest_version": True, "dag_run_conf": None}


def create_backfill(airflow: Standalone, body: dict, days: list[dt.date]) -> dict:
    dry = airflow.call("POST", "/backfills/dry_run", json=body)
    planned = [b["logical_date"] for b in dry["backfills"]]
    assert planned == [f"{d.isoformat()}T00:00:00Z" for d in days], planned
    backfill = airflow.call("POST", "/backfills", json=body)
    assert backfill["dag_id"] == DAG_ID and backfill["completed_at"] is None, backfill
    assert backfill["reprocess_behavior"] == body["reprocess_behavior"] and backfill["max_active_runs"] == 3
    return backfill


def wait_for_backfill(airflow: Standalone, backfill: dict, days: list[dt.date], phase: str) -> dict[str, dict]:
    """Wait until the backfill completed and the runs of `days` finished; returns day -> run."""
    wanted = {d.isoformat() for d in days}
    started = time.monotonic()

    def finished():
        runs = {r["logical_date"][:10]: r for r in airflow.runs(DAG_ID) if r["logical_date"][:10] in wanted}
        done = [d for d, r in runs.items() if r["state"] in ("success", "failed")
                and r["end_date"] and r["end_date"] > backfill["created_at"]]
        completed = airflow.call("GET", f"/backfills/{backfill['id']}")["completed_at"]
        say(f"{phase}: {len(done)}/{len(days)} runs finished, backfill "
            f"{'completed' if completed else 'running'} ({time.monotonic() - started:.0f}s)")
        return runs if completed and len(done) == len(days) else None

    return airflow.wait_for(f"{phase} ({len(days)} runs)", finished, BACKFILL_TIMEOUT, every=15,
                            dag_ids=(DAG_ID,))


def keys(client, prefix: str) -> list[str]:
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found += [o["Key"] for o in page.get("Contents", [])]
    return found


def json_snapshot(client) -> dict[str, bytes]:
    return {k: client.get_object(Bucket=BUCKET, Key=k)["Body"].read()
            for k in keys(client, f"reports/{MODEL}/") if k.endswith(".json")}


def json_differences(before, after, path: str = "") -> list[tuple[str, object, object]]:
    """(dotted JSON path, value before, value after) of every value that differs; list items by index."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in before or key not in after:
                found.append((sub + (" (added)" if key not in before else " (removed)"), before.get(key),
                              after.get(key)))
            else:
                found += json_differences(before[key], after[key], sub)
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in json_differences(b, a, f"{path}[{i}]")]
    return [] if before == after else [(path or "(whole document)", before, after)]


def runs_report(runs: dict[str, dict]) -> str:
    return "\n".join(f"{day} {r['dag_run_id']} {r['run_type']} {r['state']}" for day, r in sorted(runs.items()))


def wait_for_digest_runs(airflow: Standalone, run_id: str) -> None:
    """Until the triggered digest run finished, no digest run is queued or running, and the scheduler will not
    create another scheduled one before its next 15-minute interval."""

    def settled():
        runs = airflow.runs(DIGEST_DAG)
        mine = [r for r in runs if r["dag_run_id"] == run_id]
        busy = [r for r in runs if r["state"] not in ("success", "failed")]
        details = airflow.call("GET", f"/dags/{DIGEST_DAG}/details")
        upcoming = details.get("next_dagrun_run_after")
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        return mine and mine[0]["state"] in ("success", "failed") and not busy and upcoming and upcoming > now

    airflow.wait_for(f"the digest run {run_id}", settled, 600, every=5, dag_ids=(DIGEST_DAG,))
    failed = [r["dag_run_id"] for r in airflow.runs(DIGEST_DAG) if r["state"] != "success"]
    assert not failed, f"digest runs failed: {failed}\n{airflow.diagnostics((DIGEST_DAG,))}"


def trigger_digest(airflow: Standalone) -> str:
    run = airflow.call("POST", f"/dags/{DIGEST_DAG}/dagRuns",
                       json={"logical_date": dt.datetime.now(dt.timezone.utc).isoformat()})
    return run["dag_run_id"]


# --- the tests --------------------------------------------------------------------------------------------------------
def test_a_21_day_backfill_from_the_ui_publishes_every_day_and_pages_nobody(airflow, s3, receiver):
    with Timer("backfill 21 days"):
        body = backfill_body(DAYS[0], DAYS[-1], "none")
        say(f"POST /api/v2/backfills {json.dumps(body)}")
        backfill = create_backfill(airflow, body, DAYS)
        # The UI's "Unpause on trigger": after the backfill exists, so the scheduler does not first start a
        # scheduled (paging) run of the last day (catchup=False schedules the latest interval on unpause).
        airflow.set_paused(DAG_ID, False)
        runs = wait_for_backfill(airflow, backfill, DAYS, "backfill 1")

    assert sorted(runs) == [d.isoformat() for d in DAYS], runs_report(runs)
    failed = {day: r["state"] for day, r in runs.items() if r["state"] != "success"}
    assert not failed, f"runs not successful: {failed}\n{airflow.diagnostics((DAG_ID,))}"
    for day, run in runs.items():
        assert run["run_type"] == "backfill", runs_report(runs)
        assert run["data_interval_start"][:10] == day, run
        assert run["data_interval_end"][:10] == (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    assert not [p for p in receiver["posts"]], f"a backfill run sent messages: {receiver['posts']}"

    published = set(keys(s3, f"reports/{MODEL}/dt="))
    for day in DAYS:
        for name in ("manifest.json", "summary.json"):
            assert f"reports/{MODEL}/dt={day}/{name}" in published, f"{day} has no {name}"
        summary = json.loads(s3.get_object(Bucket=BUCKET, Key=f"reports/{MODEL}/dt={day}/summary.json")["Body"]
                             .read())
        assert summary["day"] == day.isoformat() and summary["rows"]["read"] == ROWS, summary["rows"]
    alerted = sorted(d for d in DAYS if f"reports/{MODEL}/dt={d}/alerts.json" in published)
    assert alerted == DRIFTED, f"days with alerts.json: {alerted}"
    for day in DRIFTED:
        record = json.loads(s3.get_object(Bucket=BUCKET, Key=f"reports/{MODEL}/dt={day}/alerts.json")["Body"].read())
        assert "dataset_drift" in json.dumps(record), record
    # Warm workers (monitoring_airflow/warm_workers.py): every task that uses Evidently found it preloaded by the
    # LocalExecutor's forkserver instead of importing it again.
    heavy = [ti for ti in airflow.task_instances(DAG_ID) if ti["task_id"] == "evidently_reports"]
    logs = {ti["dag_run_id"]: airflow.task_log_tail(ti, lines=100_000) for ti in heavy}
    assert len(logs) == len(DAYS) and all("Evidently preloaded by the worker" in log for log in logs.values()), \
        [run for run, log in logs.items() if "Evidently preloaded by the worker" not in log]
    STATE["backfilled"] = True


def test_the_digest_dag_sends_the_backfills_alerts_once(airflow, receiver):
    if not STATE.get("backfilled"):
        pytest.skip("the first backfill did not complete")
    with Timer("digest twice"):
        airflow.set_paused(DIGEST_DAG, False)  # unpausing also starts the latest scheduled digest run
        first = trigger_digest(airflow)
        wait_for_digest_runs(airflow, first)
        posts = list(receiver["posts"])
        assert len(posts) == 1, posts
        message = posts[0]["message"]
        assert posts[0]["path"] == "/hooks/monitoring" and message["model"] == MODEL, message
        assert "digest of quiet runs" in message["day"], message
        assert message["day"].startswith(f"{DRIFTED[0]}..{DRIFTED[-1]}"), message
        assert "dataset_drift" in {n["rule"] for n in message["notices"]}, message

        second = trigger_digest(airflow)
        wait_for_digest_runs(airflow, second)
        assert len(receiver["posts"]) == 1, receiver["posts"][1:]
        # Scheduled digest runs would send the digest a reprocessing backfill adds (another day range): keep the
        # digest DAG out of the second backfill, which must itself send nothing.
        airflow.set_paused(DIGEST_DAG, True)
    STATE["digested"] = True


def test_reprocessing_7_days_with_all_runs_changes_no_published_json(airflow, s3, receiver):
    if not STATE.get("digested"):
        pytest.skip("the earlier steps did not complete")
    before = json_snapshot(s3)
    posts = len(receiver["posts"])
    with Timer("backfill 7 days, all runs"):
        backfill = create_backfill(airflow, backfill_body(REPROCESSED[0], REPROCESSED[-1], "completed"), REPROCESSED)
        runs = wait_for_backfill(airflow, backfill, REPROCESSED, "backfill 2")
    failed = {day: r["state"] for day, r in runs.items() if r["state"] != "success"}
    assert not failed, f"runs not successful: {failed}\n{airflow.diagnostics((DAG_ID,))}"
    assert all(r["run_type"] == "backfill" for r in runs.values()), runs_report(runs)
    assert len(receiver["posts"]) == posts, f"the reprocessing backfill sent: {receiver['posts'][posts:]}"

    after = json_snapshot(s3)
    differences: dict[str, list[tuple[str, object, object]]] = {}
    for key in sorted(set(before) | set(after)):
        if key not in before:
            differences[key] = [("(new object)", None, json.loads(after[key]))]
        elif key not in after:
            differences[key] = [("(object removed)", json.loads(before[key]), None)]
        elif before[key] != after[key]:
            differences[key] = (json_differences(json.loads(before[key]), json.loads(after[key]))
                                or [("(bytes only)", None, None)])
    assert not differences, "reprocessing changed published JSON:\n" + "\n".join(
        f"  {k}: " + ", ".join(f"{p} {json.dumps(o)[:80]} -> {json.dumps(n)[:80]}" for p, o, n in v)
        for k, v in differences.items())

    # The reprocessed days' alerts were in the digest already sent: the digest DAG has nothing new to send.
    airflow.set_paused(DIGEST_DAG, False)
    run = trigger_digest(airflow)
    wait_for_digest_runs(airflow, run)
    assert len(receiver["posts"]) == posts, f"a second digest went out: {receiver['posts'][posts:]}"
