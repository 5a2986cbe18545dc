"""Typed model configuration, loaded from one YAML file and validated once.

Every error names the model and the key that is wrong, so a user can fix the file
without reading this module.
"""

from __future__ import annotations

import os
import re
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitoring.vocabulary import (CATEGORICAL, NUMERICAL, METRICS, TOP_SCORE, ModelTask, Record, metrics_of,
                                   methods_for)

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# S3 prefixes: path segments of safe characters, no "..", no leading or trailing slash.
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "models.yaml"
CONFIG_ENV_VAR = "MONITORING_CONFIG"

class _OfTask:
    """What a `task` makes of a model (ModelConfig and Scoring have one)."""

    @property
    def is_classification(self) -> bool:
        """A binary classifier (0/1 decisions and labels, one score)."""
        return self.task is ModelTask.BINARY_CLASSIFICATION

    @property
    def is_multiclass(self) -> bool:
        return self.task is ModelTask.MULTICLASS_CLASSIFICATION

    @property
    def is_regression(self) -> bool:
        return self.task is ModelTask.REGRESSION


class ConfigError(ValueError):
    """The monitoring configuration file is invalid; the message says where and why."""


_Strict = Record  # every config block: unknown keys are an error, values are frozen once validated


class LogFormat(str, Enum):
    PARQUET = "parquet"
    JSONL = "jsonl"
    CSV = "csv"

    @property
    def suffixes(self) -> tuple[str, ...]:
        return {"parquet": (".parquet", ".pq"), "jsonl": (".jsonl", ".json", ".ndjson"), "csv": (".csv",)}[self.value]


