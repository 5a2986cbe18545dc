"""Labels arriving days late, through the library's daily flow against moto's S3: performance appears, grows in place
with each instalment, is never duplicated or regressed, and the day whose labels came due is judged."""

import datetime as dt
import json

import pandas as pd
import pytest

from monitoring import steps, window_state
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from tests.helpers import (BUCKET, get_json, land_labels, logged_predictions, now, put_frame, read as raw, seed_days,
                           true_labels)

P = dt.date(2026, 10, 5)
DAYS = {P + dt.timedelta(days=i): 5 + i for i in range(4)}


def with_labels(model: ModelConfig, lag_days: int, retraining: dict | None = None, **performance) -> ModelConfig:
    settings = model.model_dump(mode="json")
    settings["labels"] = {"column": "repaid", "lag_days": lag_days}
    settings["retraining"] = {**settings["retraining"], **(retraining or {})}
    settings["performance"] = {**settings["performance"], **performance}
    return ModelConfig.model_validate(settings)


@pytest.fixture
def seeded(s3_client, trained):
    seed_days(s3_client, trained, DAYS, rows=1200)
    return s3_client


def predictions_of(client, day):
    return logged_predictions(client, "loan_approval", day)


def truth(frame, flip=0.0):
    return true_labels(frame, flip)


def land(client, day, frame, name="part-0000.parquet"):
    land_labels(client, "loan_approval", day, frame, name)


def test_labels_in_two_instalments_recompute_the_days_performance_in_place(seeded, store, loan_model):
    model = with_labels(loan_model, lag_days=3)
    layout = DayLayout.of(model, P)
    labels = truth(predictions_of(seeded, P))
    # One label never lands: with every prediction labelled the report would be drawn again at once (nothing left
    # to wait for); short of one, it waits for labels.lag_days.
    first, second = labels.iloc[:500], labels.iloc[500:-1]
    known = len(labels) - 1

    steps.run_day(store, model, P, now=now())
    before = get_json(seeded, layout.performance)
    assert (before["labelled"], before["coverage"], before["report"]) == (0, 0.0, None)
    assert get_json(seeded, layout.summary)["performance"]["labelled"] == 0

    land(seeded, P + dt.timedelta(days=1), first)
    steps.run_day(store, model, P + dt.timedelta(days=1), now=now())
    partial = get_json(seeded, layout.performance)
    assert partial["labelled"] == 500 and partial["labels_as_of"] == "2026-10-06" and not partial["complete"]
    assert 0.3 < partial["coverage"] < 0.5
    assert partial["report"] == "model_performance.html"
    assert get_json(seeded, layout.summary)["performance"] == partial  # summary.json of day P gained the figures
    partial_report = raw(seeded, layout.report("model_performance", "json"))
    page = raw(seeded, layout.day_page).decode()
    assert "model_performance.html" in page

    land(seeded, P + dt.timedelta(days=2), second)
    steps.run_day(store, model, P + dt.timedelta(days=2), now=now())
    full = get_json(seeded, layout.performance)
    assert full["labelled"] == known and full["labels_as_of"] == "2026-10-07"
    assert full["coverage"] > 0.99 and full["label_digest"] != partial["label_digest"]
    # not complete yet: the figures follow the labels, the Evidently report waits for completion
    # (reports.redraw_performance: complete)
    assert full["report_labelled"] == 500 and full["intervals"] != partial["intervals"]
    assert raw(seeded, layout.report("model_performance", "json")) == partial_report
    assert "drawn on the first 500 labelled predictions" in raw(seeded, layout.day_page).decode()
    history = get_json(seeded, layout.history())["days"]
    assert [d["day"] for d in history] == ["2026-10-05", "2026-10-06", "2026-10-07"]  # not duplicated
    assert history[0]["labelled"] == known and history[0]["label_coverage"] == full["coverage"]
    manifest = get_json(seeded, layout.manifest)
    assert {"performance.json", "model_performance.html", "summary.json", "label_state.json"} <= set(
        manifest["artifacts"])
    assert "2026-10-05" in raw(seeded, layout.history("csv")).decode()
    counts = window_state.read_day(store, layout).labels  # the day's mergeable state follows its labels
    matrix = counts.confusion.matrix
    assert counts.labelled == known and counts.predictions == full["predictions"]
    assert {"tn": matrix[0][0], "fp": matrix[0][1], "fn": matrix[1][0], "tp": matrix[1][1]} == full["confusion"]
    # ... per configured segment too (the labelled window judges each segment's metric from them)
    assert counts.segmented and "channel=web" in counts.segments
    assert sum(counts.segments[k].labelled for k in counts.segments if k.startswith("channel=")) == known

    # The labels known on day P+2 are all but one: well calibrated labels keep F1 near the reference's.
    assert abs(full["metrics"]["f1"] - full["baseline"]["f1"]) < 0.05 and full["degraded"] == []

    # A rerun of P+2 changes nothing; a rerun of P keeps the performance computed with the later labels.
    summaries = {d: raw(seeded, layout.on(d).summary) for d in ("2026-10-05", "2026-10-07")}
    steps.run_day(store, model, P + dt.timedelta(days=2), now=now())
    assert {d: raw(seeded, layout.on(d).summary) for d in summaries} == summaries
    steps.run_day(store, model, P + dt.timedelta(days=3), now=now())  # P's labels complete: the report redrawn
    full = get_json(seeded, layout.performance)
    assert full["complete"] and full["report_labelled"] == known == full["labelled"]
    assert raw(seeded, layout.report("model_performance", "json")) != partial_report
    steps.run_day(store, model, P, now=now())
    assert get_json(seeded, layout.performance) == full
    assert window_state.read_day(store, layout).labels == counts  # the republished day keeps its label counts
    assert get_json(seeded, layout.summary)["performance"] == full
    assert "performance.json" in get_json(seeded, layout.manifest)["artifacts"]

    # A later label run with nothing new for P leaves its complete performance as it stands (not computed or written
    # again, "labels complete as of" the run that completed them); once P's predictions change (its logs fixed and
    # the day rerun), the next label run computes it again from them.
    kept = raw(seeded, layout.performance)
    steps.performance.performance_day(store, model, P + dt.timedelta(days=4), now=now())
    assert raw(seeded, layout.performance) == kept
    fixed = predictions_of(seeded, P).assign(approved=lambda f: 1 - f["approved"])
    for key in [o["Key"] for o in seeded.list_objects_v2(Bucket=BUCKET, Prefix=f"predictions/loan_approval/"
                                                                                           f"dt={P}/")["Contents"]]:
        seeded.delete_object(Bucket=BUCKET, Key=key)
    put_frame(seeded, f"predictions/loan_approval/dt={P}/part-0000.parquet", fixed)
    steps.run_day(store, model, P, now=now())
    steps.performance.performance_day(store, model, P + dt.timedelta(days=4), now=now())
    again = get_json(seeded, layout.performance)
    assert again["labels_as_of"] == "2026-10-09" and again["metrics"]["accuracy"] != full["metrics"]["accuracy"]


