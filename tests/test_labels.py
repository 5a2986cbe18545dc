"""Labels that arrive late (monitoring/labels.py): reading and checking label partitions, joining them, and the
findings of bad labels."""

import datetime as dt

import pandas as pd
import pytest

from monitoring import labels
from monitoring.config import parse_config
from monitoring.layout import DayLayout
from tests.conftest import BUCKET
from tests.helpers import put, put_frame

DAY = dt.date(2026, 10, 14)


def model_config(task="binary_classification", **extra):
    columns = {"id": "pid", "timestamp": "ts", "score": "p", "numerical": ["x"]}
    if task == "binary_classification":
        columns["decision"] = "approved"
    return parse_config({"models": {"m": {
        "task": task, "storage": {"bucket": BUCKET}, "columns": columns,
        "labels": {"column": "y", "lag_days": 3}, "retraining": {"dag_id": "retrain_m"}, **extra}}}).model("m")


def label_day(client, day: dt.date, frame: pd.DataFrame, name: str = "part-0000.parquet") -> None:
    put_frame(client, f"labels/m/dt={day.isoformat()}/{name}", frame)


def window(store, model, first=DAY - dt.timedelta(days=3), last=DAY):
    return labels.read_window(store, model, DayLayout.of(model, DAY), first, last)


def test_labels_of_several_days_are_read_with_the_day_they_became_known(s3_client, store):
    model = model_config()
    label_day(s3_client, DAY - dt.timedelta(days=2), pd.DataFrame({"pid": ["a", "b"], "y": [1, 0]}))
    label_day(s3_client, DAY, pd.DataFrame({"pid": ["c"], "y": [1]}))
    label_day(s3_client, DAY + dt.timedelta(days=1), pd.DataFrame({"pid": ["d"], "y": [1]}))  # after the run's day
    found = window(store, model)
    assert found.labels[["id", "label", "label_day"]].to_dict("records") == [
        {"id": "a", "label": 1.0, "label_day": "2026-10-12"}, {"id": "b", "label": 0.0, "label_day": "2026-10-12"},
        {"id": "c", "label": 1.0, "label_day": "2026-10-14"}]
    assert found.labels[["_source_file", "_source_row"]].iloc[1].tolist() == ["labels/m/dt=2026-10-12/part-0000.parquet",
                                                                            1]
    assert found.rejected.empty and found.file_problems == []


def test_bad_labels_are_counted_with_a_reason_and_never_joined(s3_client, store):
    model = model_config()
    label_day(s3_client, DAY - dt.timedelta(days=1), pd.DataFrame({"pid": ["dup", "conflict", "ok"], "y": [1, 1, 0]}))
    label_day(s3_client, DAY, pd.DataFrame({
        "pid": ["dup", "conflict", None, "wrong", "wrong2", "fine", "ghost"],
        "y": ["1", "0", "1", "maybe", "7", "true", "0"]}))
    found = window(store, model)
    kept = dict(zip(found.labels["id"], found.labels["label"]))
    assert kept == {"dup": 1.0, "ok": 0.0, "fine": 1.0, "ghost": 0.0}
    assert found.labels.set_index("id").loc["dup", "label_day"] == "2026-10-13"  # the first copy is the one kept
    reasons = sorted(zip(found.rejected["id"].fillna("<none>"), found.rejected["reason"]))
    assert reasons == [("<none>", "missing_id"), ("conflict", "conflicting"), ("conflict", "conflicting"),
                       ("dup", "duplicate"), ("wrong", "wrong_type"), ("wrong2", "wrong_type")]
    predictions = pd.DataFrame({"pid": ["dup", "conflict", "ok", "fine"], "p": [0.9, 0.8, 0.2, 0.7],
                                "approved": [1, 1, 0, 1]})
    joined = labels.join(predictions, "pid", found)
    assert sorted(joined["pid"]) == ["dup", "fine", "ok"]  # conflicting labels are not joined
    counts, quarantine = labels.landed_problems(found, DAY.isoformat(), set(joined["pid"]))
    assert counts == {"missing_id": 1, "conflicting": 1, "duplicate": 1, "wrong_type": 2, "unknown_id": 1}
    assert set(quarantine["reason"]) == set(counts)
    assert "ghost" in set(quarantine["id"])


