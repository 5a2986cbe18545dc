"""The demo: a local S3 server, demo data, `airflow standalone`, and a 21-day backfill of every model through Airflow.

    python -m demo.run start     # what `make demo` runs
    python -m demo.run stop      # what `make demo-stop` runs

Everything it writes stays in the repository's ignored `.demo/` folder; `stop` ends every process it started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitoring.config import ModelConfig

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".demo"
BIN = Path(sys.executable).parent
BUCKET = "ml-monitoring"
CONFIG = ROOT / "config" / "models.yaml"
DEMO_CONFIG = STATE / "models.yaml"  # the shipped config plus a webhook alert channel to the demo's receiver
DAYS = 21
MAX_ACTIVE_RUNS = 2  # per model's backfill
# The approval model's days from its drift on are not backfilled: the demo replays them one by one as its daily
# schedule ran them, so they page, ask for retraining and are served by the version in use (see `replay`).
LIVE_MODEL, LIVE_FROM = "loan_approval", 12
S3_PORT = int(os.environ.get("DEMO_S3_PORT", "5055"))
AIRFLOW_PORT = int(os.environ.get("DEMO_AIRFLOW_PORT", "8080"))
ALERTS_PORT = int(os.environ.get("DEMO_ALERTS_PORT", "5056"))
NOTIFICATIONS = STATE / "notifications.jsonl"
DIGEST_DAG = "monitoring_alert_digest"
ENDPOINT = f"http://127.0.0.1:{S3_PORT}"
PASSWORD_FILE = STATE / "airflow" / "simple_auth_manager_passwords.json.generated"


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def airflow_env() -> dict[str, str]:
    from monitoring_airflow.warm_workers import ENVIRONMENT as WARM_WORKERS

    home = STATE / "airflow"
    connection = {"conn_type": "aws", "login": "demo", "password": "demo",
                  "extra": {"endpoint_url": ENDPOINT, "region_name": "us-east-1"}}
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API__PORT": str(AIRFLOW_PORT),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{AIRFLOW_PORT}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "demo.airflow_settings.SQLITE_CONNECT_ARGS",
        "AIRFLOW_CONN_MONITORING_S3": json.dumps(connection),
        "AIRFLOW_CONN_DEMO_ALERTS": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": ALERTS_PORT,
                                                "schema": "http"}),
        "MONITORING_CONFIG": str(DEMO_CONFIG),
        "MONITORING_REPORTS_BASE_URL": f"{ENDPOINT}/{BUCKET}",  # the plugin's task links open the local pages
        "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        **WARM_WORKERS,  # the heavy imports once per worker, not once per task
    }


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_process(name: str, command: list[str], env: dict[str, str]) -> None:
    log = open(STATE / f"{name}.log", "ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                               start_new_session=True)
    (STATE / f"{name}.pid").write_text(str(process.pid))
    say(f"started {name} (pid {process.pid}, log {STATE / (name + '.log')})")


def wait_for(what: str, check, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise SystemExit(f"[demo] gave up waiting for {what} after {timeout:.0f}s; see the logs in {STATE}")


def run_airflow(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    with open(STATE / "airflow-cli.log", "a") as log:
        log.write(f"$ airflow {' '.join(args)}\n{result.stdout}\n{result.stderr}\n")
    if result.returncode != 0:
        raise SystemExit(f"[demo] `airflow {' '.join(args)}` failed; see {STATE / 'airflow-cli.log'}")


def api_token(base_url: str, password_file: Path, user: str = "admin") -> str | None:
    """A REST API token of SimpleAuthManager's `user` (password from the file Airflow generates), None until the API
    server answers."""
    import requests

    try:
        password = json.loads(password_file.read_text())[user]
        response = requests.post(f"{base_url}/auth/token", timeout=10, json={"username": user, "password": password})
    except (requests.RequestException, OSError, KeyError, ValueError):
        return None
    return response.json()["access_token"] if response.status_code == 201 else None


class AirflowApi:
    """Read-only use of Airflow's REST API while the scheduler runs (the CLI would contend for SQLite's lock)."""

    def __init__(self, base_url: str, password_file: Path) -> None:
        self.base_url = base_url
        self.password_file = password_file
        self.token: str | None = None

    def login(self) -> bool:
        self.token = api_token(self.base_url, self.password_file)
        return self.token is not None

    def call(self, method: str, path: str, **kwargs) -> dict:
        import requests

        for attempt in range(10):
            response = requests.request(method, f"{self.base_url}/api/v2{path}", timeout=90,
                                        headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
            locked = response.status_code == 503 or (  # SQLite was locked by another writer: try again shortly
                response.status_code == 500 and "Database error" in response.text)
            if not locked:
                break
            time.sleep(2 + 2 * attempt)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of one run, None when it does not exist."""
        try:
            return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
        except RuntimeError as error:
            if "answered 404" in str(error):
                return None
            raise

    def run_of_day(self, dag_id: str, day: str) -> str | None:
        """The id of the run whose logical date is the day's midnight (a scheduled run of that day), if any."""
        runs = self.call("GET", f"/dags/{dag_id}/dagRuns", params={
            "logical_date_gte": f"{day}T00:00:00Z", "logical_date_lte": f"{day}T00:00:00Z"})["dag_runs"]
        return runs[0]["dag_run_id"] if runs else None

    def runs(self, dag_id: str) -> dict[str, str]:
        """Day (logical date) -> state of the DAG's runs."""
        runs = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
        return {run["logical_date"][:10]: run["state"] for run in runs if run.get("logical_date")}


