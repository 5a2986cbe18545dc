"""Shared fixtures: an isolated Airflow home, fake AWS credentials, moto S3 (in-process and as a real server)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Before anything imports Airflow or boto3: an Airflow home of this test run only, and credentials that can reach
# nothing but moto.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="monitoring-tests-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update({
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "MONITORING_CONFIG": str(ROOT / "config" / "models.yaml"),
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "NO_PROXY": "127.0.0.1,localhost",
})
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
import pytest  # noqa: E402

BUCKET = "ml-monitoring"


@pytest.fixture
def s3_client():
    """An in-process moto S3 with the monitoring bucket."""
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def store(s3_client):
    from monitoring.storage import ObjectStore

    return ObjectStore(s3_client, BUCKET)


@pytest.fixture(scope="session")
def config():
    from monitoring.config import load_config

    return load_config(ROOT / "config" / "models.yaml")


@pytest.fixture(scope="session")
def loan_model(config):
    return config.model("loan_approval")


@pytest.fixture(scope="session")
def trained():
    """The tests' own scikit-learn approval model and its reference set (tests/data.py), trained once per session."""
    from tests.data import train

    return train()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 as a real HTTP endpoint on loopback, one per test module (no state shared between modules)."""
    from moto.server import ThreadedMotoServer

    import requests

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # Every moto server of this process shares one in-memory backend: start and leave it empty.
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    yield url
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    server.stop()
