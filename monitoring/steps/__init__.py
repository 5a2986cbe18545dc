"""The daily flow of one model-day, one module per step; each DAG task calls one of these functions, and `run_day`
chains them without Airflow (the CLI).

    validate.find_day_files   which log files the day has (check_partition waits for them)
    validate.validate_day     the data contract, batch by batch: valid rows and quarantine staged
    report.report_day         the day's exact figures and sample, Evidently against the fitted reference, the summary
    publish.publish_day       reports, summary and metric-store entry published, manifest last
    performance.performance_day   labels joined, performance rewritten in place, the due day judged
    site.update_site          the day, model and home pages
    decide.decide_day         the run's one decision (findings, retraining request claimed), persisted
    notify.alert_day / notify.healthy_day   alerts.json, the run's one message, decisions.json

Each step reads its inputs from the object store and writes its outputs there (under the staging prefix until
publication), so every task can be retried or rerun alone and returns only a small JSON-able dict.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from monitoring import ingest
from monitoring.config import ModelConfig
from monitoring.layout import parse_day
from monitoring.steps.decide import Decision, decide_day
from monitoring.steps.notify import alert_day, healthy_day
from monitoring.steps.performance import performance_day
from monitoring.steps.publish import publish_day
from monitoring.steps.report import report_day
from monitoring.steps.site import update_site
from monitoring.steps.validate import find_day_files, validate_day
from monitoring.storage import ObjectStore

log = logging.getLogger(__name__)


def run_day(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None, *,
            now: dt.datetime, claim_retraining: bool = True) -> Decision:
    """The whole daily flow without Airflow, at time `now`: retraining is only reported, never triggered, and with
    `claim_retraining` false (the command line) not even claimed (see `decide_day`)."""
    day = parse_day(day)
    try:
        find_day_files(store, model, day, now=now)
    except (ingest.MissingPartitionError, ingest.PartitionIncompleteError) as missing:
        # The labels that landed on the day are joined all the same (as the DAG's performance task does).
        try:
            labelled = performance_day(store, model, day, now=now)
            update_site(store, model, day, models, labelled["updated_days"])
        except Exception:
            log.exception("the labels that landed on %s could not be joined either", day)
        raise missing
    validate_day(store, model, day, now=now)
    report_day(store, model, day)
    publish_day(store, model, day, {"runner": "cli"}, now=now)
    labelled = performance_day(store, model, day, now=now)
    update_site(store, model, day, models, labelled["updated_days"])
    decision = decide_day(store, model, day, claim=claim_retraining)
    (alert_day if decision.alerting else healthy_day)(store, model, day, now=now)
    return decision
