"""False alarms and detection power of the verdicts, calibrated and fixed, measured by replaying days.

    .venv/bin/python -m benchmarks.false_alarms                 # every dataset and size (~25 min)
    .venv/bin/python -m benchmarks.false_alarms --quick         # fewer days (~5 min)
    .venv/bin/python -m benchmarks.false_alarms --datasets employment --sizes 300
    .venv/bin/python -m benchmarks.false_alarms --fits 5        # each figure over 5 reference fits: its spread
    .venv/bin/python -m benchmarks.false_alarms --datasets synthetic --sizes 5000 --modes calibrated \
        --changes "F1 -3 points" --days 0 --changed-days 30 --fits 5 --bands   # one change, its bands per fit
    .venv/bin/python -m benchmarks.false_alarms --segments --modes calibrated --changed-days 0   # with segments
    .venv/bin/python -m benchmarks.false_alarms --datasets multiclass --modes calibrated --changed-days 0
    .venv/bin/python -m benchmarks.false_alarms --datasets synthetic,employment --sizes 300 --weekday 20   # weekends
    .venv/bin/python -m benchmarks.false_alarms --datasets multiclass --settings '{"rules": {"low_confidence": \
        {"max_share": null}}}'   # what a setting changes: merged into each replayed model's entry

**No-change days** are drawn from data the reference never saw: each real dataset's reference (`../shared/datasets`,
census employment and California housing, from NannyML) is split in two halves, one the model's reference, the other
the pool the days are drawn from; the synthetic world draws fresh rows, and so do the multiclass world (`multiclass`:
the synthetic world's features, five classes whose true probabilities are a softmax of them, the model's class scores
those probabilities, so calibrated, its decision the top score's class, the label drawn from the probabilities) and
the regressor (`regression`: the synthetic world's features, a value linear in them plus noise whose spread grows
with two of them, the prediction its linear part, so unbiased; DLE learns where its errors are larger). Days
of 300, 5,000 and 100,000 rows (a real dataset only at the sizes its pool holds). **Changed days** are no-change days
with one injected change: a mean shift of 0.1, 0.2 or 0.5 standard deviations in one numerical feature, a new category
in 1% or 5% of the rows of one categorical feature, label noise raising the model's error rate by 2 or 5 points (a
multiclass label moved to another class; classifiers only), an F1 drop of 3 points (binary models only), and a
regressor's errors 10% or 25% larger (MAE +10%, +25%: each label moved away from the prediction).

Every day goes through the library's path from its rows to its findings: the data contract, the exact profile, the
sample, the drift scores (Evidently's own functions) and their verdicts, the rates' verdicts, the summary, the rules;
the performance estimated before the labels (CBPE: binary or multiclass; a regressor's DLE) and its verdict
(`estimated_performance_drop`); its labels through the performance figures, their verdict, each class's recall (a
multiclass model: `class_recall`), the estimate's check against them, and the labels' rules. Left out: S3 and the
rendering of Evidently's HTML (which shows the same scores), and the volume rule (no trailing days). The estimate's
verdict entered the replay with the multiclass world (2026-12-06); the binary figures recorded before it did not
count `estimated_performance_drop`.

Printed: per dataset, size and mode, the share of no-change days that alert (any warning or critical finding), the
days each rule fired on and those on which it was the day's only rule (without that rule, those days would not
alert), the share of feature-days flagged as drifted, and per injected change the share of days on which it is
detected (the rule that names it fires).

**Deterministic**: a run prints the same figures every time. The reference's fingerprint, which seeds the
calibration's replicate days (`ReferenceProfile.fit`), is a SHA-256 of the dataset's name, the mode and `--fit-seed`
(not Python's `hash()`, which is salted per process); the held-out halves, the synthetic world, the days and the
injected changes come from generators seeded by fixed numbers and `--day-seed`, one stream per size and change (so
restricting `--changes` or `--days` leaves the other days as they were).

**Spread across reference fits** (`--fits N`): the calibrated bands are fitted on 50 replicate days a size, drawn
from the reference by the fingerprint's seed, so another fit of the same reference gives other bands and other rates.
`--fits N` fits each reference N times (fit seeds `--fit-seed` .. `--fit-seed` + N - 1) and judges the same days
with each fit: each figure is printed per fit, with its median and range. `--bands` prints, per fit, each
performance metric's no-change band at every replayed size (the fitted sd, the band, the minimum effect, the
replicate days each measured point rests on). The fixed mode's verdicts do not depend on the fit.

**Segments** (`--segments`, issue 26; calibrated mode only, the fixed mode has no segments): each dataset's model
gets a `segments:` entry (`SEGMENTS`) and every day is judged as the daily step judges it: the segments' tally in the
day's pass (`DayState`), their statistics in the day's one family (`judging.judge_day`), their findings by the rules.
The synthetic world gains an extra logged column `channel` the model does not use, 20 values (`ch00` holds 10% of
the rows, the 19 others 4.7% each), drawn from a child generator of the day's (`Generator.spawn`: the world's other
columns, and so its days, stay the ones replayed without `--segments`); with the default `max_per_column` of 20 it
cuts 20 segments (19 values and "(other values)"), each judged on its share and on the drift of the 10 features,
the score and the decision inside it. employment is cut on its feature SCHL (25 values: 19 and "(other values)"),
housing on MedInc in 10 buckets (its deciles, rounded). On the real datasets the days are the same rows as without
`--segments`. Printed besides the alerting share: the share of no-change days with a segment finding
(`segment_drift`, `segment_share`, `new_segment`, `vanished_segment`), and with any other finding.

**Weekends** (`--weekday REPLAYS`, issue 28): weeks whose Saturdays and Sundays share a mix change (`weekend_day`:
the rarer half of the dataset's `category` column's values 8 times as likely, drawn without replacement from three
days' rows), judged day by day with their trailing windows. With `windows.baseline: weekday` a day is compared with
the same weekday of the earlier weeks once two are published: counted are the days from the third weekend on with
any warning or critical finding, and the fourth weekend given a 0.5 sd shift of `shifted` on top (found when a
finding names it). The same days' first three weeks against the reference count the third weekend's days with a
finding (what the rhythm does without the weekday baseline).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import dataclass, replace
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
    classes: tuple[str, ...] = ()  # a multiclass model's classes (binary: none)

    def day(self, rows: int, rng: np.random.Generator) -> pd.DataFrame | None:
        if self.pool is None:
            return self.draw(rows, rng)
        if rows > len(self.pool):
            return None
        return self.pool.iloc[rng.choice(len(self.pool), rows, replace=False)].reset_index(drop=True)


def _settings(score: str | dict[str, str], decision: str, label: str, numerical: list[str],
              categorical: list[str]) -> dict:
    """A classifier's config entry; `score`: a binary model's score column, or a multiclass model's class score
    columns by class."""
    multiclass = isinstance(score, dict)
    return {**({"task": "multiclass_classification"} if multiclass else {}), "storage": {"bucket": "bench-bucket"},
            "columns": {"id": "id", "timestamp": "ts", "scores" if multiclass else "score": score, "decision": decision,
                        "numerical": numerical, "categorical": categorical},
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


def _features(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Six numerical features of different shapes and four categorical ones."""
    return pd.DataFrame({
        "normal": rng.normal(50, 10, rows), "skewed": rng.lognormal(10, 0.7, rows), "uniform": rng.uniform(0, 1, rows),
        "counts": rng.poisson(4, rows).astype(float), "bimodal": np.where(rng.random(rows) < 0.3,
                                                                          rng.normal(-2, 0.5, rows),
                                                                          rng.normal(2, 1, rows)),
        "heavy": rng.standard_t(3, rows),
        "colour": rng.choice(list("abcdefgh"), rows, p=[.3, .2, .15, .1, .1, .07, .05, .03]),
        "size": rng.choice(["S", "M", "L"], rows, p=[.5, .3, .2]),
        "region": rng.choice([f"r{i:02d}" for i in range(20)], rows),
        "flag": rng.choice(["yes", "no"], rows, p=[.1, .9])})


