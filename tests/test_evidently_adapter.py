"""What the library does to Evidently beyond calling it (monitoring/evidently_adapter.py): each change still finds
what it touches in the installed Evidently (these fail loudly on an upgrade that moves it), and each does what it is
for."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import inspect
from unittest import mock

import pandas as pd
import pytest

from monitoring import evidently_adapter as adapter
from monitoring import reports
from monitoring.vocabulary import DRIFT_METHODS
from tests.data import prediction_log
from tests.test_reports import drift_of


@pytest.mark.parametrize("module,attribute", adapter.TOUCHED)
def test_what_the_adapter_touches_is_still_in_evidently(module, attribute):
    adapter.import_evidently()
    found = importlib.import_module(module)
    for part in attribute.split("."):
        found = vars(found)[part] if part.startswith("__") else getattr(found, part)
    assert callable(found), (module, attribute)


def test_the_signatures_the_adapter_wraps_are_still_evidentlys():
    adapter.import_evidently()
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.utils import dashboard
    from evidently.metrics import column_statistics

    assert list(inspect.signature(dashboard.dashboard_info_to_json).parameters) == ["dashboard_info"]
    assert list(inspect.signature(column_statistics.distribution).parameters) == ["title", "current", "reference"]
    unique = column_statistics.UniqueValueCountCalculation._all_unique_values
    assert list(inspect.signature(unique).parameters) == ["self", "current", "reference"]
    assert list(inspect.signature(register_stattest).parameters) == ["stat_test", "default_impl"]
    assert {"name", "display_name", "allowed_feature_types", "default_threshold"} <= set(
        inspect.signature(StatTest).parameters)


def test_the_patches_are_undone_after_their_block():
    adapter.import_evidently()
    from evidently.legacy.utils import dashboard
    from evidently.metrics import column_statistics

    before = (dashboard.dashboard_info_to_json, column_statistics.distribution,
              column_statistics.UniqueValueCountCalculation._all_unique_values)
    with adapter.patched():
        assert dashboard.dashboard_info_to_json is not before[0] and column_statistics.distribution is not before[1]
    assert (dashboard.dashboard_info_to_json, column_statistics.distribution,
            column_statistics.UniqueValueCountCalculation._all_unique_values) == before


def test_every_drift_method_has_its_twin_drawing_the_library_s_score():
    adapter.import_evidently()
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    values = pd.Series([1.0, 2.0, 3.0], name="x")
    for name, method in DRIFT_METHODS.items():
        twin_name = adapter.precomputed_method(name)
        for kind, column_type in (("numerical", ColumnType.Numerical), ("categorical", ColumnType.Categorical)):
            if kind not in method.kinds:
                continue
            twin, original = (get_registered_stattest(n, column_type) for n in (twin_name, name))
            assert twin.display_name == original.display_name
            with adapter.precomputed_scores({"x": 0.25}):
                result = twin(values, values, column_type, 0.1)
            assert result.drift_score == 0.25 and result.drifted == (not method.test), name


def test_the_data_quality_report_builds_each_column_s_histogram_once_and_renders_the_same_bytes(loan_model, trained):
    from evidently.metrics import column_statistics

    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 400)
    drift = drift_of(current, reference.iloc[:2000], loan_model)

    def data_quality(shared: bool) -> tuple[reports.RenderedReport, int]:
        with contextlib.ExitStack() as stack:
            if not shared:  # Evidently's own way: every statistic builds its column's histogram
                stack.enter_context(mock.patch.object(adapter, "_one_distribution_per_column", contextlib.nullcontext))
            built = stack.enter_context(mock.patch.object(column_statistics, "distribution",
                                                          wraps=column_statistics.distribution))
            rendered = {r.name: r for r in reports.build_reports(current, reference.iloc[:2000], loan_model, drift)}
            return rendered["data_quality"], built.call_count

    plain, plain_calls = data_quality(shared=False)
    shared, shared_calls = data_quality(shared=True)
    assert shared.html == plain.html and shared.json == plain.json
    assert shared_calls == len(loan_model.monitored) < plain_calls  # once per column, not once per statistic
    assert not isinstance(column_statistics.distribution, mock.Mock)  # the block restored Evidently's function


def test_the_reports_never_recompute_a_drift_score(loan_model, trained):
    """The library scored each column once; the drift reports draw that score, no stattest of Evidently runs."""
    from evidently.legacy.calculations.stattests import registry

    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 300)
    drift = drift_of(current, reference.iloc[:1000], loan_model)
    originals = {name: registry._impls[registry.get_registered_stattest(name, t)][registry.PythonEngine]
                 for name, t in (("wasserstein", registry.ColumnType.Numerical),
                                 ("jensenshannon", registry.ColumnType.Categorical))}
    calls = []
    with contextlib.ExitStack() as stack:
        for impl in originals.values():
            stack.enter_context(mock.patch.object(impl, "func", side_effect=lambda *a: calls.append(a) or (0.0, False)))
        reports.build_reports(current, reference.iloc[:1000], loan_model, drift)
    assert calls == []


def test_categories_are_ordered_sorted_by_type_when_types_do_not_compare_and_missing_last():
    assert adapter.in_order({"b", "a", None}) == ["a", "b", None]
    assert adapter.in_order(["b", None, 3, "a"]) == [3, "a", "b", None]
    assert adapter.in_order({10, 9, 2.5}) == [2.5, 9, 10]