def monitor_dag_id(model: str) -> str:
    return f"monitor_{model}"


def write_demo_config() -> None:
    """config/models.yaml with every model's alerts posted to the demo's receiver (a `webhook` channel), and a
    one-minute quiet period before the digest of the backfill goes out. The replayed days of LIVE_MODEL lie in the
    past: its `alerts.max_age_days` is raised so that they page as they did when they were today."""
    import yaml

    document = yaml.safe_load(CONFIG.read_text())
    for name, settings in document["models"].items():
        settings.setdefault("alerts", {}).update({
            "digest_quiet_minutes": 1,
            "channels": [{"type": "webhook", "conn_id": "demo_alerts", "endpoint": f"/alerts/{name}"}]})
        if name == LIVE_MODEL:  # its scheduled run of yesterday waits for the log the replay serves last
            settings["alerts"]["max_age_days"] = DAYS + 7
            settings["storage"]["poke_seconds"] = 15
    DEMO_CONFIG.write_text("# Written by demo/run.py from config/models.yaml\n"
                           + yaml.safe_dump(document, sort_keys=False))


def demo_models() -> list[ModelConfig]:
    """The configured models (`loan_approval`, `loan_rate` and `loan_offer`): one monitoring DAG each, backfilled."""
    from monitoring.config import load_config

    return list(load_config(DEMO_CONFIG).models)


