"""Warm task processes: the Airflow settings that import `monitoring.worker_preload` once per worker, before it forks
its task processes (Airflow 3 forks every task from a long-lived process; anything imported inside a task dies with
it). One set of environment variables for both executors; each executor reads its own and ignores the other's:

- **CeleryExecutor**: Celery's `imports`, passed through `[celery] extra_celery_config`, are imported by the worker's
  main process before it forks its pool (the scheduler, the DAG processor and the API server never import them).
- **LocalExecutor**: `[scheduler] mp_start_method = forkserver` with `mp_forkserver_preload`: the forkserver imports
  the modules once and every LocalExecutor worker is forked from it; the scheduler's own process and loop are left
  alone. `airflow` comes first (it puts `$AIRFLOW_HOME/config` and the project on the path); a module that fails to
  import there is skipped silently, which is why the task log says whether Evidently was preloaded
  (`monitoring.reports`).

The same variables make the scheduler prompt: `[scheduler] scheduler_idle_sleep_time` 0.2 s instead of 1 s. A
day's run is ten tasks one after the other, and an idle scheduler notices each task's end only when it wakes: a
lone warm day run took 11.2 s with the default and 8.2 s with 0.2 (`benchmarks/fleet.py --set`, 2026-12-02), the
fleet's throughput the same (the scheduler sleeps only when a loop found nothing to do). The price: an idle
scheduler loops five times as often (7% of a core, measured on the demo's idle Airflow on SQLite).

Used by the demo (`demo/run.py`), the tests' Airflow (`tests/standalone.py`, `tests/cluster.py`) and
`docker-compose.yaml` (which repeats them as YAML: a test keeps the two equal). A worker picks up a changed library
version only when it restarts; the project's own modules are not preloaded, so edits to them show at once.
"""

from __future__ import annotations

import json

PRELOAD = "monitoring.worker_preload"

ENVIRONMENT = {
    "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"imports": [PRELOAD]}),
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(
        ["airflow", "airflow.executors.local_executor", "airflow.sdk.execution_time.supervisor", PRELOAD]),
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
}
