"""The project's words, each defined once: the performance metrics of each task and which way is worse, the drift
methods and what their scores mean, the names of the calibrated statistics, and the base of every typed record.

Everything else imports these; this module imports nothing of the library. A new drift method is one entry of
`DRIFT_METHODS` (its score comes from Evidently's function of that id, `monitoring.distances`); a new metric is one
entry of `METRICS` and its computation in `monitoring.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A typed, immutable record; unknown fields are an error (what is written to JSON is exactly what is declared)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelTask(str, Enum):
    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"


NUMERICAL, CATEGORICAL = "numerical", "categorical"  # how a column is compared
LABEL = "label"  # the label's column in a frame of labelled predictions
# A multiclass model's highest class score on a row, derived by the contract: its confidence, the score its
# operational figures (mean and low-confidence share) and score quantiles read, as a binary model's score
TOP_SCORE = "top_score"


# --- performance metrics --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A performance metric: the tasks it measures, whether lower is better (a "drop" is then a rise), and the
    smallest worsening that counts in calibrated mode when the model's rule sets none (absolute, or relative to the
    reference's value for the error metrics whose scale is the model's own)."""

    name: str
    tasks: tuple[ModelTask, ...]
    lower_is_better: bool = False
    min_drop: float | None = None
    min_relative_drop: float | None = None


_BINARY, _MULTICLASS = ModelTask.BINARY_CLASSIFICATION, ModelTask.MULTICLASS_CLASSIFICATION
_CLASSIFIERS = (_BINARY, _MULTICLASS)
METRICS = {m.name: m for m in (
    Metric("accuracy", _CLASSIFIERS, min_drop=0.02),
    Metric("precision", (_BINARY,), min_drop=0.02),
    Metric("recall", (_BINARY,), min_drop=0.02),
    Metric("f1", (_BINARY,), min_drop=0.02),
    # multiclass: the averages over the classes of each class's one-vs-rest figure, unweighted (macro) or weighted
    # by the class's labelled rows (weighted); ROC-AUC is the macro average of the classes' one-vs-rest areas
    Metric("macro_precision", (_MULTICLASS,), min_drop=0.02),
    Metric("macro_recall", (_MULTICLASS,), min_drop=0.02),
    Metric("macro_f1", (_MULTICLASS,), min_drop=0.02),
    Metric("weighted_precision", (_MULTICLASS,), min_drop=0.02),
    Metric("weighted_recall", (_MULTICLASS,), min_drop=0.02),
    Metric("weighted_f1", (_MULTICLASS,), min_drop=0.02),
    Metric("roc_auc", _CLASSIFIERS, min_drop=0.02),
    Metric("log_loss", _CLASSIFIERS, lower_is_better=True, min_relative_drop=0.05),
    Metric("calibration_error", (_BINARY,), lower_is_better=True, min_drop=0.03),
    Metric("mae", (ModelTask.REGRESSION,), lower_is_better=True, min_relative_drop=0.05),
    Metric("rmse", (ModelTask.REGRESSION,), lower_is_better=True, min_relative_drop=0.05),
    Metric("mape", (ModelTask.REGRESSION,), lower_is_better=True, min_relative_drop=0.05),
    Metric("r2", (ModelTask.REGRESSION,), min_drop=0.03),
)}
TASK_METRICS = {task: tuple(m for m, f in METRICS.items() if task in f.tasks) for task in ModelTask}
CLASSIFICATION_METRICS = TASK_METRICS[_BINARY]
MULTICLASS_METRICS = TASK_METRICS[_MULTICLASS]
REGRESSION_METRICS = TASK_METRICS[ModelTask.REGRESSION]
LOWER_IS_BETTER = frozenset(m for m, f in METRICS.items() if f.lower_is_better)


def metrics_of(task: ModelTask) -> tuple[str, ...]:
    return TASK_METRICS[task]


def worse_by(metric: str, value: float, baseline: float) -> float:
    """How much worse `value` is than `baseline` (positive = worse), in the metric's direction."""
    return value - baseline if metric in LOWER_IS_BETTER else baseline - value


# --- drift methods --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftMethod:
    """A drift method (Evidently's stattest id): the column kinds it applies to, and whether its score is a p-value
    (a test: drift when small; its effect size is measured beside it) or a distance (drift when large; the score is
    itself the effect size)."""

    name: str
    kinds: frozenset[str]
    test: bool


_BOTH, _NUM, _CAT = frozenset({NUMERICAL, CATEGORICAL}), frozenset({NUMERICAL}), frozenset({CATEGORICAL})
DRIFT_METHODS = {m.name: m for m in (
    DriftMethod("wasserstein", _NUM, False), DriftMethod("jensenshannon", _BOTH, False),
    DriftMethod("psi", _BOTH, False), DriftMethod("kl_div", _BOTH, False), DriftMethod("hellinger", _BOTH, False),
    DriftMethod("ed", _NUM, False), DriftMethod("ks", _NUM, True), DriftMethod("anderson", _NUM, True),
    DriftMethod("cramer_von_mises", _NUM, True), DriftMethod("mannw", _NUM, True), DriftMethod("es", _NUM, True),
    DriftMethod("t_test", _NUM, True), DriftMethod("empirical_mmd", _NUM, True),
    DriftMethod("chisquare", _CAT, True), DriftMethod("TVD", _CAT, True), DriftMethod("g_test", _CAT, True),
    DriftMethod("fisher_exact", _CAT, True), DriftMethod("z", _CAT, True),
)}
# The effect size measured beside a test's p-value, by column kind: the normed Wasserstein distance of a numerical
# column, the Jensen-Shannon distance of a categorical one.
EFFECT_METHODS = {NUMERICAL: "wasserstein", CATEGORICAL: "jensenshannon"}


def methods_for(kind: str) -> frozenset[str]:
    """The drift methods that apply to a column of this kind."""
    return frozenset(name for name, method in DRIFT_METHODS.items() if kind in method.kinds)


def is_test(method: str) -> bool:
    """The method's score is a p-value (drift when small), not a distance."""
    return DRIFT_METHODS[method].test


def effect_method(method: str, kind: str) -> str:
    """The method whose score is the column's effect size: the method itself for distances."""
    return EFFECT_METHODS[kind] if is_test(method) else method


# --- the calibrated statistics of a day ------------------------------------------------------------------------------
def statistic_name(kind: str, column: str = "") -> str:
    """The name of a calibrated statistic: `drift:<column>`, `missing:<column>`, `metric:<metric>`, or one of
    `positive_rate`, `low_confidence_share`, `reconstruction_error`."""
    return f"{kind}:{column}" if column else kind
