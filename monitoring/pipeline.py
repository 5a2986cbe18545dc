"""One model-day, step by step: the functions each DAG task calls, and `run_day` that chains them without Airflow.

Each step reads its inputs from the object store and writes its outputs there (under the staging prefix until
publication), so every task can be retried or rerun alone and returns only a small JSON-able dict.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from monitoring import alerts, contract, history, ingest, publish, retrain, rules
from monitoring.config import LogFormat, ModelConfig
from monitoring.layout import REPORT_NAMES, DayLayout, parse_day
from monitoring.sampling import hash_sample
from monitoring.storage import HTML, JSON, PARQUET, ObjectStore
from monitoring.summary import DaySummary, summarize, summary_from_json

log = logging.getLogger(__name__)

ALERT, TRIGGER_RETRAINING, HEALTHY = "alert", "trigger_retraining", "healthy"


class MissingReferenceError(LookupError):
    """The model has no usable reference version."""


@dataclass(frozen=True)
class Decision:
    model: str
    day: str
    findings: list[rules.Finding]
    retrain: retrain.RetrainRequest | None

    @property
    def branches(self) -> list[str]:
        chosen = ([ALERT] if self.findings else []) + ([TRIGGER_RETRAINING] if self.retrain else [])
        return chosen or [HEALTHY]

    @property
    def why(self) -> str:
        if not self.findings and not self.retrain:
            return "no drift, prediction-drift or data-quality rule fired"
        parts = [f"{f.rule} ({f.severity.value})" for f in self.findings]
        if self.retrain:
            parts.append("retraining rule: " + "; ".join(self.retrain.reasons))
        return ", ".join(parts)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _read_parquet(store: ObjectStore, key: str) -> pd.DataFrame:
    return pd.read_parquet(store.open(key))


# --- step 1 -------------------------------------------------------------------------------------------------------
def find_day_files(store: ObjectStore, model: ModelConfig, day: Any) -> list[str]:
    """The keys of the day's log files; raises MissingPartitionError naming the S3 prefix when there are none."""
    layout = DayLayout.of(model, day)
    files = ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                  model.storage.completion_marker, model.storage.settle_seconds)
    log.info("found %d log file(s) under %s", len(files), store.url(layout.predictions_dir))
    return [f.key for f in files]


# --- step 2 -------------------------------------------------------------------------------------------------------
def validate_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Read the day, apply the data contract, stage valid rows and quarantine; fail past the rejected share."""
    layout = DayLayout.of(model, day)
    files = ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                  model.storage.completion_marker, model.storage.settle_seconds)
    frame, reads = ingest.read_day(store, files, model.storage.log_format)
    contract.check_columns(reads, model, store.url)
    result = contract.validate(frame, model, layout.day)
    store.put_bytes(layout.staged_valid_rows, _parquet_bytes(result.valid), PARQUET)
    quarantine_key = publish.staged_quarantine(layout)
    if result.rows_quarantined:
        store.put_bytes(quarantine_key, _parquet_bytes(result.quarantine), PARQUET)
        log.warning("quarantined %d of %d rows: %s", result.rows_quarantined, result.rows_read,
                    ", ".join(f"{k}={v}" for k, v in sorted(result.reasons.items())))
    else:
        store.delete(quarantine_key)
    stats = {**result.stats(), "files": [{"key": r.key, "rows": r.rows} for r in reads]}
    store.put_json(layout.staged_contract, stats)
    contract.enforce_rejected_share(result, model, store.url(quarantine_key))
    log.info("%d valid rows of %d read from %d file(s)", result.rows_valid, result.rows_read, len(reads))
    return {k: stats[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "reasons")}


# --- step 3 -------------------------------------------------------------------------------------------------------
def load_reference(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> tuple[str, pd.DataFrame]:
    """The current reference version named by reference/<model>/CURRENT.json, typed like the valid rows."""
    try:
        version = str(store.get_json(layout.reference_pointer)["version"])
    except FileNotFoundError:
        raise MissingReferenceError(
            f"no reference for model {model.name!r}: {store.url(layout.reference_pointer)} does not exist. "
            'Upload the baseline under reference/<model>/v=<version>/ and write {"version": "<version>"} there.'
        ) from None
    except (KeyError, TypeError, ValueError):
        raise MissingReferenceError(
            f'{store.url(layout.reference_pointer)} must be a JSON object like {{"version": "2026-01-01"}}') from None
    prefix = layout.reference_version_dir(version)
    keys = [o.key for o in store.list(prefix) if not ingest.is_marker(o.key)]
    if not keys:
        raise MissingReferenceError(f"reference version {version!r} of model {model.name!r} has no files under "
                                    f"{store.url(prefix)}")
    frames = [ingest.read_file(store, key, LogFormat.PARQUET) for key in keys]
    frame = pd.concat(frames, ignore_index=True)
    return version, contract.prepare_reference(frame, model, store.url(prefix))


def report_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Run the Evidently reports on the staged valid rows and stage them with the day's summary."""
    from monitoring import operations, quality, reports  # reports imports Evidently inside its functions

    layout = DayLayout.of(model, day)
    stats = store.get_json(layout.staged_contract)
    valid = _read_parquet(store, layout.staged_valid_rows)
    version, reference = load_reference(store, model, layout)
    cap = model.reports.max_rows
    current_sample = hash_sample(valid, model.columns.id, cap)
    reference_sample = reference if len(reference) <= cap else reference.sample(n=cap, random_state=0)
    log.info("Evidently on %d of %d valid rows against %d reference rows (version %s)",
             len(current_sample), len(valid), len(reference_sample), version)
    outcome = reports.build_reports(current_sample, reference_sample, model)
    for report in outcome.rendered:
        store.put_bytes(publish.staged_report(layout, report.name, "html"), report.html.encode(), HTML)
        store.put_bytes(publish.staged_report(layout, report.name, "json"), report.json.encode(), JSON)
    summary = summarize(
        model=model.name, day=layout.day, contract=stats, files=stats["files"], sampled_rows=len(current_sample),
        reference_version=version, reference_rows=len(reference), outcome=outcome,
        quality=quality.column_quality(valid, reference, model),
        dataset_drift_share=model.drift.dataset_drift_share,
        operations=operations.operations(valid, reference, model),
        reports={f"{name}_{ext}": f"{name}.{ext}" for name in REPORT_NAMES for ext in ("html", "json")},
    )
    store.put_bytes(publish.staged_summary(layout), summary.to_json(), JSON)
    log.info("dataset drift: %s (share %.2f, drifted: %s); prediction drift: %s",
             summary.data_drift.dataset_drift, summary.data_drift.drift_share,
             summary.data_drift.drifted_features or "none", summary.prediction_drift.drifted)
    return {"dataset_drift": summary.data_drift.dataset_drift, "drift_share": summary.data_drift.drift_share,
            "drifted_features": summary.data_drift.drifted_features,
            "prediction_drift": summary.prediction_drift.drifted}