def test_the_day_whose_labels_came_due_is_judged_and_a_drop_past_the_limit_asks_for_retraining(
        seeded, store, loan_model):
    model = with_labels(loan_model, lag_days=2, min_labelled_rows=100)
    due_day = P + dt.timedelta(days=2)
    labels = truth(predictions_of(seeded, P),
                   flip=0.35)
    steps.run_day(store, model, P, now=now())
    land(seeded, P + dt.timedelta(days=1), labels)
    steps.run_day(store, model, P + dt.timedelta(days=1), now=now())
    decision = steps.run_day(store, model, due_day, now=now())

    report = get_json(seeded, DayLayout.of(model, due_day).labels_report)
    assert report["due"]["day"] == "2026-10-05" and report["due"]["status"] == "judged"
    assert {d["metric"] for d in report["due"]["degraded"]} >= {"f1", "roc_auc"}
    finding = next(f for f in decision.findings if f.rule == "performance_degradation")
    assert finding.severity.value == "critical" and "2026-10-05" in finding.message and "f1" in finding.message
    # Retraining learns from the window's labelled predictions: about 1,200 here, fewer than the 4,000 it waits for.
    assert decision.branches == ["alert"] and decision.retrain is None
    assert decision.retrain_held.startswith("waiting for labels: the predictions from 2026-09-24 to 2026-10-07 have ")
    assert "retraining.min_labelled_rows is 4000" in decision.retrain_held
    assert "Contents" not in seeded.list_objects_v2(Bucket="ml-monitoring", Prefix="retraining/loan_approval/triggers/")

    decision = steps.decide_day(store, with_labels(model, 2, {"min_labelled_rows": 1000}, min_labelled_rows=100),
                                   due_day)
    assert "alert" in decision.branches and "trigger_retraining" in decision.branches
    assert any("performance of the predictions made on 2026-10-05" in r for r in decision.retrain.reasons)
    metrics = get_json(seeded, DayLayout.of(model, due_day).day_metrics)
    assert "performance_degradation" in metrics["findings"] and metrics["status"] == "critical"


def test_labels_still_missing_when_due_are_a_warning(seeded, store, loan_model):
    model = with_labels(loan_model, lag_days=1)
    labels = truth(predictions_of(seeded, P))
    steps.run_day(store, model, P, now=now())
    land(seeded, P + dt.timedelta(days=1), labels.iloc[:50])
    decision = steps.run_day(store, model, P + dt.timedelta(days=1), now=now())
    finding = next(f for f in decision.findings if f.rule == "labels_missing")
    assert "2026-10-05" in finding.message and finding.severity.value == "warning"


