"""`python -m monitoring run --model M --day D`: the DAG's code path without Airflow.

S3 is reached with boto3's usual configuration; `--endpoint-url` (or $MONITORING_S3_ENDPOINT_URL) points it at a
local server such as moto or MinIO.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from monitoring.config import ConfigError, load_config


def s3_client(endpoint_url: str | None = None):
    import boto3

    from monitoring.storage import client_config

    endpoint_url = endpoint_url or os.environ.get("MONITORING_S3_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=client_config())


def main(argv: list[str] | None = None) -> int:
    from monitoring.pipeline import run_day
    from monitoring.storage import ObjectStore

    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="monitor one model for one day and publish its reports")
    run.add_argument("--model", required=True)
    run.add_argument("--day", required=True, help="YYYY-MM-DD")
    run.add_argument("--config", default=None, help="models.yaml (default: $MONITORING_CONFIG or config/models.yaml)")
    run.add_argument("--endpoint-url", default=None)
    check = sub.add_parser("check-config", help="validate the configuration file and list its models")
    check.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print("\n".join(f"{m.name}: {m.task.value}, s3://{m.storage.bucket}, retraining DAG {m.retraining.dag_id}"
                        for m in config.models))
        return 0
    model = config.model(args.model)
    store = ObjectStore(s3_client(args.endpoint_url), model.storage.bucket)
    decision = run_day(store, model, args.day, list(config.models))
    print(json.dumps({"model": decision.model, "day": decision.day, "branches": decision.branches,
                      "why": decision.why}, indent=2))
    return 0