class StorageConfig(_Strict):
    """One bucket for the model's logs, references, labels and reports, and one prefix per kind of object."""

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                        description="the S3 bucket that holds everything of the model (logs, references, labels, "
                                    "reports)")
    aws_conn_id: str = Field(default="aws_default", description="the Airflow connection (type `aws`) that reaches the "
                             "bucket; credentials live only there, and its extra's `endpoint_url` points at MinIO or "
                             "a local moto server")
    predictions_prefix: str = Field(default="predictions", description="the serving stack's prediction logs: "
                                    "`<prefix>/<model>/dt=YYYY-MM-DD/`")
    reference_prefix: str = Field(default="reference", description="reference versions: "
                                  "`<prefix>/<model>/CURRENT.json` names the version in use, "
                                  "`<prefix>/<model>/v=<version>/` holds its rows")
    reports_prefix: str = Field(default="reports", description="the published reports and the report site: "
                                "`<prefix>/index.html`, `<prefix>/<model>/`, `<prefix>/<model>/dt=YYYY-MM-DD/`")
    staging_prefix: str = Field(default="staging", description="a run's outputs before publication, its decision, "
                                "and the valid rows late labels are joined to: `<prefix>/<model>/dt=YYYY-MM-DD/`")
    retraining_prefix: str = Field(default="retraining", description="retraining claims, requests and outcomes: "
                                   "`<prefix>/<model>/{claims,triggers,requests,results}/`")
    labels_prefix: str = Field(default="labels", description="ground truth, by the day it became known: "
                               "`<prefix>/<model>/dt=YYYY-MM-DD/`")
    models_prefix: str = Field(default="models",
                               description="model artifacts: `<prefix>/<model>/v=<version>/model.pkl`")
    log_format: LogFormat = Field(default=LogFormat.PARQUET, description="the format of the prediction logs (and, "
                                  "unless labels.log_format says otherwise, of the labels): parquet, jsonl (JSON "
                                  "lines) or csv; text must be UTF-8, and a file in another format fails the run")
    completion_marker: str | None = Field(
        default=None, pattern=r"^_[A-Za-z0-9_.-]+$",
        description="a file the exporter writes last (e.g. _SUCCESS); until it exists the day counts as incomplete "
                    "and check_partition waits for it")
    settle_seconds: int = Field(default=0, ge=0, description="a day whose newest file is younger than this many "
                                                             "seconds counts as still being written")
    deadline_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60,
                                         description="a day's logs missing this long after the day ended: one 'logs "
                                                     "late' notice to the alert channels while the run keeps waiting "
                                                     "(an Airflow deadline alert; never for backfills or old days)")
    wait_minutes: int = Field(default=360, ge=0, le=7 * 24 * 60,
                              description="how long a run (its check_partition sensor) waits for its day's logs to "
                                          "land (and be complete) before it fails naming the prefix; 0: fail at once")
    poke_seconds: int = Field(default=300, ge=5, description="how often, in seconds, a waiting run looks again (the "
                                                             "worker slot is free in between)")

    @field_validator("predictions_prefix", "reference_prefix", "reports_prefix", "staging_prefix", "retraining_prefix",
                     "labels_prefix", "models_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not PREFIX_PATTERN.match(value) or ".." in value.split("/"):
            raise ValueError(f"{value!r} is not a safe S3 prefix (letters, digits, '_', '.', '=', '-' and '/' only)")
        return value


class ColumnsConfig(_Strict):
    """What each column of the logs (and of the reference) means to the monitoring."""

    id: str = Field(description="the prediction id: unique within a day (a repeated id is quarantined as "
                                "duplicate_id, its first occurrence stays valid); labels are joined to it")
    timestamp: str = Field(description="the prediction time: within the day, read as UTC when it has no time zone")
    score: str | None = Field(default=None, description="binary classification: predicted probability of the "
                              "positive class, in [0, 1]; regression: the predicted value (required for both; a "
                              "multiclass model has `scores` instead)")
    scores: dict[str, str] | None = Field(default=None, description="multiclass classification only: each class "
                                          "(as the labels and decisions name it) with its score column, in the "
                                          "classes' order, e.g. {prepaid: score_prepaid, postpaid: score_postpaid}; "
                                          "at least two; a row's scores are probabilities summing to 1 "
                                          "(contract.score_sum_tolerance)")
    decision: str | None = Field(default=None, description="the decision the model took: 0/1 for a binary "
                                 "classifier (without it, a score of at least performance.probability_threshold is "
                                 "positive), the predicted class for a multiclass one (without it, the class of the "
                                 "highest score); none for a regressor")
    latency: str | None = Field(default=None, description="serving latency in milliseconds, when the logs carry it "
                                "(reported as P50, P95, P99); a negative or non-numeric value is quarantined as "
                                "bad_latency")
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = Field(
        default=None, description="the logs' times are numbers: epoch seconds, milliseconds, microseconds or "
                                  "nanoseconds (default: the times are timestamps or text)")
    numerical: tuple[str, ...] = Field(default=(), description="the numerical features (at least one feature "
                                       "between numerical and categorical; no column in two roles)")
    categorical: tuple[str, ...] = Field(default=(), description="the categorical features")

    @field_validator("scores", mode="before")
    @classmethod
    def _class_names(cls, value: Any) -> Any:
        """Classes may be integers in YAML (0: score_0); they are compared as text, as labels and decisions are."""
        if isinstance(value, dict):
            return {str(k) if isinstance(k, (int, str)) and not isinstance(k, bool) else k: v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _distinct(self) -> ColumnsConfig:
        if not self.numerical and not self.categorical:
            raise ValueError("list at least one feature under 'numerical' or 'categorical'")
        seen: dict[str, str] = {TOP_SCORE: "the top score the monitoring derives for a multiclass model"}
        roles = [("id", [self.id]), ("timestamp", [self.timestamp]), ("score", [self.score] if self.score else []),
                 ("scores", list((self.scores or {}).values())),
                 ("decision", [self.decision] if self.decision else []),
                 ("latency", [self.latency] if self.latency else []),
                 ("numerical", list(self.numerical)), ("categorical", list(self.categorical))]
        for role, names in roles:
            for name in names:
                if name in seen:
                    raise ValueError(f"column {name!r} is listed both as {seen[name]} and as {role}")
                seen[name] = role
        return self

    @property
    def features(self) -> tuple[str, ...]:
        return self.numerical + self.categorical

    @property
    def classes(self) -> tuple[str, ...]:
        """A multiclass model's classes in their configured order (empty for the others)."""
        return tuple(self.scores or ())

    @property
    def score_columns(self) -> tuple[str, ...]:
        """The score column of a binary model or regressor; a multiclass model's class score columns."""
        return tuple(self.scores.values()) if self.scores else (self.score,) if self.score else ()

    @property
    def predictions(self) -> tuple[str, ...]:
        """The prediction columns whose drift is measured: the score(s), then the decision."""
        return self.score_columns + ((self.decision,) if self.decision else ())

    @property
    def confidence_score(self) -> str:
        """The score the operational figures read: a multiclass model's top score (derived), else the score."""
        return TOP_SCORE if self.scores else typing.cast(str, self.score)


class ColumnDrift(_Strict):
    """One column's own drift method and line, instead of its kind's."""

    method: str = Field(description="Evidently's stattest id for this column; it must fit the column's kind "
                                    "(numerical, or categorical for a categorical feature and the decision)")
    threshold: float = Field(gt=0, description="the method's line for this column: a fixed line that wins over the "
                             "calibration, judged alone, outside the day's family")


class DriftConfig(_Strict):
    """Each monitored column's drift method and line, and how a day's verdicts are judged: against no-change bands
    fitted on the reference (calibrated), or by the configured lines alone (fixed)."""

    numerical_method: str = Field(default="wasserstein", description="Evidently's stattest id for numerical columns "
                                  "(the features and the score); wasserstein is the normed Wasserstein distance")
    numerical_threshold: float = Field(default=0.1, gt=0, description="the numerical method's line: its score at "
                                       "which a column drifts (fixed mode), its minimum effect (calibrated mode)")
    categorical_method: str = Field(default="jensenshannon", description="Evidently's stattest id for categorical "
                                    "columns and the decision; jensenshannon is the Jensen-Shannon distance")
    categorical_threshold: float = Field(default=0.1, gt=0, description="the categorical method's line, as "
                                         "numerical_threshold is the numerical one's")
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1,
                                       description="share of drifted features from which the dataset counts as drifted")
    columns: dict[str, ColumnDrift] = Field(default_factory=dict, description="per column: its own method and "
                                            "threshold, for a feature or prediction column of the model")
    max_categories: int = Field(default=1000, ge=2, description="categorical columns with more distinct values are "
                                                                "left out of the Evidently reports (skipped says why); "
                                                                "their quality figures are still computed")
    threshold_mode: Literal["calibrated", "fixed"] = Field(
        default="calibrated", description="calibrated: a verdict needs the value outside the no-change band of a day "
        "of its size (fitted on the reference), beyond the minimum effect, and to survive the day's family gate and "
        "false discovery control; fixed: the configured lines alone, whatever the day's size")
    band_sigma: float = Field(default=3.0, gt=0, le=10, description="k: the band holds a no-change value with the "
                              "probability a normal value lies within k standard deviations; a no-change model-day "
                              "alarms with about the k-sigma tail's chance (0.135% at k = 3)")
    fdr: float = Field(default=0.05, gt=0, lt=1, description="false discovery rate among a day's fired statistics "
                                                            "(Benjamini-Hochberg on their tail probabilities)")
    min_effect: float = Field(default=0.1, gt=0, description="methods whose score is a p-value: the smallest effect "
                              "that counts (normed Wasserstein distance, or Jensen-Shannon distance for a categorical "
                              "column); a distance method's own threshold is its minimum effect")
    min_reference_rows: int = Field(default=200, ge=10, description="a column with fewer reference values gets no "
                                    "calibrated verdict (reported as a reference too small to tell)")

    @property
    def calibrated(self) -> bool:
        return self.threshold_mode == "calibrated"

    @field_validator("numerical_method")
    @classmethod
    def _numerical_method(cls, value: str) -> str:
        if value not in methods_for(NUMERICAL):
            raise ValueError(f"{value!r} is not one of {sorted(methods_for(NUMERICAL))}")
        return value

    @field_validator("categorical_method")
    @classmethod
    def _categorical_method(cls, value: str) -> str:
        if value not in methods_for(CATEGORICAL):
            raise ValueError(f"{value!r} is not one of {sorted(methods_for(CATEGORICAL))}")
        return value


class WindowsConfig(_Strict):
    """Windows of days compared from the days' mergeable states (see docs/windows.md): `python -m monitoring compare`
    judges a range of published days against the reference, the days before it or the same weekdays of earlier
    weeks."""

    daily: bool = Field(default=True, description="judge each published day's trailing window and each numerical "
                        "column's slow drift (CUSUM) as the day's second family (window_drift, gradual_drift), once "
                        "every day of its window is published, and again when one of its days changes")
    days: int = Field(default=7, ge=2, le=90, description="the days of a trailing window")
    baseline: Literal["reference", "previous", "weekday"] = Field(
        default="reference", description="what a window is compared with when not said: the reference, the window "
        "of as many days just before it, or the same weekdays of the earlier weeks (`weekday_weeks` of them, once two "
        "exist: a rhythm every week shares is not a change)")
    weekday_weeks: int = Field(default=4, ge=2, le=12, description="weekday baseline: the earlier weeks whose same "
                               "weekdays make the baseline")
    min_mean_shift: float = Field(default=0.1, gt=0, description="the smallest shift of a numerical column's mean "
                                  "that counts, in the baseline's standard deviations")
    min_distance: float = Field(default=0.05, gt=0, le=1, description="the smallest Jensen-Shannon distance of a "
                                "column's shares (in the model's fixed bins, or its categories) that counts; half "
                                "the day's line (drift.numerical_threshold): a window's distance is measured on more "
                                "rows")


class SegmentsConfig(_Strict):
    """Slices of the traffic judged on their own (see docs/segments.md): each segment's share of the day against its
    share of the reference, and the drift of every monitored column inside it against the reference's same segment,
    each at the segment's own size, in the day's one family of verdicts."""

    columns: tuple[str, ...] = Field(default=(), description="categorical columns whose values are segments: "
                                     "categorical features, or extra columns of the logs the model does not use (the "
                                     "reference must carry them too; a row without one is in the '(missing)' segment)")
    buckets: dict[str, tuple[float, ...]] = Field(
        default_factory=dict, description="numerical columns cut at these increasing edges, each bucket a segment "
        "(e.g. loan_amount: [5000, 20000] gives < 5,000, [5,000, 20,000) and >= 20,000); numerical features or extra "
        "numerical columns of the logs")
    crossed: tuple[tuple[str, str], ...] = Field(default=(), description="pairs of segment columns (from columns or "
                                                 "buckets) whose combinations are segments too, e.g. [channel, region]")
    max_per_column: int = Field(default=20, ge=2, le=100, description="segments per column or pair at most: the "
                                "values with the most reference rows; the rest pooled as '(other values)'")
    min_rows: int = Field(default=50, ge=10, description="a segment with fewer reference rows gets no verdict "
                          "(reference too small to tell); a new segment needs this many rows on the day to be a "
                          "finding, a vanished one this many expected")
    min_effect: float = Field(default=0.1, gt=0, le=1, description="the smallest drift inside a segment that counts: "
                              "the Jensen-Shannon distance of a column's shares in the model's fitted bins, the "
                              "segment's against the reference's same segment")
    min_share_change: float = Field(default=0.02, gt=0, le=1, description="the smallest change of a segment's share "
                                    "of the day's rows that counts (0.02: two points)")
    max_findings: int = Field(default=3, ge=1, le=50, description="segments named in a day's findings of each kind "
                              "(drift or share, new, vanished) at most, the largest impact first (every judged segment "
                              "is on the day page)")
    reports: int = Field(default=5, ge=0, le=20, description="Evidently data-drift reports of the segments that "
                         "fired, largest impact first, each against the reference's same segment")

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for column, edges in value.items():
            if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
                raise ValueError(f"{column!r}: give at least one edge, in increasing order (got {list(edges)})")
        return value

    @property
    def names(self) -> tuple[str, ...]:
        """Every segment column: the categorical ones, then the bucketed ones."""
        return self.columns + tuple(self.buckets)

    @property
    def enabled(self) -> bool:
        return bool(self.names)


class ContractConfig(_Strict):
    """Which rows are quarantined, and when a day fails."""

    max_rejected_share: float = Field(default=0.05, ge=0, le=1,
                                      description="the run fails when more than this share of rows is quarantined")
    score_range: tuple[float, float] | None = Field(
        default=None, description="allowed [low, high] of the score; scores outside are quarantined as "
                                  "score_out_of_range; default [0, 1] for classification (each class's score of a "
                                  "multiclass model), unbounded for regression")
    score_sum_tolerance: float = Field(default=0.01, gt=0, le=0.5,
                                       description="multiclass: a row whose class scores sum further than this "
                                                   "from 1 is quarantined as scores_not_summing_to_one")

    @field_validator("score_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"score_range {list(value)} must be [low, high] with low < high")
        return value


class LabelsConfig(_Strict):
    """Ground truth: files under `labels/<model>/dt=<day the labels became known>/`, keyed by the prediction id."""

    column: str = Field(description="the label column, in the label files and in the reference: 0/1 for a "
                                    "binary classifier, one of columns.scores' classes for a multiclass one (a "
                                    "label outside them is rejected as unknown_class), a number for a regressor")
    id_column: str | None = Field(default=None, description="the prediction id column of the label files; "
                                                              "default: the model's columns.id")
    lag_days: int = Field(ge=0, le=365, description="days after a prediction day by which its labels are complete; "
                                                    "that day's performance is judged then")
    lookback_days: int | None = Field(default=None, ge=1, le=400,
                                      description="prediction days whose performance each run updates with newly "
                                                  "arrived labels (default: twice the lag, at least 7, and at least "
                                                  "lag_days + deadline_days)")
    log_format: LogFormat | None = Field(default=None, description="the format of the label files: parquet, jsonl or "
                                                                   "csv (default: storage.log_format)")
    deadline_days: int | None = Field(default=None, ge=1, le=365,
                                      description="labels still short of performance.min_coverage this many days "
                                                  "after they were due: a `labels_overdue` alert (once, through the "
                                                  "alert channels)")
    completion_marker: str | None = Field(
        default=None, pattern=r"^(_[A-Za-z0-9_.-]+|none)$",
        description="a file the label exporter writes last in each dt= folder (e.g. _SUCCESS): until it exists the "
                    "folder's labels are left for a later run, and a labels_missing finding says so; `none`: label "
                    "folders have no marker (default: storage.completion_marker, the logs' own)")

    @property
    def lookback(self) -> int:
        """`lookback_days`, or its default: twice the lag, at least 7, and at least lag + deadline_days."""
        return self.lookback_days if self.lookback_days is not None else max(
            2 * self.lag_days, 7, self.lag_days + (self.deadline_days or 0))

    @model_validator(mode="after")
    def _window_covers_lag(self) -> LabelsConfig:
        overdue = self.lag_days + (self.deadline_days or 0)
        if self.lookback_days is not None and self.deadline_days and self.lookback_days < overdue:
            raise ValueError(f"lookback_days ({self.lookback_days}) must be at least lag_days + deadline_days "
                             f"({overdue}): the overdue day must be within the days looked back at")
        if self.lookback_days is not None and self.lookback_days < self.lag_days:
            raise ValueError(f"lookback_days ({self.lookback_days}) must be at least lag_days ({self.lag_days}), or "
                             "a day's labels would never be complete while it is looked at")
        return self


class MetricRule(_Strict):
    """When a performance metric counts as degraded against the reference baseline (worse by more than ...)."""

    max_drop: float | None = Field(default=None, gt=0, description="fixed mode: absolute worsening that raises an "
                                   "alert (a rule sets max_drop, max_relative_drop or both)")
    max_relative_drop: float | None = Field(default=None, gt=0, description="fixed mode: relative worsening (0.1 = "
                                                                             "10%) that raises an alert")
    retrain_drop: float | None = Field(default=None, gt=0, description="absolute worsening that also asks for "
                                                                        "retraining (the finding is then critical)")
    retrain_relative_drop: float | None = Field(default=None, gt=0, description="relative worsening (0.2 = 20%) "
                                                "that also asks for retraining")
    min_drop: float | None = Field(default=None, gt=0, description="calibrated mode: the smallest absolute worsening "
                                   "that counts (with the value outside the no-change band of its labelled size); "
                                   "default 0.02 for f1, roc_auc, accuracy, precision, recall and calibration_error, "
                                   "0.03 for r2")
    min_relative_drop: float | None = Field(default=None, gt=0, description="calibrated mode: the smallest relative "
                                            "worsening that counts; default 5% for mae, rmse, mape and log_loss")

    @model_validator(mode="after")
    def _some_limit(self) -> MetricRule:
        if self.max_drop is None and self.max_relative_drop is None:
            raise ValueError("set max_drop, max_relative_drop or both")
        return self


DEFAULT_METRIC_RULES = {
    ModelTask.BINARY_CLASSIFICATION: {
        "f1": MetricRule(max_drop=0.05, max_relative_drop=0.10, retrain_relative_drop=0.20),
        "roc_auc": MetricRule(max_drop=0.05, retrain_drop=0.10),
    },
    ModelTask.MULTICLASS_CLASSIFICATION: {
        "macro_f1": MetricRule(max_drop=0.05, max_relative_drop=0.10, retrain_relative_drop=0.20),
        "roc_auc": MetricRule(max_drop=0.05, retrain_drop=0.10),
    },
    ModelTask.REGRESSION: {
        "mae": MetricRule(max_relative_drop=0.20, retrain_relative_drop=0.50),
        "r2": MetricRule(max_drop=0.10, retrain_drop=0.20),
    },
}


class PerformanceConfig(_Strict):
    """A prediction day is judged once its labels are due; before, its performance is estimated."""

    min_coverage: float = Field(default=0.5, gt=0, le=1, description="a day's performance is judged only when at "
                                                                      "least this share of it is labelled")
    min_labelled_rows: int = Field(default=100, ge=1, description="a day's performance is judged only when at "
                                                                  "least this many of its rows are labelled too")
    max_label_problem_share: float = Field(default=0.01, ge=0, le=1,
                                           description="rejected labels above this share of the labels that landed "
                                                       "on a day are a warning; below, they are only reported")
    probability_threshold: float = Field(default=0.5, gt=0, lt=1,
                                         description="classification without a decision column: predicted "
                                                     "positive when the score is at least this")
    rules: dict[str, MetricRule] | None = Field(default=None, description="degradation rule per metric, against "
                                                "the reference's baseline; set, it replaces the default rules: f1 "
                                                "0.05 or 10% (retrain 20%) and roc_auc 0.05 (retrain 0.10) for a "
                                                "binary classifier, the same with macro_f1 for a multiclass one, "
                                                "mae 20% (retrain 50%) and r2 0.10 (retrain 0.20) for a regressor. Metrics: accuracy, precision, recall, f1, roc_auc, "
                                                "log_loss, calibration_error; multiclass: accuracy, macro_ and "
                                                "weighted_ precision, recall and f1, roc_auc (macro one-vs-rest), "
                                                "log_loss; mae, rmse, mape (percent), r2. The first "
                                                "rule's metric is the one charted")
    estimate: bool = Field(default=True, description="estimate each day's performance before its labels land (CBPE "
                                                     "for classifiers, DLE for regressors) from a labelled reference; "
                                                     "off when the score is not a probability")


class OperationsConfig(_Strict):
    """A day's volume, rates, confidence and latency, against the reference's."""

    low_confidence: float = Field(default=0.6, gt=0.5, le=1.0,
                                  description="a prediction is low-confidence when max(p, 1 - p) is below this")


class QualityConfig(_Strict):
    """Judged on the exact figures of every valid row of the day, never a sample."""

    max_missing_share: float = Field(default=0.1, ge=0, le=1, description="fixed mode: a column missing in more than "
                                     "this share of the day's rows raises missing_values")
    min_missing_increase: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest rise "
                                        "of a column's missing share above the reference's that counts")
    max_new_category_share: float = Field(default=0.01, ge=0, le=1, description="a categorical column whose "
                                          "categories unseen in the reference fill more than this share of the day's "
                                          "rows raises new_categories")
    max_out_of_range_share: float = Field(default=0.01, ge=0, le=1, description="a numerical column with more than "
                                          "this share of the day's values outside the reference's range raises "
                                          "out_of_range")
    max_quarantined_share: float = Field(default=0.01, ge=0, le=1, description="more than this share of the day's "
                                         "rows quarantined raises quarantined_rows")


RetrainSignal = Literal["dataset_drift", "prediction_drift", "performance_degradation", "estimated_performance_drop",
                        "class_recall"]


class RetrainingConfig(_Strict):
    """What a request hands over, and how the built-in retraining decides."""

    dag_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                               description="the DAG the trigger_retraining task starts, with conf {model, day, "
                                           "reasons, evidence, window}; none (a model retrained elsewhere): the "
                                           "request is only recorded under retraining/<model>/requests/")
    builtin: bool = Field(default=True, description="this project ships the DAG `dag_id`; false when it is your own")

    @property
    def ships_dag(self) -> bool:
        """This project builds the retraining DAG of the model (`dags/model_retraining.py`)."""
        return self.builtin and self.dag_id is not None
    when_all: tuple[RetrainSignal, ...] = Field(
        default=("dataset_drift", "prediction_drift"),
        description="retraining is triggered on a day where all of these signals fire",
    )
    on_performance_drop: bool = Field(default=True, description="also trigger when a performance metric worsens "
                                                                 "past its retrain_drop / retrain_relative_drop")
    drift_days: int | None = Field(default=None, ge=1, description="also trigger on dataset drift on at least this "
                                                                   "many of the last `drift_window` days")
    drift_window: int = Field(default=5, ge=1, le=60, description="the last days (the day included) in which "
                                                                  "drift_days are counted")
    quality_days: int | None = Field(default=None, ge=1, description="also trigger after this many consecutive days "
                                                                     "with a critical data-quality finding")
    cooldown_days: int = Field(default=7, ge=0, le=365, description="no second trigger within this many days of "
                                                                    "the last one (it may still be running), whichever "
                                                                    "day a backfill reaches first: claimed atomically "
                                                                    "under `retraining/<model>/claims/`, even by "
                                                                    "parallel runs; a rerun of a day keeps its own")
    window_days: int = Field(default=14, ge=1, le=365, description="the days of evidence handed to retraining, in its "
                                                                   "conf (window: {first, last})")
    window_from_drift: bool = Field(default=True, description="while the dataset drifts, the window starts on the "
                                                              "drift's first day: the model learns the world it now sees")
    min_labelled_rows: int = Field(default=4000, ge=0, description="models with labels: a request waits (nothing is "
                                   "triggered, no cooldown starts) until the window's predictions have this many "
                                   "labels; the whole labelled window becomes the new reference. 0: never wait")
    min_gain: float = Field(default=0.01, ge=0, le=1, description="built-in retraining: the candidate must beat the "
                                                                  "current model's headline metric by this (relative)")
    approval: Literal["off", "required"] = Field(
        default="off", description="built-in retraining: `required` stops before promoting a better candidate at "
                                   "Airflow's human-in-the-loop approval (both models' figures, the window, the "
                                   "evidence); approve promotes, reject keeps the current version and records why")
    approval_timeout_hours: int = Field(default=72, ge=1, le=24 * 30, description="an approval left unanswered this "
                                        "long counts as a rejection (the current version stays)")


