"""Faults of the object store and of concurrent runs: every published state stays whole."""

from __future__ import annotations

import datetime as dt
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from monitoring import steps
from monitoring.ingest import PartitionIncompleteError
from monitoring.storage import ObjectStore, StorageError, client_config
from tests.conftest import BUCKET, free_port
from tests.helpers import day_log, now, put, put_frame, seed_days

pytestmark = pytest.mark.e2e
DAY = dt.date(2026, 10, 5)


class FlakyProxy:
    """An HTTP proxy in front of the S3 server that can throttle, fail with 5xx, or be down altogether."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.fail_next = 0  # answer this many requests with 503 SlowDown, then forward again
        self.down = False  # answer every request with 500
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.down or proxy.fail_next > 0:
                    proxy.fail_next = max(0, proxy.fail_next - 1)
                    proxy.failed += 1
                    code, error = (500, "InternalError") if proxy.down else (503, "SlowDown")
                    payload = f"<Error><Code>{error}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                conn.request(self.command, self.path, body=body or None,
                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def proxy(s3_server):
    flaky = FlakyProxy(s3_server)
    yield flaky
    flaky.close()


def client_for(url: str, max_attempts: int = 8):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=client_config(max_attempts))


@pytest.fixture
def seeded(s3_server, trained):
    client = client_for(s3_server)
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    seed_days(client, trained, {DAY: 5, DAY + dt.timedelta(days=1): 6}, rows=600)
    return client


def test_throttling_and_5xx_answers_are_retried_with_backoff(seeded, proxy, loan_model):
    store = ObjectStore(client_for(proxy.url), BUCKET)
    proxy.fail_next = 3
    assert steps.find_day_files(store, loan_model, DAY, now=now())
    proxy.fail_next = 3
    store.put_json("reports/probe.json", {"ok": True})
    assert store.get_json("reports/probe.json") == {"ok": True}
    assert proxy.failed == 6


def test_s3_down_mid_run_fails_the_step_cleanly_and_the_retry_completes_the_day(seeded, proxy, loan_model):
    store = ObjectStore(client_for(proxy.url, max_attempts=2), BUCKET)
    steps.validate_day(store, loan_model, DAY, now=now())
    proxy.down = True
    with pytest.raises(StorageError, match=r"cannot read s3://ml-monitoring/staging/loan_approval/dt=2026-10-05/"):
        steps.report_day(store, loan_model, DAY)
    proxy.down = False  # the endpoint is back: Airflow's retry of the task
    steps.report_day(store, loan_model, DAY)
    steps.publish_day(store, loan_model, DAY, now=now())
    assert store.exists("reports/loan_approval/dt=2026-10-05/manifest.json")


def test_an_unreachable_endpoint_is_a_clear_error_not_a_stack_trace(loan_model):
    store = ObjectStore(client_for(f"http://127.0.0.1:{free_port()}", max_attempts=1), BUCKET)
    with pytest.raises(StorageError, match=r"cannot list s3://ml-monitoring/predictions/loan_approval/dt=2026-10-05/"
                                           r".*Could not connect"):
        steps.find_day_files(store, loan_model, DAY, now=now())


def test_two_days_of_one_model_published_at_once_both_reach_the_history(seeded, loan_model):
    store = ObjectStore(seeded, BUCKET)
    days = [DAY, DAY + dt.timedelta(days=1)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda day: steps.run_day(store, loan_model, day, now=now()), days))
    history = store.get_json("reports/loan_approval/history.json")
    assert [d["day"] for d in history["days"]] == ["2026-10-05", "2026-10-06"]


def test_a_partition_without_its_completion_marker_is_not_processed_until_it_lands(seeded, loan_model):
    store = ObjectStore(seeded, BUCKET)
    marked = loan_model.model_copy(update={"storage": loan_model.storage.model_copy(
        update={"completion_marker": "_SUCCESS"})})
    with pytest.raises(PartitionIncompleteError, match=r"has no _SUCCESS marker yet.*The task retries"):
        steps.find_day_files(store, marked, DAY, now=now())
    put(seeded, "predictions/loan_approval/dt=2026-10-05/_SUCCESS", b"")
    assert len(steps.find_day_files(store, marked, DAY, now=now())) == 2


def test_a_partition_whose_newest_file_is_too_recent_is_left_to_settle(seeded, loan_model, trained):
    store = ObjectStore(seeded, BUCKET)
    settling = loan_model.model_copy(update={"storage": loan_model.storage.model_copy(
        update={"settle_seconds": 3600})})
    put_frame(seeded, "predictions/loan_approval/dt=2026-10-05/part-late.parquet", day_log(trained, DAY, rows=5))
    with pytest.raises(PartitionIncompleteError, match=r"younger than storage.settle_seconds \(3600s\)"):
        steps.find_day_files(store, settling, DAY, now=now())
    relaxed = loan_model.model_copy(update={"storage": loan_model.storage.model_copy(update={"settle_seconds": 1})})
    time.sleep(1.1)
    assert len(steps.find_day_files(store, relaxed, DAY, now=now())) == 3


def test_a_compaction_that_raced_another_run_compacts_again(seeded, loan_model, monkeypatch):
    """The interleaving that loses an update without the re-check: a day lands between listing and writing."""
    from monitoring import history
    from monitoring.layout import DayLayout

    store = ObjectStore(seeded, BUCKET)
    first, second = DAY, DAY + dt.timedelta(days=1)
    steps.run_day(store, loan_model, first, now=now())
    steps.validate_day(store, loan_model, second, now=now())
    steps.report_day(store, loan_model, second)
    layout = DayLayout.of(loan_model, first)
    real_put_json, raced = store.put_json, []

    def put_json_then_publish_the_other_day(key, document):
        url = real_put_json(key, document)
        if key == layout.history() and not raced:
            raced.append(key)
            steps.publish_day(store, loan_model, second, now=now())  # the other run publishes right after our listing
        return url

    monkeypatch.setattr(store, "put_json", put_json_then_publish_the_other_day)
    days = history.compact(store, layout)
    assert raced and [d.day for d in days] == ["2026-10-05", "2026-10-06"]
    assert [d["day"] for d in store.get_json("reports/loan_approval/history.json")["days"]] == [
        "2026-10-05", "2026-10-06"]


# A publisher in its own process: it announces each object it writes, and stops and waits to
# be killed once every report, the summary and the day's metric object are written, the manifest not yet (SIGKILL:
# no cleanup, no `finally`, what an OOM-killed or preempted worker leaves behind).
_KILLED_PUBLISHER = """
import sys, time
from datetime import datetime, timezone
import boto3
from monitoring import steps
from monitoring.config import load_config
from monitoring.storage import ObjectStore, client_config

