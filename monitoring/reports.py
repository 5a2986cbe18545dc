"""Everything Evidently renders: data definition from config, the three daily reports, their HTML and JSON.

The drift scores and verdicts themselves are the library's (`monitoring.drift`, with Evidently's own stattest
functions): the reports draw each column against the line its verdict used. Evidently is imported inside the
functions only: importing it takes seconds, and DAG files must parse fast. Pitfalls of Evidently 0.7 handled here:
- drift verdicts exist only as tests, so every drift report runs with `include_tests=True`;
- automatic typing is never used: a `DataDefinition` always says which columns are numerical or categorical;
- one all-missing column aborts a whole report, so such columns are left out and reported as skipped;
- methods are always passed explicitly, so reports name them by id ("wasserstein"), never by display name;
- DataDriftPreset computes each column's drift several times; one ValueDrift per column is cheaper;
- DataSummaryPreset's statistics of a column (min, max, mean, std, quantiles, ...) each build the same plotly
  histogram of that column, and plotly's figure construction is most of the preset's time: it is built once per
  column and shared (`_one_distribution_per_column`), the same bytes in a fraction of the time;
- the HTML inlines the report's data as JSON in a <script> block without escaping "</script>", so a category value
  could close the block and run as script: the JSON is rendered with <, > and & as unicode escapes instead;
- Evidently collects a column's categories in a `set` (its stattests' `get_unique_not_nan_values_list_from_series`,
  Hellinger's own, UniqueValueCount's `_all_unique_values`), whose order follows the string hash, random per process:
  a drift score's last digits (its sum taken in that order) and the data quality report's "most common" of tied
  categories changed from one run of a day to the next; within `_categories_in_defined_order` they come in sorted
  order, so a rerun in any process writes the same bytes;
- a categorical column with a distinct value per row makes every report huge and slow: such columns (more distinct
  values than `drift.max_categories`) are left out of the Evidently reports and reported as skipped.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from unittest import mock

import pandas as pd

from monitoring.config import ModelConfig
from monitoring.drift import ColumnDriftResult, import_evidently, in_order

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RenderedReport:
    name: str
    html: str
    json: str


def _drift_metrics(model: ModelConfig, columns: list[str], lines: dict[str, float]) -> list:
    from evidently.metrics import ValueDrift

    return [ValueDrift(column=column, method=model.drift_method(column).method, threshold=lines[column])
            for column in columns]


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
    """The report's HTML with its inlined data unable to close the <script> block it sits in, and stable ids.

    The ids are looked for around Evidently's JavaScript library, which every report inlines (3.6 MB of the page)
    and which holds none: scanning it was a tenth of the reports' time."""
    from evidently.legacy.utils import dashboard

    original = dashboard.dashboard_info_to_json

    def script_safe(info) -> str:
        return original(info).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    with mock.patch.object(dashboard, "dashboard_info_to_json", script_safe):
        page = snapshot.get_html_str(as_iframe=False)
    library = _evidently_library()
    before, found, after = page.partition(library) if library else (page, "", "")
    return stable_ids(before) + found + stable_ids(after) if found else stable_ids(page)


@cache
def _evidently_library() -> str:
    """The JavaScript library Evidently inlines in every report (read once per process, as Evidently reads it on every
    render); empty if it held what looks like a report id, which would then be numbered like the others."""
    from evidently.legacy.utils import dashboard

    library = vars(dashboard)["__load_js"]()
    return "" if _RANDOM_IDS.search(library) else library


def _render(name: str, snapshot) -> RenderedReport:
    # save_html/save_json given a file object silently write nothing: render to strings and upload ourselves.
    return RenderedReport(name, _html(snapshot), json.dumps(json.loads(snapshot.json()), indent=2, sort_keys=True))


@contextmanager
def _one_distribution_per_column() -> Iterator[None]:
    """Within the block, Evidently's per-statistic distribution widget builds its column's figure once and reuses it
    for the column's other statistics (each widget keeps its own title and shares the figure's data, which nothing
    mutates: it is only serialized, the same bytes as one copy per widget)."""
    from evidently.legacy.renderers.html_widgets import GraphData, WidgetSize, plotly_graph
    from evidently.metrics import column_statistics

    original = column_statistics.distribution
    built: dict[tuple[int, int | None], tuple] = {}

    def distribution(title: str, current, reference) -> list:
        # The columns are kept in `built` with their figure, so the ids in the key stay theirs while the block lasts.
        key = (id(current.data), None if reference is None else id(reference.data))
        if key not in built:
            params = original(title, current, reference)[0].params
            built[key] = (current, reference, params["data"], params["layout"])
        data, layout = built[key][2:]
        return [plotly_graph(graph_data=GraphData(title, data, layout), size=WidgetSize.FULL)]

    with mock.patch.object(column_statistics, "distribution", distribution):
        yield


