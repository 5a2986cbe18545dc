"""A retraining candidate and its comparison with the model in use (monitoring/candidate.py): a fixed split by the
prediction id, and a candidate promoted only when it beats the current model by the required margin."""

from __future__ import annotations

import pandas as pd

from monitoring import candidate


def test_the_split_is_a_fixed_function_of_the_prediction_id():
    ids = pd.DataFrame({"prediction_id": [f"20261012-{i:07d}" for i in range(8_000)], "x": range(8_000)})
    train, holdout = candidate.split(ids, "prediction_id")
    shuffled_train, shuffled_holdout = candidate.split(ids.sample(frac=1, random_state=3), "prediction_id")
    assert set(holdout["prediction_id"]) == set(shuffled_holdout["prediction_id"])
    assert not set(train["prediction_id"]) & set(holdout["prediction_id"])
    assert 0.23 < len(holdout) / len(ids) < 0.27


def test_the_candidate_must_beat_the_current_model_by_the_required_margin():
    better, why = candidate.compare("f1", 0.80, 0.84, 0.01)
    assert better and why == ("the candidate's f1 0.8400 beats the current model's 0.8000 by 0.0400 (+5.0%), "
                              "at least the 1% required")
    assert not candidate.compare("f1", 0.80, 0.805, 0.01)[0]
    assert candidate.compare("mae", 1.6, 0.9)[0] and not candidate.compare("mae", 0.9, 0.95)[0]
    better, why = candidate.compare("f1", None, 0.8)
    assert not better and "could not be computed" in why
