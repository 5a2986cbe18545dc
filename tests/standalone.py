"""A real Airflow for end-to-end tests: `airflow standalone` (scheduler, DAG processor, API server, triggerer,
LocalExecutor) on this project's DAGs and plugins, with a fresh AIRFLOW_HOME and its own metadata database (SQLite in
the home, or a PostgreSQL database created for it and dropped afterwards), driven through the REST API as the UI does.

    with Standalone(home, env={...}, database="postgres") as airflow:
        airflow.call("POST", "/backfills", json={...})
        airflow.wait_for("the backfill", lambda: ..., timeout=1800)

`stop()` (also on any failure) ends every process Airflow started: the process group of `airflow standalone` and
every other process of its session (task runners move to process groups of their own), SIGTERM first, SIGKILL
after a grace period, and drops the PostgreSQL database it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from demo.run import api_token
from monitoring_airflow.warm_workers import ENVIRONMENT as WARM_WORKERS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
FINISHED = ("success", "failed")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_of(pid: int) -> int | None:
    """The session id of a process (field 6 of /proc/<pid>/stat), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])


def session_processes(sid: int) -> list[int]:
    """Every live process of the session `sid`, with its descendants that left it (zombies included)."""
    import psutil

    found = {p for p in (int(d) for d in os.listdir("/proc") if d.isdigit()) if _session_of(p) == sid}
    for pid in list(found):
        try:
            found.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            pass
    return sorted(found)


def live_session_processes(sid: int) -> list[int]:
    """The processes of the session `sid` that still run (zombies wait for their parent, or init, to reap them)."""
    return [p for p in session_processes(sid) if _alive(p)]