# --- step 4 -------------------------------------------------------------------------------------------------------
def publish_day(store: ObjectStore, model: ModelConfig, day: Any, run: dict[str, Any] | None = None) -> dict[str, str]:
    """Publish the staged reports and summary with the day's entry of the metric history, manifest last."""
    layout = DayLayout.of(model, day)
    staged = store.get_bytes(publish.staged_summary(layout))
    summary = summary_from_json(staged)
    metrics = history.day_metrics(summary, rules.evaluate(summary, model))
    urls = publish.publish(store, layout, run or {}, [
        (layout.summary, staged, JSON),
        (layout.day_metrics, metrics.model_dump_json(indent=2).encode(), JSON),
    ])
    for name, url in sorted(urls.items()):
        log.info("published %s", url)
    return urls


# --- step 4b: the stakeholder site ---------------------------------------------------------------------------
def update_site(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None) -> dict:
    """Compact the model's history and regenerate the pages a newly published day changes: its own day page, the
    day pages whose trailing window includes it (so out-of-order backfills converge), the model and home pages."""
    from monitoring import site

    layout = DayLayout.of(model, day)
    days = history.compact(store, layout)
    affected = [d for d in days if 0 <= (parse_day(d.day) - layout.day).days <= site.TRAILING_DAYS]
    for metrics in affected:
        day_layout = layout.on(metrics.day)
        summary = summary_from_json(store.get_bytes(day_layout.summary))
        page = site.render_day_page(summary, rules.evaluate(summary, model), metrics, days)
        store.put_bytes(day_layout.day_page, page.encode(), HTML)
    store.put_bytes(layout.model_page, site.render_model_page(model.name, model.description, days).encode(), HTML)
    siblings = [m for m in (models or [model]) if (m.storage.bucket, m.storage.reports_prefix) ==
                (model.storage.bucket, model.storage.reports_prefix)]
    entries = [(m.name, m.description, days if m.name == model.name else
                history.read_history(store, DayLayout.of(m, layout.day))) for m in siblings]
    store.put_bytes(layout.home_page, site.render_home_page(entries).encode(), HTML)
    urls = {"day_page": store.url(layout.day_page), "model_page": store.url(layout.model_page),
            "home_page": store.url(layout.home_page)}
    log.info("site updated: %d day page(s) regenerated; day page %s, model page %s, home page %s",
             len(affected), urls["day_page"], urls["model_page"], urls["home_page"])
    return urls


# --- step 5 -------------------------------------------------------------------------------------------------------
def read_summary(store: ObjectStore, model: ModelConfig, day: Any) -> DaySummary:
    layout = DayLayout.of(model, day)
    if not publish.is_published(store, layout):
        raise FileNotFoundError(f"{store.url(layout.reports_dir)} is not published (no manifest.json)")
    return summary_from_json(store.get_bytes(layout.summary))


def evidence(store: ObjectStore, layout: DayLayout) -> dict[str, str]:
    links = {"day_page": store.url(layout.day_page), "summary": store.url(layout.summary)}
    links.update({name: store.url(layout.report(name, "html")) for name in REPORT_NAMES})
    return links


def decide_day(store: ObjectStore, model: ModelConfig, day: Any) -> Decision:
    """Which rules fire on the published day, and whether the retraining rule does."""
    layout = DayLayout.of(model, day)
    summary = read_summary(store, model, day)
    findings = rules.evaluate(summary, model)
    request = retrain.retrain_request(summary, model, evidence(store, layout))
    decision = Decision(model=model.name, day=layout.day.isoformat(), findings=findings, retrain=request)
    log.info("branch: %s, because %s", decision.branches, decision.why)
    return decision


def apply_decision(store: ObjectStore, model: ModelConfig, day: Any, decision: Decision) -> str | None:
    """Record the alerts of an alerting day, or clear a stale record from an earlier run of a healthy day."""
    layout = DayLayout.of(model, day)
    if decision.findings:
        return alerts.record_alerts(store, layout, decision.findings, evidence(store, layout))
    if alerts.clear_alerts(store, layout):
        log.info("removed the alert record of an earlier run: the day is healthy now")
    return None


def run_day(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None) -> Decision:
    """The whole daily flow without Airflow (the CLI); retraining is only reported, not triggered."""
    day = parse_day(day)
    find_day_files(store, model, day)
    validate_day(store, model, day)
    report_day(store, model, day)
    publish_day(store, model, day, {"runner": "cli"})
    update_site(store, model, day, models)
    decision = decide_day(store, model, day)
    apply_decision(store, model, day, decision)
    return decision
