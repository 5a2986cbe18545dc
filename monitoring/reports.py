"""Everything Evidently renders: the data definition from the config, the three daily reports, the performance
report once labels land, their HTML and JSON.

The drift scores and verdicts are the library's (`monitoring.distances`, `monitoring.judging`): the drift reports
draw each column's own score against the line its verdict used. What the library does to Evidently beyond calling it
is in `monitoring.evidently_adapter`. Pitfalls of Evidently 0.7 handled here:
- drift verdicts exist only as tests, so every drift report runs with `include_tests=True`;
- automatic typing is never used: a `DataDefinition` always says which columns are numerical or categorical;
- one all-missing column aborts a whole report, so such columns are left out and reported as skipped;
- DataDriftPreset computes each column's drift several times; one ValueDrift per column is cheaper;
- `save_html`/`save_json` given a file object silently write nothing: reports are rendered to strings;
- Evidently names each widget with a fresh uuid7 and each metric's script variable and div with a random hex id, so
  two renders of the same report differ: they are numbered in order of appearance instead (`stable_ids`);
- a categorical column with a distinct value per row makes every report huge and slow: such columns (more distinct
  values than `drift.max_categories`) are left out of the Evidently reports and reported as skipped.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from monitoring import evidently_adapter as adapter
from monitoring.config import ModelConfig
from monitoring.layout import PERFORMANCE_REPORT
from monitoring.metrics import predicted_labels
from monitoring.records import ColumnDrift
from monitoring.vocabulary import CATEGORICAL, LABEL, NUMERICAL

log = logging.getLogger(__name__)
PREDICTED = "_predicted_label"  # the decision as the classification report reads it

@dataclass(frozen=True)
class RenderedReport:
    name: str
    html: str
    json: str


def _drift_metrics(drift: dict[str, ColumnDrift], columns: list[str]) -> list:
    """One ValueDrift per column, drawing the library's score of the column against the line its verdict used."""
    from evidently.metrics import ValueDrift

    return [ValueDrift(column=column, method=adapter.precomputed_method(drift[column].method),
                       threshold=drift[column].line) for column in columns]


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
    """The report's HTML with stable ids, rendered script-safe (within `adapter.patched`). The ids are looked for
    around Evidently's inlined JavaScript library (most of the page), which holds none."""
    page = snapshot.get_html_str(as_iframe=False)
    library = _library()
    before, found, after = page.partition(library) if library else (page, "", "")
    return stable_ids(before) + found + stable_ids(after) if found else stable_ids(page)


@cache
def _library() -> str:
    """Evidently's inlined JavaScript library; empty if it held what looks like a report id (numbered then)."""
    library = adapter.javascript_library()
    return "" if _RANDOM_IDS.search(library) else library


def _render(name: str, snapshot) -> RenderedReport:
    return RenderedReport(name, _html(snapshot), json.dumps(json.loads(snapshot.json()), indent=2, sort_keys=True))


def build_reports(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig,
                  drift: dict[str, ColumnDrift]) -> tuple[RenderedReport, ...]:
    """Data drift, prediction drift and data quality reports of `current` against `reference`, each drift metric
    drawn with the library's score and the line its column's verdict used (`ColumnDrift.line`); columns `drift`
    skipped are left out. None on a day without rows."""
    adapter.import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    cols = model.columns
    if current.empty:
        return ()
    usable = [c for c in model.monitored if drift[c].skipped is None]
    definition = DataDefinition(
        numerical_columns=[c for c in usable if drift[c].kind == NUMERICAL],
        categorical_columns=[c for c in usable if drift[c].kind == CATEGORICAL],
    )
    current_ds = Dataset.from_pandas(current[usable], data_definition=definition)
    reference_ds = Dataset.from_pandas(reference[usable], data_definition=definition)

    def run(metrics: list) -> object:
        return Report(metrics, include_tests=True).run(current_data=current_ds, reference_data=reference_ds)

    features = [c for c in cols.features if c in usable]
    predictions = [c for c in cols.predictions if c in usable]
    scores = {c: drift[c].score for c in usable}
    with adapter.patched(), adapter.precomputed_scores(scores):
        summary = Report([DataSummaryPreset(columns=usable)], include_tests=False).run(
            current_data=current_ds, reference_data=reference_ds)
        rendered = [_render("data_quality", summary)]
        if features:
            rendered.append(_render("data_drift", run(_drift_metrics(drift, features))))
        if predictions:
            rendered.append(_render("prediction_drift", run(_drift_metrics(drift, predictions))))
    return tuple(sorted(rendered, key=lambda r: r.name))


