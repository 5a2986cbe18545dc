"""False alarms and detection power of the verdicts, calibrated and fixed, measured by replaying days.

    .venv/bin/python -m benchmarks.false_alarms                 # every dataset and size (~25 min)
    .venv/bin/python -m benchmarks.false_alarms --quick         # fewer days (~5 min)
    .venv/bin/python -m benchmarks.false_alarms --datasets employment --sizes 300

**No-change days** are drawn from data the reference never saw: each real dataset's reference (`../shared/datasets`,
census employment and California housing, from NannyML) is split in two halves, one the model's reference, the other
the pool the days are drawn from; the synthetic world draws fresh rows. Days of 300, 5,000 and 100,000 rows (a real
dataset only at the sizes its pool holds). **Changed days** are no-change days with one injected change: a mean shift of
0.1, 0.2 or 0.5 standard deviations in one numerical feature, a new category in 1% or 5% of the rows of one
categorical feature, label noise raising the model's error rate by 2 or 5 points, and an F1 drop of 3 points.

Every day goes through the library's path from its rows to its findings: the data contract, the exact profile, the
sample, the drift scores (Evidently's own functions) and their verdicts, the rates' verdicts, the summary, the rules;
its labels through the performance figures, their verdict and the labels' rules. Left out: S3 and the rendering of
Evidently's HTML (which shows the same scores), and the volume rule (no trailing days).

Printed: per dataset, size and mode, the share of no-change days that alert (any warning or critical finding), the
share of feature-days flagged as drifted, and per injected change the share of days on which it is detected (the
rule that names it fires).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
DAY = dt.date(2026, 11, 2)
SIZES = (300, 5_000, 100_000)


@dataclass
class Dataset:
    """A model, its reference, and where its days come from."""

    name: str
    settings: dict  # the model's config entry
    reference: pd.DataFrame
    pool: pd.DataFrame | None  # held-out rows days are drawn from; None: `draw` makes fresh rows
    draw: Callable[[int, np.random.Generator], pd.DataFrame] | None = None
    shifted: str = ""  # the numerical feature a mean shift moves
    category: str = ""  # the categorical feature a new category appears in

    def day(self, rows: int, rng: np.random.Generator) -> pd.DataFrame | None:
        if self.pool is None:
            return self.draw(rows, rng)
        if rows > len(self.pool):
            return None
        return self.pool.iloc[rng.choice(len(self.pool), rows, replace=False)].reset_index(drop=True)


def _settings(score: str, decision: str, label: str, numerical: list[str], categorical: list[str]) -> dict:
    return {"storage": {"bucket": "bench-bucket"},
            "columns": {"id": "id", "timestamp": "ts", "score": score, "decision": decision, "numerical": numerical,
                        "categorical": categorical},
            "labels": {"column": label, "lag_days": 1}, "performance": {"min_labelled_rows": 100},
            "retraining": {"dag_id": "retrain"}}


def _halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[order[:half]].reset_index(drop=True), frame.iloc[order[half:]].reset_index(drop=True)


def employment() -> Dataset:
    categorical = ["SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
                   "DREM", "SEX", "RAC1P"]
    frame = pd.read_parquet(DATASETS / "employment_MA_reference.pq")
    frame[categorical] = frame[categorical].astype(str)
    reference, pool = _halves(frame, 1)
    return Dataset("employment", _settings("predicted_probability", "prediction", "employed", ["AGEP"], categorical),
                   reference, pool, shifted="AGEP", category="SCHL")


def housing() -> Dataset:
    numerical = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]
    reference, pool = _halves(pd.read_csv(DATASETS / "california_housing_reference.csv"), 2)
    return Dataset("housing", _settings("y_pred_proba", "y_pred", "clf_target", numerical, []), reference, pool,
                   shifted="MedInc")


def _world(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Six numerical features of different shapes, four categorical ones, a calibrated score and its label."""
    frame = pd.DataFrame({
        "normal": rng.normal(50, 10, rows), "skewed": rng.lognormal(10, 0.7, rows), "uniform": rng.uniform(0, 1, rows),
        "counts": rng.poisson(4, rows).astype(float), "bimodal": np.where(rng.random(rows) < 0.3,
                                                                          rng.normal(-2, 0.5, rows),
                                                                          rng.normal(2, 1, rows)),
        "heavy": rng.standard_t(3, rows),
        "colour": rng.choice(list("abcdefgh"), rows, p=[.3, .2, .15, .1, .1, .07, .05, .03]),
        "size": rng.choice(["S", "M", "L"], rows, p=[.5, .3, .2]),
        "region": rng.choice([f"r{i:02d}" for i in range(20)], rows),
        "flag": rng.choice(["yes", "no"], rows, p=[.1, .9])})
    z = (0.05 * (frame["normal"] - 50) + 0.6 * (np.log(frame["skewed"]) - 10) + frame["bimodal"] * 0.4
         + frame["size"].map({"S": -0.3, "M": 0.0, "L": 0.4}) + (frame["flag"] == "yes") * 0.8 - 0.2)
    frame["score"] = 1 / (1 + np.exp(-z))
    frame["decision"] = (frame["score"] >= 0.5).astype(int)
    frame["label"] = (rng.random(rows) < frame["score"]).astype(int)
    return frame


