"""Builders of prediction logs and S3 content shared by the tests, on the tests' own data (`tests/data.py`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import pickle

import pandas as pd

from tests import data
from tests.conftest import BUCKET

DAY = dt.date(2026, 10, 14)
DRIFT_FROM = 12  # seeded days numbered from here on are drifted (data.Drift: exactly data.DRIFTED change)
DAY_ROWS = 3_000


def now() -> dt.datetime:
    """The time of a step's call (steps take the time as an argument: the library never reads the clock)."""
    return dt.datetime.now(dt.timezone.utc)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def day_log(trained, day: dt.date = DAY, rows: int = 400, drifted: bool = False, bad_rows: int = 0,
            seed: int = 0) -> pd.DataFrame:
    model, _ = trained
    return data.prediction_log(model, day, rows, seed, drift=data.Drift() if drifted else None, bad_rows=bad_rows)


def put(client, key: str, data: bytes | str) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=data.encode() if isinstance(data, str) else data)


def put_frame(client, key: str, frame: pd.DataFrame) -> None:
    if key.endswith(".parquet"):
        put(client, key, parquet_bytes(frame))
    elif key.endswith(".jsonl"):
        put(client, key, frame.to_json(orient="records", lines=True, date_format="iso"))
    else:
        put(client, key, frame.to_csv(index=False))


def seed_reference(client, trained, model: str = "loan_approval", version: str = "v1") -> None:
    """A model version: its reference, its pickled model and CURRENT.json naming it."""
    estimator, reference = trained
    put_frame(client, f"reference/{model}/v={version}/reference.parquet", reference)
    put(client, f"models/{model}/v={version}/model.pkl", pickle.dumps(estimator))
    put(client, f"reference/{model}/CURRENT.json", json.dumps({"version": version}))


def write_day(client, trained, day: dt.date, rows: int = DAY_ROWS, drifted: bool = False, bad_rows: int = 0,
              parts: int = 2, model: str = "loan_approval") -> pd.DataFrame:
    """A day's log of the approval model as `parts` parquet files; returns it."""
    frame = day_log(trained, day, rows, drifted, bad_rows)
    size = -(-len(frame) // parts)
    for part in range(parts):
        put_frame(client, f"predictions/{model}/dt={day}/part-{part:04d}.parquet", frame.iloc[part * size:
                                                                                              (part + 1) * size])
    return frame


def seed_days(client, trained, days: dict[dt.date, int], rows: int | None = None, bad_rows: int = 0) -> None:
    """The reference plus a log of each of `days` (day -> its number: drifted from DRIFT_FROM on)."""
    seed_reference(client, trained)
    for day, number in days.items():
        write_day(client, trained, day, rows or DAY_ROWS, drifted=number >= DRIFT_FROM, bad_rows=bad_rows)


def get_json(client, key: str):
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def read(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def logged_predictions(client, model: str, day: dt.date) -> pd.DataFrame:
    """The prediction log of a day as seeded (every part), without rows whose id is missing or repeated."""
    prefix = f"predictions/{model}/dt={day}/"
    parts = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    frame = pd.concat([pd.read_parquet(io.BytesIO(read(client, k))) for k in parts])
    return frame.dropna(subset=["prediction_id"]).drop_duplicates("prediction_id")


def true_labels(frame: pd.DataFrame, flip: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Loan labels drawn from the model's own probability (it performs as on the reference), a share flipped."""
    return data.labels(frame, flip, seed)


def land_labels(client, model: str, day: dt.date, frame: pd.DataFrame, name: str = "part-0000.parquet") -> None:
    """Labels that became known on `day`."""
    put_frame(client, f"labels/{model}/dt={day}/{name}", frame)


def post_receiver():
    """A local HTTP server (a thread) that answers every POST with 200 and records it: returns (server, posts), posts
    being a list of (path, body) in arrival order. Stop it with server.shutdown()."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posts: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            posts.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, posts


def project_dags() -> dict:
    """The project's DAGs (dag_id -> DAG), parsed as the DAG processor would, with no import error."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


@contextlib.contextmanager
def env_vars(variables: dict[str, str]):
    """Set these environment variables (connections, MONITORING_CONFIG...) for the block; restore them after."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def headless_chromium(profile_dir, window: str = "1200,1600"):
    """Debian's Chromium through its ChromeDriver, headless, with a profile of its own and the browser console kept
    (driver.get_log("browser")). Quit it with driver.quit()."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={window}", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(120)
    return driver
