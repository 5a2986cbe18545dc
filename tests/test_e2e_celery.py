"""The pipeline on CeleryExecutor, for real: a PostgreSQL metadata database and a Redis broker of this test's own, and
every Airflow component a separate process as in docker-compose.yaml (scheduler, DAG processor, API server, two
Celery workers `worker1@<host>` and `worker2@<host>` serving the `default` and `heavy` queues, 2 slots each), on
the project's DAGs against a local S3 server (moto). Both demo models are monitored with their Evidently tasks in
the `evidently` pool (2 slots) and on the `heavy` queue (`reports.pool` / `reports.queue`), without labels to keep
it fast. `loan_rate` drifts every day (its subprime campaign from the first day: feature and prediction drift, no
dataset drift), so its runs take the `alert` branch; `loan_approval` is healthy.

1. `test_backfills_on_two_workers`: the scheduled runs of yesterday and a backfill of 3 days per model run with
   worker1 alone, then a backfill of 3 other days per model with both workers. Every model-day is published
   exactly once (one publish per manifest, one decisions.json), the history holds each day once, tasks ran on both
   workers, the Evidently tasks in their pool and queue, never more than 2 of them at once, no task was retried,
   and the alert state holds no duplicate. Prints model-days per minute with one worker and with two (run with
   `-s` to see them).
2. `test_worker_killed_mid_task`: a manual run of one more day; while its `evidently_reports` runs on a worker, that
   worker is SIGKILLed with its pool and task processes. The scheduler notices the missing heartbeats (30 s here),
   the task is retried on the other worker, the run succeeds and the day is published whole.

Everything started is stopped at the end, the database dropped and the Redis database flushed (module fixture).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import boto3
import pytest
import yaml

from tests.cluster import CeleryCluster
from tests.conftest import BUCKET, ROOT
from tests.standalone import describe

pytestmark = [pytest.mark.e2e, pytest.mark.celery]

MODELS = ("loan_approval", "loan_rate")
DAGS = tuple(f"monitor_{m}" for m in MODELS)
OTHER_DAGS = ("retrain_loan_approval", "retrain_loan_rate", "monitoring_alert_digest")
HEAVY_TASKS = ("evidently_reports", "performance")
POOL, POOL_SLOTS, QUEUE = "evidently", 2, "heavy"
WORKERS = ("worker1", "worker2")
TODAY = dt.datetime.now(dt.timezone.utc).date()
# 8 days ending yesterday (demo days 1-8). Yesterday: the scheduled run each DAG makes when unpaused.
SEEDED = [TODAY - dt.timedelta(days=n) for n in range(8, 0, -1)]
KILL_DAY = SEEDED[0]  # test 2: a manual run
BLOCK_TWO = SEEDED[1:4]  # backfill with both workers
BLOCK_ONE = SEEDED[4:7]  # backfill with worker1 alone
SCHEDULED_DAY = SEEDED[7]
RUN_TIMEOUT = 15 * 60
TIMINGS: dict[str, float] = {}


def say(message: str) -> None:
    print(f"[e2e-celery] {message}", flush=True)


def make_config(path: Path) -> Path:
    """config/models.yaml with both models' Evidently tasks in the `evidently` pool on the `heavy` queue, and no
    labels (no performance work)."""
    config = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    config["models"] = {name: config["models"][name] for name in MODELS}
    for name in MODELS:
        model = config["models"][name]
        model.pop("labels", None)
        model["reports"] = {"pool": POOL, "queue": QUEUE}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path



@pytest.fixture(scope="module")
def s3(s3_server):
    """The local S3 server, versioned (every write of a key is kept: "written once" is checked on the versions),
    seeded with both demo models' references and 8 days of logs."""
    from demo import loan_data, rate_data
    from demo.seed import seed

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    started = time.monotonic()
    seed(client, BUCKET, SEEDED, drift=loan_data.DemoDrift(start_day=99),
         rate_drift=rate_data.RateDrift(campaign_day=1, hike_day=99), models=MODELS)
    say(f"seeded {len(SEEDED)} days of {len(MODELS)} models in {time.monotonic() - started:.0f}s")
    return client


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server, s3):
    home = tmp_path_factory.mktemp("celery-airflow")
    connection = {"conn_type": "aws", "login": "testing", "password": "testing",
                  "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}
    env = {"AIRFLOW_CONN_MONITORING_S3": json.dumps(connection),
           "MONITORING_CONFIG": str(make_config(home / "models.yaml")),
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    started = time.monotonic()
    with CeleryCluster(home / "airflow", env) as airflow:
        try:
            airflow.airflow("pools", "set", POOL, str(POOL_SLOTS), "Evidently tasks")
            airflow.start_core()
            airflow.start_worker("worker1", queues=f"default,{QUEUE}")
            say(f"database {airflow.postgres.name}, Redis DB {airflow.redis.number}, API {airflow.base_url}, "
                f"home {airflow.home}; up in {time.monotonic() - started:.0f}s")
            airflow.wait_for("the DAG processor to register the DAGs",
                             lambda: all(airflow.dag_exists(d) for d in DAGS + OTHER_DAGS), 300)
            yield airflow
        finally:
            sessions = [p.pid for p in airflow.processes.values()]
            killed = airflow.stop()
            say(f"stopped ({len(killed)} process(es) needed SIGKILL: {killed})")
            # Every process this test started, and the task processes they forked, are gone.
            import psutil

            left = [p for p in psutil.process_iter(["pid"]) if _session(p.pid) in sessions and _running(p.pid)]
            assert not left, f"processes of the test left running:\n{describe([p.pid for p in left])}"
            assert airflow.postgres.name not in airflow.postgres.existing("airflow_celery_e2e")
            assert airflow.redis.client.dbsize() == 0


def _session(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- helpers ---------------------------------------------------------------------------------------------------------
def backfill(airflow: CeleryCluster, dag_id: str, days: list[dt.date]) -> dict:
    return airflow.call("POST", "/backfills", json={
        "dag_id": dag_id, "from_date": f"{days[0]}T00:00:00Z", "to_date": f"{days[-1]}T00:00:00Z",
        "max_active_runs": 3, "reprocess_behavior": "none"})


def run_day(run: dict) -> str:
    """The day a monitoring run processed: its conf's day, else its logical date."""
    conf = run.get("conf") or {}
    if isinstance(conf, str):
        conf = json.loads(conf)
    return conf.get("day") or run["logical_date"].date().isoformat()


def all_finished(airflow: CeleryCluster, expected: dict[str, set[str]]) -> bool:
    """True once every DAG has a finished run for each expected day (and nothing else left running)."""
    runs = airflow.dag_runs(DAGS)
    for dag_id, days in expected.items():
        done = {run_day(r) for r in runs if r["dag_id"] == dag_id and r["state"] in ("success", "failed")}
        if not days <= done:
            return False
    return not [r for r in runs if r["state"] not in ("success", "failed")]


def versions(client, prefix: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per key under `prefix`: how many times it was written, how many times deleted (delete markers)."""
    puts: dict[str, int] = {}
    deletes: dict[str, int] = {}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
        for version in page.get("Versions", []):
            puts[version["Key"]] = puts.get(version["Key"], 0) + 1
        for marker in page.get("DeleteMarkers", []):
            deletes[marker["Key"]] = deletes.get(marker["Key"], 0) + 1
    return puts, deletes


def get_json(client, key: str):
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def exists(client, key: str) -> bool:
    try:
        client.head_object(Bucket=BUCKET, Key=key)
        return True
    except client.exceptions.ClientError:
        return False


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> tuple[int, dt.datetime | None]:
    """The most intervals open at one moment (an end at the same instant as a start does not overlap it)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    open_now, most, when = 0, 0, None
    for moment, change in events:
        open_now += change
        if open_now > most:
            most, when = open_now, moment
    return most, when


def days_per_minute(model_days: int, seconds: float) -> float:
    return round(model_days / (seconds / 60), 2)


# --- test 1 ----------------------------------------------------------------------------------------------------------
def test_backfills_on_two_workers(cluster: CeleryCluster, s3):
    airflow = cluster
    day_strings = lambda days: {d.isoformat() for d in days}  # noqa: E731

    # Phase 1, worker1 alone: unpausing makes each monitoring DAG's scheduled run of yesterday; a backfill of three
    # more days per model runs beside it.
    started = time.monotonic()
    for dag_id in DAGS + OTHER_DAGS:
        airflow.set_paused(dag_id, False)
    backfills = {dag_id: backfill(airflow, dag_id, BLOCK_ONE) for dag_id in DAGS}
    expected = {dag_id: day_strings(BLOCK_ONE + [SCHEDULED_DAY]) for dag_id in DAGS}
    airflow.wait_for("the runs with one worker", lambda: all_finished(airflow, expected), RUN_TIMEOUT, every=3,
                     dag_ids=DAGS)
    TIMINGS["one worker"] = time.monotonic() - started
    phase_one_end = dt.datetime.now(dt.timezone.utc)
    say(f"one worker: {len(DAGS) * 4} model-days in {TIMINGS['one worker']:.0f}s")

    # Airflow takes one backfill per DAG at a time: the scheduler closes a backfill a loop after its last run.
    airflow.wait_for("the first backfills to be closed", lambda: all(
        airflow.call("GET", f"/backfills/{b['id']}").get("completed_at") for b in backfills.values()),
        RUN_TIMEOUT, every=3, dag_ids=DAGS)

    # Phase 2, both workers: a backfill of three other days per model.
    airflow.start_worker("worker2", queues=f"default,{QUEUE}")
    started = time.monotonic()
    backfills.update({f"{dag_id} (2)": backfill(airflow, dag_id, BLOCK_TWO) for dag_id in DAGS})
    expected = {dag_id: day_strings(BLOCK_ONE + BLOCK_TWO + [SCHEDULED_DAY]) for dag_id in DAGS}
    airflow.wait_for("the runs with two workers", lambda: all_finished(airflow, expected), RUN_TIMEOUT, every=3,
                     dag_ids=DAGS)
    TIMINGS["two workers"] = time.monotonic() - started
    say(f"two workers: {len(DAGS) * 3} model-days in {TIMINGS['two workers']:.0f}s")
    say(f"throughput: one worker {days_per_minute(len(DAGS) * 4, TIMINGS['one worker'])} model-days/min, "
        f"two workers {days_per_minute(len(DAGS) * 3, TIMINGS['two workers'])} model-days/min")

    diagnostics = lambda: airflow.diagnostics(DAGS)  # noqa: E731
    runs = airflow.dag_runs(DAGS)
    processed = day_strings(BLOCK_ONE + BLOCK_TWO + [SCHEDULED_DAY])
    for dag_id in DAGS:
        mine = [r for r in runs if r["dag_id"] == dag_id]
        assert sorted(run_day(r) for r in mine) == sorted(processed), (dag_id, mine)
        assert {r["state"] for r in mine} == {"success"}, diagnostics()
        assert sorted(r["run_type"] for r in mine) == ["backfill"] * 6 + ["scheduled"], mine

    # Task instances: every task ran once (no retry), on a named worker; the Evidently tasks in their pool and
    # queue, the others in the default ones.
    tis = airflow.task_instances(DAGS, history=True)
    ran = [t for t in tis if t["state"] not in ("skipped",)]
    assert not [t for t in ran if t["source"] == "history" or t["try_number"] != 1], (
        f"a task was retried:\n{diagnostics()}")
    assert {t["hostname"] for t in ran} <= set(WORKERS), diagnostics()
    for t in ran:
        want = (POOL, QUEUE) if t["task_id"] in HEAVY_TASKS else ("default_pool", "default")
        assert (t["pool"], t["queue"]) == want, f"{t}\n{diagnostics()}"
    phase_one = [t for t in ran if t["end_date"] <= phase_one_end]
    phase_two = [t for t in ran if t["start_date"] > phase_one_end]
    assert {t["hostname"] for t in phase_one} == {"worker1"}, diagnostics()
    spread = {w: sum(t["hostname"] == w for t in phase_two) for w in WORKERS}
    assert all(spread.values()), f"tasks per worker with two workers: {spread}\n{diagnostics()}"
    heavy_spread = {w: sum(t["hostname"] == w and t["queue"] == QUEUE for t in phase_two) for w in WORKERS}
    say(f"tasks with two workers: {spread}; heavy ones: {heavy_spread}")

    # The pool's bound held: never more than 2 Evidently tasks running at once, across both workers.
    heavy = [(t["start_date"], t["end_date"]) for t in tis if t["pool"] == POOL and t["start_date"]]
    assert len(heavy) == len(HEAVY_TASKS) * len(DAGS) * len(processed)
    most, when = max_overlap(heavy)
    assert most <= POOL_SLOTS, f"{most} tasks of the {POOL} pool ran at once at {when}\n{diagnostics()}"
    say(f"at most {most} tasks of the {POOL} pool ran at once")
    # Warm workers (monitoring_airflow/warm_workers.py): each worker imported Evidently before forking its pool, so
    # no task imported it again.
    reports = [t for t in ran if t["task_id"] == "evidently_reports"]
    cold = [(t["dag_id"], t["run_id"]) for t in reports
            if "Evidently preloaded by the worker" not in airflow.task_log_tail(t, lines=100_000)]
    assert reports and not cold, f"tasks that imported Evidently themselves: {cold}"

    # S3: every model-day published exactly once, whole, and its decisions recorded once; the history holds each
    # day once; the alert state has no duplicate.
    for model in MODELS:
        puts, deletes = versions(s3, f"reports/{model}/")
        for day in sorted(processed):
            folder = f"reports/{model}/dt={day}/"
            manifest = get_json(s3, folder + "manifest.json")
            # The trailing window (windows.days: 7) of the scheduled day was not whole when it was published, in
            # phase one: block two's backfill, publishing its first days later, judged it once (whatever the order
            # of its days), writing window.json and folding it into the day's summary, metric-store entry and
            # manifest. No other day has a whole window of published days.
            later = puts.get(folder + "window.json", 0)
            assert later == (day == SCHEDULED_DAY.isoformat()), (model, day, later)
            assert (get_json(s3, folder + "summary.json").get("window") is not None) is bool(later), (model, day)
            # One publish: the reports it copies were written once, and the manifest twice (by the publish, and by
            # alert/healthy adding decisions.json) and twice more for a later trailing judgement (its window.json,
            # then the summary), never removed again after (a republish removes it first; moto writes no delete
            # marker for the publish's removal of a manifest that does not exist yet).
            assert puts.get(folder + "data_drift.json") == 1, (
                f"{model} {day}: published {puts.get(folder + 'data_drift.json')} times")
            assert puts[folder + "manifest.json"] == 2 + 2 * later, (model, day, puts[folder + "manifest.json"])
            assert deletes.get(folder + "manifest.json", 0) <= 1, (model, day, deletes)
            assert manifest["run"]["try_number"] == 1, manifest["run"]
            for name, artifact in manifest["artifacts"].items():
                assert exists(s3, artifact["key"]), f"{model} {day}: the manifest lists {name}, which is missing"
            for name in ("decisions.json", "data_drift.json", "data_drift.html"):
                assert puts.get(folder + name) == 1, f"{model} {day}: {name} written {puts.get(folder + name)} times"
            assert puts.get(folder + "summary.json") == 1 + later, (model, day, puts.get(folder + "summary.json"))
            assert 1 <= puts.get(f"reports/{model}/metrics/dt={day}.json", 0) <= 1 + later
            decisions = get_json(s3, folder + "decisions.json")
            branch = ["alert"] if model == "loan_rate" else ["healthy"]
            assert decisions["branches"] == branch, (model, day, decisions["branches"], decisions["why"])
            assert exists(s3, folder + "alerts.json") is (model == "loan_rate")
        history = get_json(s3, f"reports/{model}/history.json")["days"]
        assert [d["day"] for d in history] == sorted(processed), f"{model}: history days {[d['day'] for d in history]}"
        state = {k: n for k, n in puts.items() if k.startswith(f"reports/{model}/alert-state/")}
        sent = [k for k in state if "/sent/" in k]
        assert not sent, f"{model}: no channel is configured, yet messages were claimed: {sent}"
        pending = {k for k in state if "/digest/pending/" in k}
        quiet_alerting = {f"reports/{model}/alert-state/digest/pending/dt={d}.json"
                          for d in day_strings(BLOCK_ONE + BLOCK_TWO)} if model == "loan_rate" else set()
        assert {k for k in pending if exists(s3, k)} == quiet_alerting, (model, sorted(pending))
        assert all(state[k] == 1 for k in quiet_alerting), {k: state[k] for k in quiet_alerting}
    # No retraining was asked for (no dataset drift): the retraining DAGs never ran.
    retraining = airflow.query("SELECT dag_id, run_id, state FROM dag_run WHERE dag_id LIKE 'retrain_%%'")
    assert not retraining, retraining


# --- test 2 ----------------------------------------------------------------------------------------------------------
def test_worker_killed_mid_task(cluster: CeleryCluster, s3):
    """Run after test 1 (both workers up). The killed worker's task is retried on the other worker."""
    airflow = cluster
    dag_id, model, task_id = "monitor_loan_approval", "loan_approval", "evidently_reports"
    for name in WORKERS:
        if name not in airflow.processes or airflow.processes[name].poll() is not None:
            airflow.start_worker(name, queues=f"default,{QUEUE}")
    for other in DAGS + OTHER_DAGS:
        airflow.set_paused(other, False)
    day = KILL_DAY.isoformat()
    started = time.monotonic()
    run = airflow.call("POST", f"/dags/{dag_id}/dagRuns", json={
        "dag_run_id": f"manual__kill__{day}", "logical_date": None, "conf": {"day": day}})
    run_id = run["dag_run_id"]

    def running_try():
        rows = airflow.query("SELECT state, hostname, try_number, pid FROM task_instance WHERE dag_id = %s AND "
                             "run_id = %s AND task_id = %s", (dag_id, run_id, task_id))
        row = rows[0] if rows else None
        return row if row and row["state"] == "running" and row["hostname"] in WORKERS else None

    first = airflow.wait_for(f"{task_id} to run", running_try, RUN_TIMEOUT, every=0.5, dag_ids=(dag_id,))
    victim = first["hostname"]
    survivor = next(w for w in WORKERS if w != victim)
    # Inside the task: with warm workers a small day's evidently_reports takes 2-4 s on this machine (it took
    # longer than 2 s, this test's old wait, until issue 18's second session), and the task is running already.
    time.sleep(0.5)
    killed = airflow.kill_worker(victim)
    killed_at = dt.datetime.now(dt.timezone.utc)
    state_at_kill = airflow.query("SELECT state FROM task_instance WHERE dag_id = %s AND run_id = %s AND "
                                  "task_id = %s", (dag_id, run_id, task_id))[0]["state"]
    assert state_at_kill == "running", (
        f"{task_id} was {state_at_kill} when {victim} was killed: it finished within 2 s of starting, the kill came "
        f"too late to test a lost task\n{airflow.diagnostics((dag_id,))}")
    # The Celery message of the killed task stays unacknowledged in Redis (task_acks_late): the broker would hand
    # it out again only after the visibility timeout (24 h by default). The retry comes from the scheduler.
    unacked = airflow.redis.client.hlen("unacked")
    say(f"{task_id} try {first['try_number']} ran on {victim} (task pid {first['pid']}); SIGKILLed {victim}: "
        f"pids {killed}; {unacked} unacknowledged Celery message(s) left in Redis")

    def finished():
        rows = airflow.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return rows and rows[0]["state"] in ("success", "failed")

    airflow.wait_for("the run to finish after the kill", finished, RUN_TIMEOUT, every=3, dag_ids=(dag_id,))
    TIMINGS["worker kill"] = time.monotonic() - started
    say(f"the run finished {TIMINGS['worker kill']:.0f}s after it was triggered")
    diagnostics = airflow.diagnostics((dag_id,))
    state = airflow.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))[0]
    assert state["state"] == "success", diagnostics
    tries = sorted((t for t in airflow.task_instances((dag_id,), history=True) if t["run_id"] == run_id
                    and t["task_id"] == task_id), key=lambda t: t["try_number"])
    assert [t["try_number"] for t in tries] == [1, 2], diagnostics
    assert tries[0]["hostname"] == victim and tries[0]["state"] in ("failed", "up_for_retry"), diagnostics
    assert tries[1]["hostname"] == survivor and tries[1]["state"] == "success", diagnostics
    assert tries[1]["start_date"] > killed_at
    after = [t for t in airflow.task_instances((dag_id,)) if t["run_id"] == run_id and t["state"] == "success"
             and t["start_date"] > killed_at]
    assert after and {t["hostname"] for t in after} == {survivor}, diagnostics
    heartbeat = airflow.query("SELECT event, extra FROM log WHERE dag_id = %s AND run_id = %s AND event = "
                              "'heartbeat timeout'", (dag_id, run_id))
    assert heartbeat, f"the scheduler logged no heartbeat timeout\n{diagnostics}"

    # The pool's bound held through the kill (the killed try held its slot until the scheduler noticed).
    heavy = [(t["start_date"], t["end_date"]) for t in airflow.task_instances(DAGS, history=True)
             if t["pool"] == POOL and t["start_date"] and t["end_date"]]
    most, when = max_overlap(heavy)
    assert most <= POOL_SLOTS, f"{most} tasks of the {POOL} pool ran at once at {when}\n{diagnostics}"

    # The day is published whole: the manifest exists and lists only keys that exist, written by this run.
    folder = f"reports/{model}/dt={day}/"
    manifest = get_json(s3, folder + "manifest.json")
    assert manifest["run"]["run_id"] == run_id and manifest["run"]["try_number"] == 1, manifest["run"]
    for name, artifact in manifest["artifacts"].items():
        assert exists(s3, artifact["key"]), f"the manifest lists {name}, which is missing"
    assert {"summary.json", "data_drift.html", "data_drift.json", "prediction_drift.json", "data_quality.json",
            "decisions.json"} <= set(manifest["artifacts"]), sorted(manifest["artifacts"])
    puts, deletes = versions(s3, folder)
    # publish ran once (the kill hit the task before it), and the decisions were written once
    assert puts.get(folder + "data_drift.json") == 1 and puts.get(folder + "decisions.json") == 1, (puts, deletes)
    assert puts.get(folder + "manifest.json") == 2 and deletes.get(folder + "manifest.json", 0) <= 1, (puts, deletes)
    history = [d["day"] for d in get_json(s3, f"reports/{model}/history.json")["days"]]
    assert history.count(day) == 1 and history == sorted(set(history)), history
    say(f"timings: {json.dumps({k: round(v) for k, v in TIMINGS.items()})}")
