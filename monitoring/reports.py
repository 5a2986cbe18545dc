"""Everything Evidently: data definition from config, the three daily reports, their HTML and JSON.

Evidently is imported inside `build_reports` only: importing it takes seconds, and DAG files must parse fast.
Pitfalls of Evidently 0.7 handled here:
- drift verdicts exist only as tests, so every report runs with `include_tests=True`;
- automatic typing is never used: a `DataDefinition` always says which columns are numerical or categorical;
- one all-missing column aborts a whole report, so such columns are left out and reported as skipped;
- methods are always passed explicitly, so reports name them by id ("wasserstein"), never by display name;
- DataDriftPreset computes each column's drift several times; one ValueDrift per column is cheaper;
- the HTML inlines the report's data as JSON in a <script> block without escaping "</script>", so a category value
  could close the block and run as script: the JSON is rendered with <, > and & as unicode escapes instead;
- a categorical column with a distinct value per row makes every report huge and slow: such columns (more distinct
  values than `drift.max_categories`) are left out of the Evidently reports and reported as skipped.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from unittest import mock

import pandas as pd

from monitoring.config import ModelConfig

log = logging.getLogger(__name__)

ALL_MISSING = "all values missing"
NO_ROWS = "no valid rows on this day"


@dataclass(frozen=True)
class ColumnDriftResult:
    column: str
    kind: str  # "numerical" or "categorical"
    method: str
    threshold: float
    score: float | None
    drifted: bool
    skipped: str | None = None  # why no drift was computed


@dataclass(frozen=True)
class RenderedReport:
    name: str
    html: str
    json: str


@dataclass(frozen=True)
class ReportsOutcome:
    feature_drift: tuple[ColumnDriftResult, ...]
    prediction_drift: tuple[ColumnDriftResult, ...]
    rendered: tuple[RenderedReport, ...]


def _kind(model: ModelConfig, column: str) -> str:
    return "categorical" if model.is_categorical(column) else "numerical"


def _drift_metrics(model: ModelConfig, columns: list[str]) -> list:
    from evidently.metrics import ValueDrift

    metrics = []
    for column in columns:
        setting = model.drift_method(column)
        metrics.append(ValueDrift(column=column, method=setting.method, threshold=setting.threshold))
    return metrics


def _drift_results(snapshot, model: ModelConfig) -> dict[str, ColumnDriftResult]:
    """Per-column score from the metrics and verdict from the tests (FAIL = drifted)."""
    document = snapshot.dict()
    verdicts = {t["metric_config"]["metric_id"]: t["status"] for t in document.get("tests", [])}
    results = {}
    for metric in document["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith(":ValueDrift"):
            continue
        status = verdicts.get(metric["id"])
        if status not in ("SUCCESS", "FAIL"):
            raise RuntimeError(f"Evidently gave no drift verdict for column {config['column']!r} (test status {status})")
        results[config["column"]] = ColumnDriftResult(
            column=config["column"], kind=_kind(model, config["column"]), method=config["method"],
            threshold=float(config["threshold"]), score=float(metric["value"]), drifted=status == "FAIL",
        )
    return results


def _skipped(model: ModelConfig, column: str, why: str) -> ColumnDriftResult:
    setting = model.drift_method(column)
    return ColumnDriftResult(column, _kind(model, column), setting.method, setting.threshold, None, False, why)


# Evidently names each widget with a fresh uuid7 and each metric's script variable and div with a random hex id, so
# two renders of the same report differ. Numbered in order of appearance instead, a rerun rewrites the same bytes.
_RANDOM_IDS = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b"
                         r"|(?<=metric_)[0-9a-f]{32}\b")


def stable_ids(html: str) -> str:
    """The HTML with Evidently's random ids replaced by ids of the same shape numbered in order of appearance."""
    seen: dict[str, str] = {}

    def number(match: re.Match) -> str:
        token = match.group(0)
        if token not in seen:
            n = len(seen)
            seen[token] = f"00000000-0000-7000-8000-{n:012x}" if "-" in token else f"{n:032x}"
        return seen[token]

    return _RANDOM_IDS.sub(number, html)


def _html(snapshot) -> str:
    """The report's HTML with its inlined data unable to close the <script> block it sits in, and stable ids."""
    from evidently.legacy.utils import dashboard

    original = dashboard.dashboard_info_to_json

    def script_safe(info) -> str:
        return original(info).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    with mock.patch.object(dashboard, "dashboard_info_to_json", script_safe):
        return stable_ids(snapshot.get_html_str(as_iframe=False))


def _render(name: str, snapshot) -> RenderedReport:
    # save_html/save_json given a file object silently write nothing: render to strings and upload ourselves.
    return RenderedReport(name, _html(snapshot), json.dumps(json.loads(snapshot.json()), indent=2, sort_keys=True))


