"""Labels that arrive late: reading and checking label partitions, joining them, and judging performance."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from monitoring import labels, performance
from monitoring.config import parse_config
from monitoring.layout import DayLayout
from monitoring.reference import OperationalBaseline, ReferenceProfile
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


def fitted(baseline: dict) -> ReferenceProfile:
    """A reference profile with only a performance baseline (no calibration: its metrics are judged by the rules)."""
    return ReferenceProfile(model="m", version="v1", fingerprint="0" * 16, rows=1000, numerical={}, categorical={},
                            operations=OperationalBaseline(mean_score=None, positive_rate=None, mean_confidence=None,
                                                           low_confidence_share=None),
                            performance=baseline, sample_rows=1000)


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
    assert model.labels.window == 7


def scored(n=4000, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < np.clip(p + noise * rng.normal(size=n), 0, 1)).astype(float)
    return pd.DataFrame({"pid": [f"i{i}" for i in range(n)], "p": p, "approved": (p >= 0.5).astype(int), "label": y})


def test_classification_figures_match_scikit_learn():
    model = model_config()
    frame = scored()
    found = performance.figures(frame, model)
    y, p, yhat = frame["label"], frame["p"], frame["approved"]
    assert found["metrics"]["f1"] == pytest.approx(sk.f1_score(y, yhat))
    assert found["metrics"]["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p))
    assert found["metrics"]["log_loss"] == pytest.approx(sk.log_loss(y, p))
    assert found["metrics"]["precision"] == pytest.approx(sk.precision_score(y, yhat))
    c = found["confusion"]
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (
        int(((y == 1) & (yhat == 1)).sum()), int(((y == 0) & (yhat == 1)).sum()),
        int(((y == 0) & (yhat == 0)).sum()), int(((y == 1) & (yhat == 0)).sum()))
    assert sum(b.count for b in found["calibration"]) == len(frame)
    assert found["metrics"]["calibration_error"] < 0.05  # labels drawn from p: well calibrated


def test_regression_figures_match_their_definitions():
    model = model_config(task="regression")
    y = np.array([10.0, 12.0, 8.0, 20.0])
    frame = pd.DataFrame({"p": [11.0, 12.0, 6.0, 21.0], "label": y})
    found = performance.figures(frame, model)
    assert found["metrics"]["mae"] == pytest.approx(sk.mean_absolute_error(y, frame["p"]))
    assert found["metrics"]["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, frame["p"])))
    assert found["metrics"]["mape"] == pytest.approx(100 * sk.mean_absolute_percentage_error(y, frame["p"]))
    assert found["metrics"]["r2"] == pytest.approx(sk.r2_score(y, frame["p"]))
    assert found["errors"]["mean_error"] == pytest.approx(0.0)


def test_one_class_of_labels_leaves_roc_auc_undefined_not_an_error():
    frame = scored(200)
    frame["label"] = 1.0
    assert performance.figures(frame, model_config())["metrics"]["roc_auc"] is None


@pytest.mark.parametrize(("metric", "value", "base", "rule", "alert", "retrain"), [
    ("f1", 0.76, 0.80, {"max_drop": 0.05}, False, False),
    ("f1", 0.74, 0.80, {"max_drop": 0.05}, True, False),
    ("f1", 0.70, 0.80, {"max_relative_drop": 0.10, "retrain_relative_drop": 0.12}, True, True),
    ("f1", 0.95, 0.80, {"max_drop": 0.05}, False, False),  # better is never degraded
    ("log_loss", 0.60, 0.50, {"max_relative_drop": 0.10}, True, False),  # lower is better: a rise is worse
    ("log_loss", 0.40, 0.50, {"max_relative_drop": 0.10}, False, False),
])
def test_degradation_is_judged_against_the_baseline_in_the_metrics_direction(metric, value, base, rule, alert,
                                                                                 retrain):
    model = model_config(performance={"rules": {metric: rule}}, drift={"threshold_mode": "fixed"})
    found = performance.degradations({metric: value}, {metric: base}, model)
    assert bool(found) == alert
    if found:
        assert found[0].retrain == retrain
        assert f"{metric} {value:.3f} vs {base:.3f}" in found[0].describe()


def test_a_day_with_too_few_labels_is_not_judged():
    model = model_config(performance={"min_coverage": 0.5, "min_labelled_rows": 10})
    frame = scored(100)
    degraded_baseline = {"f1": 1.0, "roc_auc": 1.0}
    few = performance.evaluate(joined=frame.iloc[:40], predictions=100, model=model, day=DAY,
                               as_of=DAY + dt.timedelta(days=3), fitted=fitted(degraded_baseline), label_digest="x")
    assert few.complete and few.coverage == 0.4 and few.degraded
    verdict = performance.verdict(few, DAY, model)
    assert verdict.status == "too_few_labels" and verdict.degraded == []
    enough = few.model_copy(update={"labelled": 60, "coverage": 0.6})
    assert performance.verdict(enough, DAY, model).status == "judged"
    assert performance.verdict(None, DAY, model).status == "no_predictions"


def test_our_figures_agree_with_evidentlys_report():
    """The summary's exact figures and the Evidently report people open must tell the same story."""
    import json

    from monitoring import reports

    model = model_config()
    frame = scored(3000, seed=1)
    rendered = reports.build_performance_report(frame, scored(2000, seed=2), model)
    values = {m["config"]["type"].rsplit(":", 1)[-1]: m["value"] for m in json.loads(rendered.json)["metrics"]}
    ours = performance.figures(frame, model)["metrics"]
    assert values["F1Score"] == pytest.approx(ours["f1"])
    assert values["RocAuc"] == pytest.approx(ours["roc_auc"])
    assert values["Accuracy"] == pytest.approx(ours["accuracy"])
    assert "<html" in rendered.html.lower()
    one_class = frame.assign(label=1.0)
    assert "one class" in reports.build_performance_report(one_class, None, model)

    regression = model_config(task="regression")
    rng = np.random.default_rng(3)
    y = rng.normal(15, 3, 2000)
    frame = pd.DataFrame({"p": y + rng.normal(0, 1, 2000), "label": y})
    rendered = reports.build_performance_report(frame, None, regression)
    values = {m["config"]["type"].rsplit(":", 1)[-1]: m["value"] for m in json.loads(rendered.json)["metrics"]}
    ours = performance.figures(frame, regression)["metrics"]
    assert values["MAE"]["mean"] == pytest.approx(ours["mae"])
    assert values["RMSE"] == pytest.approx(ours["rmse"])
    assert values["R2Score"] == pytest.approx(ours["r2"])


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
    found = [f for f in rules.evaluate(summary().with_labels(None, report), model) if f.rule == "label_problems"]
    assert [f.severity.value for f in found] == [severity]
