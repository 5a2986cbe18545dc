"""Step 3: one pass over the day's valid rows (its exact figures and its sample), the Evidently reports of the sample
against the fitted reference, and the day's summary, staged for publication."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from monitoring import contract, ingest, judging, reference_store, reports, trailing, volume, window_state
from monitoring.config import ModelConfig
from monitoring.day_state import DayState
from monitoring.layout import DayLayout
from monitoring.reference import ReferenceProfile
from monitoring.sampling import HashSample
from monitoring.storage import HTML, JSON, ObjectStore
from monitoring.summary import summarize

log = logging.getLogger(__name__)


def _segment_reports(fitted, segmented, current, compared, model: ModelConfig) -> list[tuple[Any, str]]:
    """The data-drift reports of the segments that fired, largest impact first (`segments.reports` at most), each
    with its segment's key."""
    found = []
    for result in [r for r in segmented.segments if r.fired][:model.segments.reports]:
        judged = {**({result.top_column: result.top_verdict} if result.top_verdict else {}), **result.fired}
        lines = {c: max(v.band[1] if v.band else 0.0, v.min_effect or 0.0) for c, v in judged.items()}
        report = reports.build_segment_report(
            f"segment_drift_{len(found) + 1}", current[fitted.segments.members(result.key, current)],
            compared[fitted.segments.members(result.key, compared)], model, result.drift, lines)
        if report is not None:
            found.append((report, result.key))
    return found


def _window_tally(store: ObjectStore, model: ModelConfig, layout: DayLayout,
                  fitted: ReferenceProfile) -> window_state.WindowTally:
    """The day's mergeable state (fed the same batches as its DayState), on the model's fixed edges, per segment
    too when the model has segments."""
    numerical, _ = window_state.monitored_columns(model)
    return window_state.tally_of(model, layout.day, fitted.version,
                                 window_state.fixed_edges(store, model, fitted, numerical), fitted)


def _state_bytes(store: ObjectStore, layout: DayLayout, state: window_state.WindowState) -> bytes:
    """The day's state; the published one's bytes when it was counted from the same valid rows against the same
    reference version and edges (KLL sketches draw random bits: a rerun of an unchanged day rewrites the same
    bytes, as every other artifact of the day)."""
    try:
        published = store.get_bytes(layout.state)
        before = window_state.WindowState.from_json(published)
    except (FileNotFoundError, ValueError):
        return state.to_json()
    same = ("schema_version", "source_sha256", "reference_versions", "edges_from", "rows")
    return published if all(getattr(before, f) == getattr(state, f) for f in same) else state.to_json()


def report_day(store: ObjectStore, model: ModelConfig, day: Any) -> dict[str, Any]:
    """Profile the staged valid rows, run the Evidently reports on their sample, stage them with the day's summary."""
    layout = DayLayout.of(model, day)
    stats = store.get_json(layout.staged_contract)
    fitted = reference_store.load_or_fit(store, model, layout)
    state, sample = DayState(model.fit_settings, fitted), HashSample(model.columns.id, model.reports.max_rows)
    tally = _window_tally(store, model, layout, fitted)
    started = time.monotonic()
    with store.download(layout.staged_valid_rows) as local:
        source = hashlib.sha256()
        for chunk in iter(lambda: local.read(1 << 20), b""):
            source.update(chunk)
        local.seek(0)
        for batch in ingest.batches(local, ingest.BATCH_ROWS):
            frame = batch.to_pandas()
            state.add(frame)
            sample.add(frame)
            tally.add(frame)
    current = sample.rows() if state.rows else contract.valid_schema(model).empty_table().to_pandas()
    log.info("profiled %d valid rows in %.1fs (exact figures of the whole day, and its sample)", state.rows,
             time.monotonic() - started)
    compared = reference_store.evidently_sample(store, layout, fitted) if state.rows else current.iloc[0:0]
    volumes = volume.trailing_volume(store, model, layout)
    operations = state.operations(current, model.columns.latency).model_copy(update={
        "trailing_volume": volumes.mean, "trailing_volume_days": volumes.days,
        "trailing_volume_log_sd": volumes.log_sd})
    quality = state.quality()
    specs = model.drift_specs
    skipped = judging.skipped_columns(current, compared, specs, model.drift.max_categories)
    judged = judging.judge_columns(current, compared, specs, model.drift, fitted, skipped)
    if trailing.judged(model):  # what the day's trailing judgement compares with, once per reference version
        window_state.reference_state(store, model, fitted)
    columns, verdicts_of_day, segmented = judging.judge_day(model.drift, model.minimum_changes, fitted, judged,
                                                            operations, quality, current,
                                                            (model.segments, state.segments))
    log.info("drift of %d of %d valid rows against %d reference rows (version %s), %s", len(current), state.rows,
             fitted.sample_rows, fitted.version, model.drift.threshold_mode)
    rendered = list(reports.build_reports(current, compared, model, columns))
    nannies = reference_store.nannies(store, layout, fitted) if state.rows else {}
    losses = judging.expected_losses(fitted, nannies, current, model.columns.numerical, model.scoring.score)
    if segmented is not None:
        segmented = segmented.model_copy(update={"estimated": judging.segment_estimates(
            fitted, state.segments, model.metric_judging, model.segments, current, losses)})
        segment_reports = _segment_reports(fitted, segmented, current, compared, model)
        rendered += [r for r, _ in segment_reports]
        segmented = segmented.with_reports({key: f"{r.name}.html" for r, key in segment_reports})
    for report in rendered:
        store.put_bytes(layout.staged_report(report.name, "html"), report.html.encode(), HTML)
        store.put_bytes(layout.staged_report(report.name, "json"), report.json.encode(), JSON)
    estimate = judging.estimate_day(fitted, model.metric_judging, model.scoring, model.columns.numerical,
                                    model.columns.features, state.expected or state.expected_classes, current,
                                    nannies, quality, losses)
    day_state = tally.state(window_state.expected_state(state.expected or state.expected_classes, model.scoring),
                            source.hexdigest(), window_state.segment_expected(state.segments),
                            window_state.loss_state(estimate),
                            window_state.segment_losses(window_state.segmenter(model, fitted), current, losses))
    summary = summarize(
        model=model.name, day=layout.day, contract=stats, files=stats["files"], sampled_rows=len(current),
        reference_version=fitted.version, reference_rows=fitted.rows, drift=columns,
        features=model.columns.features, predictions=model.columns.predictions, quality=quality,
        dataset_drift_share=model.drift.dataset_drift_share, operations=operations,
        reports={f"{r.name}_{ext}": f"{r.name}.{ext}" for r in rendered for ext in ("html", "json")},
        verdicts=verdicts_of_day, estimated_performance=estimate, segments=segmented, importance=fitted.importance,
    )
    store.put_bytes(layout.staged_state, _state_bytes(store, layout, day_state), JSON)
    store.put_bytes(layout.staged_summary, summary.to_json(), JSON)
    log.info("dataset drift: %s (share %.2f, drifted: %s); prediction drift: %s",
             summary.data_drift.dataset_drift, summary.data_drift.drift_share,
             summary.data_drift.drifted_features or "none", summary.prediction_drift.drifted)
    return {"dataset_drift": summary.data_drift.dataset_drift, "drift_share": summary.data_drift.drift_share,
            "drifted_features": summary.data_drift.drifted_features,
            "prediction_drift": summary.prediction_drift.drifted}