def synthetic() -> Dataset:
    numerical = ["normal", "skewed", "uniform", "counts", "bimodal", "heavy"]
    return Dataset("synthetic", _settings("score", "decision", "label", numerical, ["colour", "size", "region", "flag"]),
                   _world(100_000, np.random.default_rng(3)), None, _world, shifted="normal", category="colour")


# --- changes -------------------------------------------------------------------------------------------------------
def shift(sd: float) -> Callable:
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        frame[data.shifted] = frame[data.shifted] + sd * data.reference[data.shifted].std()
        return frame
    return apply


def new_category(share: float) -> Callable:
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[rng.random(len(frame)) < share, data.category] = "never_seen_before"
        return frame
    return apply


def label_noise(points: float) -> Callable:
    """Flip the labels of correctly predicted rows: the error rate rises by `points` (0.02 = 2 points)."""
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        label, decision = data.settings["labels"]["column"], data.settings["columns"]["decision"]
        correct = np.flatnonzero(frame[label].to_numpy() == frame[decision].to_numpy())
        flip = rng.choice(correct, min(len(correct), round(points * len(frame))), replace=False)
        frame.loc[flip, label] = 1 - frame.loc[flip, label]
        return frame
    return apply


def f1_drop(points: float) -> Callable:
    """Flip correctly predicted positives to negatives until F1 is `points` lower (0.03 = 3 points)."""
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        label, decision = data.settings["labels"]["column"], data.settings["columns"]["decision"]
        y, yhat = frame[label].to_numpy().copy(), frame[decision].to_numpy()

        def f1() -> float:
            tp, fp, fn = ((y == 1) & (yhat == 1)).sum(), ((y == 0) & (yhat == 1)).sum(), ((y == 1) & (yhat == 0)).sum()
            return 2 * tp / (2 * tp + fp + fn)

        target = f1() - points
        for row in rng.permutation(np.flatnonzero((y == 1) & (yhat == 1))):
            if f1() <= target:
                break
            y[row] = 0
        frame[label] = y
        return frame
    return apply


CHANGES = {  # name -> (change, the rules whose firing counts as detecting it)
    "mean shift 0.1 sd": (shift(0.1), {"feature_drift", "dataset_drift"}),
    "mean shift 0.2 sd": (shift(0.2), {"feature_drift", "dataset_drift"}),
    "mean shift 0.5 sd": (shift(0.5), {"feature_drift", "dataset_drift"}),
    "new category 1%": (new_category(0.01), {"new_categories", "feature_drift", "dataset_drift"}),
    "new category 5%": (new_category(0.05), {"new_categories", "feature_drift", "dataset_drift"}),
    "error rate +2 points": (label_noise(0.02), {"performance_degradation"}),
    "error rate +5 points": (label_noise(0.05), {"performance_degradation"}),
    "F1 -3 points": (f1_drop(0.03), {"performance_degradation"}),
}


