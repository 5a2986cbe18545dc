"""Which features explain a model's behaviour (monitoring/importance.py): permutation importance of the model artifact
on labelled rows, or of a surrogate of the model's score, checked on synthetic models with a known answer; and the two
rankings (a day's drift weighted by importance, and the correlation of daily drift with the performance change)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.importance import (Correlation, FeatureImportance, RankedFeature, correlation_ranking, fit_importance,
                                   rank_features)

ROOT = Path(__file__).resolve().parent.parent
NUMERICAL, CATEGORICAL = ("x_strong", "x_weak", "x_none"), ("colour",)
FEATURES = list(NUMERICAL + CATEGORICAL)


def features(rows: int, seed: int) -> pd.DataFrame:
    """Three standard normal features and a colour, all independent."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x_strong": rng.normal(size=rows), "x_weak": rng.normal(size=rows),
                         "x_none": rng.normal(size=rows), "colour": rng.choice(["red", "green", "blue"], size=rows)})


def pipeline(estimator):
    """The model as it would be pickled: raw columns in, colour one-hot encoded, numbers passed through."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer([("colour", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
                                ("numbers", "passthrough", list(NUMERICAL))])
    return Pipeline([("encode", encode), ("model", estimator)])


@pytest.fixture(scope="module")
def classifier():
    """A reference of 3,000 rows whose label depends on x_strong, less on x_weak, not on x_none nor colour; the
    logistic regression fitted on it, and its score beside the label."""
    from sklearn.linear_model import LogisticRegression

    frame = features(3_000, seed=1)
    rng = np.random.default_rng(2)
    frame["label"] = rng.binomial(1, 1 / (1 + np.exp(-(3 * frame["x_strong"] + 0.7 * frame["x_weak"]))))
    model = pipeline(LogisticRegression()).fit(frame[FEATURES], frame["label"])
    frame["score"] = model.predict_proba(frame[FEATURES])[:, 1]
    return frame, model


@pytest.fixture(scope="module")
def regressor():
    """The same features, a continuous label of x_strong and x_weak with noise, and a linear regression of it."""
    from sklearn.linear_model import LinearRegression

    frame = features(3_000, seed=3)
    rng = np.random.default_rng(4)
    frame["label"] = 3 * frame["x_strong"] + 0.7 * frame["x_weak"] + rng.normal(scale=0.5, size=len(frame))
    model = pipeline(LinearRegression()).fit(frame[FEATURES], frame["label"])
    frame["score"] = model.predict(frame[FEATURES])
    return frame, model


def fit(frame: pd.DataFrame, model=None, label: str | None = "label", is_classification: bool = True, **options):
    return fit_importance(frame, NUMERICAL, CATEGORICAL, score="score", label=label,
                          is_classification=is_classification, model=model, **options)


def assert_strong_then_weak_then_the_rest(importance: FeatureImportance):
    shares = importance.importances
    assert set(shares) == set(FEATURES)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(share >= 0 for share in shares.values())
    assert shares["x_strong"] > shares["x_weak"] > max(shares["x_none"], shares["colour"])
    assert shares["x_strong"] > 0.6 and max(shares["x_none"], shares["colour"]) < 0.05


# --- feature importance ---------------------------------------------------------------------------------------------
def test_permutation_of_the_model_ranks_the_features_the_label_depends_on_first(classifier):
    frame, model = classifier
    importance = fit(frame, model)
    assert (importance.method, importance.scoring, importance.rows) == ("model", "roc_auc", 3_000)
    assert_strong_then_weak_then_the_rest(importance)


def test_without_an_artifact_a_surrogate_of_the_score_gives_the_same_order(classifier):
    frame, _ = classifier
    importance = fit(frame, model=None)
    assert (importance.method, importance.scoring, importance.rows) == ("surrogate", "r2 of the model's score", 1_500)
    assert_strong_then_weak_then_the_rest(importance)


def test_without_labels_the_artifact_is_not_used_and_the_surrogate_is(classifier):
    frame, model = classifier
    assert fit(frame, model, label=None).method == "surrogate"
    assert fit(frame.drop(columns="label"), model).method == "surrogate"
    assert fit(frame.assign(label=1), model).method == "surrogate"  # one class: no ROC AUC to worsen


def test_a_model_that_fails_on_the_reference_falls_back_to_the_surrogate_with_a_warning(classifier, caplog):
    """An artifact expecting a column the reference does not have (here x_strong under another name), and an object
    that is no estimator at all."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    frame, _ = classifier
    renamed = frame.rename(columns={"x_strong": "strength"})
    other_columns = Pipeline([("encode", ColumnTransformer([("numbers", "passthrough", ["strength", "x_weak"])])),
                              ("model", LogisticRegression())]).fit(renamed, renamed["label"])
    with caplog.at_level(logging.WARNING, logger="monitoring.importance"):
        importance = fit(frame, other_columns)
    assert importance.method == "surrogate"
    assert_strong_then_weak_then_the_rest(importance)
    assert "using a surrogate" in caplog.text
    assert fit(frame, object()).method == "surrogate"


