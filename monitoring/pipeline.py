"""One model-day, step by step: the functions each DAG task calls, and `run_day` that chains them without Airflow.

Each step reads its inputs from the object store and writes its outputs there (under the staging prefix until
publication), so every task can be retried or rerun alone and returns only a small JSON-able dict.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring import alerts, contract, history, ingest, publish, retrain, rules
from monitoring.config import LogFormat, ModelConfig
from monitoring.layout import PERFORMANCE_REPORT, REPORT_NAMES, DayLayout, parse_day
from monitoring.profile import DayProfile
from monitoring.sampling import HashSample, hash_sample
from monitoring.storage import HTML, JSON, PARQUET, ObjectStore, canonical, dumps
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
    retrain_held: str | None = None  # why a retraining request was not made (cooldown)
    # The metric store's recent days, this one included, as read when deciding (the alert episodes use them too):
    recent: dict[str, history.DayMetrics] = field(default_factory=dict, repr=False)

    @property
    def alerting(self) -> list[rules.Finding]:
        """Findings worth an alert: warnings and critical ones (info findings are only shown on the pages)."""
        return [f for f in self.findings if f.severity.rank >= rules.Severity.WARNING.rank]

    @property
    def branches(self) -> list[str]:
        chosen = ([ALERT] if self.alerting else []) + ([TRIGGER_RETRAINING] if self.retrain else [])
        return chosen or [HEALTHY]

    @property
    def why(self) -> str:
        if not self.alerting and not self.retrain:
            return "no drift, prediction-drift, data-quality or performance rule fired"
        parts = [f"{f.rule} ({f.severity.value})" for f in self.alerting]
        if self.retrain:
            parts.append("retraining rule: " + "; ".join(self.retrain.reasons))
        return ", ".join(parts)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _reference_sample(reference: pd.DataFrame, cap: int) -> pd.DataFrame:
    """The reference handed to Evidently: all of it, or a fixed random sample of `reports.max_rows` rows."""
    return reference if len(reference) <= cap else reference.sample(n=cap, random_state=0)


# --- step 1 -------------------------------------------------------------------------------------------------------
def find_day_files(store: ObjectStore, model: ModelConfig, day: Any) -> list[str]:
    """The keys of the day's log files; raises MissingPartitionError naming the S3 prefix when there are none."""
    layout = DayLayout.of(model, day)
    files = ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                  model.storage.completion_marker, model.storage.settle_seconds)
    log.info("found %d log file(s) under %s", len(files), store.url(layout.predictions_dir))
    return [f.key for f in files]


class _QuarantineSpool:
    """A day's quarantined rows, spooled batch by batch to local parquet files (memory holds one batch however bad
    the day), then written as one file with the union of the batches' columns: text, the row number an integer."""

    def __init__(self) -> None:
        self.parts: list = []
        self.columns: dict[str, None] = {}  # an ordered set: columns in the order they were first seen

    @staticmethod
    def _schema(columns) -> pa.Schema:
        return pa.schema([(c, pa.int64() if c == ingest.SOURCE_ROW else pa.string()) for c in columns])

    def add(self, frame: pd.DataFrame) -> None:
        local = tempfile.TemporaryFile()
        self.parts.append(local)
        pq.write_table(pa.Table.from_pandas(frame, schema=self._schema(frame.columns), preserve_index=False), local)
        self.columns.update(dict.fromkeys(frame.columns))

    def write(self, target) -> None:
        schema = self._schema(self.columns)
        with pq.ParquetWriter(target, schema) as writer:
            for local in self.parts:
                local.seek(0)
                part = pq.read_table(local)
                writer.write_table(pa.table([part[c] if c in part.column_names else pa.nulls(len(part), f.type)
                                             for c, f in zip(schema.names, schema)], schema=schema))

    def close(self) -> None:
        for local in self.parts:
            local.close()


