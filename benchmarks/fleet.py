"""A fleet of small models through a real Airflow: model-days a minute, the task time of a model-day and one day run
alone, with cold task processes (every task imports what it needs) and with warm ones
(monitoring_airflow/warm_workers.py), in one run.

    .venv/bin/python -m benchmarks.fleet                          # 30 models, one 3,000-row day each
    .venv/bin/python -m benchmarks.fleet --models 10 --modes warm # a quicker look

Starts a local S3 server (moto, its own process) with N models of the `benchmarks.bench` workload shape (24 numeric
and 6 categorical features; a 20,000-row reference; one day of `--rows` rows, no drift), fits each model's reference
profile once up front (as a fleet's daily runs find it fitted), then for each mode: `airflow standalone`
(LocalExecutor, PostgreSQL metadata database created for the run and dropped after, `core.parallelism` 4 as for a
2-core worker), one backfill of the day per model created through the REST API as the UI's form does, timed from
the first backfill's creation until every run finished; then one more day of the first model, run alone (the time
a day's run takes when it does not queue behind the fleet). Needs PostgreSQL on 127.0.0.1:5432 (trust auth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import bench
from monitoring_airflow.warm_workers import ENVIRONMENT as WARM_WORKERS
from tests.standalone import Standalone, free_port, stopped_after

REFERENCE_ROWS = 20_000
COLD = {"AIRFLOW__SCHEDULER__MP_START_METHOD": "", "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "",
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": "{}"}


def names(count: int) -> list[str]:
    return [f"fleet_{i:02d}" for i in range(count)]


def config_text(models: list[str], start: dt.date) -> str:
    entries = "".join(bench.model_entry(model, [
        'schedule: "0 0 * * *"', f'start_date: "{start.isoformat()}"', f"retraining: {{dag_id: retrain_{model}}}"],
        storage=f"{{bucket: {bench.BUCKET}, log_format: parquet, aws_conn_id: monitoring_s3}}") for model in models)
    return f"models:\n{entries}"


def generate(url: str, models: list[str], rows: int, day: dt.date, alone: list[dt.date]) -> None:
    """Each model's reference and its day; the first model's `alone` days too (the single runs timed at the end)."""
    client = bench._client(url)
    client.create_bucket(Bucket=bench.BUCKET)
    for n, model in enumerate(models):
        bench._put_table(client, f"reference/{model}/v=1/part-0.parquet",
                         bench._rows(np.random.default_rng(n), REFERENCE_ROWS, 0, False, day - dt.timedelta(days=30)))
        client.put_object(Bucket=bench.BUCKET, Key=f"reference/{model}/CURRENT.json", Body=b'{"version": "1"}')
        for logged in (day, *alone) if n == 0 else (day,):
            bench._put_table(client, f"predictions/{model}/dt={logged.isoformat()}/part-0000.parquet",
                             bench._rows(np.random.default_rng(1000 + n + logged.toordinal()), rows, 10**8, False,
                                         logged))


def fit_profiles(url: str, config: Path) -> float:
    """Every model's reference profile, fitted once (what the first run of a version does)."""
    from monitoring import reference_store
    from monitoring.config import load_config
    from monitoring.layout import ModelLayout
    from monitoring.storage import ObjectStore

    started = time.monotonic()
    store = ObjectStore(bench._client(url), bench.BUCKET)
    for model in load_config(config).models:
        reference_store.load_or_fit(store, model, ModelLayout.of(model))
    return time.monotonic() - started


def run_fleet(mode: str, models: list[str], day: dt.date, alone: list[dt.date], env: dict[str, str], home: Path,
              parallelism: int) -> dict:
    dag_ids = [f"monitor_{m}" for m in models]
    airflow = Standalone(home, {**env, **(WARM_WORKERS if mode == "warm" else COLD)}, database="postgres",
                         parallelism=parallelism)
    with stopped_after(airflow, print):
        airflow.start()
        airflow.wait_for("the DAGs to be parsed", lambda: all(airflow.dag_exists(d) for d in dag_ids), 600, every=5)
        for dag_id in dag_ids:
            airflow.set_paused(dag_id, False)
        started = time.monotonic()
        for dag_id in dag_ids:
            airflow.call("POST", "/backfills", json={
                "dag_id": dag_id, "from_date": f"{day.isoformat()}T00:00:00.000Z",
                "to_date": f"{day.isoformat()}T23:59:59.999Z", "max_active_runs": 1, "reprocess_behavior": "none",
                "run_backwards": False, "run_on_latest_version": True, "dag_run_conf": None})

        def finished():
            runs = [r for d in dag_ids for r in airflow.runs(d) if r["run_type"] == "backfill"]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            print(f"  {mode}: {len(done)}/{len(dag_ids)} model-days finished ({time.monotonic() - started:.0f}s)",
                  flush=True)
            return runs if len(done) == len(dag_ids) else None

        runs = airflow.wait_for(f"the {mode} fleet", finished, 4 * 3600, every=15, dag_ids=tuple(dag_ids[:3]))
        seconds = time.monotonic() - started
        durations: dict[str, list[float]] = {}
        task_time: dict[str, float] = {}  # per run: the sum of its tasks' durations
        for dag_id in dag_ids:
            for ti in airflow.task_instances(dag_id):
                if ti.get("duration") and ti["state"] == "success":
                    durations.setdefault(ti["task_id"], []).append(ti["duration"])
                    task_time[ti["dag_run_id"] + dag_id] = task_time.get(ti["dag_run_id"] + dag_id, 0) + ti["duration"]
        # More days of the first model, one after the other on the idle Airflow: a day run's own time, not the
        # fleet's queue (the median of them; the timeline is the last one's).
        alone_seconds, states = [], []
        for other in alone:
            run_id = f"alone__{other.isoformat()}"
            triggered = time.monotonic()
            # No logical date: one before the DAGs' start_date (today, see main) would make a run without tasks.
            airflow.call("POST", f"/dags/{dag_ids[0]}/dagRuns", json={
                "dag_run_id": run_id, "logical_date": None, "conf": {"day": other.isoformat()}})
            single = airflow.wait_for("the single day run", lambda: (
                r if (r := airflow.call("GET", f"/dags/{dag_ids[0]}/dagRuns/{run_id}"))["state"] in ("success",
                                                                                                   "failed")
                else None), 1800, every=0.25, dag_ids=dag_ids[:1])
            alone_seconds.append(time.monotonic() - triggered)  # from the trigger to the run's end, as a user waits
            states.append(single["state"])
        alone_tis = airflow.task_instances(dag_ids[0], run_id)
    return {"seconds": seconds, "per_minute": len(models) / (seconds / 60),
            "task_time": statistics.median(task_time.values()), "alone": statistics.median(alone_seconds),
            "alone_all": alone_seconds, "alone_state": "/".join(sorted(set(states))), "alone_tasks": len(alone_tis),
            "timeline": timeline(alone_tis),
            "failed": [r["dag_id"] for r in runs if r["state"] != "success"],
            "tasks": {t: statistics.median(v) for t, v in durations.items()}}


