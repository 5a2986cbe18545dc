"""`python -m monitoring run --model M --day D`: the DAG's code path without Airflow. `python -m monitoring
config-reference` prints the configuration reference (docs/config-reference.md), generated from the typed config.

S3 is reached with boto3's usual configuration; `--endpoint-url` (or $MONITORING_S3_ENDPOINT_URL) points it at a
local server such as moto or MinIO. Like the DAG, the command line is a shell around the library: it reads the clock
and hands the time to the steps.

Expected failures end with one line on stderr and an exit code that says what kind of failure it was (`--debug`
adds the traceback):

  0  the day was processed (whatever its findings)
  1  an unexpected error (a bug: the traceback is printed)
  2  usage: an invalid configuration, an unknown model or a malformed --day
  3  the day's inputs are unusable: a file that cannot be read, a broken data contract, an unsafe key
  4  the model has no usable reference (reference/<model>/CURRENT.json and its version)
  5  the day's logs are missing or still being written: run again once they have landed
  6  the object store could not be reached or refused a request
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import traceback

from monitoring.config import ConfigError, load_config
from monitoring.config_reference import render as config_reference
from monitoring.contract import ContractError
from monitoring.ingest import IngestError, MissingPartitionError, PartitionIncompleteError
from monitoring.layout import LayoutError, parse_day
from monitoring.reference_store import MissingReferenceError
from monitoring.steps import run_day
from monitoring.storage import ObjectStore, StorageError, client_config

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_NO_REFERENCE, EXIT_NOT_READY, EXIT_STORAGE = range(7)


def s3_client(endpoint_url: str | None = None):
    import boto3

    endpoint_url = endpoint_url or os.environ.get("MONITORING_S3_ENDPOINT_URL") or None
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=client_config())


def exit_code(error: BaseException) -> int:
    """The documented exit code of an expected failure (see the module's doc); EXIT_BUG for anything else."""
    for kinds, code in (((ConfigError,), EXIT_USAGE),
                        ((MissingPartitionError, PartitionIncompleteError), EXIT_NOT_READY),
                        ((ContractError, IngestError, LayoutError), EXIT_BAD_INPUT),
                        ((MissingReferenceError,), EXIT_NO_REFERENCE), ((StorageError,), EXIT_STORAGE)):
        if isinstance(error, kinds):
            return code
    return EXIT_BUG


def _day(value: str) -> str:
    try:
        return parse_day(value).isoformat()
    except LayoutError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="print the traceback of an expected failure too")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="monitor one model for one day and publish its reports")
    run.add_argument("--model", required=True)
    run.add_argument("--day", required=True, type=_day, help="YYYY-MM-DD")
    run.add_argument("--config", default=None, help="models.yaml (default: $MONITORING_CONFIG or config/models.yaml)")
    run.add_argument("--endpoint-url", default=None)
    check = sub.add_parser("check-config", parents=[common], help="validate the configuration file and list its models")
    check.add_argument("--config", default=None)
    sub.add_parser("config-reference", parents=[common], help="print the configuration reference (Markdown), "
                   "generated from the typed config's field descriptions (docs/config-reference.md)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "config-reference":
        print(config_reference(), end="")
        return EXIT_OK
    if args.command == "check-config":  # every model's errors at once
        config = load_config(args.config)
        print("\n".join(f"{m.name}: {m.task.value}, s3://{m.storage.bucket}, retraining DAG {m.retraining.dag_id}"
                        for m in config.models))
        return EXIT_OK
    config = load_config(args.config, isolate=True)  # another model's broken entry does not stop this one
    model = config.model(args.model)
    store = ObjectStore(s3_client(args.endpoint_url), model.storage.bucket)
    decision = run_day(store, model, args.day, list(config.models), now=dt.datetime.now(dt.timezone.utc))
    print(json.dumps({"model": decision.model, "day": decision.day, "branches": decision.branches,
                      "why": decision.why}, indent=2))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except Exception as error:  # noqa: BLE001 - every failure ends in one line and its exit code
        code = exit_code(error)
        if args.debug or code == EXIT_BUG:
            traceback.print_exc()
        prefix = "invalid configuration" if isinstance(error, ConfigError) else type(error).__name__
        print(f"error ({prefix}, exit {code}): {error}", file=sys.stderr)
        return code