# --- step 2 -------------------------------------------------------------------------------------------------------
def validate_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Read the day batch by batch, apply the data contract, stage valid rows and quarantine; fail past the rejected
    share. Memory holds one batch (and 8 bytes per id of the day, to find duplicates), whatever the day's size."""
    layout = DayLayout.of(model, day)
    log_format = model.storage.log_format
    files = ingest.list_day_files(store, layout.predictions_dir, log_format,
                                  model.storage.completion_marker, model.storage.settle_seconds)
    tally, seen, quarantined, reads = contract.ContractTally(), contract.SeenIds(), _QuarantineSpool(), []
    schema = contract.valid_schema(model)
    with tempfile.TemporaryFile() as staged, contextlib.closing(quarantined):
        with pq.ParquetWriter(staged, schema) as writer:
            for obj in files:
                rows, columns = 0, ()
                for batch in ingest.read_batches(store, obj.key, log_format):
                    columns = tuple(c for c in batch.columns if c not in (ingest.SOURCE_FILE, ingest.SOURCE_ROW))
                    contract.check_columns([ingest.FileRead(obj.key, len(batch), obj.size, columns)], model, store.url)
                    result = contract.validate(batch, model, layout.day, seen)
                    tally.add(result)
                    writer.write_table(pa.Table.from_pandas(result.valid, schema=schema, preserve_index=False))
                    if result.rows_quarantined:
                        quarantined.add(result.quarantine)
                    rows += len(batch)
                log.info("read %s rows from %s (%s bytes)", rows, store.url(obj.key), obj.size)
                reads.append(ingest.FileRead(obj.key, rows, obj.size, columns))
        if not tally.rows_read:
            log.warning("the day's partition is complete but holds no rows: it is published as a day of volume 0")
        store.upload(layout.staged_valid_rows, staged, PARQUET)
        quarantine_key = publish.staged_quarantine(layout)
        if quarantined.parts:
            with tempfile.TemporaryFile() as local:
                quarantined.write(local)
                store.upload(quarantine_key, local, PARQUET)
            log.warning("quarantined %d of %d rows: %s", tally.rows_quarantined, tally.rows_read,
                        ", ".join(f"{k}={v}" for k, v in sorted(tally.reasons.items())))
        else:
            store.delete(quarantine_key)
    stats = {**tally.stats(), "files": [{"key": r.key, "rows": r.rows} for r in reads]}
    store.put_json(layout.staged_contract, stats)
    contract.enforce_rejected_share(tally, model, store.url(quarantine_key))
    log.info("%d valid rows of %d read from %d file(s)", tally.rows_valid, tally.rows_read, len(reads))
    return {k: stats[k] for k in ("rows_read", "rows_valid", "rows_quarantined", "reasons")}