def timeline(tis: list[dict]) -> list[tuple[str, float, float, float]]:
    """Each task of a run that ran: (task, queued, started, ended) in seconds from the first task's queueing."""
    def at(value: str | None) -> float | None:
        return dt.datetime.fromisoformat(value).timestamp() if value else None

    ran = [(ti["task_id"], at(ti.get("queued_when")) or at(ti["start_date"]), at(ti["start_date"]),
            at(ti["end_date"])) for ti in tis if ti.get("start_date") and ti.get("end_date")]
    origin = min(q for _, q, _, _ in ran)
    return sorted(((task, q - origin, s - origin, e - origin) for task, q, s, e in ran), key=lambda t: t[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--rows", type=int, default=3_000, help="rows of each model's day")
    parser.add_argument("--parallelism", type=int, default=4, help="Airflow's core.parallelism (task slots)")
    parser.add_argument("--modes", default="cold,warm", help="cold (each task imports), warm (preloaded workers)")
    parser.add_argument("--set", action="append", default=[], metavar="AIRFLOW__SECTION__KEY=VALUE",
                        help="an Airflow setting for every mode's Airflow (repeatable), to measure its effect")
    parser.add_argument("--alone", type=int, default=3, help="days of the first model run alone after the fleet")
    args = parser.parse_args(argv)

    today = dt.datetime.now(dt.timezone.utc).date()
    day = today - dt.timedelta(days=3)
    alone = [today - dt.timedelta(days=2)] + [day - dt.timedelta(days=1 + i) for i in range(args.alone - 1)]
    models = names(args.models)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        bench.wait_for_port(port)
        generate(url, models, args.rows, day, alone)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "models.yaml"
            # start_date today: no scheduled run of yesterday appears on unpause (catchup is off); the backfilled
            # day lies before it, as a backfill of history does.
            config.write_text(config_text(models, today))
            env = {"MONITORING_CONFIG": str(config),
                   "AIRFLOW_CONN_MONITORING_S3": json.dumps({
                       "conn_type": "aws", "login": "bench", "password": "bench",
                       "extra": {"endpoint_url": url, "region_name": "us-east-1"}}),
                   "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                   **dict(setting.split("=", 1) for setting in args.set)}
            os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
            print(f"{args.models} models x {args.rows:,} rows on {day} (reference {REFERENCE_ROWS:,} rows each); "
                  f"profiles fitted once in {fit_profiles(url, config):.0f}s", flush=True)
            for mode in args.modes.split(","):
                results[mode] = run_fleet(mode, models, day, alone, env, Path(tmp) / f"airflow-{mode}",
                                          args.parallelism)
                r = results[mode]
                print(f"{mode}: {args.models} model-days in {r['seconds']:.0f}s = {r['per_minute']:.1f} model-days a "
                      f"minute; task time per model-day (median) {r['task_time']:.1f}s; one day run alone "
                      f"{r['alone']:.1f}s (median of {', '.join(f'{s:.1f}' for s in r['alone_all'])}; "
                      f"{r['alone_state']}, {r['alone_tasks']} tasks ran); "
                      f"failed {r['failed'] or 'none'}", flush=True)
                print("  one day alone, each task (queued/started/ended, s from the first queueing): " + ", ".join(
                    f"{task} {q:.1f}/{s:.1f}/{e:.1f}" for task, q, s, e in r["timeline"]), flush=True)
                print("  median task: " + ", ".join(f"{t} {s:.1f}s" for t, s in
                                                    sorted(r["tasks"].items(), key=lambda kv: -kv[1])), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if "cold" in results and "warm" in results:
        print(f"warm / cold: {results['warm']['per_minute'] / results['cold']['per_minute']:.1f}x the model-days a "
              f"minute; task time per model-day {results['cold']['task_time']:.1f}s -> "
              f"{results['warm']['task_time']:.1f}s; one day run alone {results['cold']['alone']:.1f}s -> "
              f"{results['warm']['alone']:.1f}s")
    return 1 if any(r["failed"] for r in results.values()) else 0


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    sys.exit(main())
