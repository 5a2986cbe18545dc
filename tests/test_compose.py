"""docker-compose.yaml cannot run here (no Docker engine): check its structure against what the DAGs need."""

import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"]


def test_the_compose_file_has_the_services_of_a_celery_deployment_with_minio():
    assert set(COMPOSE["services"]) == {"postgres", "redis", "minio", "minio-init", *AIRFLOW_SERVICES}


def test_every_long_running_service_has_a_healthcheck():
    for name, service in COMPOSE["services"].items():
        if name not in ("airflow-init", "minio-init"):
            assert "healthcheck" in service, name


def test_every_airflow_service_mounts_the_project_and_reaches_s3_through_the_connection():
    for name in AIRFLOW_SERVICES:
        service = COMPOSE["services"][name]
        mounts = {volume.rsplit(":", 1)[1] for volume in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/config"} <= mounts, name
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert yaml.safe_load(env["AIRFLOW_CONN_MONITORING_S3"])["extra"]["endpoint_url"] == "http://minio:9000"
        assert env["MONITORING_CONFIG"] == "/opt/airflow/config/models.yaml"


def test_the_bucket_the_config_names_is_created_by_the_init_service():
    config = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    bucket = config["defaults"]["storage"]["bucket"]
    assert f"local/{bucket}" in COMPOSE["services"]["minio-init"]["entrypoint"]
