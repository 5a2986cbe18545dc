"""
### Retraining requests

One DAG per model whose `retraining.builtin` is true (`retrain_<model>` by default), started by the monitoring DAG's
`trigger_retraining` task with a conf carrying the model, the day, the reasons and links to the evidence.

It validates the request and records it under `retraining/<model>/requests/dt=<day>.json`, where the team that owns
the model picks it up. Point `retraining.dag_id` at your own training DAG (and set `builtin: false`) to retrain
automatically: it receives the same conf.
"""

from __future__ import annotations

import datetime as dt
import logging

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

from monitoring.config import ModelConfig, load_config

log = logging.getLogger(__name__)


def build_retraining_dag(model: ModelConfig) -> DAG:
    with DAG(
        dag_id=model.retraining.dag_id,
        description=f"Receives retraining requests for {model.name} from its monitoring DAG",
        doc_md=__doc__,
        schedule=None,
        start_date=pendulum.parse(model.start_date, tz="UTC"),
        catchup=False,
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "owner": model.owner},
        tags=["retraining", f"model:{model.name}"],
        params={
            "model": Param(model.name, type="string", title="Model"),
            "day": Param(dt.date.today().isoformat(), type="string", format="date", title="Day whose evidence asked for retraining"),
            "reasons": Param([], type="array", title="Reasons"),
            "evidence": Param({}, type="object", title="Links to the evidence"),
        },
    ) as retraining_dag:

        @task
        def record_request() -> str:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            from monitoring.layout import DayLayout
            from monitoring.retrain import record_request as record
            from monitoring.storage import ObjectStore, client_config

            context = get_current_context()
            conf = dict(context["params"])
            if conf["model"] != model.name:
                raise ValueError(f"this DAG retrains {model.name!r}, not {conf['model']!r}")
            hook = S3Hook(aws_conn_id=model.storage.aws_conn_id, config=client_config())
            store = ObjectStore(hook.get_conn(), model.storage.bucket)
            url = record(store, DayLayout.of(model, conf["day"]), conf,
                         {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]})
            log.info("retraining requested for %s on %s because %s; recorded at %s",
                                   model.name, conf["day"], "; ".join(conf["reasons"]) or "(no reason given)", url)
            return url

        record_request()
    return retraining_dag


for _model in load_config().models:
    if _model.retraining.builtin:
        globals()[_model.retraining.dag_id] = build_retraining_dag(_model)
