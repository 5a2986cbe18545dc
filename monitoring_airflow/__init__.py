"""The Airflow side of the monitoring: what the DAG files share, kept out of `monitoring/` (which imports no
Airflow) and out of the DAG files (which stay a readable picture of each flow).

Importing this package is light (Airflow's SDK only): DAG files import it at parse time, and everything heavy
(boto3, the providers' notifiers) is imported inside the functions, when a task runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, get_parsing_context

from monitoring.config import ConfigError, ModelConfig, MonitoringConfig
from monitoring.layout import ModelLayout

log = logging.getLogger(__name__)


# --- the models' assets (URIs built in monitoring.layout) -----------------------------------------------------------
def predictions_asset(model: ModelConfig) -> Asset:
    """The model's prediction logs (the monitoring DAG's inlet)."""
    return Asset(name=f"{model.name}_predictions", uri=ModelLayout.of(model).predictions_asset, group="monitoring")


def reports_asset(model: ModelConfig) -> Asset:
    """The model's published reports: an event per published day, the day's verdict in its `extra`."""
    return Asset(name=f"{model.name}_reports", uri=ModelLayout.of(model).reports_asset, group="monitoring")


def models_asset(model: ModelConfig) -> Asset:
    """The model's versions: an event each time retraining promotes one, with both models' figures."""
    return Asset(name=f"{model.name}_models", uri=ModelLayout.of(model).models_asset, group="monitoring")


def store(model: ModelConfig):
    """The model's bucket through its Airflow connection (credentials and endpoint live in the connection)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from monitoring.storage import ObjectStore, client_config

    hook = S3Hook(aws_conn_id=model.storage.aws_conn_id, config=client_config())
    # The client `hook.get_conn()` makes, built from the hook's session and settings, without the user-agent note
    # the provider adds, which names the calling operator by walking the call stack with `inspect` (it reads the
    # source of every frame: 0.26 s of every task, most of what making the client cost).
    client = hook.get_session(region_name=hook.region_name).client(
        "s3", endpoint_url=hook.conn_config.get_service_endpoint_url(service_name="s3"), config=hook.config,
        verify=hook.verify)
    return ObjectStore(client, model.storage.bucket)


def now() -> dt.datetime:
    """The task's wall-clock time, in UTC: the library takes it as an argument, never reads the clock itself."""
    return dt.datetime.now(dt.timezone.utc)


def sender(model: ModelConfig):
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


def failure_callback(model: ModelConfig):
    """After a task's last retry failed: one failure notice through the model's alert channels."""

    def notify_failure(context) -> None:
        from monitoring import alerts

        send = sender(model)
        if send is None:
            return
        ti, params = context["ti"], context.get("params") or {}
        day = params.get("day") or context["data_interval_start"].date().isoformat()
        error = context.get("exception")
        send(alerts.failure_message(model.name, day, ti.task_id, context["run_id"], ti.try_number,
                                    f"{type(error).__name__}: {error}" if error else "unknown error",
                                    {"airflow_log": getattr(ti, "log_url", "") or ""}))

    return notify_failure


class InvalidModels(DAG):
    """Stands for the models whose entries of the config are invalid. Airflow validates every DAG of a file before
    it loads it and records a DAG that fails as an import error of the file, then loads the file's other DAGs: this
    one always fails, with every broken model's error (the model and each wrong key), so the UI shows exactly that
    while the valid models' DAGs run on."""

    errors: list[str]

    def validate(self) -> None:
        raise ConfigError("invalid model entries (their DAGs are not loaded; the other models' are):\n"
                          + "\n".join(self.errors))


def invalid_models(config: MonitoringConfig, what: str) -> DAG | None:
    """The placeholder of `config`'s broken models for a DAG file of `what` DAGs, or None when every entry is valid."""
    if not config.broken:
        return None
    log.error("the config has invalid model entries, their %s DAGs are not loaded: %s", what,
              "; ".join(config.broken.values()))
    placeholder = InvalidModels(dag_id=f"invalid_models_{what}", schedule=None)
    placeholder.errors = list(config.broken.values())
    return placeholder


def builds(dag_id: str) -> bool:
    """Whether a DAG file builds the DAG `dag_id` in this process: a task's process parses its DAG file for its own
    DAG only (Airflow sets the parsing context's dag id there), so the file skips the other models' DAGs, which that
    task never reads (building 30 models' DAGs took about 0.35 s of every task); the DAG processor, the tests and
    `airflow dags` commands have no dag id in the context and build them all."""
    wanted = get_parsing_context().dag_id
    return wanted is None or wanted == dag_id


def params_day(context: dict[str, Any]) -> str:
    """The processed day: the day chosen in the trigger form, else the start of the run's data interval."""
    return context["params"].get("day") or context["data_interval_start"].date().isoformat()
