"""A real CeleryExecutor Airflow for end-to-end tests: PostgreSQL metadata DB, Redis broker, and every component as a
separate process, as in docker-compose.yaml (scheduler, DAG processor, API server, Celery workers), on this
project's DAGs and plugins, with a fresh AIRFLOW_HOME.

    with CeleryCluster(home, env={...}) as cluster:      # creates the database, migrates it, flushes the Redis DB
        cluster.airflow("pools", "set", "evidently", "2", "Evidently tasks")
        cluster.start_core()                             # scheduler, dag-processor, api-server; logged in
        cluster.start_worker("worker1", queues="default,heavy")
        cluster.call("POST", "/backfills", json={...})
        cluster.kill_worker("worker1")                   # SIGKILL: the worker, its pool and its task processes

Each process runs in a session of its own (its log in the home), so `stop()` (also on any failure) ends every
process it started, and the task processes they forked (task runners move to process groups of their own, but
stay in the session): SIGTERM first, SIGKILL after a grace period. It then drops the database and flushes the Redis
database it used.

Workers report their name as the task instances' `hostname` (`[core] hostname_callable` = `worker_hostname` below):
on one machine every worker would otherwise have the same host name.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from demo.run import api_token
from monitoring_airflow.warm_workers import ENVIRONMENT as WARM_WORKERS

from tests.standalone import (BIN, POSTGRES, ROOT, PostgresDatabase, describe, free_port,
                              live_session_processes, session_processes)

REDIS = {"host": "127.0.0.1", "port": 6379}
WORKER_NAME_VARIABLE = "MONITORING_E2E_WORKER"


def worker_hostname() -> str:
    """`[core] hostname_callable` of the test's workers: the worker's name (else the machine's name)."""
    import socket

    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


class RedisDatabase:
    """A Redis database number nobody uses (no key in it), flushed before and after."""

    def __init__(self) -> None:
        import random

        import redis

        candidates = list(range(1, 16))
        random.shuffle(candidates)
        for number in candidates:
            client = redis.Redis(db=number, socket_timeout=10, **REDIS)
            if client.dbsize() == 0:
                self.number, self.client = number, client
                break
        else:
            raise RuntimeError("every Redis database 1-15 holds keys: none is free for the test's broker")
        self.url = f"redis://{REDIS['host']}:{REDIS['port']}/{self.number}"
        self.client.flushdb()

    def flush(self) -> None:
        self.client.flushdb()


class CeleryCluster:
    def __init__(self, home: Path, env: dict[str, str] | None = None, *, parallelism: int = 8,
                 heartbeat_timeout: int = 30, max_retry_delay: int = 10) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.postgres = PostgresDatabase(prefix="airflow_celery_e2e")
        self.redis: RedisDatabase | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.token: str | None = None
        self.extra_env = env or {}
        self.parallelism = parallelism
        self.heartbeat_timeout = heartbeat_timeout
        self.max_retry_delay = max_retry_delay
        self.env: dict[str, str] = {}

    # --- environment ------------------------------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "PYTEST_CURRENT_TEST"}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),  # tests.cluster.worker_hostname
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            # The DAG's retry delay (2 minutes, exponential with jitter: 2-4 minutes for the first retry) capped for
            # the test; a global setting that no DAG can override (read where the scheduler computes the delay).
            "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": str(self.max_retry_delay),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            # psycopg2 named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            # every component signs and checks the task tokens with the same secret
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # a lost task (its worker died) is noticed after this many seconds without a heartbeat
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **WARM_WORKERS,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        env.update(self.extra_env)
        return env

    # --- lifecycle --------------------------------------------------------------------------------------------------
    def __enter__(self) -> CeleryCluster:
        try:
            self.prepare()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def prepare(self) -> None:
        """The database and the Redis DB of this cluster, the environment, `airflow db migrate`."""
        self.redis = RedisDatabase()
        self.postgres.create()
        self.env = self._environment()
        self.airflow("db", "migrate", timeout=600)

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run an `airflow` CLI command with the cluster's environment; its output is appended to cli.log."""
        result = subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=ROOT, capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        with open(self.home / "cli.log", "a") as log:
            log.write(f"$ airflow {' '.join(args)}  -> {result.returncode}\n{result.stdout}\n{result.stderr}\n")
        if result.returncode != 0:
            raise AssertionError(f"`airflow {' '.join(args)}` exited with {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """`airflow <args>` as the process `name`, in a session of its own, its output in <home>/<name>.log."""
        if name in self.processes and self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        log = open(self.log_path(name), "ab")
        process = subprocess.Popen([str(BIN / "airflow"), *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**self.env, **(env or {})}, cwd=ROOT,
                                   start_new_session=True)
        log.close()
        self.processes[name] = process
        return process

    def start_core(self, timeout: float = 300) -> None:
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.start("api-server", "api-server", "--port", str(self.port))
        self.wait_for("the API server and its admin login", self.login, timeout, every=2)

    def start_worker(self, name: str, queues: str = "default", concurrency: int = 2,
                     timeout: float = 180) -> subprocess.Popen:
        """`airflow celery worker` named `name@<host>`, serving `queues`; returns once Celery says it is ready."""
        process = self.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency",
                             str(concurrency), "--queues", queues, "--skip-serve-logs",
                             env={"AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.cluster.worker_hostname",
                                  WORKER_NAME_VARIABLE: name})

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"Celery worker {name} exited with {process.returncode}\n"
                                     f"{self.log_tail(name, 80)}")
            return " ready." in self.log_path(name).read_text(errors="replace")

        self.wait_for(f"Celery worker {name} to be ready", ready, timeout, every=1)
        return process

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a worker as a crashed machine would end it: its Celery main process, its pool processes and the
        task processes they started (in process groups of their own, same session). Returns the pids killed."""
        process = self.processes[name]
        members = session_processes(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        killed = []
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)
        return killed

    def stop(self, grace: float = 30) -> list[int]:
        """End every process started here (SIGTERM, then SIGKILL after `grace`), drop the database, flush Redis.
        Returns the pids that needed SIGKILL."""
        killed: list[int] = []
        sessions = {name: p.pid for name, p in self.processes.items()}
        members = {pid for sid in sessions.values() for pid in session_processes(sid)}
        # workers first: they hand their running tasks back while the scheduler still runs
        for name in sorted(sessions, key=lambda n: n in ("scheduler", "dag-processor", "api-server")):
            try:
                os.killpg(sessions[name], signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in members:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.leftovers():
            for process in self.processes.values():
                process.poll()
            time.sleep(0.5)
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.postgres.drop()
        finally:
            if self.redis is not None:
                self.redis.flush()
        return killed

    def leftovers(self) -> list[int]:
        """Live processes of the sessions started here (the tasks' process groups included)."""
        return sorted({pid for p in self.processes.values() for pid in live_session_processes(p.pid)})

    def log_path(self, name: str) -> Path:
        return self.home / f"{name}.log"

    # --- REST API -----------------------------------------------------------------------------------------------------
    def login(self) -> bool:
        for name in ("scheduler", "dag-processor", "api-server"):
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}\n{self.log_tail(name)}")
        self.token = api_token(self.base_url, self.home / "simple_auth_manager_passwords.json.generated")
        return self.token is not None

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204), **kwargs) -> Any:
        """One REST call under /api/v2 (401: logs in again and retries)."""
        response = None
        for _ in range(3):
            response = requests.request(method, f"{self.base_url}/api/v2{path}", timeout=120,
                                        headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
            if response.status_code != 401:
                break
            self.login()
        if response.status_code not in expect:
            raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}\n"
                                 f"{self.log_tail('api-server', 60)}")
        return response.json() if response.content else None

    def set_paused(self, dag_id: str, paused: bool) -> None:
        answer = self.call("PATCH", f"/dags/{dag_id}", params={"update_mask": "is_paused"},
                           json={"is_paused": paused})
        assert answer["is_paused"] is paused, answer

    def dag_exists(self, dag_id: str) -> bool:
        return (self.call("GET", f"/dags/{dag_id}", expect=(200, 404)) or {}).get("dag_id") == dag_id

    # --- the metadata database --------------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[dict]:
        import psycopg2
        import psycopg2.extras

        connection = psycopg2.connect(dbname=self.postgres.name, connect_timeout=10, **POSTGRES)
        try:
            with connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                cursor.execute(sql, params)
                return [dict(row) for row in cursor.fetchall()]
        finally:
            connection.close()

    def task_instances(self, dag_ids: tuple[str, ...] = (), history: bool = False) -> list[dict]:
        """Task instances of these DAGs (all when empty) from the metadata DB; with `history`, the earlier tries
        (task_instance_history) too, each row with `try_number`."""
        columns = ("dag_id, run_id, task_id, map_index, try_number, state, hostname, pool, queue, start_date, "
                   "end_date, pid")
        where, params = ("WHERE dag_id = ANY(%s)", (list(dag_ids),)) if dag_ids else ("", ())
        rows = self.query(f"SELECT {columns}, 'current' AS source FROM task_instance {where}", params)
        if history:
            rows += self.query(f"SELECT {columns}, 'history' AS source FROM task_instance_history {where}", params)
        return rows

    def dag_runs(self, dag_ids: tuple[str, ...] = ()) -> list[dict]:
        where, params = ("WHERE dag_id = ANY(%s)", (list(dag_ids),)) if dag_ids else ("", ())
        return self.query(f"SELECT dag_id, run_id, run_type, state, logical_date, start_date, end_date, conf, "
                          f"backfill_id FROM dag_run {where} ORDER BY dag_id, logical_date", params)

    # --- waiting and diagnostics ------------------------------------------------------------------------------------
    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if name in ("scheduler", "dag-processor", "api-server") and process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}\n{self.diagnostics()}")

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, every: float = 5,
                 dag_ids: tuple[str, ...] = ()) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            if what != "the API server and its admin login":
                self.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s\n{self.diagnostics(dag_ids)}")
            time.sleep(every)

    def log_tail(self, name: str, lines: int = 60) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log of {name})"
        return f"--- last {lines} lines of {self.log_path(name)} ---\n" + "\n".join(text[-lines:])

    def task_log_tail(self, ti: dict, lines: int = 30) -> str:
        folder = self.home / "logs" / f"dag_id={ti['dag_id']}" / f"run_id={ti['run_id']}" / f"task_id={ti['task_id']}"
        files = sorted(folder.glob("attempt=*.log"))
        if not files:
            return f"(no task log under {folder})"
        text = files[-1].read_text(errors="replace").splitlines()
        return f"--- {files[-1]} ---\n" + "\n".join(text[-lines:])

    def describe_task_instances(self, dag_ids: tuple[str, ...] = ()) -> str:
        try:
            tis = self.task_instances(dag_ids, history=True)
        except Exception as exc:  # noqa: BLE001 (diagnostics must not hide the original failure)
            return f"(task instances unavailable: {exc})"
        lines = [f"{t['dag_id']} {t['run_id']} {t['task_id']} try {t['try_number']} {t['state']} on {t['hostname']} "
                 f"pool {t['pool']} queue {t['queue']} {t['start_date']} -> {t['end_date']} ({t['source']})"
                 for t in sorted(tis, key=lambda t: (t["dag_id"], t["run_id"], str(t["start_date"])))]
        return "--- task instances ---\n" + "\n".join(lines)

    def diagnostics(self, dag_ids: tuple[str, ...] = ()) -> str:
        parts = [self.describe_task_instances(dag_ids)]
        try:
            parts.append("--- dag runs ---\n" + "\n".join(
                f"{r['dag_id']} {r['run_id']} {r['run_type']} {r['state']}" for r in self.dag_runs(dag_ids)))
        except Exception as exc:  # noqa: BLE001
            parts.append(f"(dag runs unavailable: {exc})")
        try:
            bad = [t for t in self.task_instances(dag_ids) if t["state"] in ("failed", "up_for_retry",
                                                                              "upstream_failed")]
            parts += [self.task_log_tail(t) for t in bad[:3]]
        except Exception:  # noqa: BLE001
            pass
        for name in self.processes:
            parts.append(self.log_tail(name, 40))
        live = self.leftovers()
        parts.append("--- live processes ---\n" + describe(live))
        return "\n".join(parts)


__all__ = ["CeleryCluster", "RedisDatabase", "worker_hostname", "free_port"]
