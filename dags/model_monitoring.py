"""
### Daily model monitoring

One DAG per model of `config/models.yaml` (`monitor_<model>`). Each run processes **one UTC day: the run's data
interval**, so scheduled runs, backfills and reruns of a day all read and write the same keys.

```
check_partition -> validate -> evidently_reports -> publish -> performance -+-> update_site
                                                                            +-> decide -+-> alert
                                                                                        +-> trigger_retraining
                                                                                        +-> healthy
```

| task | what it does |
|---|---|
| `check_partition` | a sensor (reschedule mode: no worker slot held while waiting): waits up to `storage.wait_minutes` for `predictions/<model>/dt=<day>/` to have logs, complete (`storage.completion_marker`, `settle_seconds`); then fails, the last reason in its log |
| `validate` | applies the data contract; rejected rows go to `quarantine.parquet` with a `reason` column; fails when more than `contract.max_rejected_share` is rejected |
| `evidently_reports` | data drift (features), prediction drift (score, decision), data quality, against the current reference version |
| `publish` | writes the HTML and JSON reports and `summary.json` to `reports/<model>/dt=<day>/`, `manifest.json` last |
| `performance` | joins the labels known on the day (`labels/<model>/dt=...`, they arrive days late) to the predictions of the last `labels.lookback_days` days; rewrites the performance (Evidently classification or regression report, `performance.json`, the summary) of every day whose labels grew; judges the day whose labels came due (`labels.lag_days` ago) against the reference's baseline |
| `update_site` | compacts the model's metric history and regenerates the day page, the pages of the following days, the model page and the home page |
| `decide` | evaluates the drift, quality and performance rules and the retraining rule on the published summary |
| `alert` | writes `alerts.json` and `decisions.json` beside the reports, logs each finding at error level, and sends the run's one message (new alerts, grouped) to the model's `alerts.channels` unless the run is quiet |
| `trigger_retraining` | starts the model's retraining DAG with the model, the day, the reasons and links to the evidence |
| `healthy` | nothing fired; removes an alert record left by an earlier run of the same day; may send "resolved"; writes `decisions.json` |

Quiet runs (backfills, days older than `alerts.max_age_days`, a manual run with **Send alert messages** off) record
their alerts but never page; the `monitoring_alert_digest` DAG sends their digest once.

A manual run from the UI's trigger form may name a **day** to (re)process; left empty, it processes its data
interval like a scheduled run. Evidently, pandas and boto3 are imported inside tasks only: this file parses in
milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, PokeReturnValue, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from monitoring.config import ModelConfig, load_config

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
}


def _store(model: ModelConfig):
    """The model's bucket through its Airflow connection (credentials and endpoint live in the connection)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from monitoring.storage import ObjectStore, client_config

    hook = S3Hook(aws_conn_id=model.storage.aws_conn_id, config=client_config())
    return ObjectStore(hook.get_conn(), model.storage.bucket)


def _day() -> str:
    """The processed day: the day chosen in the trigger form, else the start of the run's data interval."""
    context = get_current_context()
    return context["params"].get("day") or context["data_interval_start"].date().isoformat()


def _send(model: ModelConfig):
    """Sends one message to each of the model's channels through the providers' notifiers (connections hold the
    secrets); None without channels."""
    if not model.alerts.channels:
        return None

    def send(message) -> list[str]:
        from markupsafe import escape

        done = []
        for channel in model.alerts.channels:
            if channel.type == "slack":
                from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

                notifier = SlackWebhookNotifier(slack_webhook_conn_id=channel.conn_id, text=message.text())
            elif channel.type == "email":
                from airflow.providers.smtp.notifications.smtp import SmtpNotifier

                notifier = SmtpNotifier(to=list(channel.to), from_email=channel.from_email, subject=message.title,
                                        html_content=f"<pre>{escape(message.text())}</pre>",
                                        smtp_conn_id=channel.conn_id)
            elif channel.type == "sns":
                from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

                notifier = SnsNotifier(aws_conn_id=channel.conn_id, target_arn=channel.target_arn,
                                       message=message.text(), subject=message.title[:100])
            else:
                from airflow.providers.http.notifications.http import HttpNotifier

                notifier = HttpNotifier(http_conn_id=channel.conn_id, endpoint=channel.endpoint,
                                        json=message.payload(), headers={"Content-Type": "application/json"})
            notifier.notify({})  # notify() sends the text as it is (no template rendering); works in callbacks too
            done.append(f"sent to {channel.type} ({channel.conn_id})")
        return done

    return send