def test_a_regressor_is_permuted_with_the_mean_absolute_error(regressor):
    frame, model = regressor
    importance = fit(frame, model, is_classification=False)
    assert (importance.method, importance.scoring) == ("model", "neg_mean_absolute_error")
    assert_strong_then_weak_then_the_rest(importance)
    assert fit(frame, None, is_classification=False).method == "surrogate"


def test_at_most_max_rows_are_used_and_rows_without_a_score_are_dropped(classifier):
    frame, model = classifier
    assert fit(frame, model, max_rows=1_000).rows == 1_000
    unscored = frame.assign(score=frame["score"].where(frame.index % 3 != 0))
    assert fit(unscored, None).rows == 1_000  # 2,000 scored rows: 1,000 fit the surrogate, 1,000 are permuted


def test_too_few_rows_or_no_feature_gives_no_importance(classifier):
    frame, model = classifier
    assert fit(frame.head(49), model) is None
    assert fit(frame.assign(score=np.where(frame.index < 49, frame["score"], np.nan)), None) is None
    assert fit(frame.drop(columns="score"), None) is None
    assert fit_importance(frame, (), (), score="score", label="label", is_classification=True, model=model) is None
    assert fit(frame.head(50), None) is not None


def test_the_same_inputs_give_the_same_importances(classifier):
    frame, model = classifier
    for artifact in (model, None):
        first, second = fit(frame, artifact, max_rows=2_000, seed=7), fit(frame, artifact, max_rows=2_000, seed=7)
        assert first == second
        assert json.dumps(first.model_dump()) == json.dumps(second.model_dump())
        assert all(round(share, 6) == share for share in first.importances.values())


def test_the_surrogate_takes_missing_values_and_many_categories():
    """NaNs in numbers and categories, a column of 1,000 distinct ids (more categories than the trees take), and
    numbers in a categorical column: the surrogate still finds the one feature the score depends on."""
    frame = features(2_000, seed=5)
    rng = np.random.default_rng(6)
    frame["score"] = 1 / (1 + np.exp(-2 * frame["x_strong"]))
    frame.loc[rng.random(len(frame)) < 0.1, "x_weak"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.1, "colour"] = None
    frame["id"] = rng.integers(0, 1_000, size=len(frame)).astype(str)
    frame["code"] = rng.choice([1, 2, "3"], size=len(frame)).astype(object)
    importance = fit_importance(frame, NUMERICAL, ("colour", "id", "code"), score="score", label=None,
                                is_classification=True)
    assert importance.method == "surrogate"
    assert max(importance.importances, key=importance.importances.get) == "x_strong"
    assert importance.importances["x_strong"] > 0.9


def test_every_importance_is_zero_when_no_shuffle_worsens_anything(classifier):
    frame, _ = classifier
    importance = fit(frame.assign(score=0.5), None)  # a constant score: nothing for the surrogate to explain
    assert importance.importances == dict.fromkeys(FEATURES, 0.0)


def test_the_description_says_which_way_and_on_how_many_rows():
    model = FeatureImportance(method="model", scoring="roc_auc", rows=3_000, importances={"x": 1.0})
    surrogate = FeatureImportance(method="surrogate", scoring="r2 of the model's score", rows=1_500,
                                  importances={"x": 1.0})
    assert "model itself" in model.describe() and "3,000" in model.describe() and "roc_auc" in model.describe()
    assert "surrogate" in surrogate.describe() and "1,500" in surrogate.describe()
    assert model.describe().count(".") == 1 or model.describe().endswith(".")


