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
| `performance` | joins the labels known on the day (`labels/<model>/dt=...`, they arrive days late) to the predictions of the last `labels.lookback_days` days; rewrites the performance (Evidently classification or regression report, `performance.json`, the summary) of every day whose labels grew; judges the day whose labels came due (`labels.lag_days` ago) against the reference's baseline. Runs even when the day's own steps failed (logs never landed, or unusable): labels keep landing |
| `update_site` | compacts the model's metric history and regenerates the day page, the pages of the following days, the model page and the home page; then emits an event on the model's reports asset (`s3://<bucket>/<reports_prefix>/<model>`) whose `extra` is the day's verdict (day, status, health score, dataset drift, drifted features, alerting rules, the day page's key, `backfill`): DAGs scheduled on it react without polling S3 (`monitoring_status_feed` is an example) |
| `decide` | evaluates the drift, quality and performance rules and the retraining rule on the published summary, claims the retraining request and persists the run's one decision: the tasks after it only read it |
| `alert` | writes `alerts.json` and `decisions.json` beside the reports, logs each finding at error level, and sends the run's one message (new alerts, grouped) to the model's `alerts.channels` unless the run is quiet |
| `trigger_retraining` | starts the model's retraining DAG with the model, the day, the reasons and links to the evidence |
| `healthy` | nothing fired; removes an alert record left by an earlier run of the same day; may send "resolved"; writes `decisions.json` |

Quiet runs (backfills, days older than `alerts.max_age_days`, a manual run with **Send alert messages** off) record
their alerts but never page; the `monitoring_alert_digest` DAG sends their digest once.

`validate` declares the model's predictions prefix as its inlet. With `storage.deadline_minutes`, each run carries an
Airflow deadline alert that long after its day ended: a run that has not succeeded by then calls back
`monitoring_airflow.deadlines.logs_late`, which sends one "logs late" notice through the alert channels when the
day's logs are still missing (never for backfills or old days), while `check_partition` keeps waiting.

A manual run from the UI's trigger form may name a **day** to (re)process; left empty, it processes its data
interval like a scheduled run. Evidently, pandas and boto3 are imported inside tasks only: this file parses in
milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import (DAG, CronDataIntervalTimetable, DeadlineAlert, DeadlineReference, Param, PokeReturnValue,
                         SyncCallback, TriggerRule, get_current_context, task)
from airflow.sdk.exceptions import AirflowFailException

from monitoring.config import ModelConfig, load_config
from monitoring_airflow import (builds, failure_callback, invalid_models, now, params_day, predictions_asset,
                                reports_asset, sender, store)

log = logging.getLogger(__name__)

DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_exponential_backoff": True,
}


def _day() -> str:
    return params_day(get_current_context())


def _quiet_flags() -> dict:
    """A backfill run, or a manual run with "Send alert messages" off, records its alerts but pages nobody."""
    context = get_current_context()
    return {"backfill": context["dag_run"].run_type == "backfill", "notify": context["params"].get("notify", True)}


def _fail_without_retry(exc: Exception) -> AirflowFailException:
    """Bad data or config will not fix itself on retry: fail at once with the library's message."""
    return AirflowFailException(f"{type(exc).__name__}: {exc}")


def logs_deadline(model: ModelConfig) -> DeadlineAlert | None:
    """`storage.deadline_minutes` after the run's day ended (its logical date is the day's start), a run that has not
    succeeded calls back `monitoring_airflow.deadlines.logs_late`, which sends one "logs late" notice when the logs
    are still missing (and nothing for backfills or old days)."""
    if model.storage.deadline_minutes is None:
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
                         interval=dt.timedelta(days=1, minutes=model.storage.deadline_minutes),
                         callback=SyncCallback("monitoring_airflow.deadlines.logs_late", kwargs={"model": model.name}),
                         name="logs late")


