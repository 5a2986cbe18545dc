"""Alert delivery through the real DAG and the providers' notifiers: a local HTTP server receives the webhook and the
Slack-format posts, a local SMTP server (aiosmtpd) the e-mails, and moto's SNS (the local S3 server's endpoint) fans
the SNS messages out to an SQS queue; the assertions are on what arrived."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import boto3
import pytest
import yaml

from tests.conftest import BUCKET, ROOT, free_port
from tests.helpers import env_vars, post_receiver, project_dags, seed_days

pytestmark = pytest.mark.e2e

TODAY = dt.datetime.now(dt.timezone.utc).date()
WEEK = [TODAY - dt.timedelta(days=n) for n in range(7, 0, -1)]  # drifted for 5 days, then 2 clean days
DEMO_DAY_NUMBERS = {**{d: 12 + i for i, d in enumerate(WEEK[:5])}, WEEK[5]: 5, WEEK[6]: 6}
RECENT = WEEK[0]
SNS_TOPIC = "arn:aws:sns:us-east-1:123456789012:ml-alerts"
OLD = TODAY - dt.timedelta(days=12)


@pytest.fixture(scope="module")
def inboxes(tmp_path_factory):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    mails = []

    class Keep(Message):
        def handle_message(self, message):
            mails.append(message)

    smtp_port = free_port()
    smtp = Controller(Keep(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http, posts = post_receiver()
    yield {"smtp_port": smtp_port, "http_port": http.server_address[1], "mails": mails, "posts": posts, "sns": []}
    http.shutdown()
    smtp.stop()


@pytest.fixture(scope="module")
def environment(s3_server, trained, inboxes, tmp_path_factory):
    """The project's config with channels for loan_approval, and the connections they name."""
    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"]["loan_approval"].pop("labels")  # no label feed here: no "labels missing" warnings
    document["models"]["loan_approval"]["alerts"] = {"digest_quiet_minutes": 0, "max_age_days": 8, "channels": [
        {"type": "slack", "conn_id": "slack_alerts"},
        {"type": "webhook", "conn_id": "alert_webhook", "endpoint": "/hooks/monitoring"},
        {"type": "email", "conn_id": "smtp_alerts", "to": ["oncall@example.com"]},
        {"type": "sns", "conn_id": "monitoring_s3", "target_arn": SNS_TOPIC},  # moto's SNS on the same endpoint
    ]}
    config = tmp_path_factory.mktemp("config") / "models.yaml"
    config.write_text(yaml.safe_dump(document))
    port = inboxes["http_port"]
    connections = {
        "AIRFLOW_CONN_MONITORING_S3": {"conn_type": "aws", "login": "testing", "password": "testing",
                                       "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}},
        "AIRFLOW_CONN_SLACK_ALERTS": {"conn_type": "slackwebhook", "host": f"http://127.0.0.1:{port}",
                                      "password": "T000/B000/slack-secret-token"},
        "AIRFLOW_CONN_ALERT_WEBHOOK": {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"},
        "AIRFLOW_CONN_SMTP_ALERTS": {"conn_type": "smtp", "host": "127.0.0.1", "port": inboxes["smtp_port"],
                                     "extra": {"disable_tls": True, "disable_ssl": True,
                                               "from_email": "monitoring@example.com"}},
    }
    variables = {**{k: json.dumps(v) for k, v in connections.items()}, "MONITORING_CONFIG": str(config)}
    with env_vars(variables):
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", endpoint_url=s3_server, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=s3_server, region_name="us-east-1")
        assert sns.create_topic(Name="ml-alerts")["TopicArn"] == SNS_TOPIC
        queue = sqs.create_queue(QueueName="oncall")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=SNS_TOPIC, Protocol="sqs", Endpoint=queue_arn)
        inboxes["sns_queue"] = (sqs, queue)
        seed_days(client, trained, {OLD: 13, **DEMO_DAY_NUMBERS}, rows=1500)
        yield client


@pytest.fixture(scope="module")
def dags(environment):
    return project_dags()


def run(dags, day: dt.date) -> dict[str, str]:
    import pendulum

    result = dags["monitor_loan_approval"].test(
        logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC").add(days=1))
    assert str(result.state) == "success"
    return {ti.task_id: str(ti.state) for ti in result.get_task_instances()}


def deliveries(inboxes) -> dict[str, list]:
    sqs, queue = inboxes["sns_queue"]
    while received := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in received:
            inboxes["sns"].append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return {"slack": [json.loads(b) for p, b in inboxes["posts"] if p.startswith("/T000/B000/")],
            "webhook": [json.loads(b) for p, b in inboxes["posts"] if p == "/hooks/monitoring"],
            "email": list(inboxes["mails"]), "sns": list(inboxes["sns"])}


def counts(inboxes) -> dict[str, int]:
    return {k: len(v) for k, v in deliveries(inboxes).items()}


def test_a_drifted_week_sends_one_alert_then_one_resolved_message_and_retrains_once(dags, environment, inboxes):
    from airflow.models.dagrun import DagRun

    states = run(dags, WEEK[0])
    assert states["alert"] == "success" and states["trigger_retraining"] == "success"
    got = deliveries(inboxes)
    assert counts(inboxes) == {"slack": 1, "webhook": 1, "email": 1, "sns": 1}  # one grouped message, every channel
    webhook = got["webhook"][0]
    assert webhook["model"] == "loan_approval" and webhook["day"] == WEEK[0].isoformat()
    assert webhook["severity"] == "critical"
    assert {n["rule"] for n in webhook["notices"]} >= {"dataset_drift", "prediction_drift", "new_categories"}
    assert webhook["links"]["day_page"].endswith(f"reports/loan_approval/dt={WEEK[0]}/index.html")
    assert "dataset_drift" in got["slack"][0]["text"] and "Day page:" in got["slack"][0]["text"]
    mail = got["email"][0]
    assert mail["To"] == "oncall@example.com" and mail["Subject"].startswith("[critical] loan_approval")
    assert got["sns"][0]["Subject"].startswith("[critical] loan_approval") and "dataset_drift" in got["sns"][0]["Message"]

    for day in WEEK[1:5]:  # the drift goes on: already alerted
        run(dags, day)
    run(dags, WEEK[0])  # a rerun of the first day
    assert counts(inboxes) == {"slack": 1, "webhook": 1, "email": 1, "sns": 1}
    decisions = json.loads(environment.get_object(
        Bucket=BUCKET, Key=f"reports/loan_approval/dt={WEEK[1]}/decisions.json")["Body"].read())
    assert decisions["notification"]["message"] is None
    assert any("already alerted" in s for s in decisions["notification"]["skipped"])
    assert "retraining.cooldown_days" in decisions["retraining_held"]
    week = {d.isoformat() for d in WEEK}
    requested = [r.run_id for r in DagRun.find(dag_id="retrain_loan_approval") if r.run_id[-10:] in week]
    assert requested == [f"monitoring__loan_approval__{WEEK[0]}"]  # once, not once per drifted day

    run(dags, WEEK[5])
    assert counts(inboxes)["webhook"] == 1  # one good day is not a recovery (alerts.resolve_after: 2)
    states = run(dags, WEEK[6])
    assert states["healthy"] == "success"
    resolved = deliveries(inboxes)["webhook"][-1]
    assert counts(inboxes) == {"slack": 2, "webhook": 2, "email": 2, "sns": 2}
    assert resolved["severity"] == "resolved" and {n["kind"] for n in resolved["notices"]} == {"resolved"}
    assert {n["rule"] for n in resolved["notices"]} >= {"dataset_drift", "prediction_drift"}
    assert "slack-secret-token" not in json.dumps(deliveries(inboxes)["webhook"]) + json.dumps(decisions)


def test_an_old_day_records_without_paging_and_the_digest_goes_out_once(dags, environment, inboxes):
    before = counts(inboxes)
    run(dags, OLD)
    assert counts(inboxes) == before
    assert environment.get_object(Bucket=BUCKET, Key=f"reports/loan_approval/dt={OLD}/alerts.json")

    digest = dags["monitoring_alert_digest"]
    assert str(digest.test().state) == "success"
    assert str(digest.test(logical_date=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).state) \
        == "success"
    after = deliveries(inboxes)
    assert {k: len(v) - before[k] for k, v in after.items()} == {"slack": 1, "webhook": 1, "email": 1, "sns": 1}
    assert "digest of quiet runs" in after["webhook"][-1]["day"]


def test_a_task_that_fails_after_its_retries_sends_one_failure_notice(dags, inboxes):
    import types

    task = dags["monitor_loan_approval"].get_task("validate")
    before = len(deliveries(inboxes)["webhook"])
    ti = types.SimpleNamespace(task_id="validate", try_number=3, log_url="http://airflow/log")
    task.on_failure_callback[0]({"ti": ti, "params": {"day": RECENT.isoformat()}, "run_id": "scheduled__x",
                                 "exception": RuntimeError("s3://ml-monitoring/predictions/... unreachable")})
    posts = deliveries(inboxes)["webhook"][before:]
    assert len(posts) == 1
    assert posts[0]["title"] == f"[critical] loan_approval {RECENT}: failed: validate"
    assert "failed after 3 tries: RuntimeError" in posts[0]["notices"][0]["message"]
