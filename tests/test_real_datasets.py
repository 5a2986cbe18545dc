"""The pipeline on real public data no one here wrote (../shared/datasets, from NannyML 0.13.1).

The analysis periods are cut into days and uploaded as prediction logs (CSV for California housing, parquet for
the census employment data), the reference sets as baselines. Drift scores are checked against an independent
computation with scipy, so a column mix-up or a misread verdict in our Evidently wrapper would fail here.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from monitoring import steps
from monitoring.config import parse_config
from tests.conftest import BUCKET, ROOT
from tests.helpers import get_json, now, put, put_frame

DATASETS = ROOT.parent / "shared" / "datasets"  # the project's shared material, beside the checkout (as in CI)

DAY_ROWS = 1500
HOUSING_FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
CENSUS_CATEGORICAL = ["SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
                      "DREM", "SEX", "RAC1P"]


def model_config(name: str, log_format: str, score: str, decision: str, numerical: list[str],
                 categorical: list[str]):
    return parse_config({"models": {name: {
        "storage": {"bucket": BUCKET, "log_format": log_format},
        "columns": {"id": "id", "timestamp": "timestamp", "score": score, "decision": decision,
                    "numerical": numerical, "categorical": categorical},
        "drift": {"dataset_drift_share": 0.5},
        "retraining": {"dag_id": f"retrain_{name}"},
    }}}).models[0]


def upload_reference(client, name: str, reference: pd.DataFrame) -> None:
    put_frame(client, f"reference/{name}/v=nannyml/reference.parquet", reference)
    put(client, f"reference/{name}/CURRENT.json", json.dumps({"version": "nannyml"}))


def as_day(rows: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Real rows re-stamped into one day, in their original order."""
    rows = rows.copy()
    rows["timestamp"] = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.arange(len(rows)) * (86_399 // len(rows)),
                                                                       unit="s")
    return rows


def normed_wasserstein(reference: pd.Series, current: pd.Series) -> float:
    return wasserstein_distance(reference, current) / max(np.std(reference), 0.001)


def categorical_jensenshannon(reference: pd.Series, current: pd.Series) -> float:
    keys = sorted(set(reference) | set(current))
    p = reference.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    q = current.value_counts(normalize=True).reindex(keys, fill_value=0).to_numpy()
    return float(jensenshannon(p, q))


def assert_verdicts_follow_scores(summary: dict) -> None:
    """Each feature's verdict follows its score: drifted only past both its band (for a day of its size) and its
    threshold (the minimum effect), and only when it survived the false discovery control."""
    for column, drift in summary["data_drift"]["features"].items():
        verdict = drift["verdict"]
        assert verdict["mode"] == "calibrated" and verdict["rows"] > 0, column
        past = drift["score"] >= drift["threshold"] and drift["score"] > verdict["band"][1]
        assert drift["drifted"] == (past and verdict["significant"]), column


def test_california_housing_csv_days_against_their_reference(s3_client, store):
    reference = pd.read_csv(DATASETS / "california_housing_reference.csv")
    analysis = pd.read_csv(DATASETS / "california_housing_analysis.csv")
    model = model_config("california_housing", "csv", "y_pred_proba", "y_pred", HOUSING_FEATURES, [])
    upload_reference(s3_client, model.name, reference)
    days = {dt.date(2021, 6, 1): analysis.iloc[:DAY_ROWS], dt.date(2021, 6, 2): analysis.iloc[-DAY_ROWS:]}
    for day, rows in days.items():
        put_frame(s3_client, f"predictions/{model.name}/dt={day}/part-0.csv", as_day(rows, day))
        steps.run_day(store, model, day, now=now())
        summary = get_json(s3_client, f"reports/{model.name}/dt={day}/summary.json")
        assert summary["rows"]["read"] == summary["rows"]["valid"] == DAY_ROWS
        assert_verdicts_follow_scores(summary)
        for column in HOUSING_FEATURES:
            expected = normed_wasserstein(reference[column], rows[column])
            assert summary["data_drift"]["features"][column]["score"] == pytest.approx(expected, abs=1e-5), column
        assert summary["prediction_drift"]["positive_rate"] == pytest.approx(rows["y_pred"].mean(), abs=1e-6)


def test_census_employment_parquet_days_with_integer_coded_categories(s3_client, store):
    reference = pd.read_parquet(DATASETS / "employment_MA_reference.pq")
    analysis = pd.read_parquet(DATASETS / "employment_MA_analysis.pq")
    model = model_config("employment_ma", "parquet", "predicted_probability", "prediction", ["AGEP"],
                         CENSUS_CATEGORICAL)
    upload_reference(s3_client, model.name, reference)
    day = dt.date(2018, 6, 1)
    rows = analysis[analysis["year"] == 2018].iloc[:DAY_ROWS * 2]
    put_frame(s3_client, f"predictions/{model.name}/dt={day}/part-0.parquet", as_day(rows, day))
    decision = steps.run_day(store, model, day, now=now())
    summary = get_json(s3_client, f"reports/{model.name}/dt={day}/summary.json")
    assert summary["rows"]["read"] == summary["rows"]["valid"] == DAY_ROWS * 2
    assert_verdicts_follow_scores(summary)
    assert summary["data_drift"]["features"]["AGEP"]["score"] == pytest.approx(
        normed_wasserstein(reference["AGEP"], rows["AGEP"]), abs=1e-5)
    for column in ("SCHL", "RELP", "RAC1P"):
        expected = categorical_jensenshannon(reference[column].astype(str), rows[column].astype(str))
        assert summary["data_drift"]["features"][column]["score"] == pytest.approx(expected, abs=2e-3), column
    assert summary["data_quality"]["columns"]["SCHL"]["distinct"] == rows["SCHL"].nunique()
    assert decision.branches  # the branch is decided on real data too
