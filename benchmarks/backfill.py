"""A 30-day backfill of W1 days (1M rows each) through a real Airflow, timed.

    .venv/bin/python -m benchmarks.backfill               # 30 days
    .venv/bin/python -m benchmarks.backfill --days 5      # a quicker look

Starts a local S3 server (moto, its own process) with 30 days of the W1 workload of `benchmarks.bench`, then
`airflow standalone` (scheduler, DAG processor, API server, LocalExecutor; PostgreSQL as its metadata database, a
database created for the run and dropped after) on this project's DAGs, creates the backfill through the REST API as
the UI's Backfill form does, and prints the wall time from its creation until every run finished, with the time
of each task kind. Needs PostgreSQL on 127.0.0.1:5432 (trust auth), as `make test` does.
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

from benchmarks import bench
from tests.standalone import Standalone, free_port, stopped_after

MODEL = "w1"
DAG_ID = f"monitor_{MODEL}"


def config_text(first: dt.date, max_active_runs: int) -> str:
    return "models:\n" + bench.model_entry(MODEL, [
        'schedule: "0 0 * * *"', f'start_date: "{first.isoformat()}"', f"max_active_runs: {max_active_runs}",
        "drift: {dataset_drift_share: 0.2}", f"retraining: {{dag_id: retrain_{MODEL}, cooldown_days: 365}}"],
        storage=f"{{bucket: {bench.BUCKET}, log_format: parquet, aws_conn_id: monitoring_s3}}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=bench.WORKLOADS["w1"], help="rows a day (default 1M)")
    parser.add_argument("--parallelism", type=int, default=4, help="Airflow's core.parallelism (task slots)")
    parser.add_argument("--max-active-runs", type=int, default=3, help="days of the backfill run at once")
    args = parser.parse_args(argv)

    today = dt.datetime.now(dt.timezone.utc).date()
    days = [today - dt.timedelta(days=n) for n in range(args.days + 1, 1, -1)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench.wait_for_port(port)
        started = time.monotonic()
        for day in days:
            bench.generate(url, MODEL, args.rows, day)
        print(f"{len(days)} days of {args.rows:,} rows generated in {time.monotonic() - started:.0f}s "
              f"({days[0]} to {days[-1]})", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "models.yaml"
            config.write_text(config_text(days[0], args.max_active_runs))
            env = {"MONITORING_CONFIG": str(config),
                   "AIRFLOW_CONN_MONITORING_S3": json.dumps({
                       "conn_type": "aws", "login": "bench", "password": "bench",
                       "extra": {"endpoint_url": url, "region_name": "us-east-1"}}),
                   "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1"}
            airflow = Standalone(Path(tmp) / "airflow", env, database="postgres", parallelism=args.parallelism)
            with stopped_after(airflow, print):  # every process it started ends, even on Ctrl-C or SIGTERM
                airflow.start()
                airflow.wait_for("the DAG to be parsed", lambda: airflow.dag_exists(DAG_ID), 300, every=3)
                airflow.set_paused(DAG_ID, False)
                body = {"dag_id": DAG_ID, "from_date": f"{days[0].isoformat()}T00:00:00.000Z",
                        "to_date": f"{days[-1].isoformat()}T23:59:59.999Z", "max_active_runs": args.max_active_runs,
                        "reprocess_behavior": "completed", "run_backwards": False, "run_on_latest_version": True,
                        "dag_run_conf": None}
                started = time.monotonic()
                backfill = airflow.call("POST", "/backfills", json=body)

                def finished():
                    runs = [r for r in airflow.runs(DAG_ID) if r["run_type"] == "backfill"]
                    done = [r for r in runs if r["state"] in ("success", "failed")]
                    print(f"  {len(done)}/{len(days)} runs finished ({time.monotonic() - started:.0f}s)", flush=True)
                    return runs if len(done) == len(days) else None

                runs = airflow.wait_for("the backfill", finished, 4 * 3600, every=30, dag_ids=(DAG_ID,))
                seconds = time.monotonic() - started
                failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
                durations: dict[str, list[float]] = {}
                for ti in airflow.task_instances(DAG_ID):
                    if ti.get("duration") and ti["state"] == "success":
                        durations.setdefault(ti["task_id"], []).append(ti["duration"])
                print(f"\nbackfill {backfill['id']} of {len(days)} days x {args.rows:,} rows: {seconds / 60:.1f} min "
                      f"({seconds / len(days):.0f} s a day; parallelism {args.parallelism}, max_active_runs "
                      f"{args.max_active_runs}); {len(failed)} failed run(s) {failed or ''}")
                for task, values in sorted(durations.items(), key=lambda kv: -statistics.mean(kv[1])):
                    print(f"  {task:20s} median {statistics.median(values):6.1f} s  max {max(values):6.1f} s  "
                          f"({len(values)} runs)")
                return 1 if failed else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    sys.exit(main())
