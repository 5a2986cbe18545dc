"""The Evidently reports: what the library changes in how they are built leaves their bytes alone."""

from __future__ import annotations

import contextlib
import datetime as dt
from unittest import mock

from monitoring import reports
from monitoring.drift import ColumnDriftResult
from tests.data import prediction_log


def test_the_data_quality_report_builds_each_column_s_histogram_once_and_renders_the_same_bytes(loan_model, trained):
    from evidently.metrics import column_statistics

    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 400)
    drift = {c: ColumnDriftResult(column=c, kind=loan_model.kind(c), method=loan_model.drift_method(c).method,
                                  threshold=0.1, score=None, drifted=False) for c in loan_model.monitored}

    def data_quality(shared: bool) -> tuple[reports.RenderedReport, int]:
        with contextlib.ExitStack() as stack:
            if not shared:  # Evidently's own way: every statistic builds its column's histogram
                stack.enter_context(mock.patch.object(reports, "_one_distribution_per_column", contextlib.nullcontext))
            built = stack.enter_context(mock.patch.object(column_statistics, "distribution",
                                                          wraps=column_statistics.distribution))
            rendered = {r.name: r for r in reports.build_reports(current, reference.iloc[:2000], loan_model, drift)}
            return rendered["data_quality"], built.call_count

    plain, plain_calls = data_quality(shared=False)
    shared, shared_calls = data_quality(shared=True)
    assert shared.html == plain.html and shared.json == plain.json
    assert shared_calls == len(loan_model.monitored) < plain_calls  # once per column, not once per statistic
    assert not isinstance(column_statistics.distribution, mock.Mock)  # the block restored Evidently's function


def test_two_renders_of_a_report_are_the_same_bytes_with_evidently_s_library_inlined_untouched(loan_model, trained):
    """Evidently's random ids are numbered in the report's data and markup; its inlined library is left as it is."""
    from evidently.legacy.utils import dashboard

    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 200)
    drift = {c: ColumnDriftResult(column=c, kind=loan_model.kind(c), method=loan_model.drift_method(c).method,
                                  threshold=0.1, score=None, drifted=False) for c in loan_model.monitored}
    first, second = (reports.build_reports(current, reference.iloc[:500], loan_model, drift) for _ in range(2))
    assert [r.html for r in first] == [r.html for r in second]
    library = vars(dashboard)["__load_js"]()
    for rendered in first:
        assert rendered.html.count(library) == 1
        ids = reports._RANDOM_IDS.findall(rendered.html.replace(library, ""))
        assert ids and all(int(token.replace("-", "")[-12:], 16) < len(ids) for token in ids)  # numbered 0, 1, ...
