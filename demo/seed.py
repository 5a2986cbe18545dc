"""Upload the demo's reference baseline and daily prediction logs to an S3 bucket.

    python -m demo.seed --endpoint-url http://127.0.0.1:5055 --days 21 --end 2026-11-22
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import pickle

import pandas as pd

from demo import loan_data

log = logging.getLogger(__name__)

MODEL = "loan_approval"
REFERENCE_VERSION = "v1"


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


def seed_reference(client, bucket: str, model=None, reference: pd.DataFrame | None = None) -> object:
    """Train the model (unless given), upload it and its reference set, point CURRENT.json at them."""
    if model is None or reference is None:
        model, reference = loan_data.train_model()
    prefix = f"reference/{MODEL}/v={REFERENCE_VERSION}/"
    client.put_object(Bucket=bucket, Key=prefix + "reference.parquet", Body=_parquet(reference))
    client.put_object(Bucket=bucket, Key=f"models/{MODEL}/v={REFERENCE_VERSION}/model.pkl", Body=pickle.dumps(model))
    client.put_object(Bucket=bucket, Key=f"reference/{MODEL}/CURRENT.json",
                      Body=json.dumps({"version": REFERENCE_VERSION}).encode(), ContentType="application/json")
    return model


def seed_day(client, bucket: str, model, day: dt.date, day_number: int, rows: int | None = None,
             parts: int = 2, bad_rows: int | None = None, drift: loan_data.DemoDrift = loan_data.DemoDrift()) -> int:
    """Write one day's log as `parts` parquet files; returns the row count."""
    rows = rows or loan_data.day_rows(day_number)
    bad_rows = (day_number % 5) if bad_rows is None else bad_rows
    frame = loan_data.prediction_log(model, day, day_number, rows, drift=drift, bad_rows=bad_rows)
    size = -(-len(frame) // parts)
    for part in range(parts):
        chunk = frame.iloc[part * size:(part + 1) * size]
        key = f"predictions/{MODEL}/dt={day.isoformat()}/part-{part:04d}.parquet"
        client.put_object(Bucket=bucket, Key=key, Body=_parquet(chunk))
    return len(frame)


def seed(client, bucket: str, days: list[dt.date], drift: loan_data.DemoDrift = loan_data.DemoDrift()) -> None:
    ensure_bucket(client, bucket)
    model = seed_reference(client, bucket)
    for number, day in enumerate(days, start=1):
        rows = seed_day(client, bucket, model, day, number, drift=drift)
        log.info("day %2d %s: %d rows%s", number, day, rows, " (drifted)" if number >= drift.start_day else "")


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
