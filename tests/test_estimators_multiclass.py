"""Multiclass CBPE (monitoring/estimators.py), checked against NannyML 0.13.1 and against a world whose scores are
right."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitoring import estimators
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

FIXTURES = Path(__file__).parent / "fixtures" / "nannyml"
CLASSES = ["prepaid", "postpaid", "upgrade"]
# NannyML's metric names -> ours
NAMES = {"accuracy": "accuracy", "precision": "macro_precision", "recall": "macro_recall", "f1": "macro_f1",
         "roc_auc": "roc_auc"}


def realized(y: np.ndarray, decisions: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The realized figures, by scikit-learn (a class never predicted counts 0, as NannyML's)."""
    labels = list(range(scores.shape[1]))
    macro = {"average": "macro", "labels": labels, "zero_division": 0}
    return {"accuracy": accuracy_score(y, decisions),
            "macro_precision": precision_score(y, decisions, **macro),
            "macro_recall": recall_score(y, decisions, **macro),
            "macro_f1": f1_score(y, decisions, **macro),
            "roc_auc": roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=labels)}


def estimate(fit: estimators.MulticlassCbpeFit, scores: np.ndarray, decisions: np.ndarray) -> estimators.Estimate:
    confusion = estimators.ExpectedMulticlassConfusion(fit)
    confusion.add(scores, decisions)
    return estimators.cbpe_multiclass_estimate(fit, confusion, scores)


# --- against NannyML ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nannyml():
    """NannyML's figures, its data (tests/fixtures/nannyml/generate_multiclass.py) and our fit on its reference."""
    figures = json.loads((FIXTURES / "cbpe_multiclass.json").read_text())
    data = pd.read_parquet(FIXTURES / "multiclass.parquet")
    index = {c: i for i, c in enumerate(CLASSES)}

    def arrays(frame):
        return (frame["y_true"].map(index).to_numpy(), frame[[f"score_{c}" for c in CLASSES]].to_numpy(dtype=float),
                frame["y_pred"].map(index).to_numpy())

    reference = arrays(data[data["period"] == "reference"])
    fit = estimators.fit_cbpe_multiclass(*reference, CLASSES)
    return figures, fit, arrays(data[data["period"] == "analysis"].reset_index(drop=True))


def test_multiclass_cbpe_estimates_what_nannyml_estimates(nannyml):
    """The same reference and analysis chunks as NannyML 0.13.1's CBPE: the same classes calibrated (it leaves
    prepaid's exact scores alone, calibrates the other two) and every chunk's five estimates within 1e-6 (measured:
    1e-15), with the classes in another order than NannyML's (it sorts them)."""
    figures, fit, (y, scores, decisions) = nannyml
    assert figures["classes"] == CLASSES and fit.classes == CLASSES
    assert {c: k.calibrated for c, k in fit.calibrations.items()} == figures["calibrated"]
    for chunk in figures["chunks"]:
        rows = slice(chunk["start"], chunk["end"])
        found = estimate(fit, scores[rows], decisions[rows])
        for theirs, ours in NAMES.items():
            assert found.metrics[ours] == pytest.approx(chunk["estimated"][theirs], abs=1e-6), (chunk["start"], ours)
        truth = realized(y[rows], decisions[rows], scores[rows])  # the same rows NannyML judged
        for theirs, ours in NAMES.items():
            assert truth[ours] == pytest.approx(chunk["realized"][theirs], abs=1e-9), (chunk["start"], ours)


def test_multiclass_sampling_errors_are_nannymls_but_roc_aucs(nannyml):
    """Accuracy's and the macro precision's, recall's and F1's sampling errors are NannyML's to 1e-6 (measured:
    1e-18). ROC-AUC's is DeLong's of the classes' mean, which NannyML approximates by the positives' half of each
    class's variance, the classes taken as independent, times 1.2: 1.32 times NannyML's here, asserted within
    1.1-1.6 (on a calibrated world NannyML's band was 1.28 times too narrow, ours 0.97: see
    test_multiclass_estimates_hold_within_their_band_on_days_without_change)."""
    figures, fit, _ = nannyml
    for chunk in figures["chunks"]:
        rows = chunk["end"] - chunk["start"]
        for theirs, ours in NAMES.items():
            error, their_error = fit.errors[ours].at(rows), chunk["sampling_error"][theirs]
            if ours == "roc_auc":
                assert 1.1 * their_error <= error <= 1.6 * their_error
            else:
                assert error == pytest.approx(their_error, abs=1e-6), (chunk["start"], ours)