def _failure_callback(model: ModelConfig):
    """After a task's last retry failed: one failure notice through the model's alert channels."""

    def notify_failure(context) -> None:
        from monitoring import alerts

        send = _send(model)
        if send is None:
            return
        ti, params = context["ti"], context.get("params") or {}
        day = params.get("day") or context["data_interval_start"].date().isoformat()
        error = context.get("exception")
        send(alerts.failure_message(model.name, day, ti.task_id, context["run_id"], ti.try_number,
                                    f"{type(error).__name__}: {error}" if error else "unknown error",
                                    {"airflow_log": getattr(ti, "log_url", "") or ""}))

    return notify_failure


def _apply_decision(model: ModelConfig) -> dict:
    """Record the day's alerts (or clear a stale record), notify unless the run is quiet, write decisions.json.
    The decision is recomputed from the published summary."""
    from monitoring import pipeline

    context = get_current_context()
    store, day = _store(model), _day()
    return pipeline.apply_decision(store, model, day, pipeline.decide_day(store, model, day),
                                   backfill=context["dag_run"].run_type == "backfill",
                                   notify=context["params"].get("notify", True), send=_send(model))


def _fail_without_retry(exc: Exception) -> AirflowFailException:
    """Bad data or config will not fix itself on retry: fail at once with the library's message."""
    return AirflowFailException(f"{type(exc).__name__}: {exc}")


