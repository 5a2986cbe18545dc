"""Performance estimated before the labels (CBPE) against the realized performance, on the shared real datasets.

    .venv/bin/python -m benchmarks.estimation

For each dataset (../shared/datasets: census employment, California housing), CBPE is fitted on half the reference:
- **no-change days**: days drawn from the other half at 300, 1,000 and 5,000 rows; printed per metric, the share of
  days whose estimate lies within 3 standard errors of the realized value (the realized value's own sampling error
  at the day's size: 99.7% when the estimate is right) and the mean absolute miss;
- **the analysis period** (later years of the census, the housing's later blocks), in chunks of consecutive rows:
  the estimate and the realized value side by side, and the largest miss in units of its sampling error.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from benchmarks.false_alarms import DATASETS, _halves
from monitoring import estimators
from monitoring.metrics import roc_auc
from monitoring.config import ModelConfig

METRICS = ("accuracy", "f1", "roc_auc")
SIZES = (300, 1_000, 5_000)
DAYS = 200


def _model(name: str, score: str, decision: str, label: str) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": name, "storage": {"bucket": "bench-bucket"},
        "columns": {"id": "id", "timestamp": "ts", "score": score, "decision": decision, "numerical": ["unused"],
                    "categorical": []},
        "labels": {"column": label, "lag_days": 1}, "retraining": {"dag_id": "retrain"}})


def datasets():
    employment = pd.read_parquet(DATASETS / "employment_MA_reference.pq")
    analysis = pd.read_parquet(DATASETS / "employment_MA_analysis.pq").merge(
        pd.read_parquet(DATASETS / "employment_MA_analysis_target.pq"), on="id")
    yield ("employment", _model("employment", "predicted_probability", "prediction", "employed"), employment, analysis,
           10_000)
    housing = pd.read_csv(DATASETS / "california_housing_reference.csv")
    analysis = pd.read_csv(DATASETS / "california_housing_analysis.csv").merge(
        pd.read_csv(DATASETS / "california_housing_analysis_gt.csv"), on="id")
    yield "housing", _model("housing", "y_pred_proba", "y_pred", "clf_target"), housing, analysis, 1_000


def realized(frame: pd.DataFrame, model: ModelConfig) -> dict[str, float]:
    y = frame[model.labels.column].to_numpy(dtype=int)
    yhat = frame[model.columns.decision].to_numpy(dtype=int)
    tp, fp, fn = ((yhat == 1) & (y == 1)).sum(), ((yhat == 1) & (y == 0)).sum(), ((yhat == 0) & (y == 1)).sum()
    return {"accuracy": float((y == yhat).mean()), "f1": float(tp / (tp + 0.5 * (fp + fn))),
            "roc_auc": roc_auc(y, frame[model.columns.score].to_numpy(dtype=float))}


def estimate(fit: estimators.CbpeFit, frame: pd.DataFrame, model: ModelConfig) -> estimators.Estimate:
    scores = frame[model.columns.score].to_numpy(dtype=float)
    confusion = estimators.ExpectedConfusion(fit)
    confusion.add(scores, frame[model.columns.decision].to_numpy(dtype=int))
    return estimators.cbpe_estimate(fit, confusion, scores)


def replay(name: str, model: ModelConfig, reference: pd.DataFrame, analysis: pd.DataFrame, chunk: int, out) -> None:
    fitted_on, pool = _halves(reference, 1)
    fit = estimators.fit_cbpe(fitted_on, model.scoring, model.labels.column)
    print(f"\n{name}: CBPE fitted on {len(fitted_on):,} reference rows (scores {'calibrated' if fit.calibrated else 'as they are'}:"
          f" held-out calibration error {fit.ece_raw:.4f} raw, {fit.ece_calibrated:.4f} isotonic)", file=out)
    rng = np.random.default_rng(0)
    for size in SIZES:
        if size > len(pool):
            continue
        within = {m: 0 for m in METRICS}
        misses = {m: [] for m in METRICS}
        for _ in range(DAYS):
            day = pool.iloc[rng.choice(len(pool), size, replace=False)]
            found, truth = estimate(fit, day, model), realized(day, model)
            for metric in METRICS:
                miss = found.metrics[metric] - truth[metric]
                misses[metric].append(abs(miss))
                within[metric] += abs(miss) <= 3 * fit.errors[metric].at(size)
        print(f"  no-change days of {size:>5,} rows ({DAYS}): " + "; ".join(
            f"{m} within 3 SE {within[m] / DAYS:.1%}, mean |miss| {np.mean(misses[m]):.4f}" for m in METRICS),
            file=out)
    print(f"  analysis period in chunks of {chunk:,} rows: estimated / realized F1 (miss in sampling errors)", file=out)
    worst = 0.0
    cells = []
    for start in range(0, len(analysis) - chunk + 1, chunk):
        rows = analysis.iloc[start:start + chunk]
        found, truth = estimate(fit, rows, model), realized(rows, model)
        errors = abs(found.metrics["f1"] - truth["f1"]) / fit.errors["f1"].at(len(rows))
        worst = max(worst, errors)
        cells.append(f"{found.metrics['f1']:.3f}/{truth['f1']:.3f} ({errors:.1f})")
    for i in range(0, len(cells), 6):
        print("    " + "  ".join(cells[i:i + 6]), file=out)
    print(f"  largest miss: {worst:.1f} sampling errors", file=out)


def main(out=sys.stdout) -> None:
    for name, model, reference, analysis, chunk in datasets():
        replay(name, model, reference, analysis, chunk, out)


if __name__ == "__main__":
    main()
