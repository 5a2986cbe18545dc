"""The only place S3 keys are built and parsed. Model names, days and versions are validated before they touch a key.

`ModelLayout` holds the keys of one model (its reference versions and their fitted profiles, its reports site, its
metric store, alert state and retraining records); `DayLayout` adds the keys of one of its days (the day's logs and
labels, its staging area and its published reports). Build them with `ModelLayout.of(model)` and
`ModelLayout.on(day)` (or `DayLayout.of(model, day)`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from monitoring.config import MODEL_NAME_PATTERN, ModelConfig

REPORT_NAMES = ("data_drift", "prediction_drift", "data_quality")
# the data-drift reports of a day's segments that fired, largest impact first (segments.reports of them at most)
SEGMENT_REPORTS = tuple(f"segment_drift_{n}" for n in range(1, 21))
DAY_REPORTS = REPORT_NAMES + SEGMENT_REPORTS
PERFORMANCE_REPORT = "model_performance"  # written once the day has labels, updated as more arrive
FINGERPRINT_PATTERN = re.compile(r"^[0-9a-f]{16}$")
_PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")


class LayoutError(ValueError):
    """A model name, day or version that must not become part of an S3 key."""


def parse_day(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise LayoutError(f"day {value!r} is not a date in the form YYYY-MM-DD") from None


def day_of(key: str) -> dt.date:
    """The day of a key partitioned or named by day (`.../dt=YYYY-MM-DD/...` or `.../dt=YYYY-MM-DD.json`)."""
    found = _PARTITION.findall(key)
    if not found:
        raise LayoutError(f"{key!r} names no day (dt=YYYY-MM-DD)")
    return parse_day(found[-1])


def day_page_link(day: str | dt.date, from_day_page: bool = False) -> str:
    """The relative link to a day's page from the model page (or from another day page): the site works from any
    prefix, a bucket website or presigned access."""
    return f"{'../' if from_day_page else ''}dt={parse_day(day).isoformat()}/index.html"


def _version(version: str) -> str:
    if not isinstance(version, str) or not MODEL_NAME_PATTERN.match(version.lower()):
        raise LayoutError(f"reference version {version!r} is not safe for an S3 key")
    return version


@dataclass(frozen=True)
class ModelLayout:
    """Keys of one model, whatever the day."""

    bucket: str
    model: str
    predictions_prefix: str
    reference_prefix: str
    reports_prefix: str
    staging_prefix: str
    retraining_prefix: str
    labels_prefix: str
    models_prefix: str

    @classmethod
    def of(cls, model: ModelConfig) -> ModelLayout:
        if not MODEL_NAME_PATTERN.match(model.name):
            raise LayoutError(f"model name {model.name!r} is not safe for an S3 key")
        s = model.storage
        return cls(s.bucket, model.name, s.predictions_prefix, s.reference_prefix, s.reports_prefix,
                   s.staging_prefix, s.retraining_prefix, s.labels_prefix, s.models_prefix)

    def on(self, day: str | dt.date) -> DayLayout:
        """The keys of one day of the model."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelLayout)}
        return DayLayout(**fields, day=parse_day(day))

    # --- reference versions, their fitted profiles, the models -------------------------------------------------
    @property
    def reference_dir(self) -> str:
        return f"{self.reference_prefix}/{self.model}/"

    @property
    def reference_pointer(self) -> str:
        """JSON object {"version": "..."} naming the current reference version."""
        return f"{self.reference_dir}CURRENT.json"

    def reference_version_dir(self, version: str) -> str:
        """The files of a reference version, as whoever trained the model uploaded them."""
        return f"{self.reference_dir}v={_version(version)}/"

    def reference_file(self, version: str, name: str) -> str:
        """One file of a reference version (the built-in retraining writes `reference.parquet`)."""
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.parquet$", name):
            raise LayoutError(f"reference file name {name!r} is not a parquet file name safe for an S3 key")
        return f"{self.reference_version_dir(version)}{name}"

    def profile_dir(self, version: str, fingerprint: str) -> str:
        """What is fitted on a reference version (see monitoring.reference), beside the versions: one folder per
        fingerprint of the version's files and of the settings the fit depends on."""
        if not FINGERPRINT_PATTERN.match(fingerprint):
            raise LayoutError(f"profile fingerprint {fingerprint!r} is not 16 hexadecimal digits")
        return f"{self.reference_dir}_profiles/v={_version(version)}/{fingerprint}/"

    def profile(self, version: str, fingerprint: str) -> str:
        return f"{self.profile_dir(version, fingerprint)}profile.json"

    def profile_sample(self, version: str, fingerprint: str) -> str:
        """The rows of the reference handed to Evidently (all of it, or a fixed sample of `reports.max_rows`)."""
        return f"{self.profile_dir(version, fingerprint)}sample.parquet"

    def profile_artifact(self, version: str, fingerprint: str, name: str) -> str:
        """A fitted model kept beside the profile (the performance estimator's nanny models)."""
        if not re.match(r"^[a-z0-9_]+\.pkl$", name):
            raise LayoutError(f"profile artifact {name!r} is not a safe file name")
        return f"{self.profile_dir(version, fingerprint)}{name}"

    def model_artifact(self, version: str) -> str:
        """The serialized model of a version; the version shared with its reference baseline."""
        return f"{self.models_prefix}/{self.model}/v={_version(version)}/model.pkl"

    @property
    def state_edges(self) -> str:
        """The model's fixed bin edges of its days' mergeable states (monitoring.window_state), taken from its
        first reference version and kept whatever versions follow."""
        return f"{self.reference_dir}_state/edges.json"

    def reference_state(self, version: str) -> str:
        """A reference version's state on the fixed edges, what windows of days are compared with."""
        return f"{self.reference_dir}_state/v={_version(version)}.json"

    # --- the report site and the metric store ------------------------------------------------------------------
    @property
    def model_reports_dir(self) -> str:
        return f"{self.reports_prefix}/{self.model}/"

    @property
    def metrics_dir(self) -> str:
        return f"{self.model_reports_dir}metrics/"

    def history(self, extension: str = "json") -> str:
        if extension not in ("json", "csv"):
            raise LayoutError(f"unknown history format {extension!r}")
        return f"{self.model_reports_dir}history.{extension}"

    @property
    def model_page(self) -> str:
        return f"{self.model_reports_dir}index.html"

    @property
    def weeks_prefix(self) -> str:
        """Where the weekly reports are (`week=YYYY-Www/`)."""
        return f"{self.model_reports_dir}week="

    def week_report(self, week: str) -> str:
        """An ISO week's report (monitoring.weekly): `week` as 2026-W48."""
        return f"{self.weeks_prefix}{week}/week.json"

    def week_page(self, week: str) -> str:
        return f"{self.weeks_prefix}{week}/index.html"

    @property
    def home_page(self) -> str:
        return f"{self.reports_prefix}/index.html"

    @property
    def status_feed(self) -> str:
        """status.json beside the home page: each model's latest published day and its verdict (the example DAG
        scheduled on the reports assets keeps it)."""
        return f"{self.reports_prefix}/status.json"

    # --- Airflow assets: what a model's DAGs read and publish, named by URI ------------------------------------
    @property
    def predictions_asset(self) -> str:
        """The model's prediction logs, every day (the monitoring DAG's inlet)."""
        return f"s3://{self.bucket}/{self.predictions_prefix}/{self.model}/"

    @property
    def reports_asset(self) -> str:
        """The model's published reports: an event each time a day is published (with the day's verdict)."""
        return f"s3://{self.bucket}/{self.model_reports_dir}"

    @property
    def models_asset(self) -> str:
        """The model's versions: an event each time retraining promotes one."""
        return f"s3://{self.bucket}/{self.models_prefix}/{self.model}/"

    # --- alert state: what was sent, kept on S3 so it survives workers and reruns ------------------------------
    @property
    def alert_state_dir(self) -> str:
        return f"{self.model_reports_dir}alert-state/"

    @property
    def sent_alerts_dir(self) -> str:
        return f"{self.alert_state_dir}sent/"

    def sent_alert(self, rule: str, episode_start: str | dt.date, kind: str = "alert") -> str:
        """The record of one message about one episode of a rule (kind: alert or resolved)."""
        if not MODEL_NAME_PATTERN.match(rule) or kind not in ("alert", "resolved"):
            raise LayoutError(f"unknown alert record {rule!r}/{kind!r}")
        return f"{self.sent_alerts_dir}{rule}/start={parse_day(episode_start).isoformat()}.{kind}.json"

    def late_notice(self, what: str, day: str | dt.date) -> str:
        """The record of the one "late" notice sent about a day (what: logs)."""
        if what not in ("logs",):
            raise LayoutError(f"unknown late notice {what!r}")
        return f"{self.alert_state_dir}late/{what}/dt={parse_day(day).isoformat()}.json"

    def parse_sent_alert(self, key: str) -> tuple[str, str, str]:
        """(rule, episode start, kind) of a key `sent_alert` built."""
        rule, name = key.removeprefix(self.sent_alerts_dir).split("/", 1)
        start, kind, _ = name.removeprefix("start=").split(".")
        return rule, parse_day(start).isoformat(), kind

    @property
    def pending_digest_dir(self) -> str:
        return f"{self.alert_state_dir}digest/pending/"

    def sent_digest(self, first: str | dt.date, last: str | dt.date) -> str:
        return f"{self.alert_state_dir}digest/sent/{parse_day(first).isoformat()}_{parse_day(last).isoformat()}.json"

    @property
    def labels_root(self) -> str:
        """The model's label folders, one `dt=<day the labels became known>/` each."""
        return f"{self.labels_prefix}/{self.model}/"

    @property
    def stale_pages_dir(self) -> str:
        """Days whose summary changed after their pages were drawn, one marker each, written before the change: the
        next `update_site` redraws them (whichever run, or retry, gets there) and removes the markers."""
        return f"{self.staging_prefix}/{self.model}/stale-pages/"

    # --- retraining ----------------------------------------------------------------------------------------------
    @property
    def retraining_triggers_dir(self) -> str:
        return f"{self.retraining_prefix}/{self.model}/triggers/"

    @property
    def retraining_claims_dir(self) -> str:
        """The model's retraining claims, one numbered object per claim, each created once (a conditional write):
        two runs that read the same latest claim contend for the same next number, and only one gets it."""
        return f"{self.retraining_prefix}/{self.model}/claims/"

    def retraining_claim(self, number: int) -> str:
        if not 0 < number < 10**9:
            raise LayoutError(f"claim number {number} is out of range")
        return f"{self.retraining_claims_dir}{number:09d}.json"

    def claim_number(self, key: str) -> int:
        name = key.rsplit("/", 1)[-1]
        if not re.match(r"^\d{9}\.json$", name):
            raise LayoutError(f"{key!r} is not a retraining claim")
        return int(name[:9])