# --- step 3 -------------------------------------------------------------------------------------------------------
def current_reference_version(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> str:
    """The reference version reference/<model>/CURRENT.json names (the model version in use)."""
    try:
        return str(store.get_json(layout.reference_pointer)["version"])
    except FileNotFoundError:
        raise MissingReferenceError(
            f"no reference for model {model.name!r}: {store.url(layout.reference_pointer)} does not exist. "
            'Upload the baseline under reference/<model>/v=<version>/ and write {"version": "<version>"} there.'
        ) from None
    except (KeyError, TypeError, ValueError):
        raise MissingReferenceError(
            f'{store.url(layout.reference_pointer)} must be a JSON object like {{"version": "2026-01-01"}}') from None


def load_reference(store: ObjectStore, model: ModelConfig, layout: DayLayout,
                   version: str | None = None) -> tuple[str, pd.DataFrame]:
    """A reference version (default: the current one, see `current_reference_version`), typed like the valid rows."""
    version = version or current_reference_version(store, model, layout)
    prefix = layout.reference_version_dir(version)
    keys = [o.key for o in store.list(prefix) if not ingest.is_marker(o.key)]
    if not keys:
        raise MissingReferenceError(f"reference version {version!r} of model {model.name!r} has no files under "
                                    f"{store.url(prefix)}")
    frames = [ingest.read_file(store, key, LogFormat.PARQUET) for key in keys]
    frame = pd.concat(frames, ignore_index=True)
    return version, contract.prepare_reference(frame, model, store.url(prefix))


def day_volume(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> int | None:
    """Rows logged on the layout's day: counted by its validation when it ran, else from its log files (parquet
    footers; other formats read); None when the day has no logs."""
    try:
        return int(store.get_json(layout.staged_contract)["rows_read"])
    except FileNotFoundError:
        pass
    try:
        files = ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                      model.storage.completion_marker, model.storage.settle_seconds)
        return sum(ingest.count_rows(store, f.key, model.storage.log_format) for f in files)
    except ingest.IngestError:
        return None  # no logs, still being written, or unreadable (that day's own run says so)


def trailing_volume(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> tuple[float | None, int]:
    """Mean rows a day over the days with logs among the `rules.volume.window_days` before the layout's day, and how
    many there were. From the logs, not from what is published: a backfill running days in parallel gets the figure
    a rerun of the day gets."""
    volumes = [v for back in range(1, model.rules.volume.window_days + 1)
               if (v := day_volume(store, model, layout.on(layout.day - dt.timedelta(days=back)))) is not None]
    return (sum(volumes) / len(volumes) if volumes else None), len(volumes)


def report_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Run the Evidently reports on the staged valid rows and stage them with the day's summary."""
    from monitoring import reports  # imports Evidently inside its functions

    layout = DayLayout.of(model, day)
    stats = store.get_json(layout.staged_contract)
    version, reference = load_reference(store, model, layout)
    cap = model.reports.max_rows
    # One pass over the valid rows, batch by batch: the exact figures of the whole day, and its sample.
    profile, sample = DayProfile(model, reference), HashSample(model.columns.id, cap)
    started = time.monotonic()
    with store.download(layout.staged_valid_rows) as local:
        for batch in ingest.batches(local, ingest.BATCH_ROWS):
            frame = batch.to_pandas()
            profile.add(frame)
            sample.add(frame)
    current_sample = sample.rows() if profile.rows else contract.valid_schema(model).empty_table().to_pandas()
    log.info("profiled %d valid rows in %.1fs (exact figures of the whole day, and its sample)", profile.rows,
             time.monotonic() - started)
    reference_sample = _reference_sample(reference, cap)
    log.info("Evidently on %d of %d valid rows against %d reference rows (version %s)",
             len(current_sample), profile.rows, len(reference_sample), version)
    outcome = reports.build_reports(current_sample, reference_sample, model)
    for report in outcome.rendered:
        store.put_bytes(publish.staged_report(layout, report.name, "html"), report.html.encode(), HTML)
        store.put_bytes(publish.staged_report(layout, report.name, "json"), report.json.encode(), JSON)
    summary = summarize(
        model=model.name, day=layout.day, contract=stats, files=stats["files"], sampled_rows=len(current_sample),
        reference_version=version, reference_rows=len(reference), outcome=outcome,
        quality=profile.quality(),
        dataset_drift_share=model.drift.dataset_drift_share,
        operations=profile.operations(current_sample).model_copy(update=dict(zip(
            ("trailing_volume", "trailing_volume_days"),
            trailing_volume(store, model, layout)))),
        reports={f"{r.name}_{ext}": f"{r.name}.{ext}" for r in outcome.rendered for ext in ("html", "json")},
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
    # A rerun keeps what labels already told about the day (performance only grows with more labels).
    summary = summary_from_json(store.get_bytes(publish.staged_summary(layout))).with_labels(
        *_label_sections(store, layout))
    staged = summary.to_json()
    metrics = history.day_metrics(summary, rules.evaluate(summary, model))
    urls = publish.publish(store, layout, run or {}, [
        (layout.summary, staged, JSON),
        (layout.day_metrics, metrics.model_dump_json(indent=2).encode(), JSON),
    ], reports=summary.report_names)
    for name, url in sorted(urls.items()):
        log.info("published %s", url)
    return urls


# --- step 5: performance, as labels arrive ------------------------------------------------------------------
def _label_sections(store: ObjectStore, layout: DayLayout):
    from monitoring.performance import LabelsReport, Performance

    def read(key: str, kind):
        try:
            return kind.model_validate_json(store.get_bytes(key))
        except FileNotFoundError:
            return None

    return read(layout.performance, Performance), read(layout.labels_report, LabelsReport)


SUMMARY_REFRESH_ROUNDS = 5


def refresh_summary(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> bool:
    """Fold the day's performance.json and labels.json into its published summary.json and metric-store entry.

    Other runs may update the same day's performance at the same time: after writing, the components are read again
    and the summary is rebuilt if one changed meanwhile, so the last summary written holds the latest of both."""
    changed = False
    for _ in range(SUMMARY_REFRESH_ROUNDS):
        sections = _label_sections(store, layout)
        current = store.get_bytes(layout.summary)
        summary = summary_from_json(current).with_labels(*sections)
        data = summary.to_json()
        if data != current:
            metrics = history.day_metrics(summary, rules.evaluate(summary, model)).model_dump_json(indent=2).encode()
            store.put_bytes(layout.summary, data, JSON)
            store.put_bytes(layout.day_metrics, metrics, JSON)
            publish.record_update(store, layout, [(layout.summary, data), (layout.day_metrics, metrics)])
            changed = True
        if _label_sections(store, layout) == sections:
            return changed
    raise RuntimeError(f"the performance of {layout.model} on {layout.day} kept changing while it was folded into "
                       "its summary; the next run retries")


def _day_predictions(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> pd.DataFrame | None:
    """The valid predictions of a processed day (id, score, decision), or None when the day was not processed."""
    if not store.exists(layout.staged_valid_rows):
        return None
    return ingest.read_columns(store, layout.staged_valid_rows, [model.columns.id, *model.columns.predictions])


def _monitored_version(store: ObjectStore, layout: DayLayout) -> str | None:
    """The reference version a published day was monitored against (None when it is not published)."""
    try:
        return store.get_json(layout.summary).get("reference_version")
    except FileNotFoundError:
        return None


def _write_performance(store: ObjectStore, model: ModelConfig, layout: DayLayout, found, joined: pd.DataFrame,
                       reference: pd.DataFrame) -> bool:
    """Write a published day's performance when its labels grew (or became complete); True when written.

    Never replaces a performance computed with later labels (a rerun or backfill of an older day keeps it)."""
    from monitoring import reports
    from monitoring.labels import LABEL

    if not publish.is_published(store, layout):
        return False  # its own run publishes it; the next run after that fills in its performance
    stored, _ = _label_sections(store, layout)
    if stored and stored.labels_as_of > found.labels_as_of:
        return False
    report_key, report_json_key = (layout.report(PERFORMANCE_REPORT, ext) for ext in ("html", "json"))
    written: list[tuple[str, bytes]] = []
    if stored and stored.label_digest == found.label_digest:
        if stored.complete == found.complete:
            return False  # nothing new
        found = found.model_copy(update={"report": stored.report, "report_skipped": stored.report_skipped})
    elif len(joined):
        cap = model.reports.max_rows
        labelled_reference = None
        if model.labels.column in reference.columns:
            labelled_reference = _reference_sample(reference.rename(columns={model.labels.column: LABEL}), cap)
        rendered = reports.build_performance_report(hash_sample(joined, model.columns.id, cap), labelled_reference,
                                                    model)
        if isinstance(rendered, str):
            found = found.model_copy(update={"report": None, "report_skipped": rendered})
        else:
            written = [(report_key, rendered.html.encode()), (report_json_key, rendered.json.encode())]
            for key, data in written:
                store.put_bytes(key, data, HTML if key.endswith(".html") else JSON)
            found = found.model_copy(update={"report": f"{PERFORMANCE_REPORT}.html", "report_skipped": None})
            log.info("performance report of %s (%d labelled predictions): %s", layout.day, len(joined),
                     store.url(report_key))
    else:
        found = found.model_copy(update={"report_skipped": "no labels yet"})
    if found.report is None:
        for key in (report_key, report_json_key):
            store.delete(key)
    data = canonical(found)
    store.put_bytes(layout.performance, data, JSON)
    publish.record_update(store, layout, [*written, (layout.performance, data)],
                          removed=[] if found.report else [report_key, report_json_key])
    return True


def performance_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Join the labels known on the run's day to the predictions of every day of the label window; rewrite the
    performance of each published day whose labels grew; record the labels that landed on the day; judge the
    prediction day whose labels came due. Returns the days whose summaries changed."""
    from monitoring import labels, performance

    layout = DayLayout.of(model, day)
    if model.labels is None:
        log.info("model %s has no labels configured: no performance monitoring", model.name)
        return {"updated_days": [], "due": None}
    first = layout.day - dt.timedelta(days=model.labels.window)
    window = labels.read_window(store, model, layout, first, layout.day)
    log.info("%d usable label(s) known from %s to %s in %d file(s); %d rejected", len(window.labels), first,
             layout.day, len(window.files), len(window.rejected))
    current = current_reference_version(store, model, layout)
    references: dict[str, tuple[pd.DataFrame, dict[str, float | None]]] = {}

    def reference_of(version: str) -> tuple[pd.DataFrame, dict[str, float | None]]:
        """A version's reference and baseline: each day is judged against the version it was monitored with."""
        if version not in references:
            _, frame = load_reference(store, model, layout, version)
            references[version] = frame, performance.baseline(frame, model)
        return references[version]

    due_day = layout.day - dt.timedelta(days=model.labels.lag_days)
    due, updated, joined_ids = None, [], set()
    for offset in range(model.labels.window, -1, -1):
        day_layout = layout.on(layout.day - dt.timedelta(days=offset))
        predictions = _day_predictions(store, model, day_layout)
        if predictions is None:
            continue
        joined = labels.join(predictions, model.columns.id, window)
        joined_ids.update(joined[model.columns.id])
        version = _monitored_version(store, day_layout) or current
        reference, reference_metrics = reference_of(version)
        found = performance.evaluate(joined=joined, predictions=len(predictions), model=model, day=day_layout.day,
                                     as_of=layout.day, reference_metrics=reference_metrics,
                                     label_digest=labels.digest(joined, model.columns.id), reference_version=version)
        if day_layout.day == due_day:
            due = found
        if _write_performance(store, model, day_layout, found, joined, reference):
            updated.append(day_layout.day)
            log.info("performance of %s: %d of %d predictions labelled (%.0f%%)%s", day_layout.day, found.labelled,
                     found.predictions, 100 * found.coverage,
                     "; " + ", ".join(f"{k} {v:.3f}" for k, v in found.metrics.items() if v is not None)
                     if found.labelled else "")
    counts, quarantine = labels.landed_problems(window, layout.day.isoformat(), joined_ids, (first, layout.day))
    landed = [f for f in window.files if f.day == layout.day.isoformat()]
    report = performance.LabelsReport(
        day=layout.day.isoformat(), files=[{"key": f.key, "rows": f.rows} for f in landed],
        rows=sum(f.rows for f in landed),
        joined=int(window.labels[labels.LABEL_DAY].eq(layout.day.isoformat()).sum()) - counts.get("unknown_id", 0),
        problems=dict(sorted(counts.items())),
        file_problems=[p for p in window.file_problems if f"dt={layout.day.isoformat()}/" in p],
        due=performance.verdict(due, due_day, model, current),
    )
    report_data = canonical(report)
    store.put_bytes(layout.labels_report, report_data, JSON)
    if len(quarantine):
        data = _parquet_bytes(quarantine)
        store.put_bytes(layout.labels_quarantine, data, PARQUET)
        publish.record_update(store, layout, [(layout.labels_report, report_data), (layout.labels_quarantine, data)])
    else:
        store.delete(layout.labels_quarantine)
        publish.record_update(store, layout, [(layout.labels_report, report_data)], removed=[layout.labels_quarantine])
    changed = [d for d in sorted(set(updated) | {layout.day})
               if publish.is_published(store, layout.on(d)) and refresh_summary(store, model, layout.on(d))]
    log.info("labels: %d row(s) landed on %s, problems %s; due day %s: %s%s", report.rows, layout.day,
             report.problems or "none", due_day, report.due.status,
             " - degraded: " + "; ".join(d.describe() for d in report.due.degraded) if report.due.degraded else "")
    return {"updated_days": [d.isoformat() for d in changed], "due": report.due.status,
            "degraded": [d.metric for d in report.due.degraded]}


# --- step 5b: the stakeholder site ---------------------------------------------------------------------------
def update_site(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None,
                changed_days: list[str] = ()) -> dict:
    """Compact the model's history and regenerate the pages a newly published day changes: its own day page, the
    day pages whose trailing window includes it (so out-of-order backfills converge), the same for each day whose
    performance changed with new labels (`changed_days`), the model and home pages."""
    from monitoring import site

    layout = DayLayout.of(model, day)
    days = history.compact(store, layout)
    changed = {layout.day, *(parse_day(d) for d in changed_days)}
    headline = model.headline_metric
    affected = [d for d in days
                if any(0 <= (parse_day(d.day) - c).days <= site.TRAILING_DAYS for c in changed)]
    for metrics in affected:
        day_layout = layout.on(metrics.day)
        summary = summary_from_json(store.get_bytes(day_layout.summary))
        page = site.render_day_page(summary, rules.evaluate(summary, model), metrics, days, headline=headline)
        store.put_bytes(day_layout.day_page, page.encode(), HTML)
    store.put_bytes(layout.model_page, site.render_model_page(model.name, model.description, days,
                                                              headline=headline).encode(), HTML)
    siblings = [m for m in (models or [model]) if (m.storage.bucket, m.storage.reports_prefix) ==
                (model.storage.bucket, model.storage.reports_prefix)]
    entries = [(m.name, m.description, days if m.name == model.name else
                history.read_history(store, DayLayout.of(m, layout.day))) for m in siblings]
    headlines = {m.name: m.headline_metric for m in siblings}
    store.put_bytes(layout.home_page, site.render_home_page(entries, headlines=headlines).encode(), HTML)
    urls = {"day_page": store.url(layout.day_page), "model_page": store.url(layout.model_page),
            "home_page": store.url(layout.home_page)}
    log.info("site updated: %d day page(s) regenerated; day page %s, model page %s, home page %s",
             len(affected), urls["day_page"], urls["model_page"], urls["home_page"])
    return urls


# --- step 6 -------------------------------------------------------------------------------------------------------
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
    recent = history.rules_by_day(store, layout, history.day_metrics(summary, findings))
    request = retrain.retrain_request(summary, model, evidence(store, layout), recent)
    held = None
    if request:
        held = (retrain.waiting_for_labels(request, model, recent)
                or retrain.claim(store, layout, request, model.retraining.cooldown_days))
    if held:
        log.info("no retraining request: %s (reasons were: %s)", held, "; ".join(request.reasons))
        request = None
    decision = Decision(model=model.name, day=layout.day.isoformat(), findings=findings, retrain=request,
                        retrain_held=held, recent=recent)
    log.info("branch: %s, because %s", decision.branches, decision.why)
    return decision


def apply_decision(store: ObjectStore, model: ModelConfig, day: Any, decision: Decision, *,
                   today: dt.date | None = None, backfill: bool = False, notify: bool = True,
                   send: alerts.Sender | None = None) -> dict[str, Any]:
    """Record the day's alerts (or clear a stale record of a healthy day), send this run's message when it has
    something new and is not quiet (else add its alerts to the digest), and write decisions.json."""
    layout = DayLayout.of(model, day)
    links = evidence(store, layout)
    if decision.alerting:
        alerts.record_alerts(store, layout, decision.alerting, links)
    elif alerts.clear_alerts(store, layout):
        log.info("removed the alert record of an earlier run: the day is healthy now")
    quiet = alerts.quiet_reason(model, layout.day, today or dt.datetime.now(dt.timezone.utc).date(), backfill, notify)
    planned = alerts.plan(store, model, layout, decision.alerting, links, quiet,
                          decision.recent or history.rules_by_day(store, layout))
    delivered: list[str] = []
    if quiet:
        alerts.add_to_digest(store, layout, decision.alerting, quiet)
        log.info("no message sent: %s", quiet)
    elif planned.message and send is None:
        delivered = ["no channel configured (alerts.channels): the message is only recorded here"]
    elif planned.message:
        delivered = alerts.deliver(store, layout, planned, send,
                                   dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    for line in planned.skipped:
        log.info("not alerted: %s", line)
    record = {"model": model.name, "day": layout.day.isoformat(), "branches": decision.branches, "why": decision.why,
              "findings": [f.model_dump(mode="json") for f in decision.findings],
              "retraining": decision.retrain.conf() if decision.retrain else None,
              "retraining_held": decision.retrain_held,
              "notification": {"quiet": quiet, "message": planned.message.model_dump() if planned.message else None,
                               "skipped": planned.skipped, "delivered": delivered}}
    data = dumps(record)
    store.put_bytes(layout.decisions, data, JSON)
    publish.record_update(store, layout, [(layout.decisions, data)])
    return record


def run_day(store: ObjectStore, model: ModelConfig, day: Any, models: list[ModelConfig] | None = None) -> Decision:
    """The whole daily flow without Airflow (the CLI); retraining is only reported, not triggered."""
    day = parse_day(day)
    try:
        find_day_files(store, model, day)
    except (ingest.MissingPartitionError, ingest.PartitionIncompleteError) as missing:
        # The labels that landed on the day are joined all the same (as the DAG's performance task does).
        try:
            labelled = performance_day(store, model, day)
            update_site(store, model, day, models, labelled["updated_days"])
        except Exception:
            log.exception("the labels that landed on %s could not be joined either", day)
        raise missing
    validate_day(store, model, day)
    report_day(store, model, day)
    publish_day(store, model, day, {"runner": "cli"})
    labelled = performance_day(store, model, day)
    update_site(store, model, day, models, labelled["updated_days"])
    decision = decide_day(store, model, day)
    apply_decision(store, model, day, decision)
    return decision