def build_reports(current: pd.DataFrame, reference: pd.DataFrame | None, model: ModelConfig) -> ReportsOutcome:
    """Run data drift, prediction drift and data quality reports of `current` against `reference` (not needed for a
    day without rows, which gets none)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    cols = model.columns
    if current.empty:  # a day without traffic: nothing to compare, and Evidently cannot run on no rows
        return ReportsOutcome(feature_drift=tuple(_skipped(model, c, NO_ROWS) for c in cols.features),
                              prediction_drift=tuple(_skipped(model, c, NO_ROWS) for c in cols.predictions),
                              rendered=())
    monitored = [*cols.features, *cols.predictions]
    skipped: dict[str, str] = {}
    for column in monitored:
        if current[column].isna().all() or reference[column].isna().all():
            skipped[column] = ALL_MISSING
        elif column in cols.categorical:
            distinct = max(current[column].nunique(), reference[column].nunique())
            if distinct > model.drift.max_categories:
                skipped[column] = (f"{distinct} distinct values, above the limit of {model.drift.max_categories} "
                                   "for a categorical column")
    for column, why in sorted(skipped.items()):
        log.warning("column %s is left out of the Evidently reports: %s", column, why)
    usable = [c for c in monitored if c not in skipped]
    definition = DataDefinition(
        numerical_columns=[c for c in usable if _kind(model, c) == "numerical"],
        categorical_columns=[c for c in usable if _kind(model, c) == "categorical"],
    )
    current_ds = Dataset.from_pandas(current[usable], data_definition=definition)
    reference_ds = Dataset.from_pandas(reference[usable], data_definition=definition)

    def run(metrics: list) -> object:
        return Report(metrics, include_tests=True).run(current_data=current_ds, reference_data=reference_ds)

    features = [c for c in cols.features if c not in skipped]
    predictions = [c for c in cols.predictions if c not in skipped]
    data_drift = run(_drift_metrics(model, features)) if features else None
    prediction_drift = run(_drift_metrics(model, predictions)) if predictions else None
    quality = Report([DataSummaryPreset(columns=usable)], include_tests=False).run(
        current_data=current_ds, reference_data=reference_ds)

    drift = {**(_drift_results(data_drift, model) if data_drift else {}),
             **(_drift_results(prediction_drift, model) if prediction_drift else {})}
    for column, why in skipped.items():
        drift[column] = _skipped(model, column, why)
    rendered = [_render("data_quality", quality)]
    if data_drift:
        rendered.append(_render("data_drift", data_drift))
    if prediction_drift:
        rendered.append(_render("prediction_drift", prediction_drift))
    return ReportsOutcome(
        feature_drift=tuple(drift[c] for c in cols.features),
        prediction_drift=tuple(drift[c] for c in cols.predictions),
        rendered=tuple(sorted(rendered, key=lambda r: r.name)),
    )


def build_performance_report(current: pd.DataFrame, reference: pd.DataFrame | None,
                             model: ModelConfig) -> RenderedReport | str:
    """Evidently's classification or regression report of labelled predictions (the label in column `label`), against
    the labelled reference when there is one. Returns the report, or why there is none."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset
    from sklearn.exceptions import UndefinedMetricWarning

    from monitoring.labels import LABEL as label
    from monitoring.layout import PERFORMANCE_REPORT
    from monitoring.performance import PREDICTED, predicted_labels

    score = model.columns.score
    if len(current) < 2:
        return "fewer than 2 labelled predictions"
    if model.is_classification:
        def prepare(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({label: frame[label].astype(int), score: frame[score].astype(float),
                                 PREDICTED: predicted_labels(frame, model)})

        # Evidently's classification metrics fail on a day whose labels are all one class.
        if current[label].nunique() < 2:
            return "all labels of the day are one class; precision, recall and ROC-AUC are not defined"
        if reference is not None and reference[label].nunique() < 2:
            reference = None
        definition = DataDefinition(
            classification=[BinaryClassification(target=label, prediction_labels=PREDICTED,
                                                 prediction_probas=score, pos_label=1)],
            numerical_columns=[score], categorical_columns=[label, PREDICTED])
        preset = ClassificationPreset()
    else:
        def prepare(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({label: frame[label].astype(float), score: frame[score].astype(float)})

        definition = DataDefinition(regression=[Regression(target=label, prediction=score)],
                                    numerical_columns=[label, score])
        preset = RegressionPreset()
    with warnings.catch_warnings():
        # Evidently bins the errors by value; a bin of one prediction makes scikit-learn warn that R2 is undefined.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        snapshot = Report([preset], include_tests=False).run(
            current_data=Dataset.from_pandas(prepare(current), data_definition=definition),
            reference_data=None if reference is None else Dataset.from_pandas(prepare(reference),
                                                                              data_definition=definition))
    return _render(PERFORMANCE_REPORT, snapshot)
