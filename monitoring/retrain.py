"""The retraining rule and the evidence handed to the model's retraining DAG."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.storage import ObjectStore
from monitoring.summary import DaySummary


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    day: str
    dag_id: str
    reasons: list[str]
    evidence: dict[str, str]

    def conf(self) -> dict:
        """What the retraining DAG receives as its run conf."""
        return {"model": self.model, "day": self.day, "reasons": self.reasons, "evidence": self.evidence}


def signals(summary: DaySummary) -> dict[str, str]:
    """Retraining signals present on the day, each with the reason in plain words."""
    found = {}
    if summary.data_drift.dataset_drift:
        found["dataset_drift"] = (f"dataset drift: {summary.data_drift.drift_share:.0%} of features drifted "
                                  f"({', '.join(summary.data_drift.drifted_features)})")
    if summary.prediction_drift.drifted:
        drifted = sorted(c for c, r in summary.prediction_drift.columns.items() if r.drifted)
        found["prediction_drift"] = f"prediction drift on {', '.join(drifted)}"
    due = summary.labels.due if summary.labels else None
    if due and due.status == "judged" and due.retrain:
        found["performance_degradation"] = (f"performance of the predictions made on {due.day} dropped past the "
                                            f"retraining limit: {'; '.join(d.describe() for d in due.retrain)}")
    return found


def retrain_request(summary: DaySummary, model: ModelConfig, evidence: dict[str, str]) -> RetrainRequest | None:
    """A request when every signal the model's `retraining.when_all` lists fired on this day, or (with
    `retraining.on_performance_drop`) when performance dropped past its retraining limit; else None."""
    present = signals(summary)
    wanted = model.retraining.when_all
    reasons = [present[s] for s in wanted] if wanted and all(s in present for s in wanted) else []
    if model.retraining.on_performance_drop and "performance_degradation" in present:
        reasons = list(dict.fromkeys([*reasons, present["performance_degradation"]]))
    if not reasons:
        return None
    return RetrainRequest(model=model.name, day=summary.day, dag_id=model.retraining.dag_id,
                          reasons=reasons, evidence=evidence)


def record_request(store: ObjectStore, layout: DayLayout, conf: dict, run: dict) -> str:
    """Store a received retraining request with its evidence; returns its S3 URL."""
    return store.put_json(layout.retraining_request, {"request": conf, "received_by": run})
