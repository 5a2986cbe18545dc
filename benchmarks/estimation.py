"""Performance estimated before the labels (CBPE) against the realized performance, on the shared real datasets and
on two multiclass worlds.

    .venv/bin/python -m benchmarks.estimation                   # every dataset, binary and multiclass
    .venv/bin/python -m benchmarks.estimation --datasets multiclass,offer

For each dataset (../shared/datasets: census employment, California housing), CBPE is fitted on half the reference:
- **no-change days**: days drawn from the other half at 300, 1,000 and 5,000 rows; printed per metric, the share of
  days whose estimate lies within 3 standard errors of the realized value (the realized value's own sampling error
  at the day's size: 99.7% when the estimate is right) and the mean absolute miss;
- **the analysis period** (later years of the census, the housing's later blocks), in chunks of consecutive rows:
  the estimate and the realized value side by side, and the largest miss in units of its sampling error.

Multiclass CBPE (`estimators.fit_cbpe_multiclass`) on two worlds whose days are drawn fresh:
- **multiclass**: `benchmarks.false_alarms`' multiclass world (five classes, calibrated scores, labels drawn from
  the true probabilities), fitted on its 100,000 reference rows;
- **offer**: the demo's loan-offer model (`demo/offer_data.py`: four products, a multinomial logistic regression),
  fitted on its 12,000-row scored holdout; its no-change days are fresh applicants scored by the model, the product
  taken drawn from the true probabilities; its **story** (the demo's 20 days, `prediction_log` and `labels`): the
  premium launch from day 9 (a covariate shift the model follows: the estimate should too) and the student loan
  opened from day 15 (concept drift: the estimate should miss).
Per metric (accuracy, macro precision, recall and F1, ROC-AUC), the share of no-change days whose estimate lies
within 3 sampling errors of the realized value, the sampling error at the day's size being the fit's (`errors`):
the band `estimate_check` draws around the realized value, and the estimate's own `bands` (the same standard errors
at the same rows); the mean absolute miss; the misses' sd in sampling errors (1 when the errors are right).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks.false_alarms import CLASSES, DATASETS, _halves, _multiclass_world
from monitoring import estimators
from monitoring.metrics import class_indices, multiclass_metrics, roc_auc
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


# --- multiclass ----------------------------------------------------------------------------------------------------
MULTICLASS_METRICS = estimators.CBPE_MULTICLASS_METRICS


@dataclass
class MulticlassWorld:
    """A multiclass model's labelled reference, where its no-change days come from, and the days of its story."""

    name: str
    classes: tuple[str, ...]
    scores: list[str]  # the class score columns, in the classes' order
    decision: str
    label: str
    reference: pd.DataFrame
    draw: Callable[[int, np.random.Generator], pd.DataFrame]  # a no-change day of that many labelled rows
    story: Callable[[], list[tuple[str, pd.DataFrame]]] | None = None  # (what the day is, its labelled rows)

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class indices of the labels, the (rows, classes) scores, class indices of the decisions."""
        return (class_indices(frame[self.label], self.classes), frame[self.scores].to_numpy(dtype=float),
                class_indices(frame[self.decision], self.classes))


def multiclass_worlds(names: list[str]):
    if "multiclass" in names:
        yield MulticlassWorld("multiclass", CLASSES, [f"score_{c}" for c in CLASSES], "decision", "label",
                              _multiclass_world(100_000, np.random.default_rng(5)), _multiclass_world)
    if "offer" in names:
        from demo import offer_data

        model, reference = offer_data.train_model()

        def draw(rows: int, rng: np.random.Generator) -> pd.DataFrame:
            frame = offer_data.score(model, offer_data.offer_applicants(rows, rng))
            frame[offer_data.LABEL_COLUMN] = offer_data.take_up(frame, rng)
            return frame

        def story() -> list[tuple[str, pd.DataFrame]]:
            days, drift = [], offer_data.OfferDrift()
            for number in range(1, 21):
                day = dt.date(2026, 10, 1) + dt.timedelta(days=number - 1)
                log = offer_data.prediction_log(model, day, number, offer_data.day_rows(number))
                labels = offer_data.labels(log, day, number).drop(columns="label_day")
                what = ("student loan opened" if drift.moved(number) else "premium launch" if drift.launched(number)
                        else "no change")
                days.append((f"day {number} ({what})", log.merge(labels, on="prediction_id")))
            return days

        yield MulticlassWorld("offer", offer_data.CLASSES, list(offer_data.SCORES.values()), offer_data.DECISION,
                              offer_data.LABEL_COLUMN, reference, draw, story)


def multiclass_estimate(fit: estimators.MulticlassCbpeFit, world: MulticlassWorld,
                        frame: pd.DataFrame) -> estimators.Estimate:
    _, scores, decisions = world.arrays(frame)
    confusion = estimators.ExpectedMulticlassConfusion(fit)
    confusion.add(scores, decisions)
    return estimators.cbpe_multiclass_estimate(fit, confusion, scores)


def multiclass_realized(world: MulticlassWorld, frame: pd.DataFrame) -> dict[str, float | None]:
    return multiclass_metrics(*world.arrays(frame))


def replay_multiclass(world: MulticlassWorld, out) -> None:
    fit = estimators.fit_cbpe_multiclass(*world.arrays(world.reference), list(world.classes))
    calibrated = [c for c, k in fit.calibrations.items() if k.calibrated]
    print(f"\n{world.name}: multiclass CBPE fitted on {len(world.reference):,} reference rows, {len(world.classes)} "
          f"classes (recalibrated: {', '.join(calibrated) or 'none'}; held-out calibration error raw / isotonic "
          + ", ".join(f"{c} {k.ece_raw:.4f}/{k.ece_calibrated:.4f}" for c, k in fit.calibrations.items()) + ")",
          file=out)
    rng = np.random.default_rng(0)
    for size in SIZES:
        within = {m: 0 for m in MULTICLASS_METRICS}
        misses: dict[str, list[float]] = {m: [] for m in MULTICLASS_METRICS}
        for _ in range(DAYS):
            day = world.draw(size, rng)
            found, truth = multiclass_estimate(fit, world, day), multiclass_realized(world, day)
            for metric in MULTICLASS_METRICS:
                miss = found.metrics[metric] - truth[metric]
                misses[metric].append(miss)
                within[metric] += abs(miss) <= 3 * fit.errors[metric].at(size)
        print(f"  no-change days of {size:>5,} rows ({DAYS}): " + "; ".join(
            f"{m} within 3 SE {within[m] / DAYS:.1%}, mean |miss| {np.mean(np.abs(misses[m])):.4f}, its sd "
            f"{np.std(misses[m]) / fit.errors[m].at(size):.2f} SE" for m in MULTICLASS_METRICS), file=out)
    if world.story is None:
        return
    print("  the story: estimated / realized macro F1 (miss in sampling errors)", file=out)
    for what, rows in world.story():
        found, truth = multiclass_estimate(fit, world, rows), multiclass_realized(world, rows)
        error = fit.errors["macro_f1"].at(len(rows))
        print(f"    {what:<28} {len(rows):>5,} rows: {found.metrics['macro_f1']:.3f} / {truth['macro_f1']:.3f} "
              f"({(found.metrics['macro_f1'] - truth['macro_f1']) / error:+.1f})", file=out)


def main(argv: list[str] | None = None, out=sys.stdout) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="employment,housing,multiclass,offer",
                        help="comma-separated: employment, housing (binary), multiclass, offer (multiclass)")
    names = parser.parse_args(argv).datasets.split(",")
    for name, model, reference, analysis, chunk in datasets():
        if name in names:
            replay(name, model, reference, analysis, chunk, out)
    for world in multiclass_worlds(names):
        replay_multiclass(world, out)


if __name__ == "__main__":
    main()