SeverityName = Literal["off", "info", "warning", "critical"]


class RuleConfig(_Strict):
    """A rule's severity; `off` disables it. Info findings show on the pages but never alert."""

    severity: SeverityName = Field(default="warning", description="how severe the finding is: info (on the pages, "
                                   "never alerted), warning or critical (alerted); off disables the rule")


class KeyFeaturesRule(RuleConfig):
    severity: SeverityName = Field(default="critical", description="how severe the finding is: info, warning, "
                                   "critical or off")
    features: tuple[str, ...] = Field(default=(), description="features whose drift alone is worth this severity")


class VolumeRule(RuleConfig):
    """The day's rows against the mean of the published days of the window before it (not the reference)."""

    window_days: int = Field(default=7, ge=1, le=90, description="published days before the day that form the "
                                                                 "trailing mean")
    min_days: int = Field(default=3, ge=1, description="fewer published days in the window: no verdict")
    min_ratio: float = Field(default=0.5, gt=0, lt=1, description="volume below this x the trailing mean fires")
    max_ratio: float = Field(default=2.0, gt=1, description="volume above this x the trailing mean fires")


class PositiveRateRule(RuleConfig):
    """The day's positive rate (the share of decisions 1): its bounds, and its distance from the reference's
    (classifiers with a decision column)."""

    min: float | None = Field(default=None, ge=0, le=1, description="fires when the rate is below this (a bound, in "
                                                                    "both modes)")
    max: float | None = Field(default=None, ge=0, le=1, description="fires when the rate is above this (a bound, in "
                                                                    "both modes)")
    max_change: float | None = Field(default=0.15, gt=0, le=1,
                                     description="fixed mode: fires when the rate is further than this from the "
                                                 "reference's")
    min_change: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest distance from "
                              "the reference's rate that counts (with the rate outside the no-change band)")


