"""The Evidently reports: what the library changes in how they are built leaves their bytes alone."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd

from monitoring import reports


def summary_report(current: pd.DataFrame, reference: pd.DataFrame, shared: bool):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataSummaryPreset

    definition = DataDefinition(numerical_columns=["income", "age"], categorical_columns=["state"])
    run = Report([DataSummaryPreset(columns=list(current))], include_tests=False).run
    arguments = {"current_data": Dataset.from_pandas(current, data_definition=definition),
                 "reference_data": Dataset.from_pandas(reference, data_definition=definition)}
    if not shared:
        return reports._render("data_quality", run(**arguments))
    with reports._one_distribution_per_column():
        return reports._render("data_quality", run(**arguments))


def test_the_data_quality_report_builds_each_column_s_histogram_once_and_renders_the_same_bytes():
    from evidently.metrics import column_statistics

    rng = np.random.default_rng(3)

    def frame(n: int) -> pd.DataFrame:
        income = rng.lognormal(10, 1, n)
        income[:5] = np.nan
        return pd.DataFrame({"income": income, "age": rng.integers(18, 90, n).astype(float),
                             "state": rng.choice(["CA", "NY", "TX", "WA"], n, p=[0.4, 0.3, 0.2, 0.1])})

    current, reference = frame(400), frame(2000)
    plain = summary_report(current, reference, shared=False)
    with mock.patch.object(column_statistics, "distribution", wraps=column_statistics.distribution) as built:
        shared = summary_report(current, reference, shared=True)
    assert shared.html == plain.html and shared.json == plain.json
    assert built.call_count == 3  # one histogram per column, where each statistic used to build its own
    assert column_statistics.distribution is not built  # the block restored Evidently's function
