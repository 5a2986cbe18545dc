"""Upload the demo's three models to an S3 bucket: references, daily prediction logs and the labels that arrive later.

    python -m demo.seed --endpoint-url http://127.0.0.1:5055 --days 21 --end 2026-11-22

- `loan_approval` (classifier, demo/loan_data.py): drift from day 12; labels (`repaid`) land 1-5 days late.
- `loan_rate` (regressor, demo/rate_data.py): credit-score drift from day 8, a rate hike from day 15; labels
  (`final_rate`) land 1-3 days late.
- `loan_offer` (multiclass, demo/offer_data.py): a premium launch from day 9, the student loan opened to young
  workers from day 15; labels (`taken_product`) land 1-2 days late.

Label files go to `labels/<model>/dt=<L>/part-0000.parquet`, L being the day the labels became known. Only label days
up to the last demo day are written: later ones are still in the future.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import pickle
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from demo import loan_data, offer_data, rate_data

log = logging.getLogger(__name__)

MODEL = "loan_approval"
RATE_MODEL = rate_data.NAME
OFFER_MODEL = offer_data.NAME
REFERENCE_VERSION = "v1"
Drift = loan_data.DemoDrift | rate_data.RateDrift | offer_data.OfferDrift


@dataclass(frozen=True)
class DemoModel:
    """How the demo makes one model's data (see loan_data and rate_data)."""

    name: str
    train: Callable[[], tuple[Any, pd.DataFrame]]
    prediction_log: Callable[..., pd.DataFrame]  # (model, day, day_number, rows, drift=, bad_rows=, version=)
    labels: Callable[..., pd.DataFrame]  # (log, day, day_number, drift=) -> id, label, label_day
    day_rows: Callable[[int], int]
    drift: Drift
    label_column: str
    conflicting: Callable[[Any], Any]  # a label that contradicts the given one
    not_a_label: str
    id_column: str = "prediction_id"


DEMO_MODELS: dict[str, DemoModel] = {
    MODEL: DemoModel(MODEL, loan_data.train_model, loan_data.prediction_log, loan_data.labels, loan_data.day_rows,
                     loan_data.DemoDrift(), loan_data.LABEL_COLUMN, lambda v: 1 - int(v), "maybe"),
    RATE_MODEL: DemoModel(RATE_MODEL, rate_data.train_model, rate_data.prediction_log, rate_data.labels,
                          rate_data.day_rows, rate_data.RateDrift(), rate_data.LABEL_COLUMN,
                          lambda v: round(float(v) + 2.0, 2), "pending"),
    OFFER_MODEL: DemoModel(OFFER_MODEL, offer_data.train_model, offer_data.prediction_log, offer_data.labels,
                           offer_data.day_rows, offer_data.OfferDrift(), offer_data.LABEL_COLUMN,
                           lambda v: "premium" if v != "premium" else "standard", "platinum"),
}


