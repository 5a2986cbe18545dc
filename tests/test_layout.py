import datetime as dt

import pytest

from monitoring.layout import DayLayout, LayoutError, parse_day


def test_keys_follow_the_documented_s3_layout(loan_model):
    layout = DayLayout.of(loan_model, "2026-10-14")
    assert layout.predictions_dir == "predictions/loan_approval/dt=2026-10-14/"
    assert layout.reference_pointer == "reference/loan_approval/CURRENT.json"
    assert layout.reference_version_dir("v1") == "reference/loan_approval/v=v1/"
    assert layout.report("data_drift", "html") == "reports/loan_approval/dt=2026-10-14/data_drift.html"
    assert layout.summary == "reports/loan_approval/dt=2026-10-14/summary.json"
    assert layout.quarantine == "reports/loan_approval/dt=2026-10-14/quarantine.parquet"
    assert layout.alerts == "reports/loan_approval/dt=2026-10-14/alerts.json"
    assert layout.manifest == "reports/loan_approval/dt=2026-10-14/manifest.json"
    assert layout.staging_dir == "staging/loan_approval/dt=2026-10-14/"
    assert layout.day_metrics == "reports/loan_approval/metrics/dt=2026-10-14.json"
    assert layout.history("csv") == "reports/loan_approval/history.csv"
    assert layout.on("2026-10-15").manifest == "reports/loan_approval/dt=2026-10-15/manifest.json"


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-10-14/../x", ""])
def test_a_day_that_is_not_a_date_never_reaches_a_key(day):
    with pytest.raises(LayoutError, match="is not a date in the form YYYY-MM-DD"):
        parse_day(day)


def test_days_come_as_dates_or_datetimes():
    assert parse_day(dt.datetime(2026, 10, 14, 23, 59)) == dt.date(2026, 10, 14)


@pytest.mark.parametrize("version", ["../v1", "v1/x", "V 1"])
def test_an_unsafe_reference_version_is_rejected(loan_model, version):
    with pytest.raises(LayoutError):
        DayLayout.of(loan_model, "2026-10-14").reference_version_dir(version)


def test_unknown_report_names_are_rejected(loan_model):
    with pytest.raises(LayoutError):
        DayLayout.of(loan_model, "2026-10-14").report("../secrets", "html")
