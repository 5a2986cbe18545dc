"""The command line: the DAG's code path without Airflow, and a newcomer's tools.

    python -m monitoring init --model M --reference FILE        a config entry guessed from a reference file
    python -m monitoring check-config [--against-reference]     the config validated (and against the bucket)
    python -m monitoring run --model M --day D [--dry-run]      one model-day, as the DAG runs it
    python -m monitoring compare --model M --from D1 --to D2 [--against reference|previous|weekday|D3..D4]
                                                                a range of published days against a baseline
    python -m monitoring config-reference | config-schema       the configuration's reference and JSON Schema

What a `run` writes: the day's staging area (`staging/<model>/dt=<day>/`), its published reports, summary, pages,
manifest, `alerts.json` and `decisions.json`, the model's history and site, and the reference's fitted profile the
first time a version is used. It sends no message (the command line has no alert channels) and never requests
retraining: a day that would ask for it says so, and no claim is taken, so the DAG's own runs are not held by a
cooldown. With `--dry-run` nothing is written outside the staging area: the whole flow runs, and what it would
publish stays in memory.

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
from pathlib import Path

from monitoring import compare, onboarding
from monitoring.config import ConfigError, LogFormat, load_config
from monitoring.config_reference import render as config_reference
from monitoring.config_reference import schema as config_schema
from monitoring.contract import ContractError
from monitoring.ingest import (SOURCE_FILE, SOURCE_ROW, IngestError, MissingPartitionError, PartitionIncompleteError,
                               read_file)
from monitoring.layout import LayoutError, parse_day
from monitoring.reference_store import MissingReferenceError
from monitoring.site import render_compare_page
from monitoring.steps import run_day
from monitoring.storage import ObjectStore, OverlayStore, StorageError, client_config

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


def _compare(args: argparse.Namespace) -> int:
    model = load_config(args.config, isolate=True).model(args.model)
    store = ObjectStore(s3_client(args.endpoint_url), model.storage.bucket)
    try:
        against = compare.parse_against(args.against or model.windows.baseline)
        comparison, missing = compare.compare_range(store, model, parse_day(args.first), parse_day(args.last),
                                                    against)
    except compare.CompareError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(compare.table(comparison, missing))
    page = Path(args.html or f"compare_{model.name}_{args.first}_{args.last}.html")
    page.write_text(render_compare_page(comparison, missing))
    print(f"page: {page}")
    return EXIT_OK


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
    run.add_argument("--dry-run", action="store_true", help="write nothing outside the staging area: the flow runs, "
                     "what it would publish stays in memory")
    check = sub.add_parser("check-config", parents=[common], help="validate the configuration file and list its models")
    check.add_argument("--config", default=None)
    check.add_argument("--against-reference", action="store_true", help="also check every configured column, its "
                       "kind and the score's range against each model's current reference in the bucket")
    check.add_argument("--model", default=None, help="with --against-reference: this model only")
    check.add_argument("--endpoint-url", default=None)
    init = sub.add_parser("init", parents=[common], help="print a model entry for models.yaml, guessed from a "
                          "reference file (parquet, CSV or JSON lines), every guess commented")
    init.add_argument("--model", required=True, help="the model's name")
    init.add_argument("--reference", required=True, help="a reference file: a local path or s3://bucket/key")
    init.add_argument("--bucket", default=onboarding.TODO, help="the bucket of the logs and the reports")
    init.add_argument("--label", default=None, help="the label column, when it is not named like one")
    init.add_argument("--endpoint-url", default=None)
    compare = sub.add_parser("compare", parents=[common], help="a range of published days against a baseline, from "
                             "the days' mergeable states: a table, and an HTML page")
    compare.add_argument("--model", required=True)
    compare.add_argument("--from", dest="first", required=True, type=_day, help="YYYY-MM-DD")
    compare.add_argument("--to", dest="last", required=True, type=_day, help="YYYY-MM-DD")
    compare.add_argument("--against", default=None, help="reference, previous, weekday or YYYY-MM-DD..YYYY-MM-DD "
                         "(default: the model's windows.baseline)")
    compare.add_argument("--html", default=None, help="where the page goes (default: "
                         "compare_<model>_<from>_<to>.html in the current folder)")
    compare.add_argument("--config", default=None)
    compare.add_argument("--endpoint-url", default=None)
    sub.add_parser("config-reference", parents=[common], help="print the configuration reference (Markdown), "
                   "generated from the typed config's field descriptions (docs/config-reference.md)")
    sub.add_parser("config-schema", parents=[common], help="print the JSON Schema of models.yaml, generated from "
                   "the typed config (docs/config.schema.json)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "config-reference":
        print(config_reference(), end="")
        return EXIT_OK
    if args.command == "config-schema":
        print(json.dumps(config_schema(), indent=2, sort_keys=True))
        return EXIT_OK
    if args.command == "init":
        print(onboarding.render_entry(args.model, onboarding.guess_entry(
            _reference_file(args.reference, args.endpoint_url), args.bucket, args.label)), end="")
        return EXIT_OK
    if args.command == "check-config":
        return _check_config(args)
    if args.command == "compare":
        return _compare(args)
    config = load_config(args.config, isolate=True)  # another model's broken entry does not stop this one
    model = config.model(args.model)
    store = ObjectStore(s3_client(args.endpoint_url), model.storage.bucket)
    if args.dry_run:
        store = OverlayStore(store, writable=(f"{model.storage.staging_prefix}/",))
    decision = run_day(store, model, args.day, list(config.models), now=dt.datetime.now(dt.timezone.utc),
                       claim_retraining=False)
    print(json.dumps({"model": decision.model, "day": decision.day, "branches": decision.branches,
                      "why": decision.why, "retraining": decision.retrain_held,
                      **({"dry_run": f"nothing was written outside {model.storage.staging_prefix}/: "
                                     f"{len(store.not_written)} object(s) kept in memory"} if args.dry_run else {})},
                     indent=2))
    return EXIT_OK


def _check_config(args: argparse.Namespace) -> int:
    """Every model's errors at once; with --against-reference, each model's checks against its reference (exit 3
    when one fails)."""
    config = load_config(args.config)
    for m in config.models:
        retraining = m.retraining.dag_id or "none (requests are only recorded)"
        print(f"{m.name}: {m.task.value}, s3://{m.storage.bucket}, retraining DAG {retraining}")
    if not args.against_reference:
        return EXIT_OK
    failed = False
    for model in [config.model(args.model)] if args.model else config.models:
        store = ObjectStore(s3_client(args.endpoint_url), model.storage.bucket)
        print(f"\n{model.name} against its reference:")
        for check in onboarding.check_against_reference(store, model):
            print(f"  {'ok  ' if check.ok else 'FAIL'} {check.what}: {check.detail}")
            failed |= not check.ok
    return EXIT_BAD_INPUT if failed else EXIT_OK


class _LocalFiles:
    """Local files read as the object store's are (`ingest.read_file` reads a key's bytes, names it by its URL)."""

    def get_bytes(self, key: str) -> bytes:
        with open(key, "rb") as local:
            return local.read()

    def url(self, key: str) -> str:
        return key


def _reference_file(where: str, endpoint_url: str | None):
    """A reference file's rows: a local path, or s3://bucket/key (parquet, CSV or JSON lines by its suffix)."""
    if where.startswith("s3://"):
        bucket, _, key = where.removeprefix("s3://").partition("/")
        store = ObjectStore(s3_client(endpoint_url), bucket)
    else:
        store, key = _LocalFiles(), where
    fmt = next((f for f in LogFormat if key.lower().endswith(f.suffixes)), None)
    if fmt is None:
        raise ConfigError(f"{where}: a reference file is parquet (.parquet, .pq), CSV (.csv) or JSON lines (.jsonl)")
    frame = read_file(store, key, fmt)
    return frame.drop(columns=[SOURCE_FILE, SOURCE_ROW])


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
