"""Late labels through the real monitoring DAG (`dag.test()` against moto's S3 server): labels for one prediction
day arrive in two instalments, and each later run recomputes that day's performance in place."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import boto3
import pytest

from tests.conftest import BUCKET, ROOT
from tests.helpers import land_labels, logged_predictions, read, seed_days, true_labels

pytestmark = pytest.mark.e2e

P = dt.date(2026, 10, 5)
MODEL = "loan_approval"


@pytest.fixture(scope="module")
def s3(s3_server, trained):
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    os.environ["AIRFLOW_CONN_MONITORING_S3"] = json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}})
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    seed_days(client, trained, {P + dt.timedelta(days=i): 5 + i for i in range(3)}, rows=1500)
    yield client
    os.environ.pop("AIRFLOW_CONN_MONITORING_S3", None)


@pytest.fixture(scope="module")
def dag(s3):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[f"monitor_{MODEL}"]


def run(dag, day: dt.date) -> dict[str, str]:
    import pendulum

    result = dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day, tz="UTC").add(days=1))
    assert str(result.state) == "success"
    return {ti.task_id: str(ti.state) for ti in result.get_task_instances()}


def document(client, day: dt.date, name: str) -> dict:
    return json.loads(read(client, f"reports/{MODEL}/dt={day}/{name}"))


def test_labels_arriving_in_two_instalments_recompute_the_days_performance_not_duplicate_it(dag, s3):
    labels = true_labels(logged_predictions(s3, MODEL, P))
    first, second = labels.iloc[:600], labels.iloc[600:]

    states = run(dag, P)
    assert states["performance"] == "success" and states["update_site"] == "success"
    assert document(s3, P, "performance.json")["labelled"] == 0
    assert "awaiting labels" in read(s3, f"reports/{MODEL}/dt={P}/index.html").decode().lower()

    land_labels(s3, MODEL, P + dt.timedelta(days=1), first)
    run(dag, P + dt.timedelta(days=1))
    partial = document(s3, P, "performance.json")
    assert partial["labelled"] == 600 and partial["labels_as_of"] == "2026-10-06"
    assert document(s3, P, "summary.json")["performance"] == partial
    assert document(s3, P + dt.timedelta(days=1), "labels.json")["joined"] == 600
    first_report = read(s3, f"reports/{MODEL}/dt={P}/model_performance.json")

    land_labels(s3, MODEL, P + dt.timedelta(days=2), second)
    run(dag, P + dt.timedelta(days=2))
    full = document(s3, P, "performance.json")
    assert full["labelled"] == len(labels) and full["coverage"] > 0.99 and full["labels_as_of"] == "2026-10-07"
    assert document(s3, P, "summary.json")["performance"] == full
    assert read(s3, f"reports/{MODEL}/dt={P}/model_performance.json") != first_report
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"reports/{MODEL}/dt={P}/")["Contents"]
    assert sum(o["Key"].endswith("performance.json") for o in listing) == 2  # performance.json + model_performance.json
    history = json.loads(read(s3, f"reports/{MODEL}/history.json"))["days"]
    assert [d["day"] for d in history] == ["2026-10-05", "2026-10-06", "2026-10-07"]
    assert history[0]["labelled"] == len(labels)
    page = read(s3, f"reports/{MODEL}/dt={P}/index.html").decode()
    assert "model_performance.html" in page and f"{full['metrics']['f1']:.3f}" in page


def test_the_regression_model_runs_through_its_own_dag_with_regression_performance(s3):
    from airflow.dag_processing.dagbag import DagBag

    from demo.seed import seed_model

    days = [P + dt.timedelta(days=i) for i in range(2)]
    seed_model(s3, BUCKET, "loan_rate", days)
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["monitor_loan_rate"]
    run(dag, days[0])
    states = run(dag, days[1])
    assert states["performance"] == "success" and states["update_site"] == "success"
    found = json.loads(read(s3, f"reports/loan_rate/dt={days[0]}/performance.json"))
    assert found["labelled"] > 0 and set(found["metrics"]) == {"mae", "rmse", "mape", "r2"}
    assert read(s3, f"reports/loan_rate/dt={days[0]}/model_performance.html")
    assert "MAE" in read(s3, "reports/loan_rate/index.html").decode()
    assert 'href="loan_rate/index.html"' in read(s3, "reports/index.html").decode()