@dataclass(frozen=True)
class DayLog:
    """One prediction day of a model: its date, its 1-based demo day number and its log."""

    day: dt.date
    number: int
    frame: pd.DataFrame


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def ensure_bucket(client, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def allow_public_reports(client, bucket: str, reports_prefix: str = "reports") -> None:
    """Let a browser GET the reports without credentials, as for a bucket website (local demo only)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicReadReports", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{reports_prefix}/*"}]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def seed_reference(client, bucket: str, model=None, reference: pd.DataFrame | None = None,
                   name: str = MODEL) -> object:
    """Train the model `name` (unless given), upload it and its reference set, point CURRENT.json at them."""
    if model is None or reference is None:
        model, reference = DEMO_MODELS[name].train()
    prefix = f"reference/{name}/v={REFERENCE_VERSION}/"
    client.put_object(Bucket=bucket, Key=prefix + "reference.parquet", Body=_parquet(reference))
    client.put_object(Bucket=bucket, Key=f"models/{name}/v={REFERENCE_VERSION}/model.pkl", Body=pickle.dumps(model))
    client.put_object(Bucket=bucket, Key=f"reference/{name}/CURRENT.json",
                      Body=json.dumps({"version": REFERENCE_VERSION}).encode(), ContentType="application/json")
    return model


def write_log(client, bucket: str, name: str, day: dt.date, frame: pd.DataFrame, parts: int = 2) -> None:
    """Write one day's log of model `name` as `parts` parquet files."""
    size = -(-len(frame) // parts)
    for part in range(parts):
        chunk = frame.iloc[part * size:(part + 1) * size]
        key = f"predictions/{name}/dt={day.isoformat()}/part-{part:04d}.parquet"
        client.put_object(Bucket=bucket, Key=key, Body=_parquet(chunk))


def seed_model_day(client, bucket: str, name: str, model, day: dt.date, day_number: int, rows: int | None = None,
                   parts: int = 2, bad_rows: int | None = None, drift: Drift | None = None,
                   version: str = "1") -> pd.DataFrame:
    """Write one day's log of model `name` (its demo drift unless `drift` is given); returns the log."""
    frame = model_day_log(name, model, day, day_number, rows, bad_rows, drift, version)
    write_log(client, bucket, name, day, frame, parts)
    return frame


def model_day_log(name: str, model, day: dt.date, day_number: int, rows: int | None = None,
                  bad_rows: int | None = None, drift: Drift | None = None, version: str = "1") -> pd.DataFrame:
    """One day's log of model `name` scored by `model`: the demo's day size and broken rows unless given."""
    spec = DEMO_MODELS[name]
    rows = rows or spec.day_rows(day_number)
    bad_rows = (day_number % 5) if bad_rows is None else bad_rows
    return spec.prediction_log(model, day, day_number, rows, drift=drift or spec.drift, bad_rows=bad_rows,
                               version=version)


def serve_day(client, bucket: str, name: str, day: dt.date, day_number: int) -> str:
    """Log one day of model `name` as its serving stack would: scored by the version `reference/<model>/CURRENT.json`
    names when the day is served (a retrained, promoted version serves the days after its promotion). Returns that
    version."""
    pointer = client.get_object(Bucket=bucket, Key=f"reference/{name}/CURRENT.json")["Body"].read()
    version = str(json.loads(pointer)["version"])
    model = pickle.loads(client.get_object(Bucket=bucket, Key=f"models/{name}/v={version}/model.pkl")["Body"].read())
    seed_model_day(client, bucket, name, model, day, day_number, version=version)
    return version


def seed_day(client, bucket: str, model, day: dt.date, day_number: int, rows: int | None = None,
             parts: int = 2, bad_rows: int | None = None, drift: loan_data.DemoDrift = loan_data.DemoDrift()) -> int:
    """Write one day's log of the approval model as `parts` parquet files; returns the row count."""
    return len(seed_model_day(client, bucket, MODEL, model, day, day_number, rows, parts, bad_rows, drift))


def label_frames(name: str, logs: Iterable[DayLog], until: dt.date | None = None, drift: Drift | None = None,
                 bad_labels: bool = True) -> dict[dt.date, pd.DataFrame]:
    """The label files of model `name` for these prediction days: label day -> frame (prediction_id, label).

    Each prediction's label lands 1 to lag days after its day (see `<model>_data.labels`); a label day's file holds
    the labels of every earlier prediction day that landed then, in prediction order. Label days after `until` are
    left out (not known yet). With `bad_labels`, some files carry a few broken rows (`label_faults`).
    """
    spec = DEMO_MODELS[name]
    per_day = [spec.labels(d.frame, d.day, d.number, drift=drift or spec.drift) for d in logs]
    if not per_day:
        return {}
    arrived = pd.concat(per_day, ignore_index=True)
    files = {}
    for label_day, frame in arrived.groupby("label_day", sort=True):
        if until is not None and label_day > until:
            continue
        frame = frame.drop(columns="label_day").reset_index(drop=True)
        if bad_labels:
            frame = _break_label_file(spec, label_day, frame)
        files[label_day] = frame
    return files


def label_faults(label_day: dt.date) -> tuple[str, ...]:
    """The broken rows of a label day's file (see `loan_data.break_labels`). Sunday's file carries all three kinds:
    an unknown id, a duplicated id with a conflicting value and a value that is not a label ("maybe" / "pending"),
    which the monitor reports as label problems. Every third other day's file has one label for an unknown id
    (informational: the monitor cannot tell it from a late label of an older prediction)."""
    ordinal = label_day.toordinal()
    if ordinal % 7 == 0:
        return loan_data.LABEL_FAULTS
    return ("unknown_id",) if ordinal % 3 == 0 else ()


def _break_label_file(spec: DemoModel, label_day: dt.date, frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng([label_day.toordinal(), zlib.crc32(spec.name.encode())])
    return loan_data.break_labels(frame, rng, label_faults(label_day), spec.id_column, spec.label_column,
                                  spec.conflicting, f"unknown-{label_day:%Y%m%d}", spec.not_a_label)


def seed_labels(client, bucket: str, model_name: str, label_day: dt.date, frame: pd.DataFrame) -> str:
    """Write the labels that became known on `label_day` as labels/<model>/dt=<day>/part-0000.parquet; returns the
    key. A `label_day` column, if any, is not written."""
    key = f"labels/{model_name}/dt={label_day.isoformat()}/part-0000.parquet"
    client.put_object(Bucket=bucket, Key=key, Body=_parquet(frame.drop(columns="label_day", errors="ignore")))
    return key


def seed_model(client, bucket: str, name: str, days: list[dt.date], drift: Drift | None = None,
               served_from: int | None = None) -> None:
    """Reference, one log per day and every label file known by the last day, for model `name`. From demo day
    `served_from` on, no log is written: `serve_day` logs those days one at a time, with the version then in use
    (their labels do not depend on the model and are written here)."""
    model = seed_reference(client, bucket, name=name)
    logs = []
    for number, day in enumerate(days, start=1):
        if served_from is not None and number >= served_from:
            frame = model_day_log(name, model, day, number, drift=drift)
        else:
            frame = seed_model_day(client, bucket, name, model, day, number, drift=drift)
            log.info("%s day %2d %s: %d rows", name, number, day, len(frame))
        logs.append(DayLog(day, number, frame))
    files = seed_label_files(client, bucket, name, logs, until=days[-1], drift=drift)
    log.info("%s: %d label files, %d label rows, %s to %s", name, len(files), sum(map(len, files.values())),
             min(files, default="-"), max(files, default="-"))


def seed_label_files(client, bucket: str, name: str, logs: Iterable[DayLog], until: dt.date | None = None,
                     drift: Drift | None = None, bad_labels: bool = True) -> dict[dt.date, pd.DataFrame]:
    """Write every label file of these prediction days known by `until` (see `label_frames`); returns them."""
    files = label_frames(name, logs, until, drift, bad_labels)
    for label_day, frame in files.items():
        seed_labels(client, bucket, name, label_day, frame)
    return files


def seed(client, bucket: str, days: list[dt.date], drift: loan_data.DemoDrift = loan_data.DemoDrift(),
         rate_drift: rate_data.RateDrift = rate_data.RateDrift(), served_from: dict[str, int] | None = None,
         models: Iterable[str] = tuple(DEMO_MODELS)) -> None:
    """The demo models (`models`, default all three): references, daily logs and labels; `served_from`: model ->
    first demo day left to `serve_day`."""
    ensure_bucket(client, bucket)
    served_from = served_from or {}
    drifts = {MODEL: drift, RATE_MODEL: rate_drift}
    for name in models:
        seed_model(client, bucket, name, days, drifts.get(name), served_from.get(name))


def demo_days(count: int, end: dt.date) -> list[dt.date]:
    return [end - dt.timedelta(days=count - 1 - i) for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--bucket", default="ml-monitoring")
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--end", type=dt.date.fromisoformat,
                        default=dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    client = boto3.client("s3", endpoint_url=args.endpoint_url, region_name="us-east-1")
    seed(client, args.bucket, demo_days(args.days, args.end))
    allow_public_reports(client, args.bucket)


if __name__ == "__main__":
    main()
