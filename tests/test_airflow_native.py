"""The library side of the Airflow 3 features (their runs through a real Airflow: tests/test_e2e_airflow3.py): the
reports asset's announcement and the status feed, the "logs late" notice of a deadline, overdue labels, the
approval's request and its outcome, and the DAGs these settings shape."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring import alerts, retraining, steps
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, ModelLayout
from monitoring.steps import site
from tests.conftest import BUCKET, ROOT
from tests.helpers import get_json, land_labels, logged_predictions, now, seed_days, true_labels

DAY = dt.date(2026, 10, 5)


def configured(model: ModelConfig, **sections) -> ModelConfig:
    settings = model.model_dump(mode="json")
    for section, values in sections.items():
        settings[section] = {**(settings.get(section) or {}), **values}
    return ModelConfig.model_validate(settings)


# --- assets ---------------------------------------------------------------------------------------------------------
def test_the_assets_are_the_model_s_s3_prefixes(loan_model):
    layout = ModelLayout.of(loan_model)
    assert layout.reports_asset == f"s3://{BUCKET}/reports/loan_approval/"
    assert layout.predictions_asset == f"s3://{BUCKET}/predictions/loan_approval/"
    assert layout.models_asset == f"s3://{BUCKET}/models/loan_approval/"


def test_a_published_day_is_announced_with_its_verdict_and_the_feed_keeps_the_latest_day(s3_client, store, trained,
                                                                                          loan_model):
    seed_days(s3_client, trained, {DAY: 5, DAY + dt.timedelta(days=1): 12}, rows=800)
    steps.run_day(store, loan_model, DAY, now=now())
    steps.run_day(store, loan_model, DAY + dt.timedelta(days=1), now=now())
    published = steps.update_site(store, loan_model, DAY + dt.timedelta(days=1))["published"]
    assert published["day"] == "2026-10-06" and published["dataset_drift"] is True
    assert published["status"] == "critical" and set(published["drifted_features"]) >= {"annual_income"}
    assert published["day_page"] == "reports/loan_approval/dt=2026-10-06/index.html"
    assert "dataset_drift" in published["alerting_rules"] and 0 <= published["health_score"] < 100
    older = steps.update_site(store, loan_model, DAY)["published"]
    assert older["status"] == "healthy" and older["dataset_drift"] is False

    site.update_status_feed(store, loan_model, [published])
    feed = site.update_status_feed(store, loan_model, [older])  # a backfill of an older day arrives later
    assert feed["models"]["loan_approval"]["day"] == "2026-10-06"
    assert get_json(s3_client, "reports/status.json") == feed


# --- deadlines ------------------------------------------------------------------------------------------------------
def late(store, model, day, *, backfill=False, found=False, at=None):
    return alerts.logs_late(store, model, day, now=at or dt.datetime(2026, 10, 6, 3, tzinfo=dt.timezone.utc),
                            backfill=backfill, found=lambda: found)


def test_logs_past_their_deadline_are_noticed_once_never_for_backfills_old_days_or_logs_that_landed(store,
                                                                                                  loan_model):
    model = configured(loan_model, storage={"deadline_minutes": 90})
    assert late(store, model, "2026-10-05", backfill=True) is None
    assert late(store, model, "2026-10-05", found=True) is None
    old = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    assert late(store, model, "2026-10-05", at=old) is None  # older than alerts.max_age_days
    message = late(store, model, "2026-10-05")
    assert message.title == "[warning] loan_approval 2026-10-05: late: logs_late"
    notice = message.notices[0]
    assert notice.kind == "late" and "90 minutes after the day ended" in notice.message
    assert f"s3://{BUCKET}/predictions/loan_approval/dt=2026-10-05/" in notice.message
    assert late(store, model, "2026-10-05") is None  # the day was noticed already
    assert late(store, model, "2026-10-06") is not None  # another day is another notice


def test_labels_still_missing_deadline_days_after_they_were_due_are_an_overdue_alert(s3_client, store, trained,
                                                                                    loan_model):
    model = configured(loan_model, labels={"column": "repaid", "lag_days": 1, "deadline_days": 2},
                       performance={"min_labelled_rows": 100})
    days = [DAY + dt.timedelta(days=i) for i in range(4)]
    seed_days(s3_client, trained, {d: 5 + i for i, d in enumerate(days)}, rows=600)
    for day in days[:3]:
        steps.run_day(store, model, day, now=now())
    # Day 1's labels came (late but complete); day 0's never did.
    land_labels(s3_client, "loan_approval", days[3], true_labels(logged_predictions(s3_client, "loan_approval",
                                                                                    days[1])))
    decision = steps.run_day(store, model, days[3], now=now())
    overdue = next(f for f in decision.findings if f.rule == "labels_overdue")
    assert overdue.severity.value == "warning" and "2026-10-05" in overdue.message
    assert "labels.deadline_days" in overdue.message
    report = get_json(s3_client, DayLayout.of(model, days[3]).labels_report)
    assert report["overdue"]["day"] == "2026-10-05" and report["overdue"]["status"] == "too_few_labels"


def test_a_deadline_must_lie_within_the_days_looked_back_at(loan_model):
    with pytest.raises(ValueError, match="lag_days \\+ deadline_days"):
        configured(loan_model, labels={"column": "repaid", "lag_days": 5, "lookback_days": 6, "deadline_days": 3})
    assert configured(loan_model, labels={"column": "repaid", "lag_days": 5, "deadline_days": 9}).labels.lookback == 14


# --- approval -------------------------------------------------------------------------------------------------------
def outcome() -> retraining.RetrainingOutcome:
    return retraining.RetrainingOutcome(
        model="loan_approval", day="2026-10-20",
        window=retraining.Window(first="2026-10-12", last="2026-10-15", labels_as_of="2026-10-20"),
        days=["2026-10-12", "2026-10-13"], rows=retraining.Rows(labelled=4000, train=3000, holdout=1000),
        current_version="v1", candidate_version="r20261020", metric="f1", lower_is_better=False, min_gain=0.01,
        current={"f1": 0.71, "roc_auc": 0.8}, candidate={"f1": 0.8, "roc_auc": 0.86}, current_value=0.71,
        candidate_value=0.8, promoted=True, why="the candidate is better: f1 0.8 against 0.71", reference_rows=4000)


def test_the_approval_shows_both_models_figures_the_window_and_the_evidence():
    subject, body = retraining.review_request(outcome(), {"day_page": "https://reports/dt=2026-10-20/index.html"})
    assert subject == "Promote r20261020 of loan_approval? (f1 0.71 -> 0.8)"
    assert "| f1 | 0.71 | 0.8 |" in body and "| roc_auc | 0.8 | 0.86 |" in body
    assert "2026-10-12..2026-10-15" in body and "3000 to train, 1000 held out" in body
    assert "[day page](https://reports/dt=2026-10-20/index.html)" in body


def test_approved_the_candidate_is_promoted_rejected_or_unanswered_the_current_model_stays_and_says_why():
    approved = retraining.reviewed(outcome(), retraining.Review(approved=True, by="ana"))
    assert approved.promoted and approved.review.by == "ana" and approved.reference_rows == 4000
    rejected = retraining.reviewed(outcome(), retraining.Review(approved=False, by="ana", reason="seasonal"))
    assert not rejected.promoted and rejected.reference_rows == 0 and rejected.version_in_use == "v1"
    assert rejected.why.startswith("kept the current model v1: the candidate r20261020") and "(by ana): seasonal" in \
        rejected.why
    silent = retraining.reviewed(outcome(), retraining.Review(approved=False, by=None))
    assert "by nobody within retraining.approval_timeout_hours" in silent.why


# --- the DAGs these settings shape ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dag_files():
    import runpy

    return (runpy.run_path(str(ROOT / "dags" / "model_monitoring.py")),
            runpy.run_path(str(ROOT / "dags" / "model_retraining.py")))


def test_the_deadline_and_the_approval_appear_only_when_configured(dag_files, loan_model):
    monitoring, retraining_dags = dag_files
    assert monitoring["build_monitoring_dag"](loan_model).deadline is None
    late_model = configured(loan_model, storage={"deadline_minutes": 45})
    (alert,) = monitoring["build_monitoring_dag"](late_model).deadline
    assert alert.interval == dt.timedelta(days=1, minutes=45)
    assert alert.callback.path == "monitoring_airflow.deadlines.logs_late"
    assert alert.callback.kwargs == {"model": "loan_approval"}

    plain = retraining_dags["build_retraining_dag"](loan_model)
    assert {"approval", "review", "reject"}.isdisjoint(plain.task_ids)
    gated = retraining_dags["build_retraining_dag"](configured(loan_model, retraining={"approval": "required"}))
    assert gated.get_task("choose").downstream_task_ids == {"approval", "keep"}
    assert gated.get_task("review").downstream_task_ids == {"promote", "reject"}
    approval = gated.get_task("approval")
    assert approval.options == ["Approve", "Reject"] and approval.defaults == ["Reject"]
    assert approval.response_timeout == dt.timedelta(hours=72)


def test_the_monitoring_dag_reads_the_predictions_asset_and_publishes_the_reports_asset(dag_files, loan_model):
    dag = dag_files[0]["build_monitoring_dag"](loan_model)
    assert [a.uri for a in dag.get_task("validate").inlets] == [f"s3://{BUCKET}/predictions/loan_approval"]
    assert [a.uri for a in dag.get_task("update_site").outlets] == [f"s3://{BUCKET}/reports/loan_approval"]
    retrain = dag_files[1]["build_retraining_dag"](loan_model)
    assert [a.uri for a in retrain.get_task("promote").outlets] == [f"s3://{BUCKET}/models/loan_approval"]


# --- the store a task gets --------------------------------------------------------------------------------------------
def test_a_task_s_store_reaches_the_bucket_through_the_connection_without_the_provider_s_stack_walk(
        s3_server, loan_model, monkeypatch):
    """The client is the hook's (the connection's endpoint, region and credentials, the library's retry settings),
    built from its session: the provider's user-agent note walks the call stack with `inspect`, 0.26 s a task."""
    import json

    import boto3
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

    from monitoring_airflow import store

    monkeypatch.setenv("AIRFLOW_CONN_MONITORING_S3", json.dumps({
        "conn_type": "aws", "login": "conn-key", "password": "conn-secret",
        "extra": {"endpoint_url": s3_server, "region_name": "eu-west-3"}}))
    model = configured(loan_model, storage={"bucket": "store-test", "aws_conn_id": "monitoring_s3"})
    boto3.client("s3", endpoint_url=s3_server, region_name="eu-west-3").create_bucket(
        Bucket="store-test", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    monkeypatch.setattr(AwsGenericHook, "_get_caller", lambda *a, **k: pytest.fail("walked the call stack"))
    bucket = store(model)
    assert (bucket.client.meta.endpoint_url, bucket.client.meta.region_name) == (s3_server, "eu-west-3")
    assert bucket.client._request_signer._credentials.access_key == "conn-key"
    assert bucket.client.meta.config.retries["mode"] == "standard"
    bucket.put_json("probe.json", {"ok": True})
    assert bucket.get_json("probe.json") == {"ok": True}