def describe(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = "(gone)"
        lines.append(f"{pid} {command[:160]}")
    return "\n".join(lines)


class PostgresDatabase:
    """A database of its own on the local PostgreSQL (trust auth), dropped with every connection to it."""

    def __init__(self, prefix: str = "airflow_e2e") -> None:
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.url = f"postgresql+psycopg2://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{self.name}"
        self.created = False

    @staticmethod
    def _execute(statement: str) -> list[tuple]:
        import psycopg2

        connection = psycopg2.connect(dbname="postgres", connect_timeout=10, **POSTGRES)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create(self) -> None:
        self._execute(f'CREATE DATABASE "{self.name}"')
        self.created = True

    def drop(self) -> None:
        if self.created:
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False

    @classmethod
    def existing(cls, prefix: str = "airflow_e2e") -> list[str]:
        return [r[0] for r in cls._execute(f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%'")]


class Standalone:
    """`airflow standalone` in a process group of its own, and a REST client logged in as its admin."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, *, database: str = "sqlite",
                 parallelism: int = 4, port: int | None = None) -> None:
        if database not in ("sqlite", "postgres"):
            raise ValueError(f"database must be 'sqlite' or 'postgres', not {database!r}")
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.database = database
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "standalone.log"
        self.postgres = PostgresDatabase() if database == "postgres" else None
        self.process: subprocess.Popen | None = None
        self.token: str | None = None
        self.retried: list[str] = []  # REST calls answered 503 (SQLite locked) or 401, retried
        self.env = self._environment(env or {}, parallelism)

    def _environment(self, extra: dict[str, str], parallelism: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "PYTEST_CURRENT_TEST"}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts `airflow <component>`
            "PYTHONPATH": str(ROOT),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # the log servers of the workers and the triggerer: free ports, not 8793/8794 (another Airflow, e.g. the
            # demo, may run on this machine)
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **WARM_WORKERS,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        if self.postgres:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.postgres.url
        else:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{self.home / 'airflow.db'}"
            # wait up to a minute for SQLite's one write lock instead of 5 s (see demo/airflow_settings.py)
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "demo.airflow_settings.SQLITE_CONNECT_ARGS"
        env.update(extra)
        return env

    # --- lifecycle ------------------------------------------------------------------------------------------------
    def __enter__(self) -> Standalone:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 300) -> None:
        if self.postgres:
            self.postgres.create()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(BIN / "airflow"), "standalone"], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT, start_new_session=True)
        log.close()
        self.wait_for("the Airflow API server and its admin login", self.login, timeout, every=2)

    def stop(self, grace: float = 30) -> list[int]:
        """End every process of the standalone's session; returns the pids that needed SIGKILL."""
        killed: list[int] = []
        if self.process is not None:
            sid = self.process.pid
            members = session_processes(sid)
            try:
                os.killpg(sid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for pid in members:  # task runners live in process groups of their own
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.process.poll()
                if not live_session_processes(sid):
                    break
                time.sleep(0.5)
            for pid in live_session_processes(sid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.process = None
        if self.postgres:
            self.postgres.drop()
        return killed

    # --- REST API -------------------------------------------------------------------------------------------------
    def login(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {self.process.returncode}\n{self.log_tail()}")
        self.token = api_token(self.base_url, self.home / "simple_auth_manager_passwords.json.generated")
        return self.token is not None

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204), attempts: int = 8,
             **kwargs) -> Any:
        """One REST call under /api/v2; 503 (SQLite was locked) and 401 (token expired) are retried."""
        response = None
        for attempt in range(attempts):
            response = requests.request(method, f"{self.base_url}/api/v2{path}", timeout=120,
                                        headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
            if response.status_code == 401:
                self.login()
            elif response.status_code != 503:
                break
            self.retried.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
            time.sleep(2 + 2 * attempt)
        if response.status_code not in expect:
            detail = ""
            if response.status_code >= 500:  # the API server logs the cause under the error id it answered
                found = re.search(r"look for ID (\w+)", response.text)
                detail = "\n" + (self.log_around(found.group(1)) if found else self.log_tail(60))
            raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}{detail}")
        return response.json() if response.content else None

    def dag_exists(self, dag_id: str) -> bool:
        return self.call("GET", f"/dags/{dag_id}", expect=(200, 404)).get("dag_id") == dag_id

    def set_paused(self, dag_id: str, paused: bool) -> None:
        answer = self.call("PATCH", f"/dags/{dag_id}", params={"update_mask": "is_paused"},
                           json={"is_paused": paused})
        assert answer["is_paused"] is paused, answer

    def runs(self, dag_id: str) -> list[dict]:
        found, offset = [], 0
        while True:
            page = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "offset": offset,
                                                                       "order_by": "logical_date"})
            found += page["dag_runs"]
            offset += len(page["dag_runs"])
            if not page["dag_runs"] or offset >= page["total_entries"]:
                return found

    def task_instances(self, dag_id: str, run_id: str = "~") -> list[dict]:
        found, offset = [], 0
        while True:
            page = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                             params={"limit": 100, "offset": offset})
            found += page["task_instances"]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return found

    # --- waiting and diagnostics ----------------------------------------------------------------------------------
    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, every: float = 10,
                 dag_ids: tuple[str, ...] = ()) -> Any:
        """Poll `check` until it returns something truthy; on timeout fail with the standalone's log tail and the
        task-instance states of `dag_ids`."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"airflow standalone exited with {self.process.returncode} while waiting for "
                                     f"{what}\n{self.diagnostics(dag_ids)}")
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} after {timeout:.0f}s\n{self.diagnostics(dag_ids)}")
            time.sleep(every)

    def log_tail(self, lines: int = 120) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no standalone log)"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def log_around(self, needle: str, after: int = 60) -> str:
        """The standalone log from the first line containing `needle` on."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no standalone log)"
        start = next((i for i, line in enumerate(text) if needle in line), None)
        if start is None:
            return f"({needle!r} not in {self.log_path})\n" + "\n".join(text[-after:])
        return f"--- {self.log_path} from {needle!r} ---\n" + "\n".join(text[start:start + after])

    def task_log_tail(self, ti: dict, lines: int = 40) -> str:
        folder = (self.home / "logs" / f"dag_id={ti['dag_id']}" / f"run_id={ti['dag_run_id']}" /
                  f"task_id={ti['task_id']}")
        files = sorted(folder.glob("attempt=*.log"))
        if not files:
            return f"(no log under {folder})"
        text = files[-1].read_text(errors="replace").splitlines()
        return f"--- {files[-1]} ---\n" + "\n".join(text[-lines:])

    def diagnostics(self, dag_ids: tuple[str, ...] = ()) -> str:
        parts = [self.log_tail()]
        for dag_id in dag_ids:
            try:
                tis = self.task_instances(dag_id)
            except Exception as exc:  # noqa: BLE001 (diagnostics must not hide the original failure)
                parts.append(f"(task instances of {dag_id} unavailable: {exc})")
                continue
            by_state: dict[str, int] = {}
            for ti in tis:
                by_state[str(ti["state"])] = by_state.get(str(ti["state"]), 0) + 1
            parts.append(f"--- task instances of {dag_id}: {by_state} ---")
            for ti in tis:
                if ti["state"] not in ("success", "skipped"):
                    parts.append(f"{ti['dag_run_id']} {ti['task_id']} {ti['state']} try {ti.get('try_number')}")
            for ti in [t for t in tis if t["state"] in ("failed", "up_for_retry", "upstream_failed")][:3]:
                parts.append(self.task_log_tail(ti))
        if self.retried:
            parts.append("--- retried REST calls ---\n" + "\n".join(self.retried[-20:]))
        return "\n".join(parts)


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (a zombie's parent reaps it; it holds no resources)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def stopped_after(standalone: Standalone, say: Callable[[str], None]):
    """Whatever happens in the block (a CI timeout's SIGTERM included: it unwinds the block), stop every process
    `standalone` started, then check that none of its session is left and that its PostgreSQL database is gone."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        yield standalone
    finally:
        sid = standalone.process.pid if standalone.process else None
        killed = standalone.stop()
        signal.signal(signal.SIGTERM, previous)
        if standalone.retried:
            say("retried REST calls:\n  " + "\n  ".join(standalone.retried))
        if killed:
            say(f"needed SIGKILL: {killed}")
        if sid is not None:
            left = live_session_processes(sid)
            assert not left, f"processes of airflow standalone left running:\n{describe(left)}"
        if standalone.postgres:
            assert standalone.postgres.name not in PostgresDatabase.existing(), "the test database was not dropped"
