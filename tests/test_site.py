"""The pages stakeholders open (monitoring/site.py through the daily steps): each verdict is shown with its band,
the day's size and the reference's, and a reference too small to tell says so and pages nobody."""

from __future__ import annotations

import datetime as dt

from monitoring import steps
from monitoring.steps import site
from tests.helpers import now, read, seed_days, seed_reference, write_day


def test_the_pages_show_each_verdict_with_its_band_the_day_s_size_and_the_reference_s(s3_client, store, loan_model,
                                                                                      trained):
    days = {dt.date(2026, 10, 4): 5, dt.date(2026, 10, 5): 14}  # a clean day, then a drifted one
    seed_days(s3_client, trained, days, rows=1_200)
    for day in days:
        decision = steps.run_day(store, loan_model, day, now=now())
    drift = next(f for f in decision.findings if f.rule == "dataset_drift")
    assert any(line.startswith("annual_income: ") and "no change on a day of 1,200 rows against 20,000 reference rows "
               "stays within 0 to" in line for line in drift.evidence)
    page = read(s3_client, "reports/loan_approval/dt=2026-10-05/index.html").decode()
    assert 'id="judged"' in page and "where 99.87% of no-change days land" in page
    assert "(1,200 rows vs 20,000)" in page and "the smallest change that counts is 0.1" in page
    assert 'id="positive-rate-band"' in page
    model_page = read(s3_client, "reports/loan_approval/index.html").decode()
    assert model_page.count('class="band"') == 9 + 1  # every feature's band, the positive rate's (no trailing volume yet)
    assert "annual_income: drift score" in model_page


def test_a_reference_too_small_to_tell_says_so_on_the_day_page_and_pages_nobody(s3_client, store, loan_model,
                                                                                trained):
    estimator, reference = trained
    small = loan_model.model_copy(update={"drift": loan_model.drift.model_copy(update={"min_reference_rows": 500})})
    seed_reference(s3_client, (estimator, reference.iloc[:300]))
    write_day(s3_client, trained, dt.date(2026, 10, 5), rows=800, drifted=True)
    decision = steps.run_day(store, small, dt.date(2026, 10, 5), now=now())
    assert not {"dataset_drift", "feature_drift"} & {f.rule for f in decision.findings}
    page = read(s3_client, "reports/loan_approval/dt=2026-10-05/index.html").decode()
    assert page.count("reference too small to tell (300 rows)") == 9 + 2  # the features and the predictions


def publish_in_memory(store, model, day: str) -> None:
    """A published day without Evidently: its summary, its metric-store entry and its manifest (tests/summaries)."""
    from monitoring.layout import DayLayout
    from monitoring.storage import JSON
    from tests.summaries import metrics_of, summary

    layout, s = DayLayout.of(model, day), summary(day=day)
    store.put_bytes(layout.summary, s.to_json(), JSON)
    store.put_bytes(layout.day_metrics, metrics_of(s).model_dump_json().encode(), JSON)
    store.put_json(layout.manifest, {"files": {}})


def test_the_site_log_names_only_the_pages_it_wrote(store, loan_model, caplog):
    publish_in_memory(store, loan_model, "2026-10-14")
    publish_in_memory(store, loan_model, "2026-10-15")
    with caplog.at_level("INFO", logger="monitoring.steps.site"):
        missing = steps.update_site(store, loan_model, dt.date(2026, 10, 16))  # its logs never landed
    line = caplog.messages[-1]
    assert "dt=2026-10-16" not in line and "no day page for 2026-10-16 (not published)" in line
    assert missing["day_page"] is None and not store.exists("reports/loan_approval/dt=2026-10-16/index.html")
    caplog.clear()
    with caplog.at_level("INFO", logger="monitoring.steps.site"):
        written = steps.update_site(store, loan_model, dt.date(2026, 10, 14))
    line = caplog.messages[-1]
    assert f"day page {written['day_page']}, and the day page(s) of 2026-10-15;" in line
    assert written["day_page"].endswith("reports/loan_approval/dt=2026-10-14/index.html")
    page = store.get_bytes("reports/loan_approval/dt=2026-10-14/index.html").decode()
    assert "Positive rate (approved = 1)" in page  # the decision column from the config


def test_a_day_that_is_not_published_is_announced_without_a_page_and_leaves_the_status_feed_alone(store, loan_model):
    publish_in_memory(store, loan_model, "2026-10-14")
    published = steps.update_site(store, loan_model, dt.date(2026, 10, 14))["published"]
    assert published["day_page"] == "reports/loan_approval/dt=2026-10-14/index.html"
    missing = steps.update_site(store, loan_model, dt.date(2026, 10, 15))["published"]
    assert missing["status"] is None and missing["day_page"] is None and missing["summary"] is None
    feed = site.update_status_feed(store, loan_model, [published, missing])
    assert feed["models"]["loan_approval"]["day"] == "2026-10-14"
    assert store.exists(feed["models"]["loan_approval"]["day_page"])