def test_bad_labels_that_landed_are_counted_quarantined_and_reported(seeded, store, loan_model):
    model = with_labels(loan_model, lag_days=3)
    layout = DayLayout.of(model, P + dt.timedelta(days=1))
    good = truth(predictions_of(seeded, P))
    bad = pd.DataFrame({"prediction_id": ["no-such-id", good["prediction_id"].iloc[0], None, "x"],
                        "repaid": ["1", str(1 - good["repaid"].iloc[0]), "1", "maybe"]})
    steps.run_day(store, model, P, now=now())
    land(seeded, P + dt.timedelta(days=1), good.iloc[:300])
    land(seeded, P + dt.timedelta(days=1), bad, name="part-0001.parquet")
    decision = steps.run_day(store, model, P + dt.timedelta(days=1), now=now())

    report = get_json(seeded, layout.labels_report)
    assert report["rows"] == 304
    assert report["problems"] == {"conflicting": 2, "missing_id": 1, "unknown_id": 1, "wrong_type": 1}
    quarantine = pd.read_parquet(store.open(layout.labels_quarantine))
    assert sorted(quarantine["reason"]) == ["conflicting", "conflicting", "missing_id", "unknown_id", "wrong_type"]
    assert get_json(seeded, DayLayout.of(model, P).performance)["labelled"] == 299  # the conflicting id is left out
    rules = {f.rule for f in decision.findings}
    assert {"label_problems", "unknown_label_ids"} <= rules
    assert next(f for f in decision.findings if f.rule == "label_problems").severity.value == "warning"  # 4 of 304
    assert "labels_quarantine.parquet" in get_json(seeded, layout.manifest)["artifacts"]
    summary = json.loads(raw(seeded, layout.summary))
    assert summary["labels"] == report


def test_a_regression_model_is_monitored_with_its_own_metrics_and_a_rate_hike_asks_for_retraining(
        s3_client, store, config):
    """The demo's loan_rate regressor with the central-bank rate hike from its first day: no feature drifts, yet its
    MAE grows far past the reference's once the labels of day 1 are due (lag 3 days). Cut into segments by loan
    purpose, each day's state keeps DLE's expected losses inside each segment too."""
    from demo.rate_data import RateDrift
    from demo.seed import seed_model

    settings = config.model("loan_rate").model_dump(mode="json")
    model = ModelConfig.model_validate({**settings, "segments": {"columns": ["loan_purpose"]}})
    days = [P + dt.timedelta(days=i) for i in range(4)]
    seed_model(s3_client, "ml-monitoring", "loan_rate", days, drift=RateDrift(campaign_day=99, hike_day=1))
    for day in days[:-1]:
        steps.run_day(store, model, day, now=now())
    decision = steps.run_day(store, model, days[-1], now=now())

    first = DayLayout.of(model, days[0])
    found = get_json(s3_client, first.performance)
    assert set(found["metrics"]) == {"mae", "rmse", "mape", "r2"} and found["complete"]
    assert found["metrics"]["mae"] > 1.2 * found["baseline"]["mae"]
    assert set(found["errors"]) == {"mean_error", "p5", "p25", "p50", "p75", "p95"}
    assert found["errors"]["mean_error"] < -1.0  # quotes now fall short of the final rates
    assert found["confusion"] is None and found["calibration"] is None
    assert raw(s3_client, first.report("model_performance", "json"))
    summary = get_json(s3_client, first.summary)
    assert summary["operations"]["positive_rate"] is None and summary["operations"]["mean_confidence"] is None
    assert summary["data_drift"]["drifted_features"] == []

    finding = next(f for f in decision.findings if f.rule == "performance_degradation")
    assert "mae" in finding.columns and finding.severity.value == "critical"
    # Concept drift, as the estimate before the labels sees it: the inputs did not move, so neither did the DLE
    # estimate; once the labels are in, its miss is past chance and says so (info: the MAE finding is the alert).
    estimate = summary["estimated_performance"]
    assert estimate["method"] == "DLE" and estimate["metrics"]["mae"] == pytest.approx(found["baseline"]["mae"],
                                                                                      rel=0.1)
    sums = window_state.read_day(store, first).expected_loss  # the day's state keeps it as sums, for the window
    assert sums.rows == estimate["rows"] and sums.metrics()["mae"] == pytest.approx(estimate["metrics"]["mae"])
    inside = {key: state.expected_loss for key, state in window_state.read_day(store, first).segments.items()}
    assert len(inside) > 1 and all(key.startswith("loan_purpose=") for key in inside)
    assert sum(s.rows for s in inside.values()) == sums.rows  # every sampled row in one segment of the column
    assert sum(s.absolute for s in inside.values()) == pytest.approx(sums.absolute)
    assert "mae" in found["estimate_check"]["unreliable"] and found["estimate_check"]["errors"]["mae"] < 0
    unreliable = next(f for f in decision.findings if f.rule == "estimator_unreliable")
    assert unreliable.severity.value == "info" and "DLE" in unreliable.message
    assert decision.retrain is None and decision.retrain_held.startswith("waiting for labels")
    settings = model.model_dump(mode="json")
    settings["retraining"]["min_labelled_rows"] = 500
    decision = steps.decide_day(store, ModelConfig.model_validate(settings), days[-1])
    assert decision.retrain and "trigger_retraining" in decision.branches
