"""The retraining policy: which days ask for retraining, with what evidence, and never twice within the cooldown."""

import datetime as dt

from monitoring import retrain
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from tests.summaries import metrics_of, summary

DAY = dt.date(2026, 10, 14)


def policy(base: ModelConfig, **settings) -> ModelConfig:
    document = base.model_dump(mode="json")
    document["retraining"] = {**document["retraining"], "when_all": [], **settings}
    return ModelConfig.model_validate(document)


def recent(rules_by_back: dict[int, list[str]], critical: bool = False):
    days = {}
    for back, rules in rules_by_back.items():
        day = (DAY - dt.timedelta(days=back)).isoformat()
        days[day] = metrics_of(summary(day=day), alerting_rules=rules, critical_rules=rules if critical else [])
    return days


def request(model, days):
    return retrain.retrain_request(summary(day=DAY.isoformat()), model, {"day_page": "x"}, days)


def test_dataset_drift_on_enough_of_the_last_days_asks_for_retraining(loan_model):
    model = policy(loan_model, drift_days=3, drift_window=5)
    assert request(model, recent({0: ["dataset_drift"], 1: ["dataset_drift"], 4: []})) is None
    found = request(model, recent({0: ["dataset_drift"], 2: ["dataset_drift"], 4: ["dataset_drift"]}))
    assert found.reasons == ["dataset drift on 3 of the last 5 days (retraining.drift_days: 3)"]
    assert found.window == {"first": "2026-10-01", "last": "2026-10-14"} and found.conf()["window"] == found.window
    assert request(model, recent({0: ["dataset_drift"], 2: ["dataset_drift"], 5: ["dataset_drift"]})) is None


def test_critical_data_quality_on_consecutive_days_asks_for_retraining(loan_model):
    model = policy(loan_model, quality_days=2)
    assert request(model, recent({0: ["missing_values"], 1: ["missing_values"]}, critical=True)).reasons == [
        "critical data-quality findings on 2 days in a row (retraining.quality_days: 2)"]
    assert request(model, recent({0: ["missing_values"], 2: ["missing_values"]}, critical=True)) is None
    assert request(model, recent({0: ["missing_values"], 1: ["missing_values"]}, critical=False)) is None


def test_a_request_is_not_repeated_within_the_cooldown_but_a_rerun_keeps_its_own(store, loan_model):
    model = policy(loan_model, drift_days=1, cooldown_days=7)
    first = request(model, recent({0: ["dataset_drift"]}))
    layout = DayLayout.of(model, DAY)
    assert retrain.claim(store, layout, first, 7) is None
    assert retrain.claim(store, layout, first, 7) is None  # the same day again: still its own request
    later = layout.on(DAY + dt.timedelta(days=3))
    held = retrain.claim(store, later, first, 7)
    assert held.startswith("retraining was already requested for 2026-10-14, within retraining.cooldown_days (7)")
    assert retrain.claim(store, layout.on(DAY + dt.timedelta(days=7)), first, 7) is None
    assert store.get_json(layout.retraining_trigger)["reasons"] == first.reasons