# --- the library's path ----------------------------------------------------------------------------------------
class Judge:
    """A dataset's model in one mode, its reference fitted once: judges a day's rows into findings."""

    def __init__(self, data: Dataset, mode: str) -> None:
        from monitoring import contract
        from monitoring.config import parse_config
        from monitoring.reference import ReferenceProfile, sample

        settings = {**data.settings, "drift": {"threshold_mode": mode}}
        self.model = parse_config({"models": {data.name: settings}}).model(data.name)
        typed = contract.prepare_reference(data.reference, self.model, "the benchmark's reference")
        started = time.monotonic()
        self.fitted = ReferenceProfile.fit(typed, self.model, "v1", f"{abs(hash((data.name, mode))) % 16**16:016x}")
        self.fit_seconds = time.monotonic() - started
        self.compared = sample(typed, self.model.reports.max_rows)
        self.label = data.settings["labels"]["column"]

    def findings(self, rows: pd.DataFrame) -> list:
        from monitoring import contract, drift, labels, performance, rules, verdicts
        from monitoring.ingest import SOURCE_FILE, SOURCE_ROW
        from monitoring.performance import LabelsReport
        from monitoring.profile import DayProfile
        from monitoring.sampling import hash_sample
        from monitoring.summary import summarize

        model, cols = self.model, self.model.columns
        frame = rows.assign(**{cols.id: [f"p{i}" for i in range(len(rows))],
                               cols.timestamp: pd.Timestamp(DAY, tz="UTC"), SOURCE_FILE: "day", SOURCE_ROW: 0})
        valid = contract.validate(frame, model, DAY).valid
        profile = DayProfile(model, self.fitted).add(valid)
        current = hash_sample(valid, cols.id, model.reports.max_rows)
        operations, quality = profile.operations(current), profile.quality()
        columns, judged = verdicts.day_verdicts(
            model, self.fitted, drift.judge(current, self.compared, model, self.fitted,
                                            drift.skipped_columns(current, self.compared, model)),
            operations, quality, current)
        summary = summarize(
            model=model.name, day=DAY, contract={"rows_read": len(frame), "rows_valid": len(valid),
                                                 "rows_quarantined": 0, "rejected_share": 0.0, "reasons": {},
                                                 "extra_columns": []},
            files=[], sampled_rows=len(current), reference_version="v1", reference_rows=self.fitted.rows,
            drift=columns, features=cols.features, predictions=cols.predictions, quality=quality,
            dataset_drift_share=model.drift.dataset_drift_share, operations=operations, reports={},
            verdicts=judged)
        joined = valid.assign(**{labels.LABEL: rows[self.label].to_numpy(dtype=float)[:len(valid)]})
        found = performance.evaluate(joined=joined, predictions=len(valid), model=model, day=DAY,
                                     as_of=DAY + dt.timedelta(days=1), fitted=self.fitted, label_digest="-")
        due = performance.verdict(found, DAY, model, "v1")
        report = LabelsReport(day=DAY.isoformat(), files=[], rows=len(valid), joined=len(valid), problems={},
                              file_problems=[], due=due)
        return [f for f in rules.evaluate(summary.with_labels(found, report), model) if f.severity.rank >= 1]


# --- replays -----------------------------------------------------------------------------------------------------
def replay(data: Dataset, sizes: tuple[int, ...], days: dict[int, int], changed_days: int, out=sys.stdout) -> None:
    for mode in ("calibrated", "fixed"):
        judge = Judge(data, mode)
        features = len(judge.model.columns.features)
        print(f"\n{data.name}, {mode} ({len(data.reference):,} reference rows, {features} features; fitted in "
              f"{judge.fit_seconds:.1f} s)", file=out, flush=True)
        for size in sizes:
            rng = np.random.default_rng([size, 7])
            if data.day(size, rng) is None:
                print(f"  {size:>7,} rows a day: not enough held-out rows", file=out)
                continue
            started = time.monotonic()
            alerting, drifted, count, rules = 0, 0, 0, {}
            for _ in range(days[size]):
                findings = judge.findings(data.day(size, rng))
                alerting += bool(findings)
                for finding in findings:
                    rules[finding.rule] = rules.get(finding.rule, 0) + 1
                drifted += len(next((f.columns for f in findings if f.rule in ("feature_drift", "dataset_drift")), []))
                count += 1
            detected = {}
            for name, (change, names) in CHANGES.items():
                if (name.startswith("new category") and not data.category) or changed_days == 0:
                    continue
                hits = sum(bool(names & {f.rule for f in judge.findings(change(data.day(size, rng), data, rng))})
                           for _ in range(changed_days))
                detected[name] = hits / changed_days
            seconds = time.monotonic() - started
            print(f"  {size:>7,} rows a day: {alerting}/{count} no-change days alert ({100 * alerting / count:.1f} per "
                  f"100 model-days{', ' + ', '.join(f'{r} {n}' for r, n in sorted(rules.items())) if rules else ''});"
                  f" {drifted} of {count * features} feature-days drifted ({100 * drifted / (count * features):.2f} "
                  f"per 100); {seconds:.0f} s", file=out, flush=True)
            print("           detected: " + ", ".join(f"{n} {100 * r:.0f}%" for n, r in detected.items()), file=out,
                  flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="synthetic,employment,housing")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--quick", action="store_true", help="fewer replayed days")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    days = {300: 100, 5_000: 60, 100_000: 20} if args.quick else {300: 400, 5_000: 200, 100_000: 60}
    changed = 10 if args.quick else 30
    import evidently  # noqa: F401 - imported once, up front (seconds)

    makers = {"synthetic": synthetic, "employment": employment, "housing": housing}
    for name in args.datasets.split(","):
        replay(makers[name](), sizes, {s: days.get(s, 60) for s in sizes}, changed)


if __name__ == "__main__":
    main()
