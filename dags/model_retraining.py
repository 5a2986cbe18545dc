"""
### Retraining

One DAG per model whose `retraining.builtin` is true (`retrain_<model>` by default), started by the monitoring DAG's
`trigger_retraining` task with a conf carrying the model, the day, the reasons and links to the evidence.

```
record_request -> plan_window -> retrain -> choose -+-> promote
                                                    +-> keep

with retraining.approval: required
record_request -> plan_window -> retrain -> choose -+-> approval -> review -+-> promote
                                                    +-> keep                +-> reject
```

- `record_request`: validates the request and records it under `retraining/<model>/requests/dt=<day>.json`.
- `plan_window`: the prediction days to learn from: the conf's `window` `{"first", "last"}`, else the last
  `labels.lookback_days` days whose labels are complete on the day (`labels.lag_days` before it), and which of them the
  monitoring DAG has processed.
- `retrain`: joins those days' validated predictions to the labels known on the day, fits a copy of the current
  model (`models/<model>/v=<CURRENT>/model.pkl`) on a fixed share of them (split by a hash of the prediction id) and
  scores both models on the rest. A candidate better on the headline metric (f1, mae) by at least `min_gain`
  (relative, default 1%) is staged as version `r<YYYYMMDD>`: its model and, as its reference baseline, the held-out
  slice it scored, with the labels.
- `choose`: `promote` when the candidate is better, else `keep`.
- `promote`: writes the outcome to `retraining/<model>/results/dt=<day>.json`, fits the new version's reference
  profile, then moves `reference/<model>/CURRENT.json` to it, last: the next monitoring runs compare against its
  baseline.
- `keep`: writes the outcome: the figures of both models and why the current one stays (not better, too few
  labels, no processed day in the window).
- `approval` (only with `retraining.approval: required`): Airflow's human-in-the-loop step. The run waits, holding
  no worker slot, until someone answers in the UI (Browse > Required Actions, or the task's page) or through
  `PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approval/-1/hitlDetails`; it shows both models'
  figures, the window and the links to the evidence, and takes an optional reason. No answer within
  `retraining.approval_timeout_hours` counts as a rejection. `review` reads the answer: **Approve** promotes,
  **Reject** runs `reject`, which keeps the current version and records who rejected it and why.
- On promotion, `promote` emits an event on the model's asset (`s3://<bucket>/<models_prefix>/<model>/`) with the
  new version and both models' figures: DAGs scheduled on it (a deployment, a downstream refresh) start then.

A model without `labels` only records its requests. A rerun of a request returns its recorded outcome and creates
no second version. Runs of one model's retraining never overlap (`max_active_runs=1`), so every candidate is
compared with the model in use. Set `retraining.builtin: false` and point `retraining.dag_id` at your own training
DAG to retrain another way: it receives the same conf.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

from monitoring.config import ModelConfig, load_config
from monitoring_airflow import builds, invalid_models, models_asset, store

APPROVE, REJECT = "Approve", "Reject"

log = logging.getLogger(__name__)


def _request(model: ModelConfig) -> dict[str, Any]:
    conf = dict(get_current_context()["params"])
    if conf["model"] != model.name:
        raise ValueError(f"this DAG retrains {model.name!r}, not {conf['model']!r}")
    return conf


def build_retraining_dag(model: ModelConfig) -> DAG:
    versions = models_asset(model)
    approval_required = model.retraining.approval == "required"
    with DAG(
        dag_id=model.retraining.dag_id,
        description=f"Retrains {model.name} on its recent labelled predictions when its monitoring DAG asks",
        doc_md=__doc__,
        schedule=None,
        start_date=pendulum.parse(model.start_date, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=1), "owner": model.owner},
        tags=["retraining", f"model:{model.name}"],
        params={
            "model": Param(model.name, type="string", title="Model"),
            # No default: a day computed at parse time would change the serialized DAG (a new version) every day.
            "day": Param(type="string", format="date", title="Day whose evidence asked for retraining",
                         description="the monitoring run's day; its labels known by then are used"),
            "reasons": Param([], type="array", title="Reasons"),
            "evidence": Param({}, type="object", title="Links to the evidence"),
            "window": Param(None, type=["null", "object"], title="Prediction days to learn from",
                            description='{"first": "YYYY-MM-DD", "last": "YYYY-MM-DD"}; empty: the last '
                                        "labels.lookback_days days whose labels are complete"),
            "min_gain": Param(None, type=["null", "number"], minimum=0, title="Required improvement",
                              description="relative improvement of the headline metric a candidate needs; "
                                          "empty: 0.01"),
        },
    ) as retraining_dag:

        @task
        def record_request() -> str:
            from monitoring.layout import DayLayout
            from monitoring.retraining_policy import record_request as record

            conf = _request(model)
            context = get_current_context()
            request = {k: v for k, v in conf.items()
                       if k in ("model", "day", "reasons", "evidence") or v is not None}
            url = record(store(model), DayLayout.of(model, conf["day"]), request,
                         {"dag_id": context["dag"].dag_id, "run_id": context["run_id"]})
            log.info("retraining requested for %s on %s because %s; recorded at %s",
                     model.name, conf["day"], "; ".join(conf["reasons"]) or "(no reason given)", url)
            return url

        @task
        def plan_window() -> dict:
            from monitoring import retraining

            conf = _request(model)
            found = retraining.plan_retraining(store(model), model, conf["day"], conf.get("window"))
            log.info("learning from %s: processed days %s", found.window.describe(), ", ".join(found.days) or "none")
            return found.model_dump(mode="json")

        @task
        def retrain(found: dict) -> dict:
            from monitoring import retraining

            conf = _request(model)
            min_gain = model.retraining.min_gain if conf.get("min_gain") is None else float(conf["min_gain"])
            outcome = retraining.retrain_and_evaluate(store(model), model, retraining.RetrainingPlan.model_validate(found),
                                                      min_gain=min_gain)
            return outcome.model_dump(mode="json")

        @task.branch
        def choose(outcome: dict) -> str:
            log.info("%s", outcome["why"])
            if not outcome["promoted"]:
                return "keep"
            if not approval_required:
                return "promote"
            from monitoring import retraining

            subject, body = retraining.review_request(retraining.RetrainingOutcome.model_validate(outcome),
                                                      _request(model).get("evidence") or {})
            ti = get_current_context()["ti"]
            ti.xcom_push(key="subject", value=subject)
            ti.xcom_push(key="body", value=body)
            return "approval"

        @task.branch
        def review(outcome: dict) -> str:
            """The approval's answer: promote, or reject (recorded with who and why)."""
            from monitoring import retraining

            answer = get_current_context()["ti"].xcom_pull(task_ids="approval") or {}
            user = answer.get("responded_by_user") or {}
            found = retraining.reviewed(retraining.RetrainingOutcome.model_validate(outcome), retraining.Review(
                approved=answer.get("chosen_options") == [APPROVE], by=user.get("name") or user.get("id"),
                reason=str((answer.get("params_input") or {}).get("reason") or "").strip()))
            get_current_context()["ti"].xcom_push(key="outcome", value=found.model_dump(mode="json"))
            log.info("%s", found.why if not found.promoted else f"approved by {found.review.by}")
            return "promote" if found.promoted else "reject"

        def _reviewed(outcome: dict) -> dict:
            """The outcome as the approval left it (approval required), else as retraining found it."""
            if not approval_required:
                return outcome
            return get_current_context()["ti"].xcom_pull(task_ids="review", key="outcome") or outcome

        @task(outlets=[versions])
        def promote(outcome: dict) -> str:
            """Records the outcome, fits the new version's reference profile, then moves CURRENT.json to it; the
            model's asset then gets an event with the new version and both models' figures."""
            from monitoring import retraining

            found = retraining.RetrainingOutcome.model_validate(_reviewed(outcome))
            url = retraining.promote(store(model), model, found)
            log.info("outcome recorded at %s", url)
            get_current_context()["outlet_events"][versions].extra = {
                "model": model.name, "day": found.day, "version": found.candidate_version,
                "previous_version": found.current_version, "metric": found.metric,
                "current": found.current, "candidate": found.candidate, "outcome": url,
                "approved_by": found.review.by if found.review else None}
            return url

        @task
        def reject(outcome: dict) -> str:
            """Records that the better candidate was not approved: the current version stays."""
            from monitoring import retraining

            url = retraining.keep(store(model), model, retraining.RetrainingOutcome.model_validate(_reviewed(outcome)))
            log.info("outcome recorded at %s", url)
            return url

        @task
        def keep(outcome: dict) -> str:
            """Records why the current model stays."""
            from monitoring import retraining

            url = retraining.keep(store(model), model, retraining.RetrainingOutcome.model_validate(outcome))
            log.info("outcome recorded at %s", url)
            return url

        recorded = record_request()
        if model.labels is not None:  # without labels there is nothing to learn from: the request is only recorded
            planned = plan_window()
            recorded >> planned
            outcome = retrain(planned)
            if approval_required:
                from airflow.providers.standard.operators.hitl import HITLOperator

                approval = HITLOperator(
                    task_id="approval", options=[APPROVE, REJECT], defaults=[REJECT],
                    subject="{{ ti.xcom_pull(task_ids='choose', key='subject') }}",
                    body="{{ ti.xcom_pull(task_ids='choose', key='body') }}",
                    response_timeout=dt.timedelta(hours=model.retraining.approval_timeout_hours),
                    params={"reason": Param("", type="string", title="Reason",
                                            description="recorded with the outcome (say why when you reject)")})
                choose(outcome) >> [approval, keep(outcome)]
                approval >> review(outcome) >> [promote(outcome), reject(outcome)]
            else:
                choose(outcome) >> [promote(outcome), keep(outcome)]
    return retraining_dag


_config = load_config(isolate=True)  # a broken model entry hides only its own DAG (see model_monitoring.py)
for _model in _config.models:
    if _model.retraining.ships_dag and builds(_model.retraining.dag_id):  # a task's process: its own DAG only
        globals()[_model.retraining.dag_id] = build_retraining_dag(_model)
invalid_models_retraining = invalid_models(_config, "retraining")
