"""Typed model configuration, loaded from one YAML file and validated once.

Every error names the model and the key that is wrong, so a user can fix the file
without reading this module.
"""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

MODEL_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# S3 prefixes: path segments of safe characters, no "..", no leading or trailing slash.
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "models.yaml"
CONFIG_ENV_VAR = "MONITORING_CONFIG"

# Evidently 0.7 stattest ids, split by the column kind they apply to.
NUMERICAL_DRIFT_METHODS = frozenset(
    {"wasserstein", "psi", "ks", "jensenshannon", "kl_div", "hellinger", "anderson", "cramer_von_mises",
     "mannw", "ed", "es", "t_test", "empirical_mmd"}
)
CATEGORICAL_DRIFT_METHODS = frozenset(
    {"jensenshannon", "psi", "chisquare", "kl_div", "hellinger", "TVD", "g_test", "fisher_exact", "z"}
)


class ConfigError(ValueError):
    """The monitoring configuration file is invalid; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelTask(str, Enum):
    BINARY_CLASSIFICATION = "binary_classification"
    REGRESSION = "regression"


# Performance metrics per task; the ones where a lower value is better (a "drop" is then a rise).
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "calibration_error")
REGRESSION_METRICS = ("mae", "rmse", "mape", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "calibration_error", "mae", "rmse", "mape"})


class LogFormat(str, Enum):
    PARQUET = "parquet"
    JSONL = "jsonl"
    CSV = "csv"

    @property
    def suffixes(self) -> tuple[str, ...]:
        return {"parquet": (".parquet", ".pq"), "jsonl": (".jsonl", ".json", ".ndjson"), "csv": (".csv",)}[self.value]


class StorageConfig(_Strict):
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    aws_conn_id: str = "aws_default"
    predictions_prefix: str = "predictions"
    reference_prefix: str = "reference"
    reports_prefix: str = "reports"
    staging_prefix: str = "staging"
    retraining_prefix: str = "retraining"
    labels_prefix: str = "labels"
    models_prefix: str = Field(default="models", description="model artifacts: <prefix>/<model>/v=<version>/model.pkl")
    log_format: LogFormat = LogFormat.PARQUET
    completion_marker: str | None = Field(
        default=None, pattern=r"^_[A-Za-z0-9_.-]+$",
        description="a file the exporter writes last (e.g. _SUCCESS); until it exists the day counts as incomplete")
    settle_seconds: int = Field(default=0, ge=0, description="a day whose newest file is younger counts as incomplete")
    deadline_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60,
                                         description="a day's logs missing this long after the day ended: one 'logs "
                                                     "late' notice to the alert channels while the run keeps waiting "
                                                     "(an Airflow deadline alert; never for backfills or old days)")
    wait_minutes: int = Field(default=360, ge=0, le=7 * 24 * 60,
                              description="how long a run waits for its day's logs to land (and be complete) before "
                                          "it fails naming the prefix; 0: fail at once")
    poke_seconds: int = Field(default=300, ge=5, description="how often a waiting run looks again (the worker slot "
                                                             "is free in between)")

    @field_validator("predictions_prefix", "reference_prefix", "reports_prefix", "staging_prefix", "retraining_prefix",
                     "labels_prefix", "models_prefix")
    @classmethod
    def _safe_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if not PREFIX_PATTERN.match(value) or ".." in value.split("/"):
            raise ValueError(f"{value!r} is not a safe S3 prefix (letters, digits, '_', '.', '=', '-' and '/' only)")
        return value


class ColumnsConfig(_Strict):
    id: str
    timestamp: str
    score: str = Field(description="classification: predicted probability of the positive class, in [0, 1]; "
                                   "regression: the predicted value")
    decision: str | None = Field(default=None, description="the 0/1 decision the model took")
    latency: str | None = Field(default=None, description="serving latency in milliseconds, when the logs carry it")
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = Field(
        default=None, description="the logs' times are numbers: epoch seconds, milliseconds, microseconds or "
                                  "nanoseconds (default: the times are timestamps or text)")
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _distinct(self) -> ColumnsConfig:
        if not self.numerical and not self.categorical:
            raise ValueError("list at least one feature under 'numerical' or 'categorical'")
        seen: dict[str, str] = {}
        roles = [("id", [self.id]), ("timestamp", [self.timestamp]), ("score", [self.score]),
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
    def predictions(self) -> tuple[str, ...]:
        return (self.score,) + ((self.decision,) if self.decision else ())


class ColumnDrift(_Strict):
    method: str
    threshold: float = Field(gt=0)


class DriftConfig(_Strict):
    numerical_method: str = "wasserstein"
    numerical_threshold: float = Field(default=0.1, gt=0)
    categorical_method: str = "jensenshannon"
    categorical_threshold: float = Field(default=0.1, gt=0)
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1,
                                       description="share of drifted features from which the dataset counts as drifted")
    columns: dict[str, ColumnDrift] = Field(default_factory=dict)
    max_categories: int = Field(default=1000, ge=2, description="categorical columns with more distinct values are "
                                                                "left out of the Evidently reports")
    threshold_mode: Literal["calibrated", "fixed"] = Field(
        default="calibrated", description="calibrated: a verdict needs the value outside the no-change band of a day "
        "of its size (fitted on the reference), beyond the minimum effect, and (features) to survive the false "
        "discovery control; fixed: the configured lines alone, whatever the day's size")
    band_sigma: float = Field(default=3.0, gt=0, le=10, description="k: the band holds a no-change value with the "
                              "probability a normal value lies within k standard deviations")
    fdr: float = Field(default=0.05, gt=0, lt=1, description="false discovery rate across the features of a day "
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
        if value not in NUMERICAL_DRIFT_METHODS:
            raise ValueError(f"{value!r} is not one of {sorted(NUMERICAL_DRIFT_METHODS)}")
        return value

    @field_validator("categorical_method")
    @classmethod
    def _categorical_method(cls, value: str) -> str:
        if value not in CATEGORICAL_DRIFT_METHODS:
            raise ValueError(f"{value!r} is not one of {sorted(CATEGORICAL_DRIFT_METHODS)}")
        return value


class ContractConfig(_Strict):
    max_rejected_share: float = Field(default=0.05, ge=0, le=1,
                                      description="the run fails when more than this share of rows is quarantined")
    score_range: tuple[float, float] | None = Field(
        default=None, description="allowed [low, high] of the score; default [0, 1] for classification, "
                                  "unbounded for regression")

    @field_validator("score_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"score_range {list(value)} must be [low, high] with low < high")
        return value


class LabelsConfig(_Strict):
    """Ground truth: files under labels/<model>/dt=<day the labels became known>/, keyed by the prediction id."""

    column: str = Field(description="the label column, in the label files and in the reference")
    id_column: str | None = Field(default=None, description="the prediction id column of the label files; "
                                                              "default: the model's columns.id")
    lag_days: int = Field(ge=0, le=365, description="days after a prediction day by which its labels are complete; "
                                                    "that day's performance is judged then")
    lookback_days: int | None = Field(default=None, ge=1, le=400,
                                      description="prediction days looked back at for newly arrived labels "
                                                  "(default: twice the lag, at least 7)")
    log_format: LogFormat | None = Field(default=None, description="default: storage.log_format")
    deadline_days: int | None = Field(default=None, ge=1, le=365,
                                      description="labels still short of performance.min_coverage this many days "
                                                  "after they were due: a `labels_overdue` alert (once, through the "
                                                  "alert channels)")

    @property
    def window(self) -> int:
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

    max_drop: float | None = Field(default=None, gt=0, description="absolute worsening that raises an alert")
    max_relative_drop: float | None = Field(default=None, gt=0, description="relative worsening (0.1 = 10%) that "
                                                                             "raises an alert")
    retrain_drop: float | None = Field(default=None, gt=0, description="absolute worsening that also asks for "
                                                                        "retraining")
    retrain_relative_drop: float | None = Field(default=None, gt=0)
    min_drop: float | None = Field(default=None, gt=0, description="calibrated mode: the smallest absolute worsening "
                                   "that counts (with the value outside the no-change band); default per metric")
    min_relative_drop: float | None = Field(default=None, gt=0, description="calibrated mode: ... relative")

    @model_validator(mode="after")
    def _some_limit(self) -> MetricRule:
        if self.max_drop is None and self.max_relative_drop is None:
            raise ValueError("set max_drop, max_relative_drop or both")
        return self


# Calibrated mode: the smallest worsening of each metric that counts, absolute, or relative for the error metrics
# whose scale is the model's own (MAE, RMSE, MAPE, log loss), when the rule sets none.
DEFAULT_MIN_DROPS = {"accuracy": (0.02, None), "precision": (0.02, None), "recall": (0.02, None), "f1": (0.02, None),
                     "roc_auc": (0.02, None), "calibration_error": (0.02, None), "log_loss": (None, 0.05),
                     "mae": (None, 0.05), "rmse": (None, 0.05), "mape": (None, 0.05), "r2": (0.03, None)}

DEFAULT_METRIC_RULES = {
    ModelTask.BINARY_CLASSIFICATION: {
        "f1": MetricRule(max_drop=0.05, max_relative_drop=0.10, retrain_relative_drop=0.20),
        "roc_auc": MetricRule(max_drop=0.05, retrain_drop=0.10),
    },
    ModelTask.REGRESSION: {
        "mae": MetricRule(max_relative_drop=0.20, retrain_relative_drop=0.50),
        "r2": MetricRule(max_drop=0.10, retrain_drop=0.20),
    },
}


class PerformanceConfig(_Strict):
    min_coverage: float = Field(default=0.5, gt=0, le=1, description="a day's performance is judged only when at "
                                                                      "least this share of it is labelled")
    min_labelled_rows: int = Field(default=100, ge=1, description="... and at least this many rows are labelled")
    max_label_problem_share: float = Field(default=0.01, ge=0, le=1,
                                           description="rejected labels above this share of the labels that landed "
                                                       "on a day are a warning; below, they are only reported")
    probability_threshold: float = Field(default=0.5, gt=0, lt=1,
                                         description="classification without a decision column: predicted "
                                                     "positive when the score is at least this")
    rules: dict[str, MetricRule] | None = Field(default=None, description="degradation rule per metric; default "
                                                                            "f1 and roc_auc, or mae and r2")
    estimate: bool = Field(default=True, description="estimate each day's performance before its labels land (CBPE "
                                                     "for classifiers, DLE for regressors) from a labelled reference; "
                                                     "off when the score is not a probability")


class OperationsConfig(_Strict):
    low_confidence: float = Field(default=0.6, gt=0.5, le=1.0,
                                  description="a prediction is low-confidence when max(p, 1 - p) is below this")


class QualityConfig(_Strict):
    max_missing_share: float = Field(default=0.1, ge=0, le=1)
    min_missing_increase: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest rise "
                                        "of a column's missing share above the reference's that counts")
    max_new_category_share: float = Field(default=0.01, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.01, ge=0, le=1)
    max_quarantined_share: float = Field(default=0.01, ge=0, le=1)


RetrainSignal = Literal["dataset_drift", "prediction_drift", "performance_degradation", "estimated_performance_drop"]


class RetrainingConfig(_Strict):
    dag_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    builtin: bool = Field(default=True, description="this project ships the DAG `dag_id`; false when it is your own")
    when_all: tuple[RetrainSignal, ...] = Field(
        default=("dataset_drift", "prediction_drift"),
        description="retraining is triggered on a day where all of these signals fire",
    )
    on_performance_drop: bool = Field(default=True, description="also trigger when a performance metric worsens "
                                                                 "past its retrain_drop / retrain_relative_drop")
    drift_days: int | None = Field(default=None, ge=1, description="also trigger on dataset drift on at least this "
                                                                   "many of the last `drift_window` days")
    drift_window: int = Field(default=5, ge=1, le=60)
    quality_days: int | None = Field(default=None, ge=1, description="also trigger after this many consecutive days "
                                                                     "with a critical data-quality finding")
    cooldown_days: int = Field(default=7, ge=0, le=365, description="no second trigger within this many days of "
                                                                    "the last one (it may still be running)")
    window_days: int = Field(default=14, ge=1, le=365, description="the days of evidence handed to retraining")
    window_from_drift: bool = Field(default=True, description="while the dataset drifts, the window starts on the "
                                                              "drift's first day: the model learns the world it now sees")
    min_labelled_rows: int = Field(default=4000, ge=0, description="models with labels: a request waits (nothing is "
                                   "triggered, no cooldown starts) until the window's predictions have this many "
                                   "labels; a quarter of them become the new reference. 0: never wait")
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

    severity: SeverityName = "warning"


class KeyFeaturesRule(RuleConfig):
    severity: SeverityName = "critical"
    features: tuple[str, ...] = Field(default=(), description="features whose drift alone is worth this severity")


class VolumeRule(RuleConfig):
    window_days: int = Field(default=7, ge=1, le=90, description="published days before the day that form the "
                                                                 "trailing mean")
    min_days: int = Field(default=3, ge=1, description="fewer published days in the window: no verdict")
    min_ratio: float = Field(default=0.5, gt=0, lt=1, description="volume below this x the trailing mean fires")
    max_ratio: float = Field(default=2.0, gt=1, description="volume above this x the trailing mean fires")


class PositiveRateRule(RuleConfig):
    min: float | None = Field(default=None, ge=0, le=1)
    max: float | None = Field(default=None, ge=0, le=1)
    max_change: float | None = Field(default=0.15, gt=0, le=1,
                                     description="fires when the rate is further than this from the reference's")
    min_change: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest distance from "
                              "the reference's rate that counts (with the rate outside the no-change band)")


class PredictionCollapseRule(RuleConfig):
    severity: SeverityName = "critical"
    min_rows: int = Field(default=30, ge=2, description="a constant score on fewer valid rows is not judged")
    max_chance: float = Field(default=1e-6, gt=0, lt=1, description="every decision of one class fires when the "
                              "chance of that under the reference's positive rate is below this")


class LowConfidenceRule(RuleConfig):
    max_share: float | None = Field(default=0.35, gt=0, le=1)
    max_increase: float | None = Field(default=0.15, gt=0, le=1, description="above the reference's share")
    min_increase: float = Field(default=0.05, gt=0, le=1, description="calibrated mode: the smallest rise above the "
                                "reference's share that counts (with the share outside the no-change band)")


class MultivariateRule(RuleConfig):
    min_increase: float = Field(default=0.05, gt=0, description="the smallest relative rise of the mean "
                                "reconstruction error above the reference's that counts (0.05 = 5%)")


class RulesConfig(_Strict):
    """Which findings a day can raise, and how severe each is (see monitoring/rules.py)."""

    dataset_drift: RuleConfig = RuleConfig(severity="critical")
    feature_drift: RuleConfig = RuleConfig()
    key_features: KeyFeaturesRule = KeyFeaturesRule()
    prediction_drift: RuleConfig = RuleConfig()
    volume: VolumeRule = VolumeRule()
    positive_rate: PositiveRateRule = PositiveRateRule()
    low_confidence: LowConfidenceRule = LowConfidenceRule()
    prediction_collapse: PredictionCollapseRule = PredictionCollapseRule()
    multivariate_drift: MultivariateRule = MultivariateRule()  # calibrated mode only
    missing_values: RuleConfig = RuleConfig()  # critical anyway when a column is entirely missing
    new_categories: RuleConfig = RuleConfig()
    out_of_range: RuleConfig = RuleConfig()
    quarantined_rows: RuleConfig = RuleConfig()
    performance_degradation: RuleConfig = RuleConfig()  # critical anyway past a retraining limit
    estimated_performance_drop: RuleConfig = RuleConfig()  # the estimate (CBPE, DLE) before the labels land
    # A day's estimate missed its realized performance by more than chance (concept drift?): info unless raised
    estimator_unreliable: RuleConfig = RuleConfig(severity="info")
    labels_missing: RuleConfig = RuleConfig()
    labels_overdue: RuleConfig = RuleConfig()  # labels.deadline_days after they were due, still too few
    label_problems: RuleConfig = RuleConfig()  # info below performance.max_label_problem_share


class Channel(_Strict):
    """Where a model's alert messages go, through an Airflow connection (secrets live only there)."""

    type: Literal["slack", "email", "sns", "webhook"]
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

    channels: tuple[Channel, ...] = ()
    max_age_days: int = Field(default=2, ge=0, description="a run of an older day (or any backfill run) records "
                                                           "its alerts but sends nothing; a digest follows")
    fire_after: int = Field(default=1, ge=1, le=30, description="consecutive bad days before a rule is alerted")
    resolve_after: int = Field(default=2, ge=1, le=30, description="consecutive good days before it is resolved")
    cooldown_days: int = Field(default=3, ge=0, le=90, description="a new episode of a rule within this many "
                                                                  "days of its previous episode's resolution waits")
    digest_quiet_minutes: int = Field(default=20, ge=0, le=1440, description="the digest of a backfill is sent once "
                                                                             "no suppressed alert arrived for this long")