def build_segment_report(name: str, current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig,
                         scores: dict[str, float | None], lines: dict[str, float]) -> RenderedReport | None:
    """A segment's data-drift report: its rows of the day's sample against the reference sample's same segment, each
    column drawn with the segment's own score (the Jensen-Shannon distance on the model's bins, `monitoring.
    segments`) against the line its verdict used. None when either side has no rows."""
    adapter.import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    usable = [c for c in model.monitored if scores.get(c) is not None and c in lines
              and current[c].notna().any() and reference[c].notna().any()]
    if current.empty or reference.empty or not usable:
        return None
    definition = DataDefinition(numerical_columns=[c for c in usable if model.kind(c) == NUMERICAL],
                                categorical_columns=[c for c in usable if model.kind(c) == CATEGORICAL])
    metrics = [ValueDrift(column=c, method=adapter.precomputed_method("jensenshannon"), threshold=lines[c])
               for c in usable]
    with adapter.patched(), adapter.precomputed_scores({c: scores[c] for c in usable}):
        snapshot = Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(current[usable], data_definition=definition),
            reference_data=Dataset.from_pandas(reference[usable], data_definition=definition))
        return _render(name, snapshot)


def build_performance_report(current: pd.DataFrame, reference: pd.DataFrame | None,
                             model: ModelConfig) -> RenderedReport | str:
    """Evidently's classification or regression report of labelled predictions (the label in column `label`), against
    the labelled reference when there is one. Returns the report, or why there is none."""
    adapter.import_evidently()
    from evidently import (BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Regression,
                           Report)
    from evidently.presets import ClassificationPreset, RegressionPreset
    from sklearn.exceptions import UndefinedMetricWarning

    label, score = LABEL, model.columns.score
    if len(current) < 2:
        return "fewer than 2 labelled predictions"
    if model.is_multiclass:
        classes, columns = model.columns.classes, model.columns.score_columns
        # Evidently names each class's probability column after the class itself
        probas = list(classes) if not {label, PREDICTED} & set(classes) else None

        def prepare(frame: pd.DataFrame) -> pd.DataFrame:
            found = {label: frame[label].astype(str), PREDICTED: np.asarray(classes, dtype=object)[
                predicted_labels(frame, model.scoring).to_numpy()]}
            if probas:  # as probabilities summing to 1 exactly (logged ones are rounded; sklearn warns)
                scores = frame[list(columns)].to_numpy(dtype=float)
                found.update(zip(classes, (scores / scores.sum(axis=1, keepdims=True)).T))
            return pd.DataFrame(found)

        if current[label].nunique() < 2:
            return "all labels of the day are one class; precision, recall and ROC-AUC are not defined"
        if reference is not None and reference[label].nunique() < 2:
            reference = None
        definition = DataDefinition(
            classification=[MulticlassClassification(target=label, prediction_labels=PREDICTED,
                                                     prediction_probas=probas)],
            numerical_columns=probas or [], categorical_columns=[label, PREDICTED])
        preset = ClassificationPreset()
    elif model.is_classification:
        def prepare(frame: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({label: frame[label].astype(int), score: frame[score].astype(float),
                                 PREDICTED: predicted_labels(frame, model.scoring)})

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
    with warnings.catch_warnings(), adapter.patched():
        # Evidently bins the errors by value; a bin of one prediction makes scikit-learn warn that R2 is undefined.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        snapshot = Report([preset], include_tests=False).run(
            current_data=Dataset.from_pandas(prepare(current), data_definition=definition),
            reference_data=None if reference is None else Dataset.from_pandas(prepare(reference),
                                                                              data_definition=definition))
        return _render(PERFORMANCE_REPORT, snapshot)
