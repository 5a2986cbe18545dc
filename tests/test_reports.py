"""The Evidently reports (monitoring/reports.py): a rerun renders the same bytes, Evidently's inlined library is left
untouched, and the drift reports show the library's own scores against the lines its verdicts used."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from monitoring import distances, reports
from monitoring.config import ModelConfig
from monitoring.records import ColumnDrift
from tests.data import prediction_log


def drift_of(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> dict[str, ColumnDrift]:
    """Each monitored column's drift as the library scores it, judged by its configured line."""
    found = {}
    for column, spec in model.drift_specs.items():
        score = distances.score(spec.method, spec.kind, reference[column], current[column])
        found[column] = ColumnDrift(kind=spec.kind, method=spec.method, threshold=spec.threshold, score=score,
                                    drifted=score is not None and score >= spec.threshold)
    return found


def test_two_renders_of_a_report_are_the_same_bytes_with_evidently_s_library_inlined_untouched(loan_model, trained):
    """Evidently's random ids are numbered in the report's data and markup; its inlined library is left as it is."""
    from monitoring.evidently_adapter import javascript_library

    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 200)
    drift = drift_of(current, reference.iloc[:500], loan_model)
    first, second = (reports.build_reports(current, reference.iloc[:500], loan_model, drift) for _ in range(2))
    assert [r.html for r in first] == [r.html for r in second]
    library = javascript_library()
    for rendered in first:
        assert rendered.html.count(library) == 1
        ids = reports._RANDOM_IDS.findall(rendered.html.replace(library, ""))
        assert ids and all(int(token.replace("-", "")[-12:], 16) < len(ids) for token in ids)  # numbered 0, 1, ...


def test_the_drift_reports_show_the_library_s_scores_and_lines(loan_model, trained):
    """Each column's score in the drift reports is the one the summary holds, drawn against the column's line."""
    model, reference = trained
    current = prediction_log(model, dt.date(2026, 10, 14), 400)
    drift = drift_of(current, reference.iloc[:2000], loan_model)
    drift["credit_score"] = drift["credit_score"].model_copy(update={"score": 0.123456789})  # not Evidently's own
    rendered = {r.name: r for r in reports.build_reports(current, reference.iloc[:2000], loan_model, drift)}
    shown = {}
    for name in ("data_drift", "prediction_drift"):
        for metric in json.loads(rendered[name].json)["metrics"]:
            shown[metric["config"]["column"]] = (metric["value"], metric["config"]["threshold"])
    assert shown["credit_score"] == (0.123456789, drift["credit_score"].line)
    assert {c: v for c, (v, _) in shown.items()} == {c: d.score for c, d in drift.items()}
