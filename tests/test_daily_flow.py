"""The daily flow through the library alone (no Airflow), against moto's S3."""

import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pytest

from tests import data
from monitoring import reference_store, steps, window_state
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from tests.conftest import BUCKET
from tests.helpers import day_log, get_json, now, put_frame, seed_days, seed_reference, write_day

CLEAN, DRIFTED = dt.date(2026, 10, 5), dt.date(2026, 10, 14)
DEMO_DAYS = {CLEAN: 5, DRIFTED: 14}


@pytest.fixture
def seeded(s3_client, trained):
    seed_days(s3_client, trained, DEMO_DAYS, rows=1500)
    return s3_client


def keys(client, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def content_type(client, key):
    return client.head_object(Bucket=BUCKET, Key=key)["ContentType"]


def test_a_clean_day_publishes_every_report_and_is_healthy(seeded, store, loan_model):
    decision = steps.run_day(store, loan_model, CLEAN, now=now())
    prefix = "reports/loan_approval/dt=2026-10-05/"
    names = [k.removeprefix(prefix) for k in keys(seeded, prefix)]
    assert names == ["data_drift.html", "data_drift.json", "data_quality.html", "data_quality.json", "decisions.json",
                     "index.html", "label_state.json", "labels.json", "manifest.json", "performance.json",
                     "prediction_drift.html", "prediction_drift.json", "state.json", "summary.json"]
    listed = get_json(seeded, prefix + "manifest.json")["artifacts"]
    assert {"state.json", "label_state.json"} <= listed.keys()
    state = window_state.read_day(store, DayLayout.of(loan_model, CLEAN))
    assert state.days == [CLEAN] and state.rows == 1500 and state.source_sha256
    assert state.labels.predictions == 1500 and state.labels.labelled == 0  # no label has landed yet
    assert sum(state.numerical["annual_income"].bins) == state.numerical["annual_income"].count
    assert state.expected.matrix and sum(state.expected.predicted) == 1500  # CBPE's expected counts
    channels = {k: v for k, v in state.segments.items() if k.startswith("channel=")}  # ... per segment too
    assert channels and sum(sum(v.expected.predicted) for v in channels.values()) == 1500
    for name in names:
        expected = "text/html" if name.endswith(".html") else "application/json"
        assert content_type(seeded, prefix + name).startswith(expected), name
    assert decision.branches == ["healthy"]
    summary = get_json(seeded, prefix + "summary.json")
    assert summary["data_drift"]["drifted_features"] == []
    assert summary["rows"] == {"read": 1500, "valid": 1500, "quarantined": 0, "quarantined_share": 0.0,
                               "quarantine_reasons": {}, "sampled_for_reports": 1500,
                               "extra_columns": ["model_version"]}
    operations = summary["operations"]
    assert operations["volume"] == 1500 and operations["low_confidence_threshold"] == 0.6
    assert 0 < operations["low_confidence_share"] < 0.5
    assert 0 < operations["latency_ms"]["p50"] < operations["latency_ms"]["p95"] < operations["latency_ms"]["p99"]
    html = seeded.get_object(Bucket=BUCKET, Key=prefix + "data_drift.html")["Body"].read().decode()
    assert "annual_income" in html and len(html) > 100_000


def test_a_drifted_day_flags_exactly_the_injected_features_and_alerts(seeded, store, loan_model):
    decision = steps.run_day(store, loan_model, DRIFTED, now=now())
    summary = get_json(seeded, "reports/loan_approval/dt=2026-10-14/summary.json")
    drift = summary["data_drift"]
    assert drift["drifted_features"] == sorted(data.DRIFTED)
    assert drift["dataset_drift"] is True
    assert drift["features"]["annual_income"]["method"] == "wasserstein"
    assert drift["features"]["loan_purpose"]["method"] == "jensenshannon"
    assert summary["prediction_drift"]["drifted"] is True
    assert "crypto_investment" in summary["data_quality"]["columns"]["loan_purpose"]["new_categories"]
    # Retraining is wanted but waits for the labels of the drifted days (none yet): nothing triggered.
    assert decision.branches == ["alert"]
    assert decision.retrain_held.startswith("waiting for labels: the predictions from 2026-10-14 to 2026-10-14 "
                                            "have 0 labels so far")
    assert {f.rule for f in decision.findings} >= {"dataset_drift", "prediction_drift", "new_categories"}
    record = get_json(seeded, "reports/loan_approval/dt=2026-10-14/alerts.json")
    assert record["severity"] == "critical"
    assert record["reports"]["data_drift"] == "s3://ml-monitoring/reports/loan_approval/dt=2026-10-14/data_drift.html"

    settings = loan_model.model_dump(mode="json")
    settings["retraining"]["min_labelled_rows"] = 0  # e.g. a retraining DAG of your own that needs no labels
    decision = steps.decide_day(store, ModelConfig.model_validate(settings), DRIFTED)
    assert decision.branches == ["alert", "trigger_retraining"]
    conf = decision.retrain.conf()
    assert conf["reasons"][0].startswith("dataset drift: 22% of features drifted")
    assert conf["window"] == {"first": "2026-10-14", "last": "2026-10-14"}  # from the drift's first day on


def test_a_rerun_of_a_day_rewrites_the_same_keys_with_identical_summary_and_reports(seeded, store, loan_model):
    steps.run_day(store, loan_model, DRIFTED, now=now())
    prefix = "reports/loan_approval/dt=2026-10-14/"
    first = {k: seeded.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(seeded, prefix)}
    steps.run_day(store, loan_model, DRIFTED, now=now())
    second = {k: seeded.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys(seeded, prefix)}
    assert first.keys() == second.keys()
    # Every object, the Evidently HTML and the manifest included, is the same bytes (the same day, the same inputs).
    assert [k for k in first if first[k] != second[k]] == []
    html = first[prefix + "data_drift.html"].decode()
    assert "var metric_00000000000000000000000000000000 = " in html  # Evidently's random ids, numbered


def test_rejected_rows_are_published_with_reasons_and_cleared_when_the_day_is_fixed(s3_client, store, loan_model,
                                                                                      trained):
    seed_days(s3_client, trained, {CLEAN: 5}, rows=1000, bad_rows=8)
    steps.run_day(store, loan_model, CLEAN, now=now())
    prefix = "reports/loan_approval/dt=2026-10-05/"
    quarantine = pd.read_parquet(io.BytesIO(s3_client.get_object(Bucket=BUCKET, Key=prefix + "quarantine.parquet")
                                            ["Body"].read()))
    assert len(quarantine) == 8 and quarantine["reason"].notna().all()
    assert content_type(s3_client, prefix + "quarantine.parquet") == "application/vnd.apache.parquet"
    summary = get_json(s3_client, prefix + "summary.json")
    assert summary["rows"]["read"] == 1000 and summary["rows"]["valid"] + summary["rows"]["quarantined"] == 1000
    assert sum(summary["rows"]["quarantine_reasons"].values()) >= 8

    seed_days(s3_client, trained, {CLEAN: 5}, rows=1000, bad_rows=0)  # the producer re-exported a clean day
    steps.run_day(store, loan_model, CLEAN, now=now())
    assert prefix + "quarantine.parquet" not in keys(s3_client, prefix)


def test_an_alert_record_of_an_earlier_run_is_removed_when_the_day_is_healthy_now(seeded, store, loan_model):
    steps.run_day(store, loan_model, DRIFTED, now=now())
    assert "reports/loan_approval/dt=2026-10-14/alerts.json" in keys(seeded, "reports/")
    relaxed = loan_model.model_copy(update={  # fixed lines no drift reaches: the same day is healthy now
        "drift": loan_model.drift.model_copy(update={"numerical_threshold": 5.0, "categorical_threshold": 0.99,
                                                     "threshold_mode": "fixed"}),
        "quality": loan_model.quality.model_copy(update={"max_new_category_share": 1.0}),
    })
    decision = steps.run_day(store, relaxed, DRIFTED, now=now())
    assert decision.branches == ["healthy"]
    assert "reports/loan_approval/dt=2026-10-14/alerts.json" not in keys(seeded, "reports/")


def test_an_all_missing_feature_does_not_abort_the_reports(s3_client, store, loan_model, trained):
    seed_days(s3_client, trained, {}, rows=10)
    frame = day_log(trained, CLEAN, rows=800)
    frame["debt_to_income"] = np.nan
    put_frame(s3_client, "predictions/loan_approval/dt=2026-10-05/part-0.parquet", frame)
    decision = steps.run_day(store, loan_model, CLEAN, now=now())
    summary = get_json(s3_client, "reports/loan_approval/dt=2026-10-05/summary.json")
    assert summary["data_drift"]["features"]["debt_to_income"]["skipped"] == "all values missing"
    assert summary["data_quality"]["columns"]["debt_to_income"]["missing_share"] == 1.0
    missing = [f for f in decision.findings if f.rule == "missing_values"]
    assert missing and missing[0].severity.value == "critical" and missing[0].columns == ["debt_to_income"]


def test_large_days_are_sampled_for_evidently_by_id_hash_deterministically(seeded, store, loan_model):
    capped = loan_model.model_copy(update={"reports": loan_model.reports.model_copy(update={"max_rows": 1000})})
    steps.run_day(store, capped, CLEAN, now=now())
    first = seeded.get_object(Bucket=BUCKET, Key="reports/loan_approval/dt=2026-10-05/summary.json")["Body"].read()
    steps.run_day(store, capped, CLEAN, now=now())
    second = seeded.get_object(Bucket=BUCKET, Key="reports/loan_approval/dt=2026-10-05/summary.json")["Body"].read()
    summary = json.loads(first)
    assert summary["rows"]["sampled_for_reports"] == 1000 and summary["rows"]["valid"] == 1500
    assert first == second


def test_a_missing_reference_says_what_to_upload(s3_client, store, loan_model, trained):
    write_day(s3_client, trained, CLEAN, rows=200)
    steps.validate_day(store, loan_model, CLEAN, now=now())
    with pytest.raises(reference_store.MissingReferenceError,
                       match=r"s3://ml-monitoring/reference/loan_approval/CURRENT.json does not exist"):
        steps.report_day(store, loan_model, CLEAN)


def test_a_day_without_manifest_is_not_trusted_by_readers(seeded, store, loan_model):
    steps.run_day(store, loan_model, CLEAN, now=now())
    store.delete(DayLayout.of(loan_model, CLEAN).manifest)
    with pytest.raises(FileNotFoundError, match="is not published"):
        steps.decide_day(store, loan_model, CLEAN)


def test_a_publish_that_fails_midway_leaves_no_manifest(seeded, store, loan_model):
    steps.run_day(store, loan_model, CLEAN, now=now())
    layout = DayLayout.of(loan_model, CLEAN)
    store.delete(f"{layout.staging_dir}prediction_drift.json")  # as if the report task had died while staging
    with pytest.raises(FileNotFoundError):
        steps.publish_day(store, loan_model, CLEAN, now=now())
    assert store.exists(layout.report("data_drift", "html"))  # some files were rewritten...
    assert not store.exists(layout.manifest)  # ...so no reader may trust the day until a publish completes


def test_the_day_page_explains_the_status_in_plain_words_and_links_the_reports(seeded, store, loan_model):
    steps.run_day(store, loan_model, DRIFTED, now=now())
    page = seeded.get_object(Bucket=BUCKET, Key="reports/loan_approval/dt=2026-10-14/index.html")
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode()
    assert '<span class="status critical" id="status">critical</span>' in html
    assert "2 of 9 features drifted (22%, threshold 20%): annual_income, loan_purpose." in html
    assert "What to do: Open the data drift report" in html
    for link in ("data_drift.html", "prediction_drift.html", "data_quality.html", "summary.json"):
        assert f'href="{link}"' in html  # relative: the page works from any prefix or presigned folder


def test_the_day_page_shows_hostile_category_values_as_text(s3_client, store, loan_model, trained):
    seed_days(s3_client, trained, {}, rows=10)
    frame = day_log(trained, CLEAN, rows=600)
    frame.loc[:100, "state"] = '<script>alert("x")</script>'
    put_frame(s3_client, "predictions/loan_approval/dt=2026-10-05/part-0.parquet", frame)
    steps.run_day(store, loan_model, CLEAN, now=now())
    html = s3_client.get_object(Bucket=BUCKET, Key="reports/loan_approval/dt=2026-10-05/index.html")["Body"].read().decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_the_trailing_volume_comes_from_the_logs_whatever_order_the_days_run_in(s3_client, store, loan_model,
                                                                                 trained):
    """A backfill runs days in parallel: a day's summary must not depend on which neighbours finished first."""
    seed_reference(s3_client, trained)
    days = {CLEAN - dt.timedelta(days=n): rows for n, rows in ((3, 900), (2, 1200), (1, 1500))}
    for day, rows in days.items():
        write_day(s3_client, trained, day, rows=rows)
    write_day(s3_client, trained, CLEAN, rows=1000)
    key = "reports/loan_approval/dt=2026-10-05/summary.json"

    steps.run_day(store, loan_model, CLEAN, now=now())  # before any earlier day ran: counted from their log files
    first = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    operations = json.loads(first)["operations"]
    assert operations["trailing_volume"] == 1200.0 and operations["trailing_volume_days"] == 3
    for day in days:
        steps.run_day(store, loan_model, day, now=now())
    steps.run_day(store, loan_model, CLEAN, now=now())  # after them: counted by their validation, the same
    assert s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == first


def test_decisions_json_agrees_with_the_retraining_trigger_whatever_other_runs_claim_in_between(s3_client, store,
                                                                                                loan_model, trained):
    """Two days of a parallel backfill: each `decide` claims (or is refused) the retraining trigger once; the `alert`
    task that follows, and decisions.json, say exactly what `trigger_retraining` did, even when another day's claim
    lands between the two tasks."""
    from monitoring.steps import decide, notify

    settings = loan_model.model_dump(mode="json")
    settings["retraining"]["min_labelled_rows"] = 0
    model = ModelConfig.model_validate(settings)
    first, second = DRIFTED, DRIFTED + dt.timedelta(days=1)
    seed_days(s3_client, trained, {first: 14, second: 15}, rows=1500)
    for day in (first, second):
        steps.validate_day(store, model, day, now=now())
        steps.report_day(store, model, day)
        steps.publish_day(store, model, day, now=now())

    decided_first = steps.decide_day(store, model, first)  # claims the trigger of the first day
    assert decided_first.branches == ["alert", "trigger_retraining"]
    # Another run's claim lands between this run's decide and alert (the trigger of the day before, in cooldown):
    store.create_json(DayLayout.of(model, first - dt.timedelta(days=1)).retraining_trigger, {"day": "earlier"})
    decided_second = steps.decide_day(store, model, second)
    notify.alert_day(store, model, second, now=now())
    notify.alert_day(store, model, first, now=now())

    for decided in (decided_first, decided_second):
        record = get_json(s3_client, DayLayout.of(model, decided.day).decisions)
        assert record["branches"] == decided.branches
        assert record["retraining"] == (decided.retrain.conf() if decided.retrain else None)
        assert record["retraining_held"] == decided.retrain_held
        assert decide.read_decision(store, model, decided.day) == decided
    assert decided_second.retrain is None and "within retraining.cooldown_days" in decided_second.retrain_held
    assert get_json(s3_client, DayLayout.of(model, first).decisions)["retraining"]["day"] == first.isoformat()