def start() -> None:
    STATE.mkdir(exist_ok=True)
    for port, what in ((S3_PORT, "the local S3 server"), (AIRFLOW_PORT, "the Airflow UI"),
                       (ALERTS_PORT, "the alert receiver")):
        if not port_is_free(port):
            raise SystemExit(f"[demo] port {port} for {what} is taken: run `make demo-stop`, or set "
                             f"DEMO_S3_PORT / DEMO_AIRFLOW_PORT / DEMO_ALERTS_PORT to free ports.")
    write_demo_config()
    NOTIFICATIONS.unlink(missing_ok=True)
    # A demo starts from nothing: the S3 server is new, so an earlier demo's Airflow metadata (its runs, a backfill
    # left unfinished when it was stopped) would only contradict it.
    shutil.rmtree(STATE / "airflow", ignore_errors=True)
    env = airflow_env()
    start_process("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(S3_PORT)], env)
    start_process("alerts", [sys.executable, "-m", "demo.receiver", "--port", str(ALERTS_PORT),
                             "--out", str(NOTIFICATIONS)], env)
    wait_for("the local S3 server", lambda: not port_is_free(S3_PORT), 30, 0.5)

    import boto3

    from demo.seed import allow_public_reports, demo_days, seed

    models = demo_models()
    names = [m.name for m in models]
    end = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    days = demo_days(DAYS, end)
    say(f"generating the demo data: a loan-approval classifier (drift from day 12, {days[11]}), an interest-rate "
        f"regressor (credit-score drift from day 8, {days[7]}; a rate hike from day 15, {days[14]}) and a multiclass "
        f"loan-offer model (a premium launch from day 9, {days[8]}; the student loan opened from day 15), {DAYS} days "
        f"each, {days[0]} to {days[-1]}, and their labels as they arrive; {LIVE_MODEL}'s logs from day {LIVE_FROM} on "
        "are served later, one day at a time, by the model version then in use")
    client = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                          aws_access_key_id="demo", aws_secret_access_key="demo")
    seed(client, BUCKET, days, served_from={LIVE_MODEL: LIVE_FROM})
    allow_public_reports(client, BUCKET)

    # SQLite takes one writer at a time and Airflow refuses (or the scheduler trips over) a backfill created while
    # the scheduler runs on it, so the backfill is created first and `airflow standalone` then runs it. With
    # PostgreSQL (docker-compose) create it from the UI or POST /api/v2/backfills at any time.
    dag_ids = [monitor_dag_id(name) for name in names]
    retrain_ids = [m.retraining.dag_id for m in models if m.retraining.ships_dag]
    unpaused = "^(" + "|".join(re.escape(dag_id) for dag_id in [*dag_ids, *retrain_ids, DIGEST_DAG]) + ")$"
    for step in (["db", "migrate"], ["dags", "reserialize"],
                 ["dags", "unpause", "--treat-dag-id-as-regex", "--yes", unpaused]):  # one start of the CLI, not five
        run_airflow(*step, env=env)
    backfilled = {name: days[:LIVE_FROM - 1] if name == LIVE_MODEL else days for name in names}
    for name in names:
        first, last = backfilled[name][0], backfilled[name][-1]
        say(f"creating a backfill of {monitor_dag_id(name)}: {len(backfilled[name])} days ({first} to {last})")
        run_airflow("backfill", "create", "--dag-id", monitor_dag_id(name), "--from-date", first.isoformat(),
                    "--to-date", last.isoformat(), "--max-active-runs", str(MAX_ACTIVE_RUNS), env=env)
    start_process("airflow", [str(BIN / "airflow"), "standalone"], env)
    api = AirflowApi(f"http://127.0.0.1:{AIRFLOW_PORT}", PASSWORD_FILE)
    wait_for("the Airflow API server", api.login, 300, 3)

    started = time.monotonic()

    def finished(wanted: list[str]):
        def check():
            runs = {name: {day: state for day, state in api.runs(monitor_dag_id(name)).items()
                           if day in {d.isoformat() for d in backfilled[name]}} for name in wanted}
            done = {name: sum(s in ("success", "failed") for s in states.values()) for name, states in runs.items()}
            say("backfills: " + ", ".join(f"{name} {n}/{len(backfilled[name])}" for name, n in done.items()) +
                f" days finished ({time.monotonic() - started:.0f}s)")
            return runs if all(n == len(backfilled[name]) for name, n in done.items()) else None
        return check

    runs = wait_for(f"the backfill of {LIVE_MODEL}", finished([LIVE_MODEL]), 3600, 15)
    during = read_notifications()
    live = next(m for m in models if m.name == LIVE_MODEL)
    runs[LIVE_MODEL].update(replay(api, client, live, days))
    runs.update(wait_for("the backfills", finished([n for n in names if n != LIVE_MODEL]), 3600, 15))
    replayed = read_notifications()[len(during):]
    digests = send_digest(api, dag_ids)
    for model in models:
        report(client, model, days, runs[model.name])
    notifications(during, replayed, digests)
    footer(days)