def test_a_regression_label_must_be_a_finite_number(s3_client, store):
    model = model_config(task="regression")
    label_day(s3_client, DAY, pd.DataFrame({"pid": ["a", "b", "c", "d"], "y": ["12.5", "x", "inf", None]}))
    found = window(store, model)
    assert dict(zip(found.labels["id"], found.labels["label"])) == {"a": 12.5}
    assert sorted(found.rejected["reason"]) == ["missing_label", "wrong_type", "wrong_type"]


def test_unusable_label_files_are_reported_by_name_and_the_rest_is_used(s3_client, store):
    model = model_config()
    label_day(s3_client, DAY, pd.DataFrame({"pid": ["a"], "y": [1]}))
    label_day(s3_client, DAY, pd.DataFrame({"pid": ["b"], "outcome": [1]}), name="part-0001.parquet")
    put(s3_client, f"labels/m/dt={DAY}/part-0002.parquet", b"not parquet")
    found = window(store, model)
    assert list(found.labels["id"]) == ["a"]
    assert len(found.file_problems) == 2
    assert any("part-0001.parquet" in p and "lacks column(s) ['y']" in p for p in found.file_problems)
    assert any("part-0002.parquet" in p and "cannot read" in p for p in found.file_problems)


def test_a_label_partition_without_its_completion_marker_waits_for_a_later_run(s3_client, store):
    model = model_config(storage={"bucket": BUCKET, "completion_marker": "_SUCCESS"})
    label_day(s3_client, DAY, pd.DataFrame({"pid": ["a"], "y": [1]}))
    assert window(store, model).labels.empty
    put(s3_client, f"labels/m/dt={DAY}/_SUCCESS", b"")
    assert list(window(store, model).labels["id"]) == ["a"]


def test_the_digest_changes_exactly_when_the_labels_of_a_day_change():
    model = model_config()
    predictions = pd.DataFrame({"pid": ["a", "b"], "p": [0.9, 0.1], "approved": [1, 0]})

    def digest(rows):
        found = labels.LabelWindow(pd.DataFrame(rows, columns=["id", "label", "label_day"]), pd.DataFrame())
        return labels.digest(labels.join(predictions, "pid", found), "pid")

    one = digest([("a", 1.0, "2026-10-12")])
    assert one == digest([("a", 1.0, "2026-10-12"), ("zzz", 1.0, "2026-10-13")])  # unrelated label
    assert one != digest([("a", 1.0, "2026-10-12"), ("b", 0.0, "2026-10-13")])
    assert one != digest([("a", 0.0, "2026-10-12")])
    assert model.labels.lookback == 7


@pytest.mark.parametrize(("rejected", "files", "severity"), [
    ({"wrong_type": 2}, [], "info"),  # 2 of 1000: reported, not alerted
    ({"conflicting": 30}, [], "warning"),  # 3% is above performance.max_label_problem_share (1%)
    ({}, ["label file s3://b/labels/m/dt=2026-10-14/x.csv lacks column(s) ['y']"], "warning"),
])
def test_label_problems_alert_only_above_their_share_or_when_a_file_is_unusable(rejected, files, severity):
    from monitoring import rules
    from tests.summaries import labels_report, summary

    model = model_config()
    report = labels_report(status="no_predictions").model_copy(
        update={"rows": 1000, "problems": rejected, "file_problems": files})
    found = [f for f in rules.findings(summary().with_labels(None, report), model) if f.rule == "label_problems"]
    assert [f.severity.value for f in found] == [severity]