@contextmanager
def _categories_in_defined_order() -> Iterator[None]:
    """Within the block, Evidently meets a column's categories in sorted order, not in a set's (the hash seed's):
    every stattest of a categorical column sees each value as its rank among the sorted categories, and
    UniqueValueCount lists the values sorted (the first of tied values is the report's "most common")."""
    from evidently.legacy.calculations.stattests.registry import PythonStatTestData, PythonStatTestWrapper
    from evidently.legacy.core import ColumnType
    from evidently.metrics.column_statistics import UniqueValueCountCalculation

    original_call = PythonStatTestWrapper.__call__
    original_unique = UniqueValueCountCalculation._all_unique_values

    def call(self, data, feature_type, threshold):
        if feature_type == ColumnType.Categorical:
            # A categorical score depends on the counts per category only; a set of ints iterates in one order.
            reference, current = data.reference_data, data.current_data
            categories = set(reference.dropna().unique()) | set(current.dropna().unique())
            ranks = {v: i for i, v in enumerate(in_order(categories))}
            data = PythonStatTestData(reference_data=reference.map(ranks), current_data=current.map(ranks))
        return original_call(self, data, feature_type, threshold)

    def all_unique_values(self, current, reference) -> list:
        return in_order(original_unique(self, current, reference))

    with mock.patch.object(PythonStatTestWrapper, "__call__", call), \
            mock.patch.object(UniqueValueCountCalculation, "_all_unique_values", all_unique_values):
        yield


def build_reports(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig,
                  drift: dict[str, ColumnDriftResult]) -> tuple[RenderedReport, ...]:
    """Data drift, prediction drift and data quality reports of `current` against `reference`, each drift metric
    drawn with the line its column's verdict used (`ColumnDriftResult.line`); columns `drift` skipped are left out.
    None on a day without rows."""
    import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    cols = model.columns
    if current.empty:
        return ()
    usable = [c for c in model.monitored if drift[c].skipped is None]
    lines = {c: drift[c].line for c in usable}
    definition = DataDefinition(
        numerical_columns=[c for c in usable if model.kind(c) == "numerical"],
        categorical_columns=[c for c in usable if model.kind(c) == "categorical"],
    )
    current_ds = Dataset.from_pandas(current[usable], data_definition=definition)
    reference_ds = Dataset.from_pandas(reference[usable], data_definition=definition)

    def run(metrics: list) -> object:
        return Report(metrics, include_tests=True).run(current_data=current_ds, reference_data=reference_ds)

    features = [c for c in cols.features if c in lines]
    predictions = [c for c in cols.predictions if c in lines]
    with _categories_in_defined_order():
        with _one_distribution_per_column():
            summary = Report([DataSummaryPreset(columns=usable)], include_tests=False).run(
                current_data=current_ds, reference_data=reference_ds)
        rendered = [_render("data_quality", summary)]
        if features:
            rendered.append(_render("data_drift", run(_drift_metrics(model, features, lines))))
        if predictions:
            rendered.append(_render("prediction_drift", run(_drift_metrics(model, predictions, lines))))
    return tuple(sorted(rendered, key=lambda r: r.name))


def build_performance_report(current: pd.DataFrame, reference: pd.DataFrame | None,
                             model: ModelConfig) -> RenderedReport | str:
    """Evidently's classification or regression report of labelled predictions (the label in column `label`), against
    the labelled reference when there is one. Returns the report, or why there is none."""
    import_evidently()
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
    with warnings.catch_warnings(), _categories_in_defined_order():
        # Evidently bins the errors by value; a bin of one prediction makes scikit-learn warn that R2 is undefined.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        snapshot = Report([preset], include_tests=False).run(
            current_data=Dataset.from_pandas(prepare(current), data_definition=definition),
            reference_data=None if reference is None else Dataset.from_pandas(prepare(reference),
                                                                              data_definition=definition))
    return _render(PERFORMANCE_REPORT, snapshot)
