"""Performance metrics (monitoring/metrics.py): the same figures as scikit-learn's and as Evidently's report, and
confidence intervals that cover the true value at their nominal rate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from monitoring import metrics, reports
from monitoring.config import Scoring
from monitoring.vocabulary import ModelTask
from tests.conftest import ROOT

CLASSIFIER = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="approved")
REGRESSOR = Scoring(task=ModelTask.REGRESSION, score="p")


def scored(n=4000, seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    y = (rng.random(n) < np.clip(p + noise * rng.normal(size=n), 0, 1)).astype(float)
    return pd.DataFrame({"pid": [f"i{i}" for i in range(n)], "p": p, "approved": (p >= 0.5).astype(int), "label": y})


def test_one_confidently_wrong_row_moves_a_day_s_log_loss_by_at_most_ln_1000_over_its_rows():
    """Scores logged rounded (0.00, 1.00): one wrong row must not page a small day on its own."""
    frame = scored(n=300, seed=3).assign(p=lambda f: f["p"].clip(0.01, 0.99))
    before = metrics.figures(frame, CLASSIFIER).metrics["log_loss"]
    frame.loc[0, ["p", "approved", "label"]] = (0.0, 0, 1.0)  # scored 0.00, and it was a positive
    after = metrics.figures(frame, CLASSIFIER).metrics["log_loss"]
    assert 0 < after - before <= np.log(1 / metrics.LOG_LOSS_FLOOR) / 300


def test_classification_figures_match_scikit_learn():
    frame = scored()
    found = metrics.figures(frame, CLASSIFIER)
    y, p, yhat = frame["label"], frame["p"], frame["approved"]
    assert found.metrics["f1"] == pytest.approx(sk.f1_score(y, yhat))
    assert found.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p))
    floor = metrics.LOG_LOSS_FLOOR
    assert found.metrics["log_loss"] == pytest.approx(sk.log_loss(y, p.clip(floor, 1 - floor)))
    assert found.metrics["precision"] == pytest.approx(sk.precision_score(y, yhat))
    assert found.metrics["recall"] == pytest.approx(sk.recall_score(y, yhat))
    assert found.metrics["accuracy"] == pytest.approx(sk.accuracy_score(y, yhat))
    c = found.confusion
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (
        int(((y == 1) & (yhat == 1)).sum()), int(((y == 0) & (yhat == 1)).sum()),
        int(((y == 0) & (yhat == 0)).sum()), int(((y == 1) & (yhat == 0)).sum()))
    assert sum(b.count for b in found.reliability) == len(frame)
    assert found.metrics["calibration_error"] < 0.05  # labels drawn from p: well calibrated


def test_without_a_decision_column_the_score_against_the_threshold_is_the_decision():
    frame = scored(500)
    by_threshold = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", probability_threshold=0.7)
    assert metrics.predicted_labels(frame, by_threshold).tolist() == (frame["p"] >= 0.7).astype(int).tolist()
    assert metrics.figures(frame, by_threshold).metrics["recall"] == pytest.approx(
        sk.recall_score(frame["label"], frame["p"] >= 0.7))


def test_regression_figures_match_their_definitions():
    y = np.array([10.0, 12.0, 8.0, 20.0])
    frame = pd.DataFrame({"p": [11.0, 12.0, 6.0, 21.0], "label": y})
    found = metrics.figures(frame, REGRESSOR)
    assert found.metrics["mae"] == pytest.approx(sk.mean_absolute_error(y, frame["p"]))
    assert found.metrics["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, frame["p"])))
    assert found.metrics["mape"] == pytest.approx(100 * sk.mean_absolute_percentage_error(y, frame["p"]))
    assert found.metrics["r2"] == pytest.approx(sk.r2_score(y, frame["p"]))
    assert found.errors["mean_error"] == pytest.approx(0.0)


def test_one_class_of_labels_leaves_roc_auc_undefined_not_an_error():
    frame = scored(200)
    frame["label"] = 1.0
    assert metrics.figures(frame, CLASSIFIER).metrics["roc_auc"] is None


def test_our_figures_agree_with_evidentlys_report():
    """The summary's exact figures and the Evidently report people open must tell the same story."""
    from monitoring.config import load_config

    model = load_config(ROOT / "config" / "models.yaml").model("loan_approval")
    classifier = model.model_copy(update={"columns": model.columns.model_copy(update={
        "score": "p", "decision": "approved"})})
    frame = scored(3000, seed=1)
    rendered = reports.build_performance_report(frame, scored(2000, seed=2), classifier)
    values = {m["config"]["type"].rsplit(":", 1)[-1]: m["value"] for m in json.loads(rendered.json)["metrics"]}
    ours = metrics.figures(frame, classifier.scoring).metrics
    assert values["F1Score"] == pytest.approx(ours["f1"])
    assert values["RocAuc"] == pytest.approx(ours["roc_auc"])
    assert values["Accuracy"] == pytest.approx(ours["accuracy"])
    assert "<html" in rendered.html.lower()
    assert "one class" in reports.build_performance_report(frame.assign(label=1.0), None, classifier)

    rate = load_config(ROOT / "config" / "models.yaml").model("loan_rate")
    regressor = rate.model_copy(update={"columns": rate.columns.model_copy(update={"score": "p"})})
    rng = np.random.default_rng(3)
    y = rng.normal(15, 3, 2000)
    frame = pd.DataFrame({"p": y + rng.normal(0, 1, 2000), "label": y})
    rendered = reports.build_performance_report(frame, None, regressor)
    values = {m["config"]["type"].rsplit(":", 1)[-1]: m["value"] for m in json.loads(rendered.json)["metrics"]}
    ours = metrics.figures(frame, regressor.scoring).metrics
    assert values["MAE"]["mean"] == pytest.approx(ours["mae"])
    assert values["RMSE"] == pytest.approx(ours["rmse"])
    assert values["R2Score"] == pytest.approx(ours["r2"])


