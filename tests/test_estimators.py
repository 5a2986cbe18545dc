"""Performance before the labels land (monitoring/estimators.py): CBPE (binary classifiers) and DLE (regressors),
fitted once with the reference profile and applied to every day; checked on synthetic models with a known answer, against NannyML 0.13.1's figures
on the shared real datasets, and through the library's daily flow (the estimate on the pages, its record once the
labels are complete, the finding when it misses by more than chance)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring import estimators, judging, steps
from monitoring.config import DriftSpec, ModelConfig, Scoring
from monitoring.layout import DayLayout
from monitoring.reference import ReferenceProfile
from monitoring.vocabulary import ModelTask
from tests.world import judging as metric_judging
from tests.world import settings
from tests.helpers import get_json, land_labels, logged_predictions, now, read, seed_days, true_labels

FIXTURES = Path(__file__).parent / "fixtures" / "nannyml"
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


BINARY = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="score", decision="decision")
JUDGING = metric_judging(ModelTask.BINARY_CLASSIFICATION)


def binary_settings(label: str | None = "label"):
    """A binary classifier of one feature `x`, labelled in `label`."""
    specs = {"x": DriftSpec(kind="numerical", method="wasserstein", threshold=0.1),
             "score": DriftSpec(kind="numerical", method="wasserstein", threshold=0.1),
             "decision": DriftSpec(kind="categorical", method="jensenshannon", threshold=0.1)}
    return settings(scoring=BINARY, specs=specs, numerical=("x",), categorical=(), label=label, estimate=True)


def fit_cbpe(frame: pd.DataFrame) -> estimators.CbpeFit:
    return estimators.fit_cbpe(frame, BINARY, "label")


def fit_profile(frame: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile.fit(frame, "synthetic", binary_settings(), "v1", "0" * 16)


def estimate_day(profile: ReferenceProfile, confusion, day: pd.DataFrame, quality=None):
    return judging.estimate_day(profile, JUDGING, BINARY, ("x",), ("x",), confusion, day, {}, quality)


def scored(rows: int, rng: np.random.Generator, shift: float = 0.0, squash: bool = False) -> pd.DataFrame:
    """A classifier whose scores are its true probabilities (`squash`: scores cubed, too low, uncalibrated);
    `shift` moves the population (covariate shift: the scores stay right)."""
    z = rng.normal(shift, 1.5, rows)
    p = 1 / (1 + np.exp(-z))
    score = p ** 3 if squash else p
    return pd.DataFrame({"x": z, "score": score, "decision": (score >= 0.5).astype(int),
                         "label": (rng.random(rows) < p).astype(int)})


def realized(day: pd.DataFrame) -> dict[str, float]:
    y, yhat = day["label"].to_numpy(), day["decision"].to_numpy()
    tp, fp, fn = ((yhat == 1) & (y == 1)).sum(), ((yhat == 1) & (y == 0)).sum(), ((yhat == 0) & (y == 1)).sum()
    return {"accuracy": float((y == yhat).mean()), "f1": tp / (tp + 0.5 * (fp + fn))}


def estimate(fit: estimators.CbpeFit, day: pd.DataFrame) -> estimators.Estimate:
    confusion = estimators.ExpectedConfusion(fit)
    half = len(day) // 2  # in two batches, as the streaming pass adds them
    for batch in (day.iloc[:half], day.iloc[half:]):
        confusion.add(batch["score"].to_numpy(), batch["decision"].to_numpy())
    return estimators.cbpe_estimate(fit, confusion, day["score"].to_numpy())


# --- CBPE -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_cbpe_expects_the_realized_confusion_matrix_of_a_calibrated_model(shift):
    """Over many days, estimated minus realized averages to zero (the expected confusion matrix is unbiased), and
    the realized value lies inside the estimate's +- 3 sampling-error band on about 99.7% of them; after a
    covariate shift too, where the performance itself moved."""
    rng = np.random.default_rng(11)
    fit = fit_cbpe(scored(20_000, rng))
    days = [scored(500, rng, shift) for _ in range(300)]
    found = [estimate(fit, day) for day in days]
    truth = [realized(day) for day in days]
    for metric in ("accuracy", "f1"):
        errors = np.array([e.metrics[metric] - t[metric] for e, t in zip(found, truth)])
        assert abs(errors.mean()) < 3 * errors.std() / math.sqrt(len(errors)) + 1e-3, metric
        inside = np.mean([e.bands[metric][0] <= t[metric] <= e.bands[metric][1] for e, t in zip(found, truth)])
        assert inside >= 0.97, (metric, inside)
    if shift:  # the estimate follows the shift: accuracy rises as scores move away from 0.5
        reference = estimate(fit, scored(20_000, np.random.default_rng(1)))
        assert np.mean([e.metrics["accuracy"] for e in found]) > reference.metrics["accuracy"] + 0.02
    assert all(e.metrics["roc_auc"] is not None and 0.5 < e.metrics["roc_auc"] < 1 for e in found)


def test_the_scores_are_calibrated_only_when_that_helps():
    """Isotonic calibration is used when it lowers the calibration error of held-out folds (NannyML's rule): always
    for scores that are far off, on some references only for scores already right (where it changes little)."""
    rng = np.random.default_rng(5)
    right = [fit_cbpe(scored(300, rng)) for _ in range(10)]
    assert all(fit.calibrated == (fit.ece_calibrated < fit.ece_raw) for fit in right)
    kept = [fit for fit in right if not fit.calibrated]
    assert kept and all(fit.calibration_x == [] for fit in kept)
    assert np.array_equal(kept[0].probabilities(np.array([0.1, 0.7])), [0.1, 0.7])
    squashed = fit_cbpe(scored(20_000, rng, squash=True))
    assert squashed.calibrated and squashed.ece_calibrated < squashed.ece_raw / 5
    # Calibrated, the squashed scores estimate the day as well as true probabilities do; raw, they would not.
    days = [scored(2_000, rng, squash=True) for _ in range(40)]
    errors = [estimate(squashed, d).metrics["accuracy"] - realized(d)["accuracy"] for d in days]
    assert abs(np.mean(errors)) < 0.01
    raw = squashed.model_copy(update={"calibrated": False})
    assert abs(np.mean([estimate(raw, d).metrics["accuracy"] - realized(d)["accuracy"] for d in days])) > 0.05


def test_no_estimate_without_a_labelled_reference():
    frame = scored(2_000, np.random.default_rng(2)).drop(columns="label").assign(id=range(2_000), ts=0)
    profile = ReferenceProfile.fit(frame, "synthetic", binary_settings(label=None), "v1", "0" * 16)
    assert profile.cbpe is None and profile.dle is None
    assert estimate_day(profile, None, frame) is None


def test_the_estimate_names_the_share_of_the_day_the_reference_never_saw():
    from types import SimpleNamespace

    rng = np.random.default_rng(4)
    reference = scored(3_000, rng).assign(id=range(3_000), ts=0)
    profile = fit_profile(reference)
    day = scored(800, rng)
    confusion = estimators.ExpectedConfusion(profile.cbpe)
    confusion.add(day["score"].to_numpy(), day["decision"].to_numpy())
    quality = {"x": SimpleNamespace(new_category_share=None, out_of_range_share=0.3)}
    found = estimate_day(profile, confusion, day, quality)
    assert found.method == "CBPE" and found.rows == 800 and found.unsupported == {"x": 0.3}
    assert found.baseline == profile.performance
    quality["x"] = SimpleNamespace(new_category_share=None, out_of_range_share=0.001)
    assert estimate_day(profile, confusion, day, quality).unsupported == {}


def test_an_estimated_drop_is_a_finding_and_may_ask_for_retraining(loan_model):
    """A day whose scores crowd around 0.5 (a covariate shift into the model's uncertain region): CBPE expects a
    clearly lower accuracy and F1 before any label; the rule fires (warning), and a policy that names it retrains."""
    from monitoring import rules
    from monitoring.retraining_policy import retrain_request
    from tests.summaries import summary

    rng = np.random.default_rng(8)
    reference = scored(4_000, rng).assign(id=range(4_000), ts=0)
    profile = fit_profile(reference)
    z = rng.normal(0, 0.4, 1_000)
    p = 1 / (1 + np.exp(-z))
    day = pd.DataFrame({"x": z, "score": p, "decision": (p >= 0.5).astype(int)})
    confusion = estimators.ExpectedConfusion(profile.cbpe)
    confusion.add(day["score"].to_numpy(), day["decision"].to_numpy())
    found = estimate_day(profile, confusion, day)
    assert {d.metric for d in found.degraded} >= {"f1"}

    settings = loan_model.model_dump(mode="json")
    day_summary = summary().model_copy(update={"estimated_performance": found})
    finding = next(f for f in rules.findings(day_summary, loan_model) if f.rule == "estimated_performance_drop")
    assert finding.severity.value == "warning" and "CBPE" in finding.message and "f1" in finding.columns
    assert retrain_request(day_summary, loan_model, {}) is None  # the default policy waits for drift
    settings["retraining"]["when_all"] = ["estimated_performance_drop"]
    settings["rules"] = {**settings.get("rules", {}), "estimated_performance_drop": {"severity": "critical"}}
    eager = ModelConfig.model_validate(settings)
    request = retrain_request(day_summary, eager, {})
    assert request is not None and "estimated performance (CBPE) dropped" in request.reasons[0]
    assert next(f for f in rules.findings(day_summary, eager)
                if f.rule == "estimated_performance_drop").severity.value == "critical"


def nannyml_figures() -> dict:
    return json.loads((FIXTURES / "cbpe.json").read_text())


@pytest.mark.skipif(not DATASETS.is_dir(), reason="the shared datasets are beside the checkout")
@pytest.mark.parametrize("dataset", ["employment", "housing"])
def test_cbpe_agrees_with_nannyml_on_the_shared_datasets(dataset):
    """The same reference and the same analysis chunks as NannyML 0.13.1's CBPE (tests/fixtures/nannyml/
    generate.py): the calibration decision, every estimate within 0.01 (they agree to 1e-15) and the sampling errors
    within 1% (ROC-AUC's is DeLong's here, wider than NannyML's: see monitoring/estimators.py)."""
    figures = nannyml_figures()["datasets"][dataset]
    if dataset == "employment":
        reference = pd.read_parquet(DATASETS / "employment_MA_reference.pq")
        analysis = pd.read_parquet(DATASETS / "employment_MA_analysis.pq")
    else:
        reference = pd.read_csv(DATASETS / "california_housing_reference.csv")
        analysis = pd.read_csv(DATASETS / "california_housing_analysis.csv")
    score, decision = figures["score"], figures["decision"]
    fit = estimators.fit_cbpe(reference, Scoring(task=ModelTask.BINARY_CLASSIFICATION, score=score,
                                                 decision=decision), figures["label"])
    assert fit.calibrated == figures["calibrated"]
    for chunk in figures["chunks"]:
        rows = analysis.iloc[chunk["start"]:chunk["end"]]
        confusion = estimators.ExpectedConfusion(fit)
        confusion.add(rows[score].to_numpy(dtype=float), rows[decision].to_numpy())
        found = estimators.cbpe_estimate(fit, confusion, rows[score].to_numpy(dtype=float))
        for metric, theirs in chunk["estimated"].items():
            assert found.metrics[metric] == pytest.approx(theirs, abs=0.01), (chunk["start"], metric)
            error, their_error = fit.errors[metric].at(len(rows)), chunk["sampling_error"][metric]
            if metric == "roc_auc":  # DeLong's: both classes' share of the variance, where NannyML counts one
                assert their_error <= error <= 2 * their_error
            else:
                assert error == pytest.approx(their_error, rel=0.01)


# --- DLE ------------------------------------------------------------------------------------------------------------
def heteroscedastic(rows: int, rng: np.random.Generator, share_b: float = 0.3) -> pd.DataFrame:
    """A regressor that is right on average, with errors that grow with `spread` and double for kind "b"."""
    x, spread = rng.normal(0, 1, rows), rng.normal(0, 1, rows)
    kind = rng.choice(["a", "b"], rows, p=[1 - share_b, share_b])
    noise = rng.normal(0, 1, rows) * (0.5 + np.abs(spread)) * np.where(kind == "b", 2.0, 1.0)
    prediction = 3 * x
    return pd.DataFrame({"x": x, "spread": spread, "kind": kind, "prediction": prediction,
                         "actual": prediction + noise})


def test_dle_estimates_the_mae_of_days_whose_errors_grew_within_its_band():
    rng = np.random.default_rng(3)
    fit, artifacts = estimators.fit_dle(heteroscedastic(5_000, rng), ("x", "spread"), ("kind",), "prediction",
                                        "actual")
    nannies = estimators.load_nannies(artifacts)
    nannies = {metric: nannies[name] for metric, name in fit.artifacts.items()}
    estimated, out_of_fold = fit.held_out["mae"]
    assert estimated == pytest.approx(out_of_fold, rel=0.05)  # honest on its own reference: cross-fitted
    days = [heteroscedastic(1_000, rng, share_b=0.7) for _ in range(20)]  # more of kind "b": larger errors
    found = [estimators.dle_estimate(fit, nannies, day, ("x", "spread"), "prediction") for day in days]
    mae = [float(np.abs(day["prediction"] - day["actual"]).mean()) for day in days]
    assert np.mean(mae) > 1.25 * out_of_fold  # the days' errors really grew
    inside = [e.bands["mae"][0] <= m <= e.bands["mae"][1] for e, m in zip(found, mae)]
    assert sum(inside) >= 18  # of 20 (the band is the reference's sampling error: a bit narrow for larger errors)
    assert np.mean([e.metrics["mae"] for e in found]) == pytest.approx(np.mean(mae), rel=0.08)
    rmse = [float(np.sqrt(((day["prediction"] - day["actual"]) ** 2).mean())) for day in days]
    assert np.mean([e.metrics["rmse"] for e in found]) == pytest.approx(np.mean(rmse), rel=0.1)


# --- through the daily flow -------------------------------------------------------------------------------------------
P = dt.date(2026, 10, 5)


def with_labels(model: ModelConfig, lag_days: int) -> ModelConfig:
    settings = model.model_dump(mode="json")
    settings["labels"] = {"column": "repaid", "lag_days": lag_days}
    settings["performance"] = {**settings["performance"], "min_labelled_rows": 100}
    return ModelConfig.model_validate(settings)


def test_the_estimate_is_published_checked_against_the_labels_and_flagged_when_it_misses(
        s3_client, store, trained, loan_model):
    """Day 1's labels follow the model's own probabilities: its estimate holds. Day 2's are a third flipped (the
    relation between inputs and outcome changed, the inputs did not): the estimate stays where it was, the realized
    performance falls, and the day it is judged says the estimator was unreliable (info)."""
    model = with_labels(loan_model, lag_days=2)
    days = [P + dt.timedelta(days=i) for i in range(4)]
    seed_days(s3_client, trained, {d: 5 + i for i, d in enumerate(days)}, rows=1_500)
    steps.run_day(store, model, days[0], now=now())
    first = get_json(s3_client, DayLayout.of(model, days[0]).summary)["estimated_performance"]
    assert first["method"] == "CBPE" and first["rows"] == 1_500 and "no concept drift" in first["assumptions"]
    assert set(first["metrics"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert all(low <= first["metrics"][m] <= high for m, (low, high) in first["bands"].items())
    assert first["degraded"] == []

    land_labels(s3_client, "loan_approval", days[1], true_labels(logged_predictions(s3_client, "loan_approval", days[0])))
    steps.run_day(store, model, days[1], now=now())
    land_labels(s3_client, "loan_approval", days[2],
                true_labels(logged_predictions(s3_client, "loan_approval", days[1]), flip=0.35))
    reliable = steps.run_day(store, model, days[2], now=now())
    check = get_json(s3_client, DayLayout.of(model, days[0]).performance)["estimate_check"]
    assert check["method"] == "CBPE" and check["unreliable"] == []
    assert all(abs(check["errors"][m]) <= check["bands"][m] for m in check["errors"])
    assert "estimator_unreliable" not in {f.rule for f in reliable.findings}

    decision = steps.run_day(store, model, days[3], now=now())
    check = get_json(s3_client, DayLayout.of(model, days[1]).performance)["estimate_check"]
    assert {"accuracy", "f1"} <= set(check["unreliable"]) and check["errors"]["accuracy"] > 0.1
    finding = next(f for f in decision.findings if f.rule == "estimator_unreliable")
    assert finding.severity.value == "info" and "2026-10-06" in finding.message and "more than chance" in finding.message
    assert finding not in decision.alerting  # shown on the pages, never an alert

    page = read(s3_client, DayLayout.of(model, days[1]).day_page).decode()
    assert 'id="estimated-performance"' in page and "estimate off by" in page and "more than chance" in page
    assert "no concept drift" in page
    model_page = read(s3_client, DayLayout.of(model, days[3]).model_page).decode()
    assert "estimated F1 (CBPE)" in model_page and 'class="band estimate"' in model_page
    assert 'id="estimate-track"' in model_page and "on 1 of the last 2 judged days" in model_page
    waiting = read(s3_client, DayLayout.of(model, days[3]).day_page).decode()
    assert 'id="estimated-kpi"' in waiting  # a day still waiting for labels shows its estimate in the key figures