def replay(api: AirflowApi, client, model: ModelConfig, days: list[dt.date]) -> dict[str, str]:
    """Days LIVE_FROM.. of `model`, one after the other, as its daily schedule ran them: the serving stack logs the
    day with the version in use, the day's monitoring run follows (a manual run for that day, alerts on), and when it
    asked for retraining the next day waits for the retraining run (a promoted version serves the days after it).
    Returns day -> state of its run."""
    from demo.seed import serve_day

    dag_id, states = monitor_dag_id(model.name), {}
    print(f"\n{model.name}: days {LIVE_FROM} to {DAYS} replayed as the daily schedule ran them (served by the "
          "version in use; alerts sent)")
    for number in range(LIVE_FROM, DAYS + 1):
        day = days[number - 1].isoformat()
        seen = len(read_notifications())
        version = serve_day(client, BUCKET, model.name, days[number - 1], number)
        run_id = api.run_of_day(dag_id, day)  # yesterday's scheduled run is already there, waiting for its logs
        if run_id is None:
            run_id = f"daily__{day}"
            try:
                api.call("POST", f"/dags/{dag_id}/dagRuns", json={
                    "dag_run_id": run_id, "logical_date": f"{day}T00:00:00Z", "conf": {"day": day}})
            except RuntimeError as error:  # a retried POST whose first attempt was committed after all
                if "answered 409" not in str(error):
                    raise
        logged = time.monotonic()
        states[day] = wait_for(f"the run of {day}", lambda: _finished(api.run_state(dag_id, run_id)), 1200, 1)
        took = time.monotonic() - logged  # from the logs landing to the run's end
        decisions = _get_json(client, f"reports/{model.name}/dt={day}/decisions.json") or {}
        retraining = decisions.get("retraining_held") or ""
        retrain_run = f"monitoring__{model.name}__{day}"
        if decisions.get("retraining"):
            wait_for(f"the retraining run {retrain_run}",
                     lambda: _finished(api.run_state(model.retraining.dag_id, retrain_run)), 1200, 5)
            outcome = _get_json(client, f"retraining/{model.name}/results/dt={day}.json") or {}
            retraining = f"retraining run: {outcome.get('why', 'no outcome recorded')}"
        sent = [n["message"].get("title", "?") for n in read_notifications()[seen:]]
        print(f"  day {number} {day}: served by {version}; run {states[day]} in {took:.0f}s; "
              f"{' + '.join(decisions.get('branches', []))}"
              + "".join(f"\n      message sent: {title}" for title in sent)
              + (f"\n      {retraining[:300]}" if retraining else ""), flush=True)
    return states


def _finished(state: str | None) -> str | None:
    return state if state in ("success", "failed") else None


def _get_json(client, key: str) -> dict | None:
    try:
        return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def read_notifications() -> list[dict]:
    from demo.receiver import read

    return read(NOTIFICATIONS)


