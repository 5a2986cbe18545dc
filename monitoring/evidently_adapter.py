"""Everything the library does to Evidently 0.7 beyond calling it: one module, each change with why, and
`tests/test_evidently_adapter.py` failing loudly when an Evidently upgrade moves or changes what is touched.

Evidently is imported inside the functions only: importing it takes seconds, and DAG files must parse fast.

- **The library's scores, drawn as they are** (`precomputed_scores`): a day's drift scores are computed once, by the
  library, with Evidently's own stattests (`monitoring.distances`). The drift reports would compute each again;
  instead each method has a twin registered through Evidently's public
  `register_stattest` (id `<method>@monitoring`, Evidently's display name) that hands back the library's score of
  the column, so the report shows exactly the summary's figure.
- **Script-safe JSON** (`patched`): the HTML inlines the report's data as JSON in a <script> block without escaping
  "</script>", so a category value could close the block and run as script: the JSON is rendered with <, > and & as
  unicode escapes (Evidently's `dashboard_info_to_json`, wrapped).
- **One figure per column** (`patched`): DataSummaryPreset's statistics of a column (min, max, mean, std,
  quantiles, ...) each build the same plotly histogram of that column, and plotly's figure construction is most of
  the preset's time: each column's is built once and shared (`column_statistics.distribution`, wrapped), the same
  bytes in a fraction of the time.
- **Categories in a defined order** (`patched`): Evidently collects a column's categories in a `set`, whose order
  follows the string hash, random per process (`UniqueValueCountCalculation._all_unique_values`; its stattests'
  `get_unique_not_nan_values_list_from_series`): the data quality report's "most common" of tied categories changed
  from one run of a day to the next. They come sorted (`in_order`), so a rerun in any process writes the same bytes.
- **Its inlined library** (`javascript_library`): every report inlines Evidently's JavaScript bundle (most of the
  page), read by a private function; the report ids are looked for around it, which holds none.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from unittest import mock

import pandas as pd

from monitoring.vocabulary import CATEGORICAL, DRIFT_METHODS, NUMERICAL

log = logging.getLogger(__name__)
_imported = False

PRECOMPUTED_SUFFIX = "@monitoring"
_scores: ContextVar[dict[str, float]] = ContextVar("precomputed drift scores")

# What `patched` and `javascript_library` touch, as (module, attribute): the guard test checks each is still there.
TOUCHED = (
    ("evidently.legacy.utils.dashboard", "dashboard_info_to_json"),
    ("evidently.legacy.utils.dashboard", "__load_js"),
    ("evidently.metrics.column_statistics", "distribution"),
    ("evidently.metrics.column_statistics", "UniqueValueCountCalculation._all_unique_values"),
    ("evidently.legacy.calculations.stattests.registry", "register_stattest"),
)


def import_evidently() -> None:
    """Imports Evidently once per process, logging whether the worker had preloaded it (`monitoring.
    worker_preload`) and what the import cost here: the task log shows whether the workers are warm."""
    global _imported
    if _imported:
        return
    preloaded = "evidently" in sys.modules
    started = time.monotonic()
    import evidently.legacy.calculations.stattests.registry  # noqa: F401
    import evidently.presets  # noqa: F401

    _imported = True
    log.info("Evidently %s (%.2f s)", "preloaded by the worker" if preloaded else "imported by this task",
             time.monotonic() - started)


def in_order(values) -> list:
    """Category values sorted (by type name and text when their types do not compare), missing ones last."""
    values = list(values)
    present = [v for v in values if not pd.isna(v)]
    try:  # a column may mix types (text and numbers) that do not compare
        present.sort()
    except TypeError:
        present.sort(key=lambda v: (type(v).__name__, str(v)))
    return present + sorted((v for v in values if pd.isna(v)), key=lambda v: type(v).__name__)


# --- the library's scores in Evidently's drift reports ---------------------------------------------------------------
@cache
def _register_precomputed() -> None:
    """Each drift method's twin, registered once per process."""
    from evidently.legacy.calculations.stattests.registry import StatTest, get_registered_stattest, register_stattest
    from evidently.legacy.core import ColumnType

    for name, method in DRIFT_METHODS.items():
        types = [ColumnType.Numerical if kind == NUMERICAL else ColumnType.Categorical for kind in sorted(method.kinds)
                 if kind in (NUMERICAL, CATEGORICAL)]
        original = get_registered_stattest(name, types[0])

        def score(reference: pd.Series, current: pd.Series, feature_type, threshold: float, test=method.test):
            value = _scores.get()[reference.name]
            return value, (value < threshold if test else value >= threshold)

        register_stattest(StatTest(name=name + PRECOMPUTED_SUFFIX, display_name=original.display_name,
                                   allowed_feature_types=types, default_threshold=original.default_threshold),
                          default_impl=score)


def precomputed_method(method: str) -> str:
    """The id under which a drift report draws the library's score of `method` (see `precomputed_scores`)."""
    _register_precomputed()
    return method + PRECOMPUTED_SUFFIX


@contextmanager
def precomputed_scores(scores: dict[str, float]) -> Iterator[None]:
    """Within the block, a drift report's `<method>@monitoring` metrics take each column's score from `scores`."""
    token = _scores.set(scores)
    try:
        yield
    finally:
        _scores.reset(token)


# --- patches -----------------------------------------------------------------------------------------------------
@contextmanager
def _script_safe_json() -> Iterator[None]:
    from evidently.legacy.utils import dashboard

    original = dashboard.dashboard_info_to_json

    def script_safe(info) -> str:
        return original(info).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    with mock.patch.object(dashboard, "dashboard_info_to_json", script_safe):
        yield


@contextmanager
def _one_distribution_per_column() -> Iterator[None]:
    """Evidently's per-statistic distribution widget builds its column's figure once and reuses it for the column's
    other statistics (each widget keeps its own title and shares the figure's data, which nothing mutates: it is
    only serialized, the same bytes as one copy per widget)."""
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
    """UniqueValueCount lists a column's values sorted, not in a set's order (the first of tied values is the data
    quality report's "most common")."""
    from evidently.metrics.column_statistics import UniqueValueCountCalculation

    original = UniqueValueCountCalculation._all_unique_values

    def all_unique_values(self, current, reference) -> list:
        return in_order(original(self, current, reference))

    with mock.patch.object(UniqueValueCountCalculation, "_all_unique_values", all_unique_values):
        yield


@contextmanager
def patched() -> Iterator[None]:
    """Within the block, Evidently renders script-safe JSON, builds one figure per column and meets categories in
    sorted order (see the module's doc)."""
    import_evidently()
    with _script_safe_json(), _one_distribution_per_column(), _categories_in_defined_order():
        yield


@cache
def javascript_library() -> str:
    """The JavaScript library Evidently inlines in every report (read once per process, as Evidently reads it on every
    render)."""
    from evidently.legacy.utils import dashboard

    return vars(dashboard)["__load_js"]()

