"""
### Reacting to monitoring: a DAG scheduled on the reports assets

An example of what runs *downstream* of monitoring without polling S3. Every monitoring run that publishes a day
emits an event on its model's reports asset (`s3://<bucket>/<reports_prefix>/<model>`), whose `extra` is the day's
verdict: `model`, `day`, `status`, `health_score`, `dataset_drift`, `drifted_features`, `alerting_rules`,
`day_page` and `summary` (their keys in `bucket`), and `backfill` (true for a backfill's run). This DAG is scheduled
on all of them (any one event starts it) and keeps `status.json` beside the report site's home page: per model, the
latest published day and its verdict, for a dashboard or a service that gates on model health.

Airflow may fold several events into one run (events that arrive while a run is being created go to the next one),
so the task reads every triggering event, not only the last. Backfilled days are kept too: the feed keeps the
latest day by date, so old days never replace a newer one.

Write your own the same way: `schedule=[reports_asset(model)]` for one model, `AssetAny(...)` for several, and the
retraining DAG's `models` assets (`s3://<bucket>/<models_prefix>/<model>`, an event per promoted version with both
models' figures) to deploy or refresh what depends on a model version.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import DAG, AssetAny, task

from monitoring.config import load_config
from monitoring_airflow import reports_asset, store

log = logging.getLogger(__name__)


def build_status_feed_dag(models) -> DAG | None:
    if not models:
        return None
    assets = [reports_asset(m) for m in models]
    with DAG(
        dag_id="monitoring_status_feed",
        description="Keeps reports/status.json (each model's latest verdict) from the monitoring DAGs' asset events",
        doc_md=__doc__,
        schedule=AssetAny(*assets),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,  # one writer of status.json at a time
        default_args={"retries": 2, "owner": "ml-platform"},
        tags=["monitoring", "example", "assets"],
    ) as feed_dag:

        @task
        def update_status_feed(*, triggering_asset_events) -> dict:
            from monitoring.steps import site

            events = [event.extra for asset in assets for event in triggering_asset_events.get(asset, [])
                      if event.extra.get("model")]
            by_model = {m.name: m for m in models}
            written = {}
            for name in sorted({e["model"] for e in events}):
                mine = [e for e in events if e["model"] == name]
                for e in mine:
                    log.info("%s %s: %s (health %s)%s", name, e["day"], e["status"], e.get("health_score"),
                             " [backfill]" if e.get("backfill") else "")
                feed = site.update_status_feed(store(by_model[name]), by_model[name], mine)
                written[name] = feed["models"][name]
            return written

        update_status_feed()
    return feed_dag


_config = load_config(isolate=True)
monitoring_status_feed = build_status_feed_dag(_config.models)