class ReportsConfig(_Strict):
    max_rows: int = Field(default=100_000, ge=1_000,
                          description="rows handed to Evidently; larger days are sampled by hash of the id")
    pool: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="Airflow pool of the heavy tasks (evidently_reports, performance): caps how "
                                         "many run at once across workers; it must exist (airflow pools set)")
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="executor queue of the heavy tasks (CeleryExecutor: the workers started "
                                          "with --queues <queue> run them)")

    def heavy_task_args(self) -> dict[str, str]:
        """Operator arguments of the heavy tasks: their pool and queue when configured."""
        return {k: v for k, v in (("pool", self.pool), ("queue", self.queue)) if v}


class ModelConfig(_Strict):
    name: str
    task: ModelTask = ModelTask.BINARY_CLASSIFICATION
    description: str = ""
    owner: str = "ml-platform"
    schedule: str = Field(default="0 2 * * *", description="cron; each run processes the previous full day (UTC)")
    start_date: str = Field(default="2026-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    max_active_runs: int = Field(default=4, ge=1, le=64, description="days of this model processed at once")
    storage: StorageConfig
    columns: ColumnsConfig
    drift: DriftConfig = DriftConfig()
    contract: ContractConfig = ContractConfig()
    quality: QualityConfig = QualityConfig()
    operations: OperationsConfig = OperationsConfig()
    reports: ReportsConfig = ReportsConfig()
    labels: LabelsConfig | None = Field(default=None, description="ground truth; without it no performance")
    performance: PerformanceConfig = PerformanceConfig()
    rules: RulesConfig = RulesConfig()
    alerts: AlertsConfig = AlertsConfig()
    retraining: RetrainingConfig

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
    def is_classification(self) -> bool:
        return self.task is ModelTask.BINARY_CLASSIFICATION

    @property
    def metric_names(self) -> tuple[str, ...]:
        return CLASSIFICATION_METRICS if self.is_classification else REGRESSION_METRICS

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
        return DEFAULT_MIN_DROPS.get(metric, (None, 0.05))

    @property
    def monitored(self) -> tuple[str, ...]:
        """The columns whose drift is measured: the features, then the predictions."""
        return self.columns.features + self.columns.predictions

    @property
    def headline_metric(self) -> str:
        """The metric charted and shown first: the first one with a degradation rule."""
        return next(iter(self.metric_rules), self.metric_names[0])

    @property
    def score_range(self) -> tuple[float, float] | None:
        if self.contract.score_range is not None:
            return self.contract.score_range
        return (0.0, 1.0) if self.is_classification else None

    @property
    def label_id_column(self) -> str:
        return (self.labels.id_column if self.labels and self.labels.id_column else None) or self.columns.id

    @property
    def labels_format(self) -> LogFormat:
        return (self.labels.log_format if self.labels else None) or self.storage.log_format

    def is_categorical(self, column: str) -> bool:
        """Categorical features and the 0/1 decision; everything else monitored is numerical."""
        return column in self.columns.categorical or column == self.columns.decision

    def kind(self, column: str) -> str:
        """"categorical" or "numerical": how a monitored column is compared."""
        return "categorical" if self.is_categorical(column) else "numerical"

    def drift_method(self, column: str) -> ColumnDrift:
        """The drift method and threshold used for one column (per-column override, else the kind's default)."""
        if column in self.drift.columns:
            return self.drift.columns[column]
        if self.is_categorical(column):
            return ColumnDrift(method=self.drift.categorical_method, threshold=self.drift.categorical_threshold)
        return ColumnDrift(method=self.drift.numerical_method, threshold=self.drift.numerical_threshold)


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
    predictions = [str(v) for v in (node("columns", "score"), decision) if v]
    features = [*numerical, *categorical]
    if task == ModelTask.REGRESSION.value and decision:
        problems.append((("columns", "decision"), "for classification only: a regression model has no 0/1 "
                                                  "decision"))
    label = node("labels", "column")
    if label and label in {node("columns", "id"), node("columns", "timestamp"), *features, *predictions}:
        problems.append((("labels", "column"), f"{label!r} is also a feature, prediction, id or timestamp "
                                               "column; the label must be its own column"))
    unknown = sorted(set(_names(node("rules", "key_features", "features"))) - set(features))
    if unknown and features:
        problems.append((("rules", "key_features", "features"),
                         f"{unknown} are not features of the model"))
    allowed = CLASSIFICATION_METRICS if task == ModelTask.BINARY_CLASSIFICATION.value else REGRESSION_METRICS
    for metric in node("performance", "rules") or {}:
        if metric not in allowed:
            problems.append((("performance", "rules", metric), f"{metric!r} is not a {task} metric; one of "
                                                               f"{list(allowed)}"))
    for column, override in (node("drift", "columns") or {}).items():
        if column not in features and column not in predictions:
            problems.append((("drift", "columns", column), f"{column!r} is not a feature or prediction column of "
                                                           "the model"))
            continue
        method = override.get("method") if isinstance(override, dict) else getattr(override, "method", None)
        kind = "categorical" if column in categorical or column == decision else "numerical"
        allowed_methods = CATEGORICAL_DRIFT_METHODS if kind == "categorical" else NUMERICAL_DRIFT_METHODS
        if method is not None and method not in allowed_methods:
            problems.append((("drift", "columns", column, "method"),
                             f"{method!r} does not fit a {kind} column; one of {sorted(allowed_methods)}"))
    return problems


class MonitoringConfig(_Strict):
    models: tuple[ModelConfig, ...]
    # Models whose entry is invalid, each with its error (naming the model and the keys): loaded with
    # `isolate=True`, one broken entry leaves the other models usable.
    broken: dict[str, str] = Field(default_factory=dict)

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
    return f"key '{key}': {message}"


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