def build_monitoring_dag(model: ModelConfig, models: tuple[ModelConfig, ...] = ()) -> DAG:
    """The monitoring DAG of `model`; `models` are all configured models (for the home page of the site)."""
    with DAG(
        dag_id=f"monitor_{model.name}",
        description=f"Daily drift, data-quality and performance monitoring of {model.name}",
        doc_md=__doc__ + (f"\n\n**Model:** {model.description}" if model.description else ""),
        schedule=CronDataIntervalTimetable(model.schedule, timezone="UTC"),
        start_date=pendulum.parse(model.start_date, tz="UTC"),
        catchup=False,
        max_active_runs=model.max_active_runs,
        default_args={**DEFAULT_ARGS, "owner": model.owner, "on_failure_callback": _failure_callback(model)},
        tags=["monitoring", f"model:{model.name}", model.task.value],
        render_template_as_native_obj=True,
        params={
            "day": Param(None, type=["null", "string"], format="date", title="Day to monitor",
                         description="Leave empty for the run's data interval (scheduled runs and backfills). "
                                     "Set a day to rerun it by hand: the run reads dt=<day> and rewrites its reports."),
            "notify": Param(True, type="boolean", title="Send alert messages",
                            description="Off: the run records its alerts in the reports but sends nothing."),
        },
    ) as monitoring_dag:

        @task.sensor(poke_interval=model.storage.poke_seconds, timeout=model.storage.wait_minutes * 60,
                     mode="reschedule")
        def check_partition() -> PokeReturnValue:
            """Waits (without holding a worker slot) until the day's logs have landed and are complete."""
            from monitoring import ingest, pipeline

            try:
                files = pipeline.find_day_files(_store(model), model, _day())
            except (ingest.MissingPartitionError, ingest.PartitionIncompleteError) as exc:
                log.info("waiting up to storage.wait_minutes (%d) for the day's logs: %s", model.storage.wait_minutes,
                         exc)
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=len(files))

        @task
        def validate() -> dict:
            from monitoring import contract, ingest, pipeline

            try:
                return pipeline.validate_day(_store(model), model, _day())
            except (ingest.MissingPartitionError, ingest.PartitionIncompleteError):
                raise  # the logs may still land: retried
            except (contract.ContractError, ingest.IngestError) as exc:
                raise _fail_without_retry(exc) from exc

        heavy = model.reports.heavy_task_args()  # Evidently's tasks: their own pool and queue when configured

        @task(**heavy)
        def evidently_reports() -> dict:
            from monitoring import contract, layout, pipeline

            try:
                return pipeline.report_day(_store(model), model, _day())
            except (contract.ContractError, layout.LayoutError, pipeline.MissingReferenceError) as exc:
                raise _fail_without_retry(exc) from exc

        @task
        def publish() -> dict:
            from monitoring import pipeline

            context = get_current_context()
            run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"],
                   "try_number": context["ti"].try_number}
            return pipeline.publish_day(_store(model), model, _day(), run)

        # Labels keep landing whether or not the day had logs: joined even when the day's own steps failed (its
        # logs never landed, or were unusable).
        @task(trigger_rule=TriggerRule.ALL_DONE, **heavy)
        def performance() -> dict:
            from monitoring import contract, pipeline

            try:
                return pipeline.performance_day(_store(model), model, _day())
            except (contract.ContractError, pipeline.MissingReferenceError) as exc:
                raise _fail_without_retry(exc) from exc

        @task
        def update_site(labelled: dict) -> dict:
            from monitoring import pipeline

            return pipeline.update_site(_store(model), model, _day(), list(models), labelled["updated_days"])

        @task.branch
        def decide() -> list[str]:
            from monitoring import pipeline

            decision = pipeline.decide_day(_store(model), model, _day())
            if decision.retrain:
                get_current_context()["ti"].xcom_push(key="retrain_conf", value=decision.retrain.conf())
            return decision.branches

        @task
        def alert() -> dict:
            return _apply_decision(model)  # alerts.json, the run's message, decisions.json

        @task
        def healthy() -> dict:
            return _apply_decision(model)  # clears a stale alerts.json; may send "resolved"; decisions.json

        trigger_retraining = TriggerDagRunOperator(
            task_id="trigger_retraining",
            trigger_dag_id=model.retraining.dag_id,
            # One retraining request per model-day: a rerun or backfill of the day does not start a second one.
            trigger_run_id=f"monitoring__{model.name}__{{{{ params.day or (data_interval_start | ds) }}}}",
            conf="{{ ti.xcom_pull(task_ids='decide', key='retrain_conf') }}",
            skip_when_already_exists=True,
        )

        labelled = performance()
        published = check_partition() >> validate() >> evidently_reports() >> publish()
        published >> labelled
        update_site(labelled)
        [published, labelled] >> decide() >> [alert(), trigger_retraining, healthy()]
    return monitoring_dag


DIGEST_DOC = """
### Alert digest of quiet runs

Backfill runs, runs of days older than `alerts.max_age_days` and runs told not to notify never send a message: they
record their alerts in the reports and add them to the model's pending digest
(`reports/<model>/alert-state/digest/pending/`). Every 15 minutes this DAG sends each model's pending digest **once**,
as soon as no quiet run added to it for `alerts.digest_quiet_minutes`: a backfill ends with at most one digest
message per model, through the same channels as the alerts.
"""


def build_digest_dag(models: tuple[ModelConfig, ...]) -> DAG:
    with DAG(
        dag_id="monitoring_alert_digest",
        description="Sends one digest of the alerts that backfills and other quiet runs recorded without sending",
        doc_md=DIGEST_DOC,
        schedule=dt.timedelta(minutes=15),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "owner": "ml-platform"},
        tags=["monitoring", "alerts"],
    ) as digest_dag:

        @task
        def send_digests() -> dict[str, str]:
            import time

            from monitoring import alerts

            sent = {}
            for model in models:
                send = _send(model)
                message = alerts.send_digest(_store(model), model, send or (lambda m: []), time.time())
                if message:
                    sent[model.name] = message.title
            return sent

        send_digests()
    return digest_dag


_config = load_config()
for _model in _config.models:
    globals()[f"monitor_{_model.name}"] = build_monitoring_dag(_model, _config.models)
monitoring_alert_digest = build_digest_dag(_config.models)