def send_digest(api: AirflowApi, dag_ids: list[str]) -> list[dict]:
    """Backfill runs never page: trigger the digest DAG once their one-minute quiet period passed (counted from the
    last backfill run's end), and wait for it."""
    before = len(read_notifications())
    ended = max((dt.datetime.fromisoformat(run["end_date"]) for dag_id in dag_ids for run in api.call(
        "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]
        if run["run_type"] == "backfill" and run.get("end_date")), default=dt.datetime.now(dt.timezone.utc))
    time.sleep(max(0.0, 65 - (dt.datetime.now(dt.timezone.utc) - ended).total_seconds()))
    run_id = api.call("POST", f"/dags/{DIGEST_DAG}/dagRuns",
                      json={"logical_date": dt.datetime.now(dt.timezone.utc).isoformat()})["dag_run_id"]
    wait_for("the alert digest", lambda: api.call("GET", f"/dags/{DIGEST_DAG}/dagRuns/{run_id}")["state"]
             in ("success", "failed"), 600, 5)
    return read_notifications()[before:]


def notifications(during: list[dict], replayed: list[dict], digests: list[dict]) -> None:
    print(f"\nAlert messages (a webhook channel per model, received in {NOTIFICATIONS}):")
    for what, items in ((f"during the backfills: {len(during)} message(s) (backfill runs never page)", during),
                        (f"during {LIVE_MODEL}'s daily runs of days {LIVE_FROM}-{DAYS}: {len(replayed)} message(s) "
                         "(an alert while a condition lasts, not one a day; a resolved message when it clears)",
                         replayed),
                        (f"after the backfills, the digest DAG: {len(digests)} message(s), at most one per model",
                         digests)):
        print(f"  {what}")
        for item in items:
            print(f"    {item['message'].get('title', item['message'])}")


# Where each demo model's story turns (1-based demo days; see demo/loan_data.py, rate_data.py and offer_data.py).
EVENTS = {"loan_approval": {12: "income reporting change, crypto loans"},
          "loan_rate": {8: "subprime campaign", 15: "rate hike"},
          "loan_offer": {9: "premium launch", 15: "student loan opened to young workers"}}


def _performance(model: ModelConfig, summary: dict) -> str:
    """The day's performance as far as its labels have arrived: its metrics, coverage, and '!' when degraded."""
    performance = summary.get("performance") or {}
    if not performance.get("labelled"):
        return "-"
    metrics = performance.get("metrics") or {}
    shown = " ".join(f"{name} {metrics[name]:.3f}" for name in model.metric_rules if metrics.get(name) is not None)
    flag = " !" if performance.get("degraded") else ""
    return f"{shown} ({performance.get('coverage', 0):.0%}){flag}"


def report(client, model: ModelConfig, days: list[dt.date], runs: dict[str, str]) -> None:
    """One line per day of `model`: run state, the version it was monitored against, rows, quarantine, drift, branch,
    performance (against that version's baseline), drifted features."""
    baselines: dict[str, dict] = {}
    print(f"\n{model.name} ({model.task.value})")
    print(f"{'day':<12}{'run':<9}{'version':<11}{'rows':>6}{'quar.':>7}{'drift share':>13}  {'branch':<9}"
          f"{'performance (labelled share)':<38}drifted features")
    for number, day in enumerate(days, start=1):
        prefix = f"reports/{model.name}/dt={day.isoformat()}/"
        event = EVENTS.get(model.name, {}).get(number)
        if event:
            print(f"  -- day {number}: {event} --")
        summary = _get_json(client, prefix + "summary.json")
        if summary is None:
            print(f"{day!s:<12}{runs.get(day.isoformat(), '?'):<9}(no summary)")
            continue
        version = summary["reference_version"]
        if (summary.get("performance") or {}).get("baseline"):
            baselines.setdefault(version, summary["performance"]["baseline"])
        has_alerts = "Contents" in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "alerts.json")
        drift = summary["data_drift"]
        print(f"{day!s:<12}{runs.get(day.isoformat(), '?'):<9}{version:<11}{summary['rows']['read']:>6}"
              f"{summary['rows']['quarantined']:>7}{drift['drift_share']:>13.2f}  "
              f"{'alert' if has_alerts else 'healthy':<9}{_performance(model, summary):<38}"
              f"{', '.join(drift['drifted_features']) or '-'}")
    for version, baseline in baselines.items():
        print(f"baseline of {version}: " + " ".join(f"{k} {baseline[k]:.3f}" for k in model.metric_rules
                                                    if baseline.get(k) is not None) + "  ('!': degraded)")


def footer(days: list[dt.date]) -> None:
    password = json.loads(PASSWORD_FILE.read_text()).get("admin", "?") if PASSWORD_FILE.exists() else "?"
    base = f"{ENDPOINT}/{BUCKET}/reports"
    print(f"""
Reports (served over HTTP by the local S3 server, as a bucket website would):
  {base}/index.html    (home: every model, its status and trend)
  {base}/loan_approval/index.html    (the classifier's history: charts, days, CSV/JSON downloads)
  {base}/loan_approval/dt={days[11].isoformat()}/index.html    (its first drifted day)
  {base}/loan_rate/index.html    (the rate regressor's history)
  {base}/loan_rate/dt={days[14].isoformat()}/index.html    (its first day after the rate hike)
  {base}/loan_offer/index.html    (the multiclass offer model: per-class recall over the days)
  {base}/loan_offer/dt={days[14].isoformat()}/index.html    (the day the student loan opened: its labels, two days later)
  {base}/loan_approval/dt={days[0].isoformat()}/index.html    (a clean day)
  any day: {base}/<model>/dt=YYYY-MM-DD/index.html
Airflow UI: http://127.0.0.1:{AIRFLOW_PORT}  (user admin, password {password})
Stop everything with: make demo-stop
""")


def stop() -> None:
    stopped = False
    for pid_file in sorted(STATE.glob("*.pid")):
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            stopped = True
            say(f"stopped {pid_file.stem} (pid {pid})")
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
                time.sleep(0.5)
            except ProcessLookupError:
                break
        else:
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink()
    if not stopped:
        say("nothing was running")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop"])
    args = parser.parse_args()
    if args.command == "start":
        start()
    elif args.command == "stop":
        stop()


if __name__ == "__main__":
    main()
