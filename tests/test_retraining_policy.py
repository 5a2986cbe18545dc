"""The retraining policy: which days ask for retraining, with what evidence, and never twice within the cooldown."""

import datetime as dt

from monitoring import retraining_policy
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
    return retraining_policy.retrain_request(summary(day=DAY.isoformat()), model, {"day_page": "x"}, days)


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
    assert retraining_policy.claim(store, layout, first, 7) is None
    assert retraining_policy.claim(store, layout, first, 7) is None  # the same day again: still its own request
    later = layout.on(DAY + dt.timedelta(days=3))
    held = retraining_policy.claim(store, later, first, 7)
    assert held.startswith("retraining was already requested for 2026-10-14, within retraining.cooldown_days (7)")
    assert retraining_policy.claim(store, layout.on(DAY + dt.timedelta(days=7)), first, 7) is None
    assert store.get_json(layout.retraining_trigger)["reasons"] == first.reasons


def test_out_of_order_runs_never_claim_twice_within_the_cooldown_and_reruns_decide_the_same(store, loan_model):
    """A backfill's parallel runs reach 10-16 before 10-14: 10-14 then holds, and rerunning both changes nothing."""
    model = policy(loan_model, drift_days=1, cooldown_days=7)
    found = request(model, recent({0: ["dataset_drift"]}))
    earlier, later = DayLayout.of(model, DAY), DayLayout.of(model, DAY + dt.timedelta(days=2))
    assert retraining_policy.claim(store, later, found, 7) is None
    held = retraining_policy.claim(store, earlier, found, 7)
    assert held.startswith("retraining was already requested for 2026-10-16, a later day that a parallel run")
    assert retraining_policy.claim(store, later, found, 7) is None  # reprocessing: the later day keeps its claim
    assert retraining_policy.claim(store, earlier, found, 7) == held
    assert not store.exists(earlier.retraining_trigger)
    assert retraining_policy.claim(store, earlier.on(DAY - dt.timedelta(days=4)), found, 7) is not None
    assert retraining_policy.claim(store, earlier.on(DAY + dt.timedelta(days=9)), found, 7) is None


def drifting(day: dt.date = DAY):
    """A summary of `day` whose dataset drifted."""
    found = summary(day=day.isoformat())
    return found.model_copy(update={"data_drift": found.data_drift.model_copy(update={
        "dataset_drift": True, "drift_share": 0.5, "drifted_features": ["credit_score"]})})


def test_while_the_dataset_drifts_the_window_starts_on_the_drift_s_first_day(loan_model):
    model = policy(loan_model, drift_days=1, min_labelled_rows=0)
    days = recent({0: ["dataset_drift"], 1: ["dataset_drift"], 2: ["dataset_drift"], 3: ["prediction_drift"],
                   4: ["dataset_drift"]})
    found = retraining_policy.retrain_request(drifting(), model, {}, days)
    assert found.window == {"first": "2026-10-12", "last": "2026-10-14"}  # not the drift of 10-10, which ended
    assert retraining_policy.drift_start(DAY, {}) == DAY  # no published day before: the drift starts today

    long_ago = recent({back: ["dataset_drift"] for back in range(30)})
    assert retraining_policy.retrain_request(drifting(), model, {}, long_ago).window["first"] == "2026-10-01"  # window_days
    everything = policy(loan_model, drift_days=1, min_labelled_rows=0, window_from_drift=False)
    assert retraining_policy.retrain_request(drifting(), everything, {}, days).window["first"] == "2026-10-01"


def test_a_request_waits_for_the_labels_of_its_window_then_goes(loan_model):
    model = policy(loan_model, drift_days=1, min_labelled_rows=4000)

    def days_with(labelled: dict[int, int]):
        days = recent({**{back: ["dataset_drift"] for back in range(3)}, 5: []})
        for back, count in labelled.items():
            key = (DAY - dt.timedelta(days=back)).isoformat()
            days[key] = days[key].model_copy(update={"labelled": count})
        return days

    early = days_with({2: 2500, 1: 1200, 0: 0})
    found = retraining_policy.retrain_request(drifting(), model, {}, early)
    assert retraining_policy.waiting_for_labels(found, model, early) == (
        "waiting for labels: the predictions from 2026-10-12 to 2026-10-14 have 3700 labels so far, "
        "retraining.min_labelled_rows is 4000; the request is made on the first day that has them "
        f"(reasons: {found.reasons[0]})")
    later = days_with({2: 2900, 1: 1500, 0: 0, 5: 90000})  # labels of days before the drift do not count
    assert retraining_policy.waiting_for_labels(found, model, later) is None
    assert retraining_policy.waiting_for_labels(found, policy(loan_model, drift_days=1, min_labelled_rows=0), early) is None
    unlabelled = ModelConfig.model_validate({**model.model_dump(mode="json"), "labels": None})
    assert retraining_policy.waiting_for_labels(found, unlabelled, early) is None  # nothing to wait for


def test_a_drop_of_a_version_replaced_since_is_shown_but_neither_alerts_nor_retrains(loan_model):
    from monitoring import rules
    from tests.summaries import labels_report

    report = labels_report()
    judged = report.due.model_copy(update={"reference_version": "v1", "current_version": "v1"})
    assert judged.retrain == judged.degraded != [] and not judged.superseded
    replaced = judged.model_copy(update={"current_version": "r20261013"})
    assert replaced.superseded and replaced.retrain == []

    model = policy(loan_model, min_labelled_rows=0)
    for verdict, severity in ((judged, "critical"), (replaced, "info")):
        day = summary(day=DAY.isoformat()).model_copy(update={"labels": report.model_copy(update={"due": verdict})})
        finding = next(f for f in rules.findings(day, model) if f.rule == "performance_degradation")
        assert finding.severity.value == severity
        assert (retraining_policy.retrain_request(day, model, {}, {}) is None) == (verdict is replaced)
    assert "by version v1" in finding.message and "Version r20261013 has replaced it since" in finding.message


def test_two_runs_racing_for_claims_within_the_cooldown_make_exactly_one_request(store, loan_model):
    """Both runs read the claims before either writes (parallel backfill runs, milliseconds apart): one claims."""
    import threading

    model = policy(loan_model, drift_days=1, cooldown_days=7)
    found = request(model, recent({0: ["dataset_drift"]}))
    both_read = threading.Barrier(2, timeout=30)

    class Racing:
        """The store, except that each run's first claim waits until both runs have read the claims."""

        def __init__(self) -> None:
            self.waited = False

        def __getattr__(self, name):
            return getattr(store, name)

        def create_json(self, key, document):
            if not self.waited:
                self.waited = True
                both_read.wait()
            return store.create_json(key, document)

    days = [DAY, DAY + dt.timedelta(days=2)]
    held: dict[dt.date, str | None] = {}

    def run(day: dt.date) -> None:
        held[day] = retraining_policy.claim(Racing(), DayLayout.of(model, day), found, 7)

    threads = [threading.Thread(target=run, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v is None for v in held.values()) == [False, True], held
    requested = [d for d in days if store.exists(DayLayout.of(model, d).retraining_trigger)]
    assert requested == [d for d, why in held.items() if why is None]
    for day in days:  # reruns decide the same
        assert (retraining_policy.claim(store, DayLayout.of(model, day), found, 7) is None) == (held[day] is None)
