"""A step killed at any of its writes heals on its retry: for each write of `publish`, `performance` and
`update_site` in turn, the step dies just before that write (what an OOM-killed or preempted worker leaves), Airflow's
retry runs it again, the run's later steps follow, and every published object ends exactly as in a run that was never
killed: each manifest's sha256s match its objects, and the summary, the metric store, the pages and performance.json
agree.

Evidently's reports are replaced by small fixed ones here: what is tested is the order of the writes, and the many
runs stay fast."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

import pytest

from monitoring import history, manifest, rules, steps
from monitoring.layout import DayLayout, ModelLayout
from monitoring.reports import RenderedReport
from monitoring.storage import ObjectStore
from monitoring.summary import summary_from_json
from tests.helpers import day_log, put_frame, seed_reference, true_labels

NOW = dt.datetime(2026, 10, 20, 6, 0, tzinfo=dt.timezone.utc)
D0, D1, D2 = (dt.date(2026, 10, 10) + dt.timedelta(days=n) for n in range(3))
ROWS = 300


class Killed(BaseException):
    """The worker dies (not an Exception: no `except Exception` in the library may catch it)."""


class KilledAt(ObjectStore):
    """The store, except that the process dies just before its write number `at` (counted from 0); `at=None` counts
    the writes without dying."""

    def __init__(self, store: ObjectStore, at: int | None) -> None:
        super().__init__(store.client, store.bucket)
        self.at, self.writes = at, []

    def _write(self, what: str, key: str) -> None:
        if len(self.writes) == self.at:
            raise Killed(f"killed before write {self.at}: {what} {key}")
        self.writes.append(f"{what} {key}")

    def put_bytes(self, key, data, content_type):
        self._write("put", key)
        return super().put_bytes(key, data, content_type)

    def upload(self, key, local, content_type):
        self._write("upload", key)
        return super().upload(key, local, content_type)

    def create_json(self, key, document):
        self._write("create", key)
        return super().create_json(key, document)

    def copy(self, source_key, target_key, content_type):
        self._write("copy", target_key)
        return super().copy(source_key, target_key, content_type)

    def delete(self, key):
        self._write("delete", key)
        return super().delete(key)


def small_reports(current, reference, model, drift):
    if current.empty:
        return ()
    return tuple(RenderedReport(name, f"<html>{name} {len(current)}</html>", json.dumps({"rows": len(current)}))
                 for name in ("data_drift", "data_quality", "prediction_drift"))


def small_performance_report(current, reference, model):
    return RenderedReport("model_performance", f"<html>{len(current)} labelled</html>",
                          json.dumps({"labelled": len(current)}))


@pytest.fixture
def model(loan_model):
    """The approval model with labels a day late, looked for over two days (a small window: fewer writes)."""
    return loan_model.model_copy(update={"labels": loan_model.labels.model_copy(update={
        "lag_days": 1, "lookback_days": 2}), "performance": loan_model.performance.model_copy(update={
            "min_labelled_rows": 50})})


@pytest.fixture
def world(s3_client, store, trained, model, monkeypatch):
    """Three days of the model, D0 and D1 monitored with D0's labels landed on D1; D2's logs validated and its
    report staged, and labels of D0 and D1 landed on D2."""
    from monitoring import reports

    monkeypatch.setattr(reports, "build_reports", small_reports)
    monkeypatch.setattr(reports, "build_performance_report", small_performance_report)
    seed_reference(s3_client, trained)
    logs = {}
    for day in (D0, D1, D2):
        logs[day] = day_log(trained, day, rows=ROWS, seed=day.day)
        put_frame(s3_client, f"predictions/loan_approval/dt={day}/part-0.parquet", logs[day])
    labels = {day: true_labels(logs[day], seed=day.day) for day in (D0, D1)}
    put_frame(s3_client, f"labels/loan_approval/dt={D1}/part-0.parquet", labels[D0].iloc[:200])
    put_frame(s3_client, f"labels/loan_approval/dt={D2}/part-0.parquet", labels[D0].iloc[200:])
    put_frame(s3_client, f"labels/loan_approval/dt={D2}/part-1.parquet", labels[D1])
    for day in (D0, D1):
        steps.run_day(store, model, day, [model], now=NOW)
    steps.validate_day(store, model, D2, now=NOW)
    steps.report_day(store, model, D2)
    return store


def snapshot(store: ObjectStore) -> dict[str, bytes]:
    return {o.key: store.get_bytes(o.key) for o in store.list("")}


def restore(store: ObjectStore, objects: dict[str, bytes]) -> None:
    for o in store.list(""):
        if o.key not in objects:
            store.delete(o.key)
    for key, data in objects.items():
        store.put_bytes(key, data, "application/octet-stream")


def publish(store, model):
    steps.publish_day(store, model, D2, {"runner": "test"}, now=NOW)


def performance(store, model):
    return steps.performance_day(store, model, D2, now=NOW)["updated_days"]


def update_site(store, model, changed=()):
    steps.update_site(store, model, D2, [model], list(changed))


# Each step (returning the days whose labels changed), then what the run does after it.
FLOWS: dict[str, tuple[Callable, Callable]] = {
    "publish": (publish, lambda store, model, _: update_site(store, model, performance(store, model))),
    "performance": (performance, update_site),
    "update_site": (lambda store, model: update_site(store, model, [D0.isoformat(), D1.isoformat()]),
                    lambda store, model, _: None),
}


def _before(store, model, step: str) -> None:
    """What the run did before the step."""
    if step in ("performance", "update_site"):
        publish(store, model)
    if step == "update_site":
        performance(store, model)


def run(store, model, step: str) -> None:
    """The step, then the rest of the run."""
    first, rest = FLOWS[step]
    rest(store, model, first(store, model))


def published_state(store: ObjectStore) -> dict[str, bytes]:
    """Everything readers see: the reports, the pages, the metric store, and the pages still to be redrawn."""
    return {k: v for k, v in snapshot(store).items() if k.startswith(("reports/", "staging/loan_approval/stale-"))}


def assert_whole(store: ObjectStore, model) -> None:
    """Every published day: its manifest lists each artifact with the bytes it holds; summary, metric store,
    history and performance.json agree."""
    layout = ModelLayout.of(model)
    compacted = {d["day"]: d for d in store.get_json(layout.history())["days"]}
    for day in (D0, D1, D2):
        day_layout = layout.on(day)
        found = store.get_json(day_layout.manifest)
        listed = {record["key"] for record in found["artifacts"].values()}
        for record in found["artifacts"].values():
            data = store.get_bytes(record["key"])
            assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["bytes"] == len(data), record
        for key in manifest.later_artifacts(day_layout):
            assert not store.exists(key) or key in listed, key
        summary = summary_from_json(store.get_bytes(day_layout.summary))
        if store.exists(day_layout.performance):
            assert summary.performance.model_dump(mode="json") == json.loads(store.get_bytes(day_layout.performance))
        metrics = history.day_metrics(summary, rules.findings(summary, model))
        assert json.loads(store.get_bytes(day_layout.day_metrics)) == json.loads(metrics.model_dump_json())
        assert compacted[day.isoformat()] == json.loads(metrics.model_dump_json())


@pytest.mark.parametrize("step", list(FLOWS))
def test_a_step_killed_at_any_write_heals_on_its_retry(world, model, step):
    store = world
    _before(store, model, step)
    start = snapshot(store)
    counting = KilledAt(store, None)
    first, rest = FLOWS[step]
    rest(store, model, first(counting, model))
    writes = list(counting.writes)
    expected = published_state(store)
    assert_whole(store, model)
    assert writes, step
    for at in range(len(writes)):
        restore(store, start)
        with pytest.raises(Killed):
            FLOWS[step][0](KilledAt(store, at), model)
        run(store, model, step)  # Airflow's retry of the step, then the rest of the run
        found = published_state(store)
        differing = sorted(k for k in {*expected, *found} if expected.get(k) != found.get(k))
        assert not differing, f"killed before {writes[at]!r}: {differing}"
        assert_whole(store, model)