@dataclass(frozen=True)
class DayLayout(ModelLayout):
    """Keys of one model-day. Build with `DayLayout.of(model, day)` or `ModelLayout.on(day)`."""

    day: dt.date

    @classmethod
    def of(cls, model: ModelConfig, day: str | dt.date) -> DayLayout:  # type: ignore[override]
        return ModelLayout.of(model).on(day)

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

    @property
    def staged_quarantine(self) -> str:
        return f"{self.staging_dir}quarantine.parquet"

    def staged_report(self, name: str, extension: str) -> str:
        self.report(name, extension)  # validates the name
        return f"{self.staging_dir}{name}.{extension}"

    @property
    def staged_summary(self) -> str:
        return f"{self.staging_dir}summary.json"

    @property
    def staged_state(self) -> str:
        return f"{self.staging_dir}state.json"

    @property
    def staged_decision(self) -> str:
        """The run's decision, taken once by `decide` and read by the tasks after it."""
        return f"{self.staging_dir}decision.json"

    # --- published reports -------------------------------------------------------------------------------------
    @property
    def day_metrics(self) -> str:
        """The day's entry of the metric store."""
        return f"{self.metrics_dir}{self.partition}.json"

    @property
    def reports_dir(self) -> str:
        return f"{self.model_reports_dir}{self.partition}/"

    def report(self, name: str, extension: str) -> str:
        if name not in (*DAY_REPORTS, PERFORMANCE_REPORT) or extension not in ("html", "json"):
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
    def state(self) -> str:
        """The day's mergeable state (monitoring.window_state): what windows of days are judged on."""
        return f"{self.reports_dir}state.json"

    @property
    def trailing(self) -> str:
        """The day's trailing window and slow drift judged (monitoring.trailing), once its window's days are published."""
        return f"{self.reports_dir}window.json"

    @property
    def label_state(self) -> str:
        """The label join's counts of the day's predictions, as far as their labels have arrived (mergeable)."""
        return f"{self.reports_dir}label_state.json"

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
    def decisions(self) -> str:
        """Every decision the day's run took (branch, why, retraining, notifications)."""
        return f"{self.reports_dir}decisions.json"

    @property
    def manifest(self) -> str:
        """Written last: a day is published when, and only when, its manifest exists."""
        return f"{self.reports_dir}manifest.json"

    # --- the day's alert state ---------------------------------------------------------------------------------
    @property
    def stale_page(self) -> str:
        return f"{self.stale_pages_dir}{self.partition}.json"

    @property
    def pending_digest(self) -> str:
        """Alerts a quiet run (backfill, old day) recorded without sending, for the next digest."""
        return f"{self.pending_digest_dir}{self.partition}.json"

    @property
    def digested(self) -> str:
        """The alerts of the day a sent digest already reported (a later quiet rerun with the same ones adds nothing)."""
        return f"{self.alert_state_dir}digest/digested/{self.partition}.json"

    # --- the day's retraining records --------------------------------------------------------------------------
    @property
    def retraining_trigger(self) -> str:
        """Claimed by the monitoring run that asks for retraining on this day (the cooldown reads these)."""
        return f"{self.retraining_triggers_dir}{self.partition}.json"

    @property
    def retraining_request(self) -> str:
        """The retraining request raised for this day, as received by the retraining DAG."""
        return f"{self.retraining_prefix}/{self.model}/requests/{self.partition}.json"

    @property
    def retraining_result(self) -> str:
        """What the built-in retraining run of this day's request did: the candidate's evaluation and the outcome."""
        return f"{self.retraining_prefix}/{self.model}/results/{self.partition}.json"