def test_the_confidence_intervals_of_realized_performance_cover_the_true_value():
    """Days of 2,000 labelled predictions from a population whose metrics are known: the 95% interval holds the
    population's value about 95% of the time."""
    rng = np.random.default_rng(21)
    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")

    def draw(n: int) -> pd.DataFrame:
        p = 1 / (1 + np.exp(-rng.normal(0.4, 1.5, n)))
        return pd.DataFrame({"p": p, "d": (p >= 0.5).astype(int), "label": (rng.random(n) < p).astype(int)})

    population = draw(400_000)
    truth = metrics.classification_metrics(population["label"].to_numpy(), population["p"].to_numpy(),
                                           population["d"].to_numpy())
    covered = {m: 0 for m in ("f1", "roc_auc", "accuracy")}
    days = 60
    for seed in range(days):
        found = metrics.intervals(draw(2_000), scoring, seed)
        for metric in covered:
            low, high = found[metric]
            covered[metric] += low <= truth[metric] <= high
    for metric, count in covered.items():
        assert 0.85 <= count / days <= 1.0, (metric, count)


@pytest.mark.parametrize("task", [ModelTask.BINARY_CLASSIFICATION, ModelTask.REGRESSION])
def test_one_metric_alone_equals_the_same_metric_of_the_whole_set(task):
    """The segments' bands compute only the headline metric: it must be the very value the full set gives."""
    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.4).astype(float) if task is ModelTask.BINARY_CLASSIFICATION else rng.normal(10, 2, 500)
    p = rng.random(500) if task is ModelTask.BINARY_CLASSIFICATION else y + rng.normal(0, 1, 500)
    scoring = Scoring(task=task, score="p")
    yhat = (p >= 0.5).astype(int) if task is ModelTask.BINARY_CLASSIFICATION else None
    every = metrics.metrics_of_arrays(scoring, y, p, yhat)
    assert {m: metrics.metric_of_arrays(scoring, m, y, p, yhat) for m in every} == every
