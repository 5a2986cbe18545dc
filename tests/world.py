"""Synthetic worlds with a known answer for the statistics tests, and the settings they are judged with.

The statistics take the settings they use (`monitoring.config.FitSettings`, `DriftSpec`, `DriftConfig`, `Scoring`,
`MetricJudging`), so these tests build exactly those: no bucket, no retraining DAG, no model config.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from monitoring import replicates
from monitoring.bands import NullModel
from monitoring.config import DriftConfig, DriftSpec, FitSettings, MetricJudging, Scoring
from monitoring.vocabulary import CATEGORICAL, NUMERICAL, METRICS, ModelTask, metrics_of

SCORING = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
SPECS = {"x": DriftSpec(kind=NUMERICAL, method="wasserstein", threshold=0.1),
         "y": DriftSpec(kind=NUMERICAL, method="wasserstein", threshold=0.1),
         "c": DriftSpec(kind=CATEGORICAL, method="jensenshannon", threshold=0.1),
         "p": DriftSpec(kind=NUMERICAL, method="wasserstein", threshold=0.1),
         "d": DriftSpec(kind=CATEGORICAL, method="jensenshannon", threshold=0.1)}


def settings(calibrated: bool = True, scoring: Scoring = SCORING, specs: dict[str, DriftSpec] | None = None,
             numerical: tuple[str, ...] = ("x", "y"), categorical: tuple[str, ...] = ("c",), label: str | None = None,
             estimate: bool = False) -> FitSettings:
    """What the world's reference is fitted with."""
    specs = dict(SPECS if specs is None else specs)
    if scoring.decision is None:
        specs.pop("d", None)
    return FitSettings(scoring=scoring, numerical=numerical, categorical=categorical, label=label,
                       calibrated=calibrated, drift=specs, metrics=metrics_of(scoring.task) if label else (),
                       estimate=estimate)


def judging(task: ModelTask, calibrated: bool = True, rules: dict | None = None) -> MetricJudging:
    """How the task's metrics are judged with the default minimum worsening (`rules`: metric -> (absolute,
    relative) alert lines of fixed mode)."""
    names = metrics_of(task)
    return MetricJudging(metrics=names if calibrated else tuple(rules or ()), calibrated=calibrated,
                         min_drops={m: (METRICS[m].min_drop, METRICS[m].min_relative_drop) for m in names},
                         alert_limits=dict(rules or {}))


def world(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """A population: a skewed and a normal feature, a categorical one, a score and its decision."""
    x = rng.lognormal(0.0, 0.6, n) + shift * 0.6
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 0.5)))
    return pd.DataFrame({"x": x, "y": rng.normal(10, 2, n),
                         "c": rng.choice(list("abcdef"), n, p=[.3, .25, .2, .1, .1, .05]),
                         "p": p, "d": (p >= 0.5).astype(int)})


@cache
def fitted_world() -> tuple[pd.DataFrame, dict[str, NullModel]]:
    """The world's 20,000-row reference and the no-change bands of its features and positive rate (once a session)."""
    reference = world(20_000, np.random.default_rng(1))
    rows = replicates.RowValues(reference, settings(), None)
    return reference, replicates.calibrate(len(reference), len(reference), rows.statistics, rows.kinds(), seed=3)


def labelled_world(task: ModelTask, n: int, rng: np.random.Generator, worse: bool = False) -> pd.DataFrame:
    """A labelled world: a regressor whose relative error grows on small targets when `worse` (MAPE rises ~15%, MAE
    barely moves), or a classifier that says yes more often when `worse` (precision falls, recall rises)."""
    x = rng.normal(0, 1, n)
    if task is ModelTask.REGRESSION:
        y = np.exp(rng.normal(3, 0.6, n))
        noise = rng.normal(0, 0.25, n) * (1 + (0.6 if worse else 0.0) * (y < np.exp(2.6)))
        return pd.DataFrame({"x": x, "p": y * (1 + noise), "y": y})
    p = 1 / (1 + np.exp(-(2 * x)))
    label = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"x": x, "p": p, "d": (p >= (0.3 if worse else 0.5)).astype(int), "y": label})
