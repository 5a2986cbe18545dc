"""Every DAG file imports, is documented, tagged, retried, and parses fast without heavy imports."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"monitor_loan_approval", "retrain_loan_approval", "monitor_loan_rate",
                                   "retrain_loan_rate", "monitor_loan_offer", "retrain_loan_offer",
                                   "monitoring_alert_digest", "monitoring_status_feed"}


def test_every_dag_has_tags_doc_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_the_monitoring_dag_processes_whole_days_from_its_data_interval(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["monitor_loan_approval"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is False
    assert "model:loan_approval" in dag.tags
    assert set(dag.task_ids) == {"check_partition", "validate", "evidently_reports", "publish", "performance",
                                 "decide", "alert", "trigger_retraining", "healthy", "update_site"}
    assert dag.get_task("decide").downstream_task_ids == {"alert", "trigger_retraining", "healthy"}
    assert dag.get_task("publish").downstream_task_ids == {"performance", "decide"}
    assert dag.get_task("performance").downstream_task_ids == {"decide", "update_site"}
    # Labels are joined even on a day whose logs never landed or could not be used; the day's decision is not.
    assert dag.get_task("performance").trigger_rule == "all_done"
    assert dag.get_task("decide").trigger_rule == "all_success"
    assert dag.get_task("trigger_retraining").trigger_dag_id == "retrain_loan_approval"


def test_the_regression_model_gets_its_own_dag_from_the_same_config(dagbag):
    dag = dagbag.dags["monitor_loan_rate"]
    assert "regression" in dag.tags and "model:loan_rate" in dag.tags
    assert dag.get_task("trigger_retraining").trigger_dag_id == "retrain_loan_rate"


def test_evidently_s_tasks_take_the_configured_pool_and_queue_and_the_others_the_defaults(dagbag):
    sys.path.insert(0, str(ROOT / "dags"))
    from model_monitoring import build_monitoring_dag

    from monitoring.config import ModelConfig, load_config

    shipped = load_config(ROOT / "config" / "models.yaml").model("loan_approval")
    dag = dagbag.dags["monitor_loan_approval"]
    assert {t.pool for t in dag.tasks} == {"default_pool"}  # nothing configured: pools need not exist
    settings = shipped.model_dump(mode="json")
    settings["reports"].update({"pool": "evidently", "queue": "heavy"})
    dag = build_monitoring_dag(ModelConfig.model_validate(settings))
    heavy = {t.task_id for t in dag.tasks if t.pool == "evidently" and t.queue == "heavy"}
    assert heavy == {"evidently_reports", "performance"}
    assert {t.pool for t in dag.tasks if t.task_id not in heavy} == {"default_pool"}
    assert len({t.queue for t in dag.tasks if t.task_id not in heavy}) == 1


PARSE = """
import json, runpy, sys, time
import airflow.sdk
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
start = time.process_time()
runpy.run_path(sys.argv[1])
print(json.dumps({"cpu": time.process_time() - start,
                  "heavy": sorted(m for m in ("evidently", "pandas", "sklearn", "pyarrow") if m in sys.modules)}))
"""


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_a_dag_file_parses_in_under_a_second_of_cpu_without_heavy_imports(dag_file):
    """No pandas, pyarrow, scikit-learn or Evidently at parse time. (boto3 comes with the s3:// assets: Airflow has the
    Amazon provider normalize their URIs, and the provider's handler module imports its S3 hook.)"""
    out = subprocess.run([sys.executable, "-c", PARSE, str(dag_file)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["cpu"] < 1.0


def test_the_library_imports_no_airflow():
    code = "import sys, monitoring.steps, monitoring.reports, monitoring.cli; print([m for m in sys.modules if m.startswith('airflow')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_dag_parsed_today_and_tomorrow_serializes_the_same():
    """Nothing in a DAG comes from the clock at parse time: Airflow would record a new DAG version every day."""
    import datetime as dt

    import time_machine
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    def serialized_on(day: dt.datetime) -> dict:
        with time_machine.travel(day, tick=False):
            bag = DagBag(dag_folder=str(ROOT / "dags"))
            assert bag.import_errors == {}
            return {dag_id: DagSerialization.to_dict(dag) for dag_id, dag in bag.dags.items()}

    today = serialized_on(dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.timezone.utc))
    tomorrow = serialized_on(dt.datetime(2026, 12, 2, 0, 1, tzinfo=dt.timezone.utc))
    assert today.keys() == tomorrow.keys() and len(today) == 8
    for dag_id in today:
        assert today[dag_id] == tomorrow[dag_id], dag_id


@pytest.mark.parametrize("dag_id", ["monitor_loan_approval", "retrain_loan_approval", "monitoring_alert_digest"])
def test_a_task_s_process_builds_only_its_own_dag_and_the_same_dag(dag_id, dagbag, monkeypatch):
    """Airflow parses a task's DAG file in the task's process with the task's dag id in the parsing context: the
    files skip every other DAG (the other models' cost about 0.35 s of every task) and build this one unchanged."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID, _AIRFLOW_PARSING_CONTEXT_TASK_ID
    from airflow.serialization.serialized_objects import DagSerialization

    # What the task runner sets (its context manager leaves them set: the task's process ends after the task).
    monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, dag_id)
    monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_TASK_ID, "any")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert dag_id in bag.dags
    assert [d for d in bag.dags if d.startswith(("monitor_", "retrain_")) and d != dag_id] == []
    assert DagSerialization.to_dict(bag.dags[dag_id]) == DagSerialization.to_dict(dagbag.dags[dag_id])


def test_a_broken_model_entry_hides_only_its_own_dags_and_names_the_model_and_key(tmp_path, monkeypatch):
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    document = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    document["models"]["loan_rate"]["drift"]["numerical_methd"] = "wasserstein"
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("MONITORING_CONFIG", str(path))

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert set(bag.dag_ids) == {"monitor_loan_approval", "retrain_loan_approval", "monitor_loan_offer",
                                "retrain_loan_offer", "monitoring_alert_digest", "monitoring_status_feed"}
    assert set(bag.import_errors) == {str(ROOT / "dags" / "model_monitoring.py"),
                                      str(ROOT / "dags" / "model_retraining.py")}
    for error in bag.import_errors.values():
        assert "ConfigError" in error and "model 'loan_rate'" in error
        assert "key 'drift.numerical_methd': unknown key" in error
        assert "loan_approval" not in error