def build_monitoring_dag(model: ModelConfig, models: tuple[ModelConfig, ...] = ()) -> DAG:
    """The monitoring DAG of `model`; `models` are all configured models (for the home page of the site)."""
    reports, predictions = reports_asset(model), predictions_asset(model)
    with DAG(
        dag_id=f"monitor_{model.name}",
        description=f"Daily drift, data-quality and performance monitoring of {model.name}",
        doc_md=__doc__ + (f"\n\n**Model:** {model.description}" if model.description else ""),
        schedule=CronDataIntervalTimetable(model.schedule, timezone="UTC"),
        start_date=pendulum.parse(model.start_date, tz="UTC"),
        catchup=False,
        max_active_runs=model.max_active_runs,
        default_args={**DEFAULT_ARGS, "owner": model.owner, "on_failure_callback": failure_callback(model)},
        tags=["monitoring", f"model:{model.name}", model.task.value],
        render_template_as_native_obj=True,
        deadline=logs_deadline(model),
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
            from monitoring import ingest
            from monitoring.steps import validate

            try:
                files = validate.find_day_files(store(model), model, _day(), now=now())
            except (ingest.MissingPartitionError, ingest.PartitionIncompleteError) as exc:
                log.info("waiting up to storage.wait_minutes (%d) for the day's logs: %s", model.storage.wait_minutes,
                         exc)
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=len(files))

        @task(inlets=[predictions])
        def validate() -> dict:
            from monitoring import contract, ingest
            from monitoring.steps import validate

            try:
                return validate.validate_day(store(model), model, _day(), now=now())
            except (ingest.MissingPartitionError, ingest.PartitionIncompleteError):
                raise  # the logs may still land: retried
            except (contract.ContractError, ingest.IngestError) as exc:
                raise _fail_without_retry(exc) from exc

        heavy = model.reports.heavy_task_args()  # Evidently's tasks: their own pool and queue when configured

        @task(**heavy)
        def evidently_reports() -> dict:
            from monitoring import contract, layout, reference_store
            from monitoring.steps import report

            try:
                return report.report_day(store(model), model, _day())
            except (contract.ContractError, layout.LayoutError, reference_store.MissingReferenceError) as exc:
                raise _fail_without_retry(exc) from exc

        @task
        def publish() -> dict:
            from monitoring.steps import publish

            context = get_current_context()
            run = {"dag_id": context["dag"].dag_id, "run_id": context["run_id"],
                   "try_number": context["ti"].try_number}
            return publish.publish_day(store(model), model, _day(), run, now=now())

        # Labels keep landing whether or not the day had logs: joined even when the day's own steps failed (its
        # logs never landed, or were unusable).
        @task(trigger_rule=TriggerRule.ALL_DONE, **heavy)
        def performance() -> dict:
            from monitoring import contract, reference_store
            from monitoring.steps import performance

            try:
                return performance.performance_day(store(model), model, _day(), now=now())
            except (contract.ContractError, reference_store.MissingReferenceError) as exc:
                raise _fail_without_retry(exc) from exc

        @task(outlets=[reports])
        def update_site(labelled: dict) -> dict:
            """The day's pages; then the reports asset's event, whose `extra` is the day's verdict: DAGs scheduled on
            the asset react to monitoring without polling S3 (`backfill` says the run was a backfill's)."""
            from monitoring.steps import site

            updated = site.update_site(store(model), model, _day(), list(models), labelled["updated_days"])
            context = get_current_context()
            context["outlet_events"][reports].extra = {**updated.pop("published"),
                                                       "backfill": context["dag_run"].run_type == "backfill"}
            return updated

        @task.branch
        def decide() -> list[str]:
            """The run's one decision, persisted: the tasks after it read it, never decide again."""
            from monitoring.steps import decide

            decision = decide.decide_day(store(model), model, _day())
            if decision.retrain:
                get_current_context()["ti"].xcom_push(key="retrain_conf", value=decision.retrain.conf())
            return decision.branches

        @task
        def alert() -> dict:
            """alerts.json, the run's one message (new alerts, resolutions), decisions.json."""
            from monitoring.steps import notify

            return notify.alert_day(store(model), model, _day(), now=now(), send=sender(model), **_quiet_flags())

        @task
        def healthy() -> dict:
            """Clears an alerts.json left by an earlier run of the day; may send "resolved"; decisions.json."""
            from monitoring.steps import notify

            return notify.healthy_day(store(model), model, _day(), now=now(), send=sender(model), **_quiet_flags())

        if model.retraining.dag_id:
            trigger_retraining = TriggerDagRunOperator(
                task_id="trigger_retraining",
                trigger_dag_id=model.retraining.dag_id,
                # One retraining request per model-day: a rerun or backfill of the day does not start a second one.
                trigger_run_id=f"monitoring__{model.name}__{{{{ params.day or (data_interval_start | ds) }}}}",
                conf="{{ ti.xcom_pull(task_ids='decide', key='retrain_conf') }}",
                skip_when_already_exists=True,
            )
        else:
            @task(task_id="trigger_retraining")
            def record_retraining_request() -> str:
                """No retraining DAG is configured (a model retrained elsewhere): the request is recorded for the
                process that retrains it, and nothing is started."""
                from monitoring.steps import decide

                return decide.record_request_only(store(model), model, _day())

            trigger_retraining = record_retraining_request()

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
            from monitoring import alerts

            sent = {}
            for model in models:
                message = alerts.send_digest(store(model), model, sender(model) or (lambda m: []), now())
                if message:
                    sent[model.name] = message.title
            return sent

        send_digests()
    return digest_dag


# One broken model entry keeps only its own DAG from loading: the UI lists its error (model and keys) as this
# file's import error, and every valid model's DAG loads.
# A task's process builds only its own DAG (`builds`).
_config = load_config(isolate=True)
for _model in _config.models:
    if builds(f"monitor_{_model.name}"):
        globals()[f"monitor_{_model.name}"] = build_monitoring_dag(_model, _config.models)
if builds("monitoring_alert_digest"):
    monitoring_alert_digest = build_digest_dag(_config.models)
invalid_models_monitoring = invalid_models(_config, "monitoring")