def test_sklearn_and_scipy_are_imported_only_when_needed():
    code = "import sys, monitoring.importance; print([m for m in ('sklearn', 'scipy') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


# --- a day's drift weighted by importance ---------------------------------------------------------------------------
def importance_of(**shares: float) -> FeatureImportance:
    return FeatureImportance(method="model", scoring="roc_auc", rows=1_000, importances=shares)


def test_a_weakly_drifted_important_feature_ranks_above_a_strongly_drifted_unimportant_one():
    importance = importance_of(income=0.8, age=0.15, colour=0.05)
    ranked = rank_features({"colour": 0.9, "income": 0.1, "age": 0.2}, {"colour"}, importance)
    assert [r.feature for r in ranked] == ["income", "colour", "age"]  # 0.08 > 0.045 > 0.03
    assert ranked[0] == RankedFeature(feature="income", drift=0.1, importance=0.8, impact=0.1 * 0.8, drifted=False)
    assert ranked[1].drifted and ranked[1].impact == pytest.approx(0.045)


def test_features_without_drift_come_last_and_only_the_given_features_up_to_the_limit():
    importance = importance_of(a=0.5, b=0.3, c=0.1, d=0.1)
    ranked = rank_features({"c": None, "a": 0.2, "b": 0.0, "z": float("nan")}, set(), importance)
    assert [r.feature for r in ranked] == ["a", "b", "c", "z"]
    assert [(r.drift, r.impact) for r in ranked[2:]] == [(None, 0.0), (None, 0.0)]
    assert "d" not in {r.feature for r in ranked}
    assert [r.feature for r in rank_features({f"f{i}": i / 10 for i in range(15)}, set(), None, limit=3)] == [
        "f14", "f13", "f12"]


def test_without_importance_features_rank_by_drift_alone():
    ranked = rank_features({"b": 0.2, "a": 0.2, "c": 0.5}, {"c"}, None)
    assert [(r.feature, r.impact, r.importance) for r in ranked] == [("c", 0.5, None), ("a", 0.2, None),
                                                                      ("b", 0.2, None)]


# --- correlation of daily drift with the performance change ---------------------------------------------------------
def test_a_feature_whose_drift_tracks_the_performance_change_ranks_first():
    rng = np.random.default_rng(8)
    change = rng.normal(size=30).tolist()
    drift = {"tracks": [0.1 + 0.5 * c + rng.normal(scale=0.01) for c in change],
             "unrelated": rng.normal(size=30).tolist(),
             "opposite": [1 - 0.3 * c + rng.normal(scale=0.3) for c in change]}
    ranked = correlation_ranking(drift, change)
    assert [c.feature for c in ranked] == ["tracks", "opposite", "unrelated"]
    assert ranked[0].correlation > 0.99 and ranked[0].p_value < 1e-6 and ranked[0].days == 30
    assert ranked[1].correlation < -0.5
    assert abs(ranked[2].correlation) < 0.5


def test_a_constant_drift_or_too_few_days_has_no_correlation():
    change = [0.1, None, 0.3, 0.2, 0.5, 0.4, None, 0.6]
    drift = {"constant": [0.2] * 8, "short": [0.1, 0.2, 0.3, 0.2], "gappy": [0.1, 0.9, None, 0.2, None, 0.4, 0.3],
             "aligned": [0.11, 5.0, 0.29, 0.21, 0.52, 0.39, 7.0, 0.61, 9.0]}
    ranked = {c.feature: c for c in correlation_ranking(drift, change)}
    assert ranked["constant"] == Correlation(feature="constant", correlation=None, p_value=None, days=6)
    assert (ranked["short"].correlation, ranked["short"].days) == (None, 3)
    assert (ranked["gappy"].correlation, ranked["gappy"].days) == (None, 3)  # days 0, 3, 5: both values on 3 only
    assert ranked["aligned"].days == 6 and ranked["aligned"].correlation > 0.99  # the None days (and beyond) skipped
    assert [c.feature for c in correlation_ranking(drift, change)] == ["aligned", "constant", "gappy", "short"]
    assert correlation_ranking({"short": [0.1, 0.2, 0.3]}, [0.3, 0.1, 0.2], min_days=3)[0].correlation is not None
