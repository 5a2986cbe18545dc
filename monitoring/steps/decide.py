"""Step 6: the run's one decision. Computed once from the published summary and the metric store, the retraining
request claimed, and persisted (`staging/<model>/dt=<day>/decision.json`): the tasks after it (`alert` or `healthy`,
`trigger_retraining`) only read it, so what they do always agrees with what was decided, whatever other runs of the
model do in between."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict

from monitoring import history, manifest, retraining_policy, rules
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.storage import JSON, ObjectStore
from monitoring.summary import DaySummary, summary_from_json

log = logging.getLogger(__name__)

ALERT, TRIGGER_RETRAINING, HEALTHY = "alert", "trigger_retraining", "healthy"


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    day: str
    findings: list[rules.Finding]
    retrain: retraining_policy.RetrainRequest | None
    retrain_held: str | None = None  # why a retraining request was not made (waiting for labels, cooldown)
    links: dict[str, str] = {}  # the evidence: the day page, the summary and the reports
    # The metric store's recent days, this one included, as read when deciding (the alert episodes use them too):
    recent: dict[str, history.DayMetrics] = {}

    @property
    def alerting(self) -> list[rules.Finding]:
        """Findings worth an alert: warnings and critical ones (info findings are only shown on the pages)."""
        return [f for f in self.findings if f.severity.rank >= rules.Severity.WARNING.rank]

    @property
    def branches(self) -> list[str]:
        """`alert` when a finding is worth one, else `healthy` (one of them always runs), and `trigger_retraining`
        when retraining is requested."""
        return [ALERT if self.alerting else HEALTHY] + ([TRIGGER_RETRAINING] if self.retrain else [])

    @property
    def why(self) -> str:
        if not self.alerting and not self.retrain:
            return "no drift, prediction-drift, data-quality or performance rule fired"
        parts = [f"{f.rule} ({f.severity.value})" for f in self.alerting]
        if self.retrain:
            parts.append("retraining rule: " + "; ".join(self.retrain.reasons))
        return ", ".join(parts)


def read_summary(store: ObjectStore, layout: DayLayout) -> DaySummary:
    if not manifest.is_published(store, layout):
        raise FileNotFoundError(f"{store.url(layout.reports_dir)} is not published (no manifest.json)")
    return summary_from_json(store.get_bytes(layout.summary))


def evidence(store: ObjectStore, layout: DayLayout, summary: DaySummary) -> dict[str, str]:
    """Links to the day's page, summary and published reports."""
    links = {"day_page": store.url(layout.day_page), "summary": store.url(layout.summary)}
    links.update({name: store.url(layout.report(name, "html")) for name in summary.report_names})
    return links


SHELL_DOES_NOT_TRIGGER = ("retraining would be requested; a run from the command line does not trigger it and takes "
                          "no claim (the cooldown is left to the DAG's runs): run the day in Airflow to request it")


def decide_day(store: ObjectStore, model: ModelConfig, day: Any, *, claim: bool = True) -> Decision:
    """Which rules fire on the published day and whether the retraining rule does; claims the retraining request
    (unless it waits for labels or cools down; never with `claim` false: the command line's runs) and persists the
    decision."""
    layout = DayLayout.of(model, day)
    summary = read_summary(store, layout)
    findings = rules.findings(summary, model)
    recent = history.rules_by_day(store, layout, history.day_metrics(summary, findings))
    links = evidence(store, layout, summary)
    request = retraining_policy.retrain_request(summary, model, links, recent)
    held = waiting = None
    if request:
        waiting = retraining_policy.waiting_for_labels(request, model, recent)
        held = waiting or (retraining_policy.claim(store, layout, request, model.retraining.cooldown_days) if claim
                           else f"{SHELL_DOES_NOT_TRIGGER} (reasons: {'; '.join(request.reasons)})")
    if held:  # the reasons once: waiting for labels and the shell's note name them already, the cooldown does not
        named = waiting or not claim
        log.info("no retraining request: %s", held if named else f"{held} (reasons: {'; '.join(request.reasons)})")
        request = None
    decision = persist(store, layout, Decision(model=model.name, day=layout.day.isoformat(), findings=findings,
                                               retrain=request, retrain_held=held, links=links, recent=recent))
    log.info("branch: %s, because %s", decision.branches, decision.why)
    return decision


def persist(store: ObjectStore, layout: DayLayout, decision: Decision) -> Decision:
    """Store the day's decision for the tasks after `decide` (a rerun of the day replaces it)."""
    store.put_bytes(layout.staged_decision, decision.model_dump_json(indent=2).encode(), JSON)
    return decision


def record_request_only(store: ObjectStore, model: ModelConfig, day: Any) -> str:
    """The `trigger_retraining` branch of a model without a retraining DAG (`retraining.dag_id` unset: retrained
    elsewhere): the day's request is recorded for the process that retrains it, and nothing is started. Returns the
    record's URL."""
    layout = DayLayout.of(model, day)
    decision = read_decision(store, model, day)
    url = retraining_policy.record_request(store, layout, decision.retrain.conf(), {"by": "monitoring, no DAG"})
    log.warning("retraining requested for %s %s (%s); no retraining DAG is configured (retraining.dag_id), so "
                "nothing is started: the request is recorded at %s for the process that retrains this model",
                model.name, layout.day, "; ".join(decision.retrain.reasons), url)
    return url


def read_decision(store: ObjectStore, model: ModelConfig, day: Any) -> Decision:
    """The decision the day's `decide` took (it fails clearly when decide has not run)."""
    layout = DayLayout.of(model, day)
    return Decision.model_validate_json(store.get_bytes(layout.staged_decision))