def test_merging_two_halves_of_a_day_gives_the_whole_day(nannyml):
    """The expected confusion matrix is a sum over rows: two halves fed separately (as two tasks would) and merged
    equal the day fed at once, batch by batch or in one go."""
    _, fit, (_, scores, decisions) = nannyml
    whole = estimators.ExpectedMulticlassConfusion(fit)
    whole.add(scores[:2_000], decisions[:2_000])
    first, second = estimators.ExpectedMulticlassConfusion(fit), estimators.ExpectedMulticlassConfusion(fit)
    first.add(scores[:700], decisions[:700])
    second.add(scores[700:1_500], decisions[700:1_500])
    second.add_probabilities(fit.probabilities(scores[1_500:2_000]), decisions[1_500:2_000])
    merged = first.merge(second)
    assert merged.rows == whole.rows == 2_000
    np.testing.assert_allclose(merged.matrix, whole.matrix, rtol=1e-12)
    assert merged.metrics() == pytest.approx(whole.metrics(), abs=1e-12)
    for name, figures in whole.per_class().items():
        assert merged.per_class()[name] == pytest.approx(figures, abs=1e-12)
    assert merged.matrix.sum() == pytest.approx(2_000)  # each row's probabilities sum to 1


# --- the calibrated probabilities -----------------------------------------------------------------------------------
def test_rows_are_normalised_even_when_no_class_is_calibrated():
    """NannyML divides every row by its sum after the per-class calibration, whether or not any class was
    calibrated (raw scores, unclipped, for the classes it left alone); a row summing to 0 becomes uniform."""
    left = estimators.ClassCalibration(calibrated=False, ece_raw=0.01, ece_calibrated=0.02)
    fit = estimators.MulticlassCbpeFit(classes=CLASSES, calibrations=dict.fromkeys(CLASSES, left), errors={})
    found = fit.probabilities(np.array([[2.0, 1.0, 1.0], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(found, [[0.5, 0.25, 0.25], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    assert not fit.calibrated


def test_a_calibrated_class_is_mapped_then_normalised_with_the_others():
    step = estimators.ClassCalibration(calibrated=True, ece_raw=0.05, ece_calibrated=0.01, calibration_x=[0.0, 1.0],
                                       calibration_y=[0.0, 0.5])  # halves the first class's score
    left = estimators.ClassCalibration(calibrated=False, ece_raw=0.01, ece_calibrated=0.02)
    fit = estimators.MulticlassCbpeFit(classes=CLASSES, calibrations={"prepaid": step, "postpaid": left,
                                                                      "upgrade": left}, errors={})
    np.testing.assert_allclose(fit.probabilities(np.array([[0.6, 0.2, 0.2]])), [[0.3 / 0.7, 0.2 / 0.7, 0.2 / 0.7]])
    assert fit.calibrated


# --- on a world whose scores are right ------------------------------------------------------------------------------
def calibrated_world(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes whose scores are their true probabilities (a softmax of four features), labels drawn from the
    scores, decisions their argmax."""
    weights = np.array([[1.2, -0.8, 0.3], [-0.4, 1.0, 0.6], [0.5, 0.2, -1.1], [0.0, 0.7, 0.9]])
    logits = rng.normal(0.0, 1.0, (rows, 4)) @ weights + np.array([0.3, 0.0, -0.4])
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    y = np.minimum((rng.random(rows)[:, None] > np.cumsum(scores, axis=1)).sum(axis=1), 2)
    return y, scores, scores.argmax(axis=1)


def test_multiclass_estimates_hold_within_their_band_on_days_without_change():
    """On 100 days of 500 rows from the reference's world, the realized accuracy, macro precision, recall, F1 and
    ROC-AUC lie inside the estimate's +- 3 sampling-error band on at least 95 (measured: 100 each)."""
    rng = np.random.default_rng(7)
    fit = estimators.fit_cbpe_multiclass(*calibrated_world(5_000, rng), CLASSES)
    inside = dict.fromkeys(estimators.CBPE_MULTICLASS_METRICS, 0)
    for _ in range(100):
        y, scores, decisions = calibrated_world(500, rng)
        found, truth = estimate(fit, scores, decisions), realized(y, decisions, scores)
        assert found.rows == 500 and set(found.metrics) == set(estimators.CBPE_MULTICLASS_METRICS)
        for metric in inside:
            low, high = found.bands[metric]
            inside[metric] += low <= truth[metric] <= high
    assert min(inside.values()) >= 95, inside


def test_no_estimate_without_two_classes_or_rows():
    y, scores, decisions = calibrated_world(200, np.random.default_rng(1))
    assert estimators.fit_cbpe_multiclass(np.zeros(200, dtype=int), scores, decisions, CLASSES) is None
    fit = estimators.fit_cbpe_multiclass(y, scores, decisions, CLASSES)
    empty = estimators.ExpectedMulticlassConfusion(fit)
    assert empty.metrics() == dict.fromkeys(estimators.CBPE_MULTICLASS_METRICS[:4]) and empty.per_class() == {}
    found = estimators.cbpe_multiclass_estimate(fit, empty, scores[:0])
    assert found.metrics == dict.fromkeys(estimators.CBPE_MULTICLASS_METRICS) and found.bands == {}