class PredictionCollapseRule(RuleConfig):
    """Every decision of the day of one class, or every prediction with the same score."""

    severity: SeverityName = Field(default="critical", description="how severe the finding is: info, warning, "
                                   "critical or off")
    min_rows: int = Field(default=30, ge=2, description="a constant score on fewer valid rows is not judged")
    max_chance: float = Field(default=1e-6, gt=0, lt=1, description="every decision of one class fires when the "
                              "chance of that under the reference's positive rate is below this")


class LowConfidenceRule(RuleConfig):
    """The share of low-confidence predictions (operations.low_confidence), absolute and above the reference's."""

    max_share: float | None = Field(default=0.35, gt=0, le=1, description="fires when the share of low-confidence "
                                    "predictions is above this (a bound, in both modes; binary classifiers only: a "
                                    "multiclass model's top score spreads with its number of classes, so its share "
                                    "is only compared with its reference's)")
    max_increase: float | None = Field(default=0.15, gt=0, le=1, description="fixed mode: fires when the share is "
                                       "more than this above the reference's share")
    min_increase: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest rise above the "
                                "reference's share that counts (with the share outside the no-change band)")


class ClassRecallRule(RuleConfig):
    """Multiclass: one class's recall collapsed on a judged day, whatever the macro figures say."""

    min_drop: float = Field(default=0.2, gt=0, le=1, description="the smallest fall of a class's recall below the "
                            "reference's that counts as a collapse (with the fall beyond chance: monitoring/classes.py)")
    min_support: int = Field(default=20, ge=1, description="a class with fewer labelled rows on the day is not "
                             "judged")


class MultivariateRule(RuleConfig):
    """A change in how the features move together: the day's mean reconstruction error (calibrated mode only)."""

    min_increase: float = Field(default=0.05, gt=0, description="the smallest relative rise of the mean "
                                "reconstruction error above the reference's that counts (0.05 = 5%)")


