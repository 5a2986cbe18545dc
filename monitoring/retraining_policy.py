"""The retraining policy: when a monitored day asks for retraining, and the evidence handed to the model's retraining
DAG (the built-in retraining itself is `monitoring.retraining`).

A day asks for retraining when any of these holds (each configurable under `retraining:`):
- every signal of `when_all` fired on the day (default: dataset drift and prediction drift);
- dataset drift on at least `drift_days` of the last `drift_window` days;
- a critical data-quality finding on `quality_days` consecutive days;
- a performance metric past its retraining limit (`on_performance_drop`).
The request hands over the window of evidence: the last `window_days` days, starting no earlier than the first day of
an ongoing dataset drift (`window_from_drift`). A model with labels waits until that window's predictions have
`min_labelled_rows` labels (they arrive days late): until then nothing is triggered and no cooldown starts, and the
run's decisions.json says what it waits for.
No second request is made within `cooldown_days` of another (it may still be running): each request is claimed on
S3 by the run that makes it, atomically (`retraining/<model>/claims/`, see `claim`), and recorded as
`retraining/<model>/triggers/dt=<day>.json`; a rerun of that day keeps its claim.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from monitoring.config import ModelConfig
from monitoring.history import DayMetrics
from monitoring.layout import DayLayout, day_of
from monitoring.storage import ObjectStore
from monitoring.summary import DaySummary


class RetrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    day: str
    dag_id: str | None  # None: no retraining DAG (a model retrained elsewhere); the request is only recorded
    reasons: list[str]
    evidence: dict[str, str]
    window: dict[str, str] = {}  # first and last day of the evidence handed to retraining

    def conf(self) -> dict:
        """What the retraining DAG receives as its run conf."""
        return {"model": self.model, "day": self.day, "reasons": self.reasons, "evidence": self.evidence,
                "window": self.window}


def signals(summary: DaySummary) -> dict[str, str]:
    """Retraining signals present on the day, each with the reason in plain words."""
    found = {}
    if summary.data_drift.dataset_drift:
        found["dataset_drift"] = (f"dataset drift: {summary.data_drift.drift_share:.0%} of features drifted "
                                  f"({', '.join(summary.data_drift.drifted_features)})")
    if summary.prediction_drift.drifted:
        drifted = sorted(c for c, r in summary.prediction_drift.columns.items() if r.drifted)
        found["prediction_drift"] = f"prediction drift on {', '.join(drifted)}"
    estimate = summary.estimated_performance
    if estimate is not None and estimate.degraded:
        found["estimated_performance_drop"] = (f"estimated performance ({estimate.method}) dropped: "
                                               f"{'; '.join(d.describe() for d in estimate.degraded)}")
    due = summary.labels.due if summary.labels else None
    if due and due.status == "judged" and due.classes_collapsed and not due.superseded:
        found["class_recall"] = (f"the predictions made on {due.day} missed a class: "
                                 f"{'; '.join(c.describe() for c in due.classes_collapsed)}")
    if due and due.status == "judged" and due.retrain:
        found["performance_degradation"] = (f"performance of the predictions made on {due.day} dropped past the "
                                            f"retraining limit: {'; '.join(d.describe() for d in due.retrain)}")
    return found


QUALITY_RULES = frozenset({"missing_values", "new_categories", "out_of_range", "quarantined_rows"})


def _policy_reasons(model: ModelConfig, day: dt.date, days: dict[str, DayMetrics]) -> list[str]:
    """Reasons from the days before (and including) `day`, as the metric store has them."""
    policy, reasons = model.retraining, []

    def rules_on(back: int, critical: bool = False) -> set[str] | None:
        found = days.get((day - dt.timedelta(days=back)).isoformat())
        return None if found is None else set(found.critical_rules if critical else found.alerting_rules)

    if policy.drift_days:
        drifted = [back for back in range(policy.drift_window) if "dataset_drift" in (rules_on(back) or set())]
        if len(drifted) >= policy.drift_days:
            reasons.append(f"dataset drift on {len(drifted)} of the last {policy.drift_window} days "
                           f"(retraining.drift_days: {policy.drift_days})")
    if policy.quality_days:
        streak = 0
        while streak < policy.quality_days and (rules_on(streak, critical=True) or set()) & QUALITY_RULES:
            streak += 1
        if streak >= policy.quality_days:
            reasons.append(f"critical data-quality findings on {streak} days in a row "
                           f"(retraining.quality_days: {policy.quality_days})")
    return reasons


def retrain_request(summary: DaySummary, model: ModelConfig, evidence: dict[str, str],
                    days: dict[str, DayMetrics] | None = None) -> RetrainRequest | None:
    """The day's retraining request under the model's policy (see the module's doc), else None. `days` are the
    metric-store entries of the recent days, this day's included."""
    present = signals(summary)
    wanted = model.retraining.when_all
    reasons = [present[s] for s in wanted] if wanted and all(s in present for s in wanted) else []
    day = dt.date.fromisoformat(summary.day)
    reasons += _policy_reasons(model, day, days or {})
    if model.retraining.on_performance_drop and "performance_degradation" in present:
        reasons.append(present["performance_degradation"])
    if not reasons:
        return None
    first = day - dt.timedelta(days=model.retraining.window_days - 1)
    if model.retraining.window_from_drift and "dataset_drift" in present:
        first = max(first, drift_start(day, days or {}))
    return RetrainRequest(model=model.name, day=summary.day, dag_id=model.retraining.dag_id,
                          reasons=list(dict.fromkeys(reasons)), evidence=evidence,
                          window={"first": first.isoformat(), "last": summary.day})


def drift_start(day: dt.date, days: dict[str, DayMetrics]) -> dt.date:
    """The first day of the dataset drift that goes on on `day`: the earliest of the consecutive published days up
    to it whose alerts include dataset drift (`day` itself when the day before did not drift)."""
    start = day
    while (found := days.get((start - dt.timedelta(days=1)).isoformat())) and "dataset_drift" in found.alerting_rules:
        start -= dt.timedelta(days=1)
    return start


def waiting_for_labels(request: RetrainRequest, model: ModelConfig, days: dict[str, DayMetrics]) -> str | None:
    """Why the request should wait for labels (None when it may go): a model with labels retrains on the labelled
    predictions of the request's window, and needs `retraining.min_labelled_rows` of them."""
    needed = model.retraining.min_labelled_rows
    if model.labels is None or not needed:
        return None
    first, last = (dt.date.fromisoformat(request.window[k]) for k in ("first", "last"))
    labelled = sum(days[d].labelled or 0 for d in days if first.isoformat() <= d <= last.isoformat())
    if labelled >= needed:
        return None
    return (f"waiting for labels: the predictions from {first} to {last} have {labelled} labels so far, "
            f"retraining.min_labelled_rows is {needed}; the request is made on the first day that has them "
            f"(reasons: {'; '.join(request.reasons)})")


CLAIM_ROUNDS = 20


def claim(store: ObjectStore, layout: DayLayout, request: RetrainRequest, cooldown_days: int) -> str | None:
    """Claim the right to trigger retraining for the request's day; returns why not, or None when claimed (or
    already claimed by an earlier run of the same day, which keeps its claim whatever was claimed since).

    No two days within `cooldown_days` of each other both claim, in either order: a backfill's parallel runs may
    reach a later day before an earlier one, and the earlier day then holds (a rerun of either day decides the same
    again, so reprocessing changes nothing). Atomic: each claim creates the next numbered object of the model's
    claims (`If-None-Match`), holding every day claimed so far; two runs that read the same latest claim contend for
    the same number, the loser reads again and finds the winner's day."""
    day = layout.day
    for _ in range(CLAIM_ROUNDS):
        numbers = sorted(layout.claim_number(key) for key in store.keys(layout.retraining_claims_dir))
        latest = numbers[-1] if numbers else 0
        claimed = {day_of(key) for key in store.keys(layout.retraining_triggers_dir)}  # before claims were numbered
        if latest:
            claimed |= {dt.date.fromisoformat(d) for d in store.get_json(layout.retraining_claim(latest))["claimed"]}
        if day in claimed:
            if not store.exists(layout.retraining_trigger):  # the claiming run died before recording it
                store.put_json(layout.retraining_trigger, request.conf())
            return None
        for other in sorted(claimed):
            if abs((day - other).days) < cooldown_days:
                when = "" if other < day else ", a later day that a parallel run reached first"
                return (f"retraining was already requested for {other}{when}, within retraining.cooldown_days "
                        f"({cooldown_days}); it may still be running")
        record = {"day": day.isoformat(), "claimed": sorted(d.isoformat() for d in claimed | {day})}
        if store.create_json(layout.retraining_claim(latest + 1), record):
            store.put_json(layout.retraining_trigger, request.conf())
            return None
    raise RuntimeError(f"the retraining claims of {layout.model} kept changing while {day} was claimed; the task's "
                       "retry claims again")


def record_request(store: ObjectStore, layout: DayLayout, conf: dict, run: dict) -> str:
    """Store a received retraining request with its evidence; returns its S3 URL."""
    return store.put_json(layout.retraining_request, {"request": conf, "received_by": run})
