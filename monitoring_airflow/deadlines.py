"""Airflow deadline alerts of the monitoring DAGs: the callbacks Airflow's scheduler runs (on the executor) when a
run's deadline passes before the run succeeded. Importable by dotted path (a callback defined in a DAG file cannot
be imported back by the process that runs it).

`storage.deadline_minutes`: a `DeadlineAlert` on each run, `deadline_minutes` after its data interval ended (the day's
end). A run that succeeded by then never calls back; one that is still waiting (or failed) calls `logs_late`, which
checks the facts before it sends anything: a backfill's run, a day older than `alerts.max_age_days` or a day whose
logs have landed after all send nothing, and a day is noticed once however many runs it has.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def logs_late(model: str, context: dict[str, Any] | None = None) -> str:
    """The deadline callback of a monitoring run: one "logs late" notice through the model's alert channels when the
    day's logs are still missing. `context`: the run as Airflow's REST API shows it (`dag_run`) and the deadline."""
    from monitoring import alerts, ingest
    from monitoring.config import load_config
    from monitoring.steps import validate
    from monitoring_airflow import now, sender, store

    config = load_config()
    found_model = config.model(model)
    run = (context or {}).get("dag_run") or {}
    day = (run.get("conf") or {}).get("day") or str(run.get("data_interval_start") or run.get("logical_date"))[:10]
    objects = store(found_model)

    def landed() -> bool:
        try:
            validate.find_day_files(objects, found_model, day, now=now())
        except (ingest.MissingPartitionError, ingest.PartitionIncompleteError):
            return False
        return True

    message = alerts.logs_late(objects, found_model, day, now=now(), backfill=run.get("run_type") == "backfill",
                               found=landed)
    if message is None:
        return "no notice"
    send = sender(found_model)
    sent = send(message) if send else []
    log.warning("%s", message.text())
    return f"logs late notice for {model} {day}: {', '.join(sent) or 'no alert channel configured'}"
