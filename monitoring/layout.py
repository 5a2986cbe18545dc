"""The only place S3 keys are built. Model names and days are validated before they touch a key."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from monitoring.config import MODEL_NAME_PATTERN, ModelConfig

REPORT_NAMES = ("data_drift", "prediction_drift", "data_quality")
PERFORMANCE_REPORT = "model_performance"  # written once the day has labels, updated as more arrive


class LayoutError(ValueError):
    """A model name or day that must not become part of an S3 key."""


def parse_day(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise LayoutError(f"day {value!r} is not a date in the form YYYY-MM-DD") from None


@dataclass(frozen=True)
class DayLayout:
    """Keys of one model-day. Build with `DayLayout.of(model, day)`."""

    bucket: str
    model: str
    day: dt.date
    predictions_prefix: str
    reference_prefix: str
    reports_prefix: str
    staging_prefix: str
    retraining_prefix: str
    labels_prefix: str
    models_prefix: str

    @classmethod
    def of(cls, model: ModelConfig, day: str | dt.date) -> DayLayout:
        if not MODEL_NAME_PATTERN.match(model.name):
            raise LayoutError(f"model name {model.name!r} is not safe for an S3 key")
        s = model.storage
        return cls(s.bucket, model.name, parse_day(day), s.predictions_prefix, s.reference_prefix,
                   s.reports_prefix, s.staging_prefix, s.retraining_prefix, s.labels_prefix,
                   s.models_prefix)

    @property
    def partition(self) -> str:
        return f"dt={self.day.isoformat()}"

    # --- inputs -------------------------------------------------------------------------------------------------
    @property
    def predictions_dir(self) -> str:
        return f"{self.predictions_prefix}/{self.model}/{self.partition}/"

    @property
    def labels_dir(self) -> str:
        """Labels that became known on this day (for predictions of this or earlier days)."""
        return f"{self.labels_prefix}/{self.model}/{self.partition}/"

    @property
    def reference_dir(self) -> str:
        return f"{self.reference_prefix}/{self.model}/"

    @property
    def reference_pointer(self) -> str:
        """JSON object {"version": "..."} naming the current reference version."""
        return f"{self.reference_dir}CURRENT.json"

    def reference_version_dir(self, version: str) -> str:
        if not MODEL_NAME_PATTERN.match(version.lower()):
            raise LayoutError(f"reference version {version!r} is not safe for an S3 key")
        return f"{self.reference_dir}v={version}/"

    # --- intermediate results of one run, never read by stakeholders ---------------------------------------------
    @property
    def staging_dir(self) -> str:
        return f"{self.staging_prefix}/{self.model}/{self.partition}/"

    @property
    def staged_valid_rows(self) -> str:
        return f"{self.staging_dir}valid.parquet"

    @property
    def staged_contract(self) -> str:
        return f"{self.staging_dir}contract.json"

    # --- published reports -------------------------------------------------------------------------------------
    @property
    def model_reports_dir(self) -> str:
        return f"{self.reports_prefix}/{self.model}/"

    def on(self, day: str | dt.date) -> DayLayout:
        """The same model's keys for another day."""
        return dataclasses.replace(self, day=parse_day(day))

    # --- the metric store: one object per model-day, compacted per model ---------------------------------------
    @property
    def metrics_dir(self) -> str:
        return f"{self.model_reports_dir}metrics/"

    @property
    def day_metrics(self) -> str:
        return f"{self.metrics_dir}{self.partition}.json"

    def history(self, extension: str = "json") -> str:
        if extension not in ("json", "csv"):
            raise LayoutError(f"unknown history format {extension!r}")
        return f"{self.model_reports_dir}history.{extension}"

    @property
    def model_page(self) -> str:
        return f"{self.model_reports_dir}index.html"

    @property
    def home_page(self) -> str:
        return f"{self.reports_prefix}/index.html"

    @property
    def reports_dir(self) -> str:
        return f"{self.model_reports_dir}{self.partition}/"

    def report(self, name: str, extension: str) -> str:
        if name not in (*REPORT_NAMES, PERFORMANCE_REPORT) or extension not in ("html", "json"):
            raise LayoutError(f"unknown report {name}.{extension}")
        return f"{self.reports_dir}{name}.{extension}"

    @property
    def summary(self) -> str:
        return f"{self.reports_dir}summary.json"

    @property
    def day_page(self) -> str:
        """The page stakeholders open first: status, findings in plain words, links to the full reports."""
        return f"{self.reports_dir}index.html"

    @property
    def performance(self) -> str:
        """Performance of the predictions made on this day, as far as their labels have arrived."""
        return f"{self.reports_dir}performance.json"

    @property
    def labels_report(self) -> str:
        """What the labels that landed on this day held, and the verdict on the day whose labels came due."""
        return f"{self.reports_dir}labels.json"

    @property
    def labels_quarantine(self) -> str:
        return f"{self.reports_dir}labels_quarantine.parquet"

    @property
    def quarantine(self) -> str:
        return f"{self.reports_dir}quarantine.parquet"

    @property
    def alerts(self) -> str:
        return f"{self.reports_dir}alerts.json"

    @property
    def manifest(self) -> str:
        """Written last: a day is published when, and only when, its manifest exists."""
        return f"{self.reports_dir}manifest.json"

    def model_artifact(self, version: str) -> str:
        """The serialized model of a version; the version shared with its reference baseline."""
        self.reference_version_dir(version)  # validates the version
        return f"{self.models_prefix}/{self.model}/v={version}/model.pkl"

    @property
    def retraining_result(self) -> str:
        """What the built-in retraining run of this day's request did: the candidate's evaluation and the outcome."""
        return f"{self.retraining_prefix}/{self.model}/results/{self.partition}.json"

    # --- alert state: what was sent, kept on S3 so it survives workers and reruns ------------------------------
    @property
    def alert_state_dir(self) -> str:
        return f"{self.model_reports_dir}alert-state/"

    def sent_alert(self, rule: str, episode_start: str, kind: str = "alert") -> str:
        """The record of one message about one episode of a rule (kind: alert or resolved)."""
        if not MODEL_NAME_PATTERN.match(rule) or kind not in ("alert", "resolved"):
            raise LayoutError(f"unknown alert record {rule!r}/{kind!r}")
        return f"{self.alert_state_dir}sent/{rule}/start={parse_day(episode_start).isoformat()}.{kind}.json"

    @property
    def pending_digest(self) -> str:
        """Alerts a quiet run (backfill, old day) recorded without sending, for the next digest."""
        return f"{self.alert_state_dir}digest/pending/{self.partition}.json"

    @property
    def pending_digest_dir(self) -> str:
        return f"{self.alert_state_dir}digest/pending/"

    @property
    def digested(self) -> str:
        """The alerts of the day a sent digest already reported (a later quiet rerun with the same ones adds nothing)."""
        return f"{self.alert_state_dir}digest/digested/{self.partition}.json"

    def sent_digest(self, first: str, last: str) -> str:
        return f"{self.alert_state_dir}digest/sent/{parse_day(first).isoformat()}_{parse_day(last).isoformat()}.json"

    @property
    def decisions(self) -> str:
        """Every decision the day's run took (branch, why, retraining, notifications)."""
        return f"{self.reports_dir}decisions.json"

    @property
    def retraining_triggers_dir(self) -> str:
        return f"{self.retraining_prefix}/{self.model}/triggers/"

    @property
    def retraining_trigger(self) -> str:
        """Claimed by the monitoring run that asks for retraining on this day (the cooldown reads these)."""
        return f"{self.retraining_triggers_dir}{self.partition}.json"

    @property
    def retraining_request(self) -> str:
        """The retraining request raised for this day, as received by the retraining DAG."""
        return f"{self.retraining_prefix}/{self.model}/requests/{self.partition}.json"