def _world(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`_features`, a calibrated score and its label."""
    frame = _features(rows, rng)
    z = (0.05 * (frame["normal"] - 50) + 0.6 * (np.log(frame["skewed"]) - 10) + frame["bimodal"] * 0.4
         + frame["size"].map({"S": -0.3, "M": 0.0, "L": 0.4}) + (frame["flag"] == "yes") * 0.8 - 0.2)
    frame["score"] = 1 / (1 + np.exp(-z))
    frame["decision"] = (frame["score"] >= 0.5).astype(int)
    frame["label"] = (rng.random(rows) < frame["score"]).astype(int)
    return frame


CHANNELS = [f"ch{i:02d}" for i in range(20)]
CHANNEL_SHARES = np.array([0.10] + [0.90 / 19] * 19)  # ch00: a 10% segment (benchmarks.segments shifts inside it)


def _world_with_channel(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`_world`'s rows and an extra logged column `channel` the model does not use, drawn from a child of `rng`
    (spawning does not advance `rng`: the other columns are `_world`'s own)."""
    channel = rng.spawn(1)[0]
    frame = _world(rows, rng)
    frame["channel"] = channel.choice(CHANNELS, rows, p=CHANNEL_SHARES)
    return frame


def synthetic(segments: bool = False) -> Dataset:
    numerical = ["normal", "skewed", "uniform", "counts", "bimodal", "heavy"]
    world = _world_with_channel if segments else _world
    return Dataset("synthetic", _settings("score", "decision", "label", numerical, ["colour", "size", "region", "flag"]),
                   world(100_000, np.random.default_rng(3)), None, world, shifted="normal", category="colour")


CLASSES = ("c0", "c1", "c2", "c3", "c4")


def _multiclass_world(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`_features`, each class's score (the softmax of the classes' logits: the true probabilities, so calibrated),
    the decision (the top score's class) and the label drawn from the probabilities. On the 100,000 reference rows:
    classes of 22, 30, 24, 14 and 10% of the labels, accuracy 0.513, macro F1 0.479, ROC-AUC 0.800; the top score
    below 0.6 on 72% of the rows (a hard five-class problem: the model is rarely sure)."""
    frame = _features(rows, rng)
    normal, skewed = (frame["normal"] - 50) / 10, (np.log(frame["skewed"]) - 10) / 0.7
    bimodal = frame["bimodal"]
    logits = np.column_stack([
        np.zeros(rows),
        1.2 * normal + 0.8 * (frame["size"] == "L") - 0.2,
        1.2 * skewed + 0.5 * bimodal - 0.9,
        -1.0 * normal + 1.5 * (frame["flag"] == "yes") + 0.8 * (frame["uniform"] - 0.5) - 1.2,
        0.35 * (frame["counts"] - 4) - 0.6 * bimodal + 0.5 * frame["colour"].isin(["a", "b"]) - 1.5])
    chance = np.exp(logits - logits.max(axis=1, keepdims=True))
    chance /= chance.sum(axis=1, keepdims=True)
    for i, name in enumerate(CLASSES):
        frame[f"score_{name}"] = chance[:, i]
    names = np.array(CLASSES, dtype=object)
    frame["decision"] = names[chance.argmax(axis=1)]
    drawn = (rng.random(rows)[:, None] > np.cumsum(chance, axis=1)).sum(axis=1)
    frame["label"] = names[np.minimum(drawn, len(CLASSES) - 1)]
    return frame


def multiclass() -> Dataset:
    numerical = ["normal", "skewed", "uniform", "counts", "bimodal", "heavy"]
    settings = _settings({c: f"score_{c}" for c in CLASSES}, "decision", "label", numerical,
                         ["colour", "size", "region", "flag"])
    return Dataset("multiclass", settings, _multiclass_world(100_000, np.random.default_rng(5)), None,
                   _multiclass_world, shifted="normal", category="colour", classes=CLASSES)


def _regression_world(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """`_features`, a true value and a regressor's prediction of it: the value is linear in the features plus noise
    whose sd grows with `flag` and with `bimodal`'s distance from 0 (so the model's errors depend on its inputs, which
    DLE learns), the prediction the value's linear part (unbiased: its errors are the noise). On the 100,000
    reference rows: MAE 1.97, RMSE 2.63, the value's sd 4.3."""
    frame = _features(rows, rng)
    normal, skewed = (frame["normal"] - 50) / 10, (np.log(frame["skewed"]) - 10) / 0.7
    mean = (20 + 2.0 * normal + 1.5 * skewed + 1.0 * frame["bimodal"] + frame["size"].map({"S": -1.0, "M": 0.0,
                                                                                             "L": 1.5})
            + 2.0 * (frame["uniform"] - 0.5)).to_numpy(dtype=float)
    sd = 1.0 + 2.5 * (frame["flag"] == "yes").to_numpy() + 0.6 * np.abs(frame["bimodal"].to_numpy())
    frame["prediction"] = mean
    frame["value"] = mean + rng.normal(0.0, 1.0, rows) * sd
    return frame


def regression() -> Dataset:
    numerical = ["normal", "skewed", "uniform", "counts", "bimodal", "heavy"]
    settings = {"task": "regression", "storage": {"bucket": "bench-bucket"},
                "columns": {"id": "id", "timestamp": "ts", "score": "prediction", "numerical": numerical,
                            "categorical": ["colour", "size", "region", "flag"]},
                "labels": {"column": "value", "lag_days": 1}, "performance": {"min_labelled_rows": 100},
                "retraining": {"dag_id": "retrain"}}
    return Dataset("regression", settings, _regression_world(100_000, np.random.default_rng(9)), None,
                   _regression_world, shifted="normal", category="colour")


SEGMENTS = {  # --segments: each dataset's `segments:` entry
    "synthetic": {"columns": ["channel"]},  # 20 segments (19 values and "(other values)") x 12 monitored columns
    "employment": {"columns": ["SCHL"]},  # 25 values: 20 segments
    "housing": {"buckets": {"MedInc": [2.2, 2.7, 3.1, 3.5, 3.8, 4.2, 4.8, 5.4, 6.5]}},  # deciles: 10 segments
    "multiclass": {"columns": ["region"]},  # 20 values: 20 segments (19 and "(other values)")
    "regression": {"columns": ["region"]},
}
SEGMENT_RULES = frozenset({"segment_drift", "segment_share", "new_segment", "vanished_segment",
                           "segment_performance", "segment_estimated_drop"})
# info by default (they page nobody): replayed at warning, so that a day they would flag counts as alerting
SEGMENT_PERFORMANCE_RULES = {"segment_performance": {"severity": "warning"},
                             "segment_estimated_drop": {"severity": "warning"}}


def merged(entry: dict, extra: dict) -> dict:
    """`entry` with `extra`'s keys set, nested mappings merged key by key."""
    found = dict(entry)
    for key, value in extra.items():
        nested = isinstance(value, dict) and isinstance(found.get(key), dict)
        found[key] = merged(found[key], value) if nested else value
    return found


def with_segments(data: Dataset) -> Dataset:
    """The dataset's model with its `SEGMENTS` entry, its per-segment performance rules at warning."""
    data.settings = {**data.settings, "segments": SEGMENTS[data.name], "rules": SEGMENT_PERFORMANCE_RULES}
    return data


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
    """Flip the labels of correctly predicted rows (a multiclass label to another class, at random): the error rate
    rises by `points` (0.02 = 2 points)."""
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        label, decision = data.settings["labels"]["column"], data.settings["columns"]["decision"]
        correct = np.flatnonzero(frame[label].to_numpy() == frame[decision].to_numpy())
        flip = rng.choice(correct, min(len(correct), round(points * len(frame))), replace=False)
        if data.classes:
            names = np.array(data.classes, dtype=object)
            index = pd.Index(data.classes).get_indexer(frame.loc[flip, label])
            frame.loc[flip, label] = names[(index + rng.integers(1, len(names), len(flip))) % len(names)]
        else:
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


def error_growth(share: float) -> Callable:
    """A regressor's errors `share` larger (0.1: MAE and RMSE 10% higher): each true value moved away from the
    prediction."""
    def apply(frame: pd.DataFrame, data: Dataset, rng: np.random.Generator) -> pd.DataFrame:
        frame = frame.copy()
        label, prediction = data.settings["labels"]["column"], data.settings["columns"]["score"]
        frame[label] = frame[prediction] + (1 + share) * (frame[label] - frame[prediction])
        return frame
    return apply


def applies(name: str, data: Dataset) -> bool:
    """Whether the change `name` can be made to `data`'s days: a new category needs a categorical feature, the label
    changes need the kind of model they name (error rate: a classifier; F1: a binary one; MAE: a regressor)."""
    task = data.settings.get("task", "binary_classification")
    return not ((name.startswith("new category") and not data.category)
                or (name.startswith("error rate") and task == "regression")
                or (name.startswith("F1") and task != "binary_classification")
                or (name.startswith("MAE") and task != "regression"))


WINDOW_RULES = ("window_drift", "gradual_drift", "window_performance", "window_estimated_performance",
                "segment_window_drift", "segment_window_performance", "segment_window_estimated_drop")

CHANGES = {  # name -> (change, the rules whose firing counts as detecting it)
    "mean shift 0.1 sd": (shift(0.1), {"feature_drift", "dataset_drift"}),
    "mean shift 0.2 sd": (shift(0.2), {"feature_drift", "dataset_drift"}),
    "mean shift 0.5 sd": (shift(0.5), {"feature_drift", "dataset_drift"}),
    "new category 1%": (new_category(0.01), {"new_categories", "feature_drift", "dataset_drift"}),
    "new category 5%": (new_category(0.05), {"new_categories", "feature_drift", "dataset_drift"}),
    "error rate +2 points": (label_noise(0.02), {"performance_degradation"}),
    "error rate +5 points": (label_noise(0.05), {"performance_degradation"}),
    "F1 -3 points": (f1_drop(0.03), {"performance_degradation"}),
    "MAE +10%": (error_growth(0.10), {"performance_degradation"}),
    "MAE +25%": (error_growth(0.25), {"performance_degradation"}),
}


# --- the library's path ----------------------------------------------------------------------------------------
def fingerprint(name: str, mode: str, fit_seed: int) -> str:
    """The reference's fingerprint (16 hex digits, as the library's), naming the fit; the fit seed itself is the
    fit's `salt`, which draws its replicate days (the same ones every run)."""
    return hashlib.sha256(f"{name}/{mode}/{fit_seed}".encode()).hexdigest()[:16]


def stream(*key: int | str) -> np.random.Generator:
    """A generator seeded by `key` (numbers, or names hashed stably): one stream per size and change."""
    return np.random.default_rng([k if isinstance(k, int) else int(hashlib.sha256(k.encode()).hexdigest()[:8], 16)
                                  for k in key])


class Judge:
    """A dataset's model in one mode, its reference fitted once: judges a day's rows into findings."""

    def __init__(self, data: Dataset, mode: str, fit_seed: int = 0, windows: bool = False) -> None:
        from monitoring import contract
        from monitoring.config import parse_config
        from monitoring.reference import ReferenceProfile
        from monitoring.reference_store import sample

        settings = {**data.settings, "drift": {"threshold_mode": mode}}
        self.model = parse_config({"models": {data.name: settings}}).model(data.name)
        typed = contract.prepare_reference(data.reference, self.model, "the benchmark's reference")
        self.fit_seed, self.fingerprint = fit_seed, fingerprint(data.name, mode, fit_seed)
        started = time.monotonic()
        self.fitted = ReferenceProfile.fit(typed, self.model.name, self.model.fit_settings, "v1", self.fingerprint,
                                           salt=fit_seed)
        self.fit_seconds = time.monotonic() - started
        self.compared = sample(typed, self.model.reports.max_rows)
        self.label = data.settings["labels"]["column"]
        self.nannies: dict[str, object] = {}  # a regressor's DLE nanny models, as the daily run loads them
        if self.fitted.dle is not None:
            from monitoring import estimators

            loaded = estimators.load_nannies(self.fitted._artifacts)
            self.nannies = {metric: loaded[name] for metric, name in self.fitted.dle.artifacts.items()}
        self.windows = windows
        if windows:  # the days' mergeable states on fixed edges, the reference's state, what the trailing days left
            from monitoring import window_state

            numerical, _ = window_state.monitored_columns(self.model)
            self.edges = window_state.fit_edges(self.compared, numerical, "v1")
            self.reference_window = window_state.tally_of(self.model, None, "v1", self.edges, self.fitted).add(
                self.compared).state()
            self.restart()
        fit = self.fitted.segments
        min_rows = self.model.segments.min_rows
        self.segments = (sum(b.rows >= min_rows for b in fit.baselines.values()) if fit is not None else 0)

    def restart(self) -> None:
        """Forget the days judged so far (a new replay): their states, the columns they showed drifted, their
        labels' counts and performance."""
        self.states: dict = {}
        self.drifted: dict = {}
        self.estimated: dict = {}
        self.labels: dict = {}
        self.performances: dict = {}

    def snapshot(self) -> tuple[dict, ...]:
        """What the days judged so far left (`restore` goes back to it)."""
        return tuple(dict(d) for d in (self.states, self.drifted, self.estimated, self.labels, self.performances))

    def restore(self, kept: tuple[dict, ...]) -> None:
        self.states, self.drifted, self.estimated, self.labels, self.performances = (dict(d) for d in kept)

    def findings(self, rows: pd.DataFrame, day: dt.date = DAY) -> list:
        """The day's warning and critical findings; with windows, `day` follows the days judged before it (the
        trailing window: the states of the `windows.days` - 1 days before it, as the daily run reads them)."""
        from monitoring import contract, judging, rules, trailing, window_state, windows
        from monitoring.day_state import DayState
        from monitoring.ingest import SOURCE_FILE, SOURCE_ROW
        from monitoring.records import LabelsReport
        from monitoring.sampling import hash_sample
        from monitoring.summary import summarize
        from monitoring.vocabulary import LABEL

        model, cols = self.model, self.model.columns
        frame = rows.assign(**{cols.id: [f"p{i}" for i in range(len(rows))],
                               cols.timestamp: pd.Timestamp(day, tz="UTC"), SOURCE_FILE: "day", SOURCE_ROW: 0})
        valid = contract.validate(frame, model, day).valid
        state = DayState(model.fit_settings, self.fitted).add(valid)
        current = hash_sample(valid, cols.id, model.reports.max_rows)
        operations, quality = state.operations(current), state.quality()
        specs = model.drift_specs
        skipped = judging.skipped_columns(current, self.compared, specs, model.drift.max_categories)
        columns, judged, segmented = judging.judge_day(
            model.drift, model.minimum_changes, self.fitted,
            judging.judge_columns(current, self.compared, specs, model.drift, self.fitted, skipped),
            operations, quality, current, (model.segments, state.segments))
        losses = judging.expected_losses(self.fitted, self.nannies, current, cols.numerical, model.scoring.score)
        if segmented is not None:  # the headline metric inside each segment, estimated before the labels
            segmented = segmented.model_copy(update={"estimated": judging.segment_estimates(
                self.fitted, state.segments, model.metric_judging, model.segments, current, losses)})
        estimate = judging.estimate_day(self.fitted, model.metric_judging, model.scoring, cols.numerical,
                                        cols.features, state.expected or state.expected_classes, current,
                                        self.nannies, quality, losses)
        if self.windows:  # as the daily run: the day's state published before its trailing judgement
            self.states[day] = window_state.tally_of(model, day, "v1", self.edges, self.fitted).add(valid).state(
                window_state.expected_state(state.expected or state.expected_classes, model.scoring),
                source_sha256=str(day), segment_expected=window_state.segment_expected(state.segments),
                expected_loss=window_state.loss_state(estimate), segment_loss=window_state.segment_losses(
                    window_state.segmenter(model, self.fitted), current, losses))
        summary = summarize(
            model=model.name, day=DAY, contract={"rows_read": len(frame), "rows_valid": len(valid),
                                                 "rows_quarantined": 0, "rejected_share": 0.0, "reasons": {},
                                                 "extra_columns": []},
            files=[], sampled_rows=len(current), reference_version="v1", reference_rows=self.fitted.rows,
            drift=columns, features=cols.features, predictions=cols.predictions, quality=quality,
            dataset_drift_share=model.drift.dataset_drift_share, operations=operations, reports={},
            verdicts=judged, segments=segmented, estimated_performance=estimate)
        if self.windows:  # as steps.publish.judge_trailing, the days before all published
            self.drifted[day] = rules.drifted_today(summary)
            self.estimated[day] = ({d.metric for d in estimate.degraded} if estimate else set()) | {
                f"{s.key}|{s.metric}" for s in (segmented.estimated if segmented else []) if s.degraded}
            summary = summary.with_trailing(trailing.judge(
                model, day, self.states, lambda _: self.reference_window, lambda d: self.drifted.get(d, set()),
                lambda _: self.fitted, lambda d: self.estimated.get(d, set())))
        labels = rows[self.label].astype(str) if model.is_multiclass else rows[self.label].astype(float)
        joined = valid.assign(**{LABEL: labels.to_numpy()[:len(valid)]})
        found = judging.labelled_day(joined=joined, predictions=len(valid), scoring=model.scoring,
                                     judging=model.metric_judging, lag_days=model.labels.lag_days, day=DAY,
                                     as_of=DAY + dt.timedelta(days=1), fitted=self.fitted, label_digest="-",
                                     segmented=model.segments if self.fitted.segments is not None else None)
        found = found.model_copy(update={"estimate_check": judging.estimate_check(estimate, found.metrics,
                                                                                  self.fitted, found.labelled)})
        due = judging.due_day(found, DAY, model.performance.min_coverage, model.performance.min_labelled_rows, "v1")
        window = None
        if self.windows:  # the day's labels complete at once: its trailing window of labelled days judged with it
            segmenter = window_state.segmenter(model, self.fitted)
            self.labels[day] = window_state.label_state(joined, valid, model.scoring, segmenter)
            self.performances[day] = found.model_copy(update={"day": day.isoformat(), "complete": True})
            window = judging.window_performance(
                windows.days_between(day - dt.timedelta(days=model.windows.days - 1), day), self.labels,
                self.performances, model.metric_judging, self.fitted, model.performance.min_coverage,
                model.segments if segmenter else None)
        report = LabelsReport(day=DAY.isoformat(), files=[], rows=len(valid), joined=len(valid), problems={},
                              file_problems=[], due=due, window=window)
        return [f for f in rules.findings(summary.with_labels(found, report), model) if f.severity.rank >= 1]


# --- replays -----------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    """What one fit's judge made of one size's days."""

    count: int = 0  # no-change days
    alerting: int = 0
    drifted: int = 0  # feature-days
    features: int = 0
    rules: dict[str, int] | None = None
    alone: dict[str, int] | None = None  # rule -> no-change days on which it was the only rule that fired
    segment_alerting: int = 0  # no-change days with a segment finding
    other_alerting: int = 0  # no-change days with any other finding
    detected: dict[str, tuple[int, int]] | None = None  # change -> (days detected, days)
    seconds: float = 0.0


def measure(judge: Judge, data: Dataset, size: int, days: int, changes: dict[str, tuple[Callable, set[str]]],
            changed_days: int, day_seed: int) -> Measured:
    """Judge `days` no-change days and `changed_days` days of each change, drawn from seeded streams: every fit of a
    run judges the same days."""
    started = time.monotonic()
    found = Measured(features=len(judge.model.columns.features), rules={}, alone={}, detected={})
    rng = stream(day_seed, size, "no change")
    for _ in range(days):
        findings = judge.findings(data.day(size, rng))
        found.alerting += bool(findings)
        found.segment_alerting += any(f.rule in SEGMENT_RULES for f in findings)
        found.other_alerting += any(f.rule not in SEGMENT_RULES for f in findings)
        for finding in findings:
            found.rules[finding.rule] = found.rules.get(finding.rule, 0) + 1
        fired = {f.rule for f in findings}
        if len(fired) == 1:
            (rule,) = fired
            found.alone[rule] = found.alone.get(rule, 0) + 1
        found.drifted += len(next((f.columns for f in findings if f.rule in ("feature_drift", "dataset_drift")), []))
        found.count += 1
    for name, (change, names) in changes.items():
        if not applies(name, data) or changed_days == 0:
            continue
        rng = stream(day_seed, size, name)
        hits = sum(bool(names & {f.rule for f in judge.findings(change(data.day(size, rng), data, rng))})
                   for _ in range(changed_days))
        found.detected[name] = (hits, changed_days)
    found.seconds = time.monotonic() - started
    return found


def _pct(part: int, whole: int, digits: int = 0) -> str:
    return f"{100 * part / whole:.{digits}f}%" if whole else "-"


def _spread(values: list[float], digits: int = 0) -> str:
    """Median and range of per-fit percentages."""
    low, mid, high = min(values), float(np.median(values)), max(values)
    return (f"{mid:.{digits}f}%" if low == high else
            f"median {mid:.{digits}f}% ({low:.{digits}f}-{high:.{digits}f})")


def print_one(size: int, found: Measured, out, segments: bool = False) -> None:
    """One fit: the figures of one size, on two lines (three with segments)."""
    count, feature_days = found.count, found.count * found.features
    rules, alone = (", ".join(f"{r} {n}" for r, n in sorted(d.items())) for d in (found.rules, found.alone))
    if count:
        print(f"  {size:>7,} rows a day: {found.alerting}/{count} no-change days alert "
              f"({100 * found.alerting / count:.1f} per 100 model-days{', ' + rules if rules else ''}"
              f"{'; the only rule of the day: ' + alone if alone else ''}); "
              f"{found.drifted} of {feature_days} feature-days drifted ({100 * found.drifted / feature_days:.2f} "
              f"per 100); {found.seconds:.0f} s", file=out, flush=True)
        if segments:
            print(f"           segment findings alone: {found.segment_alerting}/{count} no-change days "
                  f"({100 * found.segment_alerting / count:.1f} per 100 model-days); any other finding: "
                  f"{found.other_alerting}/{count} ({100 * found.other_alerting / count:.1f} per 100)", file=out,
                  flush=True)
    else:
        print(f"  {size:>7,} rows a day: no no-change days; {found.seconds:.0f} s", file=out, flush=True)
    if found.detected:
            print("           detected: " + ", ".join(f"{n} {_pct(*hd)}" for n, hd in found.detected.items()), file=out,
              flush=True)


def print_fits(size: int, fits: list[Measured], out, segments: bool = False) -> None:
    """Several fits: one line per figure, each fit's value, then their median and range."""
    width = 24
    changed = max((days for _, days in fits[0].detected.values()), default=0)
    print(f"  {size:>7,} rows a day, {len(fits)} fits ({fits[0].count} no-change days, {changed} days a change; "
          f"{sum(f.seconds for f in fits):.0f} s):", file=out)
    rows: list[tuple[str, list[str], list[float], int]] = []
    if fits[0].count:
        rows.append(("no-change days alerting", [f"{f.alerting}/{f.count}" for f in fits],
                     [100 * f.alerting / f.count for f in fits], 1))
        rows.append(("feature-days drifted", [_pct(f.drifted, f.count * f.features, 2) for f in fits],
                     [100 * f.drifted / (f.count * f.features) for f in fits], 2))
        if segments:
            rows.append(("segment findings alone", [f"{f.segment_alerting}/{f.count}" for f in fits],
                         [100 * f.segment_alerting / f.count for f in fits], 1))
            rows.append(("any other finding", [f"{f.other_alerting}/{f.count}" for f in fits],
                         [100 * f.other_alerting / f.count for f in fits], 1))
    for name in fits[0].detected:
        rows.append((name, [f"{f.detected[name][0]}/{f.detected[name][1]}" for f in fits],
                     [100 * f.detected[name][0] / f.detected[name][1] for f in fits], 0))
    cell = max(len(c) for _, cells, _, _ in rows for c in cells) if rows else 0
    for label, cells, values, digits in rows:
        print(f"    {label:<{width}} {' '.join(c.rjust(cell) for c in cells)}   {_spread(values, digits)}", file=out)
    out.flush()


def print_bands(judge: Judge, sizes: tuple[int, ...], out) -> None:
    """The performance metrics' no-change bands of one fit at the replayed sizes: the sd and mean the fit gives there,
    the band's edge on the side that alarms (mean -+ k sd), the minimum effect, so the change past which the metric
    fires, and the edge of the day's family gate when the metric is alone past it (Simes: its tail below the k-sigma
    tail / the family's size; with another metric past the band too, the band's edge is the gate); then the replicate
    days' sd measured at each size."""
    from scipy import stats

    from monitoring.verdicts import nominal_tail
    from monitoring.vocabulary import LOWER_IS_BETTER
    from monitoring.vocabulary import statistic_name as null_name

    fitted, model, k = judge.fitted, judge.model, judge.model.drift.band_sigma
    nulls = {m: fitted.null(null_name("metric", m)) for m in sorted(model.judged_metrics)}
    nulls = {m: null for m, null in nulls.items() if null is not None}
    alone = float(stats.norm.isf(nominal_tail(k) / max(1, len(nulls))))
    for metric, null in nulls.items():
        absolute, share = model.min_drop(metric)
        base = fitted.performance[metric]
        sign = 1 if metric in LOWER_IS_BETTER else -1
        effect = sign * (absolute if absolute is not None else share * abs(base))
        for size in sizes:
            sd, mean = null.sd(size), null.mean(size)
            edge, gate = mean + sign * k * sd, mean + sign * alone * sd
            needed = max(edge, effect) if sign > 0 else min(edge, effect)
            print(f"    fit {judge.fit_seed} {metric} at {size:,} rows: sd {sd:.4f}, mean {mean:+.4f}; band's edge "
                  f"{edge:+.4f}, min effect {effect:+.4f}: fires {'above' if sign > 0 else 'below'} {needed:+.4f} "
                  f"(past the gate {gate:+.4f} when alone, {alone:.2f} sd; baseline {base:.4f})", file=out)
        points = ", ".join(f"{p.size:,}: {p.sd:.4f}" for p in null.points)
        replicates = "/".join(map(str, sorted({p.replicates for p in null.points})))
        print(f"    fit {judge.fit_seed} {metric} sd measured on {replicates} replicate days a size ({points}); "
              f"fitted sd ~ n_eff^{null.sd_fit[1] if null.sd_fit else 0:+.3f}", file=out, flush=True)


def _enough_rows(data: Dataset, size: int, out) -> bool:
    """A real dataset's pool holds days of this size (else said)."""
    if data.pool is not None and size > len(data.pool):
        print(f"  {size:>7,} rows a day: not enough held-out rows", file=out)
        return False
    return True


def replay(data: Dataset, sizes: tuple[int, ...], days: dict[int, int], changed_days: int, *,
           modes: tuple[str, ...] = ("calibrated", "fixed"), changes: dict | None = None,
           fit_seeds: tuple[int, ...] = (0,), day_seed: int = 7, bands: bool = False, out=sys.stdout) -> dict:
    """Replay the days of every size with each mode's reference fitted once per fit seed; returns
    {(mode, size): [Measured per fit]}."""
    changes = CHANGES if changes is None else changes
    results: dict[tuple[str, int], list[Measured]] = {}
    for mode in modes:
        judges = [Judge(data, mode, seed) for seed in fit_seeds]
        features = len(judges[0].model.columns.features)
        fitted = ", ".join(f"{j.fit_seconds:.1f}" for j in judges)
        fits = (f"fit seed {fit_seeds[0]}, fingerprint {judges[0].fingerprint}" if len(judges) == 1 else
                f"{len(judges)} fits, seeds {fit_seeds[0]}-{fit_seeds[-1]}")
        segmented = judges[0].fitted.segments is not None
        cut = (f"; {judges[0].segments} segments of {json.dumps(data.settings['segments'])}, each judged on its share "
               f"and {len(judges[0].fitted.segments.columns)} columns" if segmented else "")
        print(f"\n{data.name}, {mode} ({len(data.reference):,} reference rows, {features} features{cut}; {fits}; "
              f"fitted in {fitted} s)", file=out, flush=True)
        for size in sizes:
            if not _enough_rows(data, size, out):
                continue
            if bands and mode == "calibrated":
                for judge in judges:
                    print_bands(judge, (size,), out)
            results[mode, size] = [measure(j, data, size, days[size], changes, changed_days, day_seed) for j in judges]
            if len(judges) == 1:
                print_one(size, results[mode, size][0], out, segmented)
            else:
                print_fits(size, results[mode, size], out, segmented)
    return results


def replay_windows(data: Dataset, sizes: tuple[int, ...], days: int, shifts: int, *, shift_sd: float = 0.15,
                   day_seed: int = 7, fit_seed: int = 0, out=sys.stdout) -> dict:
    """Consecutive days judged with their trailing window and slow-drift sums (issue 28): the model-days of a
    no-change replay of `days` days on which a window or gradual finding is raised (and any finding), and the
    replays of a persistent `shift_sd` shift of one feature (`shifts` of them, each after `windows.days` - 1 clean
    days) in which a finding names it within the window's length of its start, by the window or by a single day;
    then, for a binary classifier or a regressor, the replays of a persistent performance drop (a 3-point F1 drop, a
    10% rise of MAE) found within 14 days by the day's or the window's performance verdict. `fit_seed`: the
    reference's fit (every fit judges the same days)."""
    results = {}
    judge = Judge(data, "calibrated", fit_seed, windows=True)
    length = judge.model.windows.days
    worse = {"binary_classification": ("3-point F1 drop", f1_drop(0.03)),  # the performance drop replayed
             "regression": ("10% rise of MAE", error_growth(0.10))}.get(data.settings.get("task",
                                                                                       "binary_classification"))
    print(f"\n{data.name}, calibrated, trailing window of {length} days against the reference "
          f"({len(data.reference):,} reference rows, {len(judge.model.columns.features)} features; fit seed "
          f"{fit_seed})", file=out, flush=True)
    for size in sizes:
        if not _enough_rows(data, size, out):
            continue
        if data.pool is not None and size * length > len(data.pool) / 4:
            print(f"  {size:>7,} rows a day: a window's {size * length:,} rows would be drawn from a pool of "
                  f"{len(data.pool):,}: its days would share rows, so no-change windows would look drifted (housing "
                  "at 300 rows: 45 of 100 days, the pool's own distance from the reference)", file=out)
            continue
        started, rng = time.monotonic(), stream("windows", data.name, size, day_seed)
        judge.restart()
        window_days = alerting = 0
        rules_seen: dict[str, int] = {}
        for n in range(days):
            found = judge.findings(data.day(size, rng), DAY + dt.timedelta(days=n))
            window_days += any(f.rule in WINDOW_RULES for f in found)
            alerting += bool(found)
            for rule in {f.rule for f in found}:
                rules_seen[rule] = rules_seen.get(rule, 0) + 1
        quiet = time.monotonic() - started
        flagged = by_window = dropped = dropped_by_window = 0
        if shifts and size == 300:
            change = shift(shift_sd)
            for replay_number in range(shifts):
                judge.restart()
                rng = stream("windows-shift", data.name, size, day_seed, replay_number)
                for n in range(length - 1):  # the clean days before the shift: a full window's worth
                    judge.findings(data.day(size, rng), DAY + dt.timedelta(days=n))
                hit = window_hit = False
                for n in range(length - 1, 2 * length - 1):
                    found = judge.findings(change(data.day(size, rng), data, rng), DAY + dt.timedelta(days=n))
                    named = [f for f in found if data.shifted in f.columns]
                    hit |= bool(named)
                    window_hit |= any(f.rule in ("window_drift", "gradual_drift") for f in named)
                flagged += hit
                by_window += window_hit
            if worse is not None:
                _, drop = worse
                for replay_number in range(shifts):  # the drop from day `length`, looked for over 14 days
                    judge.restart()
                    rng = stream("windows-f1", data.name, size, day_seed, replay_number)
                    hit = window_hit = False
                    for n in range(length - 1 + 14):
                        rows = data.day(size, rng)
                        found = judge.findings(drop(rows, data, rng) if n >= length - 1 else rows,
                                               DAY + dt.timedelta(days=n))
                        if n >= length - 1:
                            hit |= any(f.rule in ("performance_degradation", "window_performance") for f in found)
                            window_hit |= any(f.rule == "window_performance" for f in found)
                    dropped += hit
                    dropped_by_window += window_hit
        results[size] = {"days": days, "window_days": window_days, "alerting": alerting, "shifts": shifts,
                         "flagged": flagged, "by_window": by_window, "dropped": dropped,
                         "dropped_by_window": dropped_by_window}
        print(f"  {size:>7,} rows a day: no change, {days} consecutive days: a window finding "
              f"({', '.join(WINDOW_RULES)}) on {window_days} "
              f"({_pct(window_days, days, 1)}), any finding on {alerting} ({_pct(alerting, days, 1)}) "
              f"[{', '.join(f'{r} {n}' for r, n in sorted(rules_seen.items())) or 'none'}]; {quiet:.0f} s", file=out)
        if shifts and size == 300:
            print(f"           a persistent {shift_sd} sd shift of {data.shifted}: named within {length} days in "
                  f"{flagged}/{shifts} replays ({_pct(flagged, shifts)}), by window_drift or gradual_drift in "
                  f"{by_window}/{shifts}",
                  file=out, flush=True)
            if worse is not None:
                print(f"           a persistent {worse[0]}: found within 14 days in {dropped}/{shifts} replays "
                      f"({_pct(dropped, shifts)}), by window_performance in {dropped_by_window}/{shifts}",
                      file=out, flush=True)
    return results


def weekend_day(data: Dataset, size: int, rng: np.random.Generator, weight: float) -> pd.DataFrame:
    """A weekend's population: `size` of three times as many rows drawn (each once) with the rows of the half of
    `data.category`'s values least common in the reference `weight` times as likely, so that category's mix moves and
    every column correlated with it moves with it, as a weekend's customers would."""
    frame = data.day(3 * size, rng)
    common = data.reference[data.category].astype(str).value_counts().index
    favoured = frame[data.category].astype(str).isin(set(common[len(common) // 2:]))
    chance = np.where(favoured, weight, 1.0)
    return frame.iloc[rng.choice(len(frame), size, replace=False, p=chance / chance.sum())].reset_index(drop=True)


@dataclass
class Weekly:
    """What a weekday replay found: days judged and days with a finding, by kind of day."""

    quiet_days: int = 0  # from the third weekend on, weekday baseline, the rhythm only
    quiet_alerting: int = 0
    quiet_rhythm: int = 0  # of those, days with a finding naming the weekend's column
    weekend_days: int = 0  # the third weekend, reference baseline, the rhythm only
    weekend_alerting: int = 0
    odd_weekends: int = 0  # a change on one weekend (the fourth), weekday baseline
    odd_found: int = 0
    rules: dict[str, int] | None = None  # rule -> quiet days it fired on


def replay_weekday(data: Dataset, size: int, replays: int, *, weeks: int = 5, weight: float = 8.0,
                   odd_sd: float = 0.5, day_seed: int = 7, out=sys.stdout) -> Weekly:
    """`windows.baseline: weekday` (issue 28) on weeks whose weekends share a mix change (`weekend_day`): each replay
    judges `weeks` consecutive weeks from a Monday with the weekday baseline and counts the days from the third
    weekend on with any finding (the rhythm should have stopped paging once two weekends are published); the same
    days' first three weeks judged against the reference count the third weekend's days with a finding (the rhythm
    pages every weekend without it); and the fourth weekend, given a `odd_sd` sd shift of `data.shifted` on top of
    the rhythm (a change of that weekend only), is found when a finding names that column."""
    odd = shift(odd_sd)
    by_weekday = Judge(replace(data, settings=merged(data.settings, {"windows": {"baseline": "weekday"}})),
                       "calibrated", windows=True)
    by_reference = Judge(data, "calibrated", windows=True)
    assert DAY.weekday() == 0, "the replays start on a Monday"
    found = Weekly(rules={})
    started = time.monotonic()
    for number in range(replays):
        days = []  # the replay's days, drawn once: both baselines judge the same rows
        rng = stream("weekday", data.name, size, day_seed, number)
        for n in range(7 * weeks):
            weekend = (DAY + dt.timedelta(days=n)).weekday() >= 5
            days.append(weekend_day(data, size, rng, weight) if weekend else data.day(size, rng))
        odd_rows = {n: odd(days[n], data, rng) for n in (26, 27)}  # the fourth weekend's Saturday and Sunday
        by_weekday.restart()
        for n, rows in enumerate(days):
            if n == 26:  # the fourth weekend changed, judged on a copy of what the days before it left
                kept = by_weekday.snapshot()
                named = [f for m in (26, 27) for f in by_weekday.findings(odd_rows[m], DAY + dt.timedelta(days=m))
                         if data.shifted in f.columns]
                found.odd_weekends += 1
                found.odd_found += bool(named)
                by_weekday.restore(kept)
            day_findings = by_weekday.findings(rows, DAY + dt.timedelta(days=n))
            if n >= 19:  # from the third weekend (days 19 and 20) on
                found.quiet_days += 1
                found.quiet_alerting += bool(day_findings)
                found.quiet_rhythm += any(data.category in f.columns for f in day_findings)
                for rule in {f.rule for f in day_findings}:
                    found.rules[rule] = found.rules.get(rule, 0) + 1
        by_reference.restart()
        for n, rows in enumerate(days[:21]):
            day_findings = by_reference.findings(rows, DAY + dt.timedelta(days=n))
            if n >= 19:
                found.weekend_days += 1
                found.weekend_alerting += bool(day_findings)
    rules = ", ".join(f"{r} {n}" for r, n in sorted(found.rules.items())) or "none"
    print(f"\n{data.name}, calibrated, {size:,} rows a day, weekends drawn with the rarer half of "
          f"{data.category}'s values {weight:g}x as likely ({replays} replays of {weeks} weeks):\n"
          f"  windows.baseline reference: the third weekend's days with a finding {found.weekend_alerting}/"
          f"{found.weekend_days} ({_pct(found.weekend_alerting, found.weekend_days)})\n"
          f"  windows.baseline weekday: days from the third weekend on with a finding {found.quiet_alerting}/"
          f"{found.quiet_days} ({_pct(found.quiet_alerting, found.quiet_days, 1)}) [{rules}], naming "
          f"{data.category} {found.quiet_rhythm}\n"
          f"  windows.baseline weekday: a {odd_sd} sd shift of {data.shifted} on the fourth weekend only, named "
          f"that weekend in {found.odd_found}/{found.odd_weekends} replays "
          f"({_pct(found.odd_found, found.odd_weekends)})"
          f"; {time.monotonic() - started:.0f} s", file=out, flush=True)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="synthetic,employment,housing,multiclass,regression")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--modes", default="calibrated,fixed")
    parser.add_argument("--quick", action="store_true", help="fewer replayed days")
    parser.add_argument("--days", type=int, help="no-change days at every size (default: by size and --quick)")
    parser.add_argument("--changed-days", type=int, help="days of each change (default 30, 10 with --quick)")
    parser.add_argument("--changes", help="comma-separated names of the changes to inject (default: all of them: "
                                          + ", ".join(CHANGES).replace("%", "%%") + ")")
    parser.add_argument("--fit-seed", type=int, default=0, help="seeds the reference's fingerprint (default 0)")
    parser.add_argument("--fits", type=int, default=1, help="fit each reference this many times (fit seeds "
                                                            "--fit-seed, --fit-seed + 1, ...): each figure's spread")
    parser.add_argument("--day-seed", type=int, default=7, help="seeds the replayed days and changes (default 7)")
    parser.add_argument("--bands", action="store_true", help="print each fit's performance bands")
    parser.add_argument("--segments", action="store_true", help="each model with its segments (SEGMENTS; calibrated "
                                                                "mode: the fixed mode has none)")
    parser.add_argument("--windows", action="store_true", help="consecutive days judged with their trailing window "
                        "and slow-drift sums (window_drift, gradual_drift): no-change model-days with a window finding, and a persistent 0.15 sd shift "
                        "named within the window's length (--days consecutive days, default 100; --shifts replays; "
                        "--fits: each fit in turn)")
    parser.add_argument("--weekday", type=int, default=0, metavar="REPLAYS",
                        help="replay the weekday baseline on weeks whose weekends share a mix change: REPLAYS "
                             "replays of 5 weeks at each size (replay_weekday)")
    parser.add_argument("--shifts", type=int, default=50, help="--windows: replays of the persistent shift")
    parser.add_argument("--settings", type=json.loads, default={},
                        help="JSON merged into each replayed model's config entry (what a setting changes)")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    days = {300: 100, 5_000: 60, 100_000: 20} if args.quick else {300: 400, 5_000: 200, 100_000: 60}
    days = {s: args.days if args.days is not None else days.get(s, 60) for s in sizes}
    changed = args.changed_days if args.changed_days is not None else (10 if args.quick else 30)
    changes = CHANGES
    if args.changes:
        names = [n.strip() for n in args.changes.split(",")]
        unknown = [n for n in names if n not in CHANGES]
        if unknown:
            parser.error(f"unknown changes {unknown}; known: {', '.join(CHANGES)}")
        changes = {n: CHANGES[n] for n in names}
    modes = tuple(args.modes.split(","))
    fit_seeds = tuple(range(args.fit_seed, args.fit_seed + args.fits))
    import evidently  # noqa: F401 - imported once, up front (seconds)

    if args.settings:
        print(f"merged into each replayed model's entry: {json.dumps(args.settings)}")
    makers = {"synthetic": lambda: synthetic(args.segments), "employment": employment, "housing": housing,
              "multiclass": multiclass, "regression": regression}
    for name in args.datasets.split(","):
        data = with_segments(makers[name]()) if args.segments else makers[name]()
        data.settings = merged(data.settings, args.settings)
        if args.weekday:
            for size in sizes:
                if _enough_rows(data, size, sys.stdout):
                    replay_weekday(data, size, args.weekday, day_seed=args.day_seed)
            continue
        if args.windows:  # each fit in turn, on the same days
            for seed in fit_seeds:
                replay_windows(data, sizes, args.days or 100, args.shifts, day_seed=args.day_seed, fit_seed=seed)
            continue
        replay(data, sizes, days, changed, modes=modes, changes=changes, fit_seeds=fit_seeds,
               day_seed=args.day_seed, bands=args.bands)


if __name__ == "__main__":
    main()