class RulesConfig(_Strict):
    """Which findings a day can raise, and how severe each is (see monitoring/rules.py)."""

    dataset_drift: RuleConfig = Field(default=RuleConfig(severity="critical"), description="the share of drifted "
                                      "features reached drift.dataset_drift_share")
    feature_drift: RuleConfig = Field(default=RuleConfig(), description="features drifted, fewer than the dataset "
                                      "share")
    key_features: KeyFeaturesRule = Field(default=KeyFeaturesRule(), description="a named key feature drifted")
    prediction_drift: RuleConfig = Field(default=RuleConfig(), description="the score or the decision drifted")
    volume: VolumeRule = Field(default=VolumeRule(), description="the day's rows far from the trailing days; "
                               "critical anyway on a day without rows")
    positive_rate: PositiveRateRule = Field(default=PositiveRateRule(), description="the positive rate outside its "
                                            "bounds or far from the reference's")
    low_confidence: LowConfidenceRule = Field(default=LowConfidenceRule(), description="too many low-confidence "
                                              "predictions, or many more than the reference's")
    prediction_collapse: PredictionCollapseRule = Field(
        default=PredictionCollapseRule(), description="every decision of the day took one class although the "
        "reference's positive rate makes that a less than one-in-a-million accident, or every prediction has the same "
        "score")
    multivariate_drift: MultivariateRule = Field(default=MultivariateRule(), description="calibrated mode only: the "
                                                 "features' joint distribution changed")
    missing_values: RuleConfig = Field(default=RuleConfig(), description="a column's missing share too high; critical "
                                       "anyway when a column is entirely missing")
    new_categories: RuleConfig = Field(default=RuleConfig(), description="categories unseen in the reference "
                                       "(quality.max_new_category_share)")
    out_of_range: RuleConfig = Field(default=RuleConfig(), description="values outside the reference's range "
                                     "(quality.max_out_of_range_share)")
    quarantined_rows: RuleConfig = Field(default=RuleConfig(), description="rows quarantined by the data contract "
                                         "(quality.max_quarantined_share)")
    performance_degradation: RuleConfig = Field(default=RuleConfig(), description="a due day's performance worse than "
                                                "the reference's baseline; critical anyway past a retraining limit")
    estimated_performance_drop: RuleConfig = Field(default=RuleConfig(), description="the estimate (CBPE, DLE) before "
                                                   "the labels land worse than the reference's baseline; in "
                                                   "retraining.when_all it requests retraining without waiting for "
                                                   "labels")
    estimator_unreliable: RuleConfig = Field(default=RuleConfig(severity="info"), description="a judged day's "
                                             "estimate missed its realized performance by more than chance (concept "
                                             "drift?)")
    class_recall: ClassRecallRule = Field(default=ClassRecallRule(), description="multiclass: a class's recall "
                                          "collapsed on a judged day, even while the macro figures hold")
    window_drift: RuleConfig = Field(default=RuleConfig(), description="a column drifted over the trailing window "
                                     "(windows.days), judged on the days' merged states in the model-day's second "
                                     "family, while no single day of the window showed it")
    segment_window_drift: RuleConfig = Field(default=RuleConfig(), description="inside a configured segment, a "
                                             "column drifted over the trailing window against the baseline's same "
                                             "segment while neither the whole window nor any single day showed it "
                                             "there (each segment its own episode)")
    weekday_pattern: RuleConfig = Field(default=RuleConfig(severity="info"), description="windows.baseline "
                                        "weekday: columns the day showed drifted against the reference that the same "
                                        "weekday of the earlier weeks shares (a weekly rhythm): left out of the day's "
                                        "drift findings, shown as this one (info: never alerted)")
    window_performance: RuleConfig = Field(default=RuleConfig(), description="a metric worse over the trailing "
                                           "window of labelled days up to the day whose labels came due (windows."
                                           "days), judged at the window's labelled size, while no single day of it "
                                           "was judged worse")
    window_estimated_performance: RuleConfig = Field(
        default=RuleConfig(), description="a metric CBPE expects worse over the trailing window (windows.days), "
        "from the days' summed expected confusion counts before their labels land, judged at the window's rows, "
        "while no single day's estimate was judged worse")
    gradual_drift: RuleConfig = Field(default=RuleConfig(), description="a numerical column crept away from the "
                                      "reference over the last 28 days (a CUSUM of the days' mean shifts, judged in "
                                      "the model-day's second family) while no single day since it most likely "
                                      "started showed it, with that day")
    segment_drift: RuleConfig = Field(default=RuleConfig(), description="a column drifted inside a segment "
                                      "(segments), more than in the whole day")
    segment_share: RuleConfig = Field(default=RuleConfig(), description="a segment's share of the day's rows moved "
                                      "from its share of the reference")
    new_segment: RuleConfig = Field(default=RuleConfig(), description="a segment value the reference never had, on "
                                    "enough rows to be certain")
    vanished_segment: RuleConfig = Field(default=RuleConfig(), description="a segment the reference makes certain "
                                         "to appear is absent from the day")
    # their no-change rate replayed: benchmarks/README.md, "Segments"
    segment_performance: RuleConfig = Field(default=RuleConfig(), description="a due day's headline metric fell "
                                            "inside a segment, against the reference's same segment")
    segment_estimated_drop: RuleConfig = Field(default=RuleConfig(), description="the headline metric estimated "
                                               "before the labels (CBPE, DLE) fell inside a segment")
    segment_window_performance: RuleConfig = Field(
        default=RuleConfig(), description="the headline metric fell inside a segment over the trailing window of "
        "labelled days (windows.days), judged at the segment's labelled rows over the window, while no single day "
        "showed it there (each segment its own episode)")
    segment_window_estimated_drop: RuleConfig = Field(
        default=RuleConfig(), description="the headline metric estimated before the labels land fell inside a "
        "segment over the trailing window (windows.days), from the segment's summed expected confusion counts (CBPE) "
        "or expected losses (DLE), while no single day's estimate showed it there (each segment its own episode)")
    labels_missing: RuleConfig = Field(default=RuleConfig(), description="too few labels when a day's labels are due")
    labels_overdue: RuleConfig = Field(default=RuleConfig(), description="labels still short of "
                                       "performance.min_coverage labels.deadline_days after they were due")
    label_problems: RuleConfig = Field(default=RuleConfig(), description="rejected labels; info anyway below "
                                       "performance.max_label_problem_share")


class Channel(_Strict):
    """Where a model's alert messages go, through an Airflow connection (secrets live only there)."""

    type: Literal["slack", "email", "sns", "webhook"] = Field(
        description="slack (SlackWebhookNotifier), email (SmtpNotifier), sns (SnsNotifier) or webhook (HttpNotifier: "
                    "a JSON body with model, day, severity, title, notices, links to the day page and reports)")
    conn_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="slack: a Slack incoming-webhook connection; "
                         "email: an SMTP connection; sns: an aws connection; webhook: an HTTP connection")
    to: tuple[str, ...] = Field(default=(), description="email: recipients")
    from_email: str | None = Field(default=None, description="email: sender (default: the SMTP connection's)")
    target_arn: str | None = Field(default=None, description="sns: the topic ARN")
    endpoint: str = Field(default="", description="webhook: path appended to the connection's host")

    @model_validator(mode="after")
    def _complete(self) -> Channel:
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs 'to' (a list of addresses)")
        if self.type == "sns" and not self.target_arn:
            raise ValueError("an sns channel needs 'target_arn'")
        return self


class AlertsConfig(_Strict):
    """How findings become messages: one per run and model, deduplicated, with hysteresis and cooldown."""

    channels: tuple[Channel, ...] = Field(default=(), description="where messages go: a list of {type: slack, "
                                          "conn_id}, {type: email, conn_id, to: [...], from_email}, {type: sns, "
                                          "conn_id, target_arn}, {type: webhook, conn_id, endpoint}; without "
                                          "channels messages are only recorded")
    max_age_days: int = Field(default=2, ge=0, description="a run of an older day (or any backfill run) records "
                                                           "its alerts but sends nothing; a digest follows")
    fire_after: int = Field(default=1, ge=1, le=30, description="consecutive bad days before a rule is alerted")
    resolve_after: int = Field(default=2, ge=1, le=30, description="consecutive good days before it is resolved")
    cooldown_days: int = Field(default=3, ge=0, le=90, description="a new episode of a rule within this many "
                                                                  "days of its previous episode's resolution waits")
    digest_quiet_minutes: int = Field(default=20, ge=0, le=1440, description="the digest of a backfill is sent once "
                                                                             "no suppressed alert arrived for this long")