url, bucket, config, day = sys.argv[1:]
store = ObjectStore(boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=client_config(2)), bucket)
real_put, written = store.put_bytes, []

def put_bytes(key, data, content_type):
    answer = real_put(key, data, content_type)
    written.append(key)
    print("wrote", key, flush=True)
    if "/metrics/" in key:
        print("paused", flush=True)
        time.sleep(600)
    return answer

store.put_bytes = put_bytes
steps.publish_day(store, load_config(config).model("loan_approval"), day, now=datetime.now(timezone.utc))
"""


def test_a_worker_killed_mid_publish_leaves_no_half_published_day_and_the_retry_publishes_it_whole(
        seeded, s3_server, loan_model):
    import hashlib
    import os
    import signal
    import subprocess
    import sys

    from monitoring import history
    from monitoring.layout import DayLayout
    from tests.conftest import ROOT

    store = ObjectStore(seeded, BUCKET)
    for obj in store.list("reports/loan_approval/"):  # this module's server is shared by its tests: start clean
        store.delete(obj.key)
    killed, other = DAY, DAY + dt.timedelta(days=1)
    steps.run_day(store, loan_model, other, now=now())
    steps.validate_day(store, loan_model, killed, now=now())
    steps.report_day(store, loan_model, killed)

    worker = subprocess.Popen([sys.executable, "-c", _KILLED_PUBLISHER, s3_server, BUCKET,
                               str(ROOT / "config" / "models.yaml"), killed.isoformat()],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    lines = []
    for line in worker.stdout:
        lines.append(line.strip())
        if line.strip() == "paused":
            break
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert lines[-1] == "paused", lines
    layout = DayLayout.of(loan_model, killed)
    written = [line.removeprefix("wrote ") for line in lines if line.startswith("wrote ")]
    assert layout.day_metrics in written and layout.summary in written and all(store.exists(k) for k in written)
    assert not store.exists(layout.manifest)  # the day's files are there, but nothing says the day is published

    # Every reader skips the half-published day: the next run's history and pages, the decision step, the site.
    steps.update_site(store, loan_model, other)
    assert [d["day"] for d in store.get_json(layout.history())["days"]] == [other.isoformat()]
    model_page = store.get_bytes(layout.model_page).decode()
    assert f"dt={killed.isoformat()}" not in model_page and f"dt={other.isoformat()}" in model_page
    with pytest.raises(FileNotFoundError, match="is not published"):
        steps.decide_day(store, loan_model, killed)

    # Airflow's retry of the task publishes the day whole: every artifact the manifest lists is the bytes it names.
    steps.publish_day(store, loan_model, killed, now=now())
    steps.update_site(store, loan_model, killed)
    manifest = store.get_json(layout.manifest)
    assert {name for name in manifest["artifacts"]} >= {key.rsplit("/", 1)[-1] for key in written}
    for name, record in manifest["artifacts"].items():
        assert hashlib.sha256(store.get_bytes(record["key"])).hexdigest() == record["sha256"], name
    assert [d.day for d in history.read_history(store, layout)] == [killed.isoformat(), other.isoformat()]