class ReportsConfig(_Strict):
    """How many rows the reports see, and where their heavy tasks run."""

    max_rows: int = Field(default=100_000, ge=1_000,
                          description="rows handed to Evidently; larger days are sampled by hash of the id (reruns "
                                      "see the same rows); data_quality figures always use every row. Why 100k: "
                                      "benchmarks/README.md")
    redraw_performance: Literal["complete", "growing"] = Field(
        default="complete", description="when a day's Evidently performance report is drawn again as its labels land: "
        "`complete` draws it at the day's first labels and again once they are complete (labels.lag_days passed, or "
        "every prediction labelled; and if more land after); "
        "`growing` each time they grow. performance.json, its intervals and the pages follow every label run either "
        "way; the report is the heavy part of a label run")
    pool: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="Airflow pool of the heavy tasks (evidently_reports, performance): caps how "
                                         "many run at once across workers; it must exist (airflow pools set)")
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="executor queue of the heavy tasks (CeleryExecutor: the workers started "
                                          "with `--queues <queue>` run them)")

    def heavy_task_args(self) -> dict[str, str]:
        """Operator arguments of the heavy tasks: their pool and queue when configured."""
        return {k: v for k, v in (("pool", self.pool), ("queue", self.queue)) if v}


class ModelConfig(_Strict, _OfTask):
    """One monitored model: an entry under `models`, with `defaults` merged under it."""

    name: str = Field(description="the model's key under `models` (not written in its entry): 1-63 lowercase "
                                  "letters, digits, '_' or '-', starting with a letter or digit; part of S3 keys and "
                                  "of the DAG id `monitor_<name>`")
    task: ModelTask = Field(default=ModelTask.BINARY_CLASSIFICATION, description="what the model predicts: "
                            "binary_classification, multiclass_classification (columns.scores: one score per class; "
                            "the decision is the predicted class) or regression (columns.score is the predicted "
                            "value; there is no decision, positive rate or confidence)")
    description: str = Field(default="", description="what the model does, in a sentence; shown in the DAG")
    owner: str = Field(default="ml-platform", description="the team that owns the model; shown in the DAG")
    schedule: str = Field(default="0 2 * * *", description="cron of the data intervals (UTC): each interval is one "
                                                           "processed day, the run of a day starts once it ended")
    start_date: str = Field(default="2026-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$",
                            description="the first day the DAG may process, YYYY-MM-DD")
    max_active_runs: int = Field(default=4, ge=1, le=64, description="days of this model processed at once")
    storage: StorageConfig = Field(description="where the model's objects live in S3")
    columns: ColumnsConfig = Field(description="the columns of the prediction logs")
    drift: DriftConfig = Field(default=DriftConfig(), description="how drift is measured and judged")
    contract: ContractConfig = Field(default=ContractConfig(), description="the data contract of the logs")
    quality: QualityConfig = Field(default=QualityConfig(), description="data-quality alert thresholds")
    operations: OperationsConfig = Field(default=OperationsConfig(), description="operational figures")
    reports: ReportsConfig = Field(default=ReportsConfig(), description="the Evidently reports and their tasks")
    labels: LabelsConfig | None = Field(default=None, description="ground truth; without it no performance")
    performance: PerformanceConfig = Field(default=PerformanceConfig(), description="how performance is judged and "
                                           "estimated (with labels)")
    rules: RulesConfig = Field(default=RulesConfig(), description="one entry per finding: its severity, and the "
                               "settings of the findings that have some")
    alerts: AlertsConfig = Field(default=AlertsConfig(), description="where the messages go, and when they are sent")
    segments: SegmentsConfig = Field(default=SegmentsConfig(), description="slices of the traffic (a channel, a "
                                     "region, an amount bucket) judged on their own at their own size")
    windows: WindowsConfig = Field(default=WindowsConfig(), description="windows of days compared from the days' "
                                   "mergeable states")
    retraining: RetrainingConfig = Field(default=RetrainingConfig(), description="when a day asks for retraining, "
                                         "and which DAG retrains (none: a model retrained elsewhere; its requests are "
                                         "only recorded)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not MODEL_NAME_PATTERN.match(value):
            raise ValueError(
                f"model name {value!r} must be 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit"
            )
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler) -> ModelConfig:
        """Field errors and the checks across fields, reported together, each at its full key path (the checks
        across fields read the raw settings, so they run even where a field is invalid)."""
        problems = _cross_field_problems(data) if isinstance(data, dict) else []
        try:
            validated = handler(data)
        except ValidationError as exc:
            errors = [{"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
                      for e in exc.errors()]
        else:
            if not problems:
                return validated
            errors = []
        errors += [{"type": PydanticCustomError("value_error", "Value error, " + message), "loc": loc, "input": None}
                   for loc, message in problems]
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return metrics_of(self.task)

    @property
    def metric_rules(self) -> dict[str, MetricRule]:
        rules = self.performance.rules
        return dict(rules) if rules is not None else dict(DEFAULT_METRIC_RULES[self.task])

    @property
    def judged_metrics(self) -> tuple[str, ...]:
        """The metrics whose worsening is judged: calibrated, every metric the task reports (their no-change bands
        and the day's family control keep the false-alarm rate; the rules only set retraining limits); fixed, the
        metrics that have a rule."""
        if self.drift.calibrated:
            return self.metric_names
        return tuple(m for m in self.metric_names if m in self.metric_rules)

    def min_drop(self, metric: str) -> tuple[float | None, float | None]:
        """Calibrated mode: the smallest absolute and relative worsening of `metric` that counts."""
        rule = self.metric_rules.get(metric)
        if rule is not None and (rule.min_drop is not None or rule.min_relative_drop is not None):
            return rule.min_drop, rule.min_relative_drop
        found = METRICS[metric]
        return found.min_drop, found.min_relative_drop

    @property
    def monitored(self) -> tuple[str, ...]:
        """The columns whose drift is measured: the features, then the predictions."""
        return self.columns.features + self.columns.predictions

    @property
    def extra_segment_columns(self) -> dict[str, str]:
        """Segment columns the model does not use, each with its kind: kept by the contract beside the features."""
        features = set(self.columns.features)
        return {**{c: CATEGORICAL for c in self.segments.columns if c not in features},
                **{c: NUMERICAL for c in self.segments.buckets if c not in features}}

    @property
    def headline_metric(self) -> str:
        """The metric charted and shown first: the first one with a degradation rule."""
        return next(iter(self.metric_rules), self.metric_names[0])

    @property
    def score_range(self) -> tuple[float, float] | None:
        if self.contract.score_range is not None:
            return self.contract.score_range
        return None if self.is_regression else (0.0, 1.0)

    @property
    def label_id_column(self) -> str:
        return (self.labels.id_column if self.labels and self.labels.id_column else None) or self.columns.id

    @property
    def labels_marker(self) -> str | None:
        """The completion marker of a label folder: labels.completion_marker, else the logs' (`none`: no marker)."""
        marker = self.labels.completion_marker if self.labels else None
        if marker is None:
            return self.storage.completion_marker
        return None if marker == "none" else marker

    @property
    def labels_format(self) -> LogFormat:
        return (self.labels.log_format if self.labels else None) or self.storage.log_format

    def is_categorical(self, column: str) -> bool:
        """Categorical features and the 0/1 decision; everything else monitored is numerical."""
        return column in self.columns.categorical or column == self.columns.decision

    def kind(self, column: str) -> str:
        """"categorical" or "numerical": how a monitored column is compared."""
        return CATEGORICAL if self.is_categorical(column) else NUMERICAL

    def drift_method(self, column: str) -> ColumnDrift:
        """The drift method and threshold used for one column (per-column override, else the kind's default)."""
        if column in self.drift.columns:
            return self.drift.columns[column]
        if self.is_categorical(column):
            return ColumnDrift(method=self.drift.categorical_method, threshold=self.drift.categorical_threshold)
        return ColumnDrift(method=self.drift.numerical_method, threshold=self.drift.numerical_threshold)

    # --- the settings each statistic uses (they take these, not the whole model) ---------------------------------
    @property
    def drift_specs(self) -> dict[str, DriftSpec]:
        """How each monitored column's drift is measured and judged."""
        return {c: DriftSpec(kind=self.kind(c), method=(m := self.drift_method(c)).method, threshold=m.threshold,
                             explicit=c in self.drift.columns) for c in self.monitored}

    @property
    def scoring(self) -> Scoring:
        cols = self.columns
        return Scoring(task=self.task, score=cols.confidence_score, decision=cols.decision,
                       probability_threshold=self.performance.probability_threshold, classes=cols.classes,
                       scores=cols.score_columns if self.is_multiclass else ())

    @property
    def minimum_changes(self) -> MinimumChanges:
        return MinimumChanges(positive_rate=self.rules.positive_rate.min_change,
                              low_confidence_share=self.rules.low_confidence.min_increase,
                              missing_share=self.quality.min_missing_increase,
                              reconstruction_error=self.rules.multivariate_drift.min_increase)

    @property
    def metric_judging(self) -> MetricJudging:
        rules = self.metric_rules
        return MetricJudging(
            metrics=self.judged_metrics, calibrated=self.drift.calibrated, band_sigma=self.drift.band_sigma,
            fdr=self.drift.fdr, min_drops={m: self.min_drop(m) for m in self.judged_metrics},
            alert_limits={m: (r.max_drop, r.max_relative_drop) for m, r in rules.items()},
            retrain_limits={m: (r.retrain_drop, r.retrain_relative_drop) for m, r in rules.items()},
            class_recall=((self.rules.class_recall.min_drop, self.rules.class_recall.min_support)
                          if self.is_multiclass and self.rules.class_recall.severity != "off" else None))

    @property
    def fit_settings(self) -> FitSettings:
        """Everything a reference version's fit depends on: a change refits it (its fingerprint covers this)."""
        cols = self.columns
        return FitSettings(
            scoring=self.scoring, numerical=cols.numerical, categorical=cols.categorical,
            label=self.labels.column if self.labels else None, low_confidence=self.operations.low_confidence,
            max_rows=self.reports.max_rows, calibrated=self.drift.calibrated, drift=self.drift_specs,
            metrics=self.judged_metrics, estimate=self.performance.estimate,
            segments=self.segment_spec)

    @property
    def segment_spec(self) -> SegmentSpec | None:
        """What the segments' fit depends on (calibrated mode only: a segment's verdict needs its no-change bands)."""
        seg = self.segments
        if not seg.enabled or not self.drift.calibrated:
            return None
        return SegmentSpec(columns=seg.columns, buckets=seg.buckets, crossed=seg.crossed,
                           max_per_column=seg.max_per_column, metric=self.headline_metric if self.labels else None)


class DriftSpec(Record):
    """How one column's drift is measured and judged."""

    kind: str  # "numerical" or "categorical"
    method: str  # Evidently's stattest id (monitoring.vocabulary.DRIFT_METHODS)
    threshold: float  # the method's line: the minimum effect in calibrated mode
    explicit: bool = False  # a per-column line (drift.columns): judged by it alone, outside the day's family


class Scoring(Record, _OfTask):
    """What the performance metrics need to know of a model: its task, score and decision columns, and the threshold
    that makes a score a decision when it has no decision column."""

    task: ModelTask
    score: str  # a multiclass model's top score (monitoring.vocabulary.TOP_SCORE)
    decision: str | None = None
    probability_threshold: float = 0.5
    classes: tuple[str, ...] = ()  # multiclass: the classes, in order
    scores: tuple[str, ...] = ()  # multiclass: each class's score column, in the classes' order


class MinimumChanges(Record):
    """Calibrated mode: the smallest change of each of a day's rates that counts, beside its no-change band."""

    positive_rate: float = 0.05  # either way
    low_confidence_share: float = 0.05  # a rise
    missing_share: float = 0.05  # a rise above the reference's missing share
    reconstruction_error: float = 0.05  # a relative rise of the mean reconstruction error


class MetricJudging(Record):
    """How a day's performance metrics are judged: which, their minimum worsening (absolute, relative) in calibrated
    mode, their alert lines in fixed mode, and their retraining limits."""

    metrics: tuple[str, ...]
    calibrated: bool = True
    band_sigma: float = 3.0
    fdr: float = 0.05
    min_drops: dict[str, tuple[float | None, float | None]] = {}
    alert_limits: dict[str, tuple[float | None, float | None]] = {}
    retrain_limits: dict[str, tuple[float | None, float | None]] = {}
    # multiclass: a class's recall judged on its own (monitoring.classes); None: not judged
    class_recall: tuple[float, int] | None = None  # (min_drop, min_support)


class SegmentSpec(Record):
    """The segments a reference's fit cuts (`segments` of the config, less what only the judging reads)."""

    columns: tuple[str, ...] = ()
    buckets: dict[str, tuple[float, ...]] = {}
    crossed: tuple[tuple[str, str], ...] = ()
    max_per_column: int = 20
    metric: str | None = None  # the headline metric judged inside each segment, when the model has labels


class FitSettings(Record):
    """What a reference version's fit depends on (`monitoring.reference.ReferenceProfile.fit`)."""

    scoring: Scoring
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str | None = None
    low_confidence: float = 0.6
    max_rows: int = 100_000  # rows of the reference handed to Evidently (its sample)
    calibrated: bool = True
    drift: dict[str, DriftSpec]  # the monitored columns: features, then score and decision
    metrics: tuple[str, ...] = ()  # the metrics whose no-change bands are fitted
    estimate: bool = True
    segments: SegmentSpec | None = None  # calibrated mode only: a segment's verdict needs its no-change bands

    @property
    def monitored(self) -> tuple[str, ...]:
        return tuple(self.drift)


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def _cross_field_problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path, message) of every setting that contradicts another, from a model's raw settings."""
    def node(*path: str) -> Any:
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    problems: list[tuple[tuple[str | int, ...], str]] = []
    task = node("task")
    task = getattr(task, "value", task) or ModelTask.BINARY_CLASSIFICATION.value
    numerical, categorical = _names(node("columns", "numerical")), _names(node("columns", "categorical"))
    decision = node("columns", "decision")
    scores = node("columns", "scores")
    class_scores = [str(v) for v in scores.values()] if isinstance(scores, dict) else []
    predictions = [str(v) for v in (node("columns", "score"), decision) if v] + class_scores
    features = [*numerical, *categorical]
    if task == ModelTask.REGRESSION.value and decision:
        problems.append((("columns", "decision"), "for classification only: a regression model has no 0/1 "
                                                  "decision"))
    problems += _score_problems(task, node("columns", "score"), scores)
    label = node("labels", "column")
    if label and label in {node("columns", "id"), node("columns", "timestamp"), *features, *predictions}:
        problems.append((("labels", "column"), f"{label!r} is also a feature, prediction, id or timestamp "
                                               "column; the label must be its own column"))
    unknown = sorted(set(_names(node("rules", "key_features", "features"))) - set(features))
    if unknown and features:
        problems.append((("rules", "key_features", "features"),
                         f"{unknown} are not features of the model"))
    allowed = metrics_of(ModelTask(task)) if task in {t.value for t in ModelTask} else ()
    for metric in node("performance", "rules") or {}:
        if metric not in allowed:
            problems.append((("performance", "rules", metric), f"{metric!r} is not a {task} metric; one of "
                                                               f"{list(allowed)}"))
    problems += _segment_problems(node("segments"), numerical, categorical,
                                  [node("columns", k) for k in ("id", "timestamp", "score", "decision", "latency")]
                                  + [label])
    for column, override in (node("drift", "columns") or {}).items():
        if column not in features and column not in predictions:
            problems.append((("drift", "columns", column), f"{column!r} is not a feature or prediction column of "
                                                           "the model"))
            continue
        method = override.get("method") if isinstance(override, dict) else getattr(override, "method", None)
        kind = CATEGORICAL if column in categorical or column == decision else NUMERICAL
        allowed_methods = methods_for(kind)
        if method is not None and method not in allowed_methods:
            problems.append((("drift", "columns", column, "method"),
                             f"{method!r} does not fit a {kind} column; one of {sorted(allowed_methods)}"))
    return problems


def _score_problems(task: str, score: Any, scores: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """A multiclass model has `columns.scores` (two classes or more), the others `columns.score`."""
    if task == ModelTask.MULTICLASS_CLASSIFICATION.value:
        found = []
        if score:
            found.append((("columns", "score"), "a multiclass model has one score column per class under "
                                                "columns.scores, not columns.score"))
        if not scores:
            found.append((("columns", "scores"), "required for a multiclass model: each class with its score "
                                                 "column, e.g. {prepaid: score_prepaid, postpaid: score_postpaid}"))
        elif isinstance(scores, dict) and len(scores) < 2:
            found.append((("columns", "scores"), f"lists {len(scores)} class; a multiclass model has at least two"))
        elif isinstance(scores, dict) and len(set(map(str, scores))) < len(scores):
            found.append((("columns", "scores"), "two classes have the same name once read as text"))
        return found
    if scores:
        return [(("columns", "scores"), f"for a multiclass model only; a {task} model has one score column, "
                                        "columns.score")]
    if not score:
        return [(("columns", "score"), f"required for a {task} model: the column of its "
                                       + ("predicted value" if task == ModelTask.REGRESSION.value
                                          else "predicted probability of the positive class"))]
    return []


def _segment_problems(segments: Any, numerical: list[str], categorical: list[str],
                      taken: list[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(key path, message) of every segment column that contradicts the model's columns."""
    if not isinstance(segments, dict):
        return []
    problems: list[tuple[tuple[str | int, ...], str]] = []
    roles = {str(c) for c in taken if c}
    columns, buckets = _names(segments.get("columns")), segments.get("buckets")
    buckets = [str(b) for b in buckets] if isinstance(buckets, dict) else []
    for i, column in enumerate(columns):
        if column in columns[:i]:
            problems.append((("segments", "columns", i), f"{column!r} is listed twice"))
        elif column in numerical:
            problems.append((("segments", "columns", i), f"{column!r} is a numerical feature: cut it into buckets "
                                                         "under segments.buckets instead"))
        elif column in roles:
            problems.append((("segments", "columns", i), f"{column!r} is the id, time, prediction or label column; "
                                                         "a segment column is a feature or an extra logged column"))
        elif column in buckets:
            problems.append((("segments", "columns", i), f"{column!r} is also under segments.buckets"))
    for column in buckets:
        if column in categorical:
            problems.append((("segments", "buckets", column), f"{column!r} is a categorical feature: list it under "
                                                              "segments.columns instead"))
        elif column in roles:
            problems.append((("segments", "buckets", column), f"{column!r} is the id, time, prediction or label "
                                                              "column; a segment column is a feature or an extra "
                                                              "logged column"))
    known = set(columns) | set(buckets)
    pairs = [frozenset(_names(p)) for p in segments.get("crossed") or []]
    for i, pair in enumerate(segments.get("crossed") or []):
        names = _names(pair)
        if pairs[i] in pairs[:i]:
            problems.append((("segments", "crossed", i), f"the pair {names} is listed twice"))
            continue
        unknown = [n for n in names if n not in known]
        if unknown:
            problems.append((("segments", "crossed", i), f"{unknown} are not segment columns (list them under "
                                                         "segments.columns or segments.buckets first)"))
        elif len(set(names)) != len(names):
            problems.append((("segments", "crossed", i), "a column crossed with itself"))
    return problems


class MonitoringConfig(_Strict):
    """The whole file: `defaults`, merged under every model, and `models`, one entry per monitored model."""

    models: tuple[ModelConfig, ...] = Field(description="one entry per monitored model, under its name")
    # Models whose entry is invalid, each with its error (naming the model and the keys): loaded with
    # `isolate=True`, one broken entry leaves the other models usable.
    broken: dict[str, str] = Field(default_factory=dict, description="not a key of the file: the models whose entry "
                                   "is invalid, each with its error, when loaded with isolate=True")

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        if name in self.broken:
            raise ConfigError(self.broken[name])
        known = sorted([m.name for m in self.models] + list(self.broken))
        raise ConfigError(f"no model named {name!r} in the configuration; known: {known}")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and where it is nested)"
    elif error["type"] == "missing":
        message = "missing: " + _what_to_set(error["loc"])
    return f"key '{key}': {message}"


def _field_at(loc: tuple) -> Any:
    """The pydantic field a key path of a model entry names (None when it names none)."""
    node: Any = ModelConfig
    found = None
    for part in loc:
        if isinstance(node, type) and issubclass(node, BaseModel) and part in node.model_fields:
            found = node.model_fields[part]
            node = found.annotation
            args = [a for a in typing.get_args(node) if isinstance(a, type) and issubclass(a, BaseModel)]
            node = args[-1] if args else node
        elif isinstance(part, int) or typing.get_origin(node) in (dict, tuple):
            args = [a for a in typing.get_args(node) if isinstance(a, type) and issubclass(a, BaseModel)]
            node = args[-1] if args else node
        else:
            return None
    return found


def _what_to_set(loc: tuple) -> str:
    """What a missing key needs, in words: a block's required keys (all of them at once: a newcomer does not meet
    them one layer at a time), or the key's own description."""
    field = _field_at(loc)
    if field is None:
        return "required"
    block = field.annotation if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) \
        else None
    prefix = ".".join(str(p) for p in loc)
    if block is not None:
        wanted = [f"{prefix}.{name} ({inner.description or 'required'})" for name, inner in block.model_fields.items()
                  if inner.is_required()]
        return "a block; set " + "; ".join(wanted) if wanted else "a block (its keys have defaults)"
    return f"set it: {field.description}" if field.description else "required"


def parse_config(document: Any, source: str = "<config>", isolate: bool = False) -> MonitoringConfig:
    """Validate a parsed YAML document; `defaults` are merged under every model. An invalid model entry raises a
    ConfigError naming the model and every wrong key; with `isolate`, it is kept aside in `broken` instead and the
    other models load (an error of the file as a whole still raises)."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping with a 'models' key, got {type(document).__name__}")
    unknown = sorted(set(document) - {"defaults", "models"})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; allowed: 'defaults', 'models'")
    defaults = document.get("defaults") or {}
    models = document.get("models")
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: 'defaults' must be a mapping of settings")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{source}: 'models' must map each model name to its settings")
    parsed: list[ModelConfig] = []
    broken: dict[str, str] = {}
    for name, settings in models.items():
        if not isinstance(settings, dict):
            broken[str(name)] = f"{source}: model {name!r}: expected a mapping of settings"
            continue
        try:
            parsed.append(ModelConfig.model_validate({**_deep_merge(defaults, settings), "name": name}))
        except ValidationError as exc:
            broken[str(name)] = f"{source}: model {name!r}: " + "; ".join(_describe(e) for e in exc.errors())
    if broken and not isolate:
        raise ConfigError("\n".join(broken.values()))
    return MonitoringConfig(models=tuple(parsed), broken=broken)


def load_config(path: str | os.PathLike[str] | None = None, isolate: bool = False) -> MonitoringConfig:
    """Load the configuration from `path`, else $MONITORING_CONFIG, else config/models.yaml (see `parse_config`)."""
    path = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)
    try:
        text = path.read_text(encoding="utf-8")
        repeated = duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        document = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist (set {CONFIG_ENV_VAR} to point at yours)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    # A model entry with a repeated key is broken (hidden alone with `isolate`); a repeat elsewhere breaks the file.
    broken: dict[str, list[str]] = {}
    for where, problem in repeated:
        model = where[1] if isolate and len(where) >= 2 and where[0] == "models" else ""
        broken.setdefault(model, []).append(problem)
    if "" in broken:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in broken.pop("")))
    config = parse_config(document, source=str(path), isolate=isolate)
    if not broken:
        return config
    return config.model_copy(update={
        "models": tuple(m for m in config.models if m.name not in broken),
        "broken": {**config.broken, **{name: f"{path}: model {name!r}: " + "; ".join(problems)
                                       for name, problems in broken.items()}}})


def duplicate_keys(node: yaml.Node | None, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every key written twice in one mapping of a composed YAML document: (its key path, the problem with both
    lines). YAML itself keeps the last one silently: a model defined twice would lose its first definition."""
    problems: list[tuple[tuple[str, ...], str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: keys after it override on purpose
                continue
            name, line = str(key.value), key.start_mark.line + 1
            where = ".".join((*path, name))
            if name in seen:
                problems.append(((*path, name), f"key '{where}' is defined twice, on lines {seen[name]} and {line}; "
                                 "YAML would silently keep only the last one: remove or rename one of them"))
            seen.setdefault(name, line)
            problems += duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += duplicate_keys(item, (*path, str(index)))
    return problems
