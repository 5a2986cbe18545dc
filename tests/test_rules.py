"""The rules a day can raise, each with its configured severity, message and action."""

import copy

import pytest
import yaml

from monitoring import rules
from monitoring.config import parse_config
from tests.conftest import ROOT
from tests.summaries import summary

BASE = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())


def model(**rule_settings):
    document = copy.deepcopy(BASE)
    document["models"]["loan_approval"]["rules"] = rule_settings
    return parse_config(document).model("loan_approval")


def day(**operations):
    s = summary()
    return s.model_copy(update={"operations": s.operations.model_copy(update=operations)})


def drifted(*features):
    s = summary()
    drift = s.data_drift.model_copy(update={"drifted_features": list(features), "drift_share": 0.1})
    return s.model_copy(update={"data_drift": drift})


def fired(findings, rule):
    return [f for f in findings if f.rule == rule]


def test_a_quiet_day_raises_nothing():
    assert rules.findings(day(trailing_volume=1000.0, trailing_volume_days=7), model()) == []


@pytest.mark.parametrize(("rows", "fires"), [(1000, False), (450, True), (2100, True), (600, False)])
def test_volume_far_from_the_trailing_days_fires(rows, fires):
    s = day(trailing_volume=1000.0, trailing_volume_days=7)
    s = s.model_copy(update={"rows": s.rows.model_copy(update={"read": rows})})
    found = fired(rules.findings(s, model()), "volume")
    assert bool(found) == fires
    if fires:
        assert f"{rows} predictions" in found[0].message and "previous 7 published day(s)" in found[0].message


def test_volume_needs_enough_trailing_days_for_a_verdict():
    s = day(trailing_volume=5000.0, trailing_volume_days=2)
    assert fired(rules.findings(s, model()), "volume") == []


def test_an_extreme_or_moved_positive_rate_fires():
    assert fired(rules.findings(day(positive_rate=0.80, reference_positive_rate=0.57), model()), "positive_rate")
    assert not fired(rules.findings(day(positive_rate=0.60, reference_positive_rate=0.57), model()), "positive_rate")
    bounded = model(positive_rate={"max": 0.59, "max_change": None})
    found = fired(rules.findings(day(positive_rate=0.60), bounded), "positive_rate")
    assert found and "above 59%" in found[0].message


def test_a_high_share_of_low_confidence_predictions_fires():
    found = fired(rules.findings(day(low_confidence_share=0.40, reference_low_confidence_share=0.1), model()),
                  "low_confidence")
    assert found and "40.0% of predictions are low-confidence" in found[0].message
    assert not fired(rules.findings(day(low_confidence_share=0.2), model()), "low_confidence")


def test_drift_of_a_key_feature_is_critical_on_its_own():
    findings = rules.findings(drifted("credit_score"), model(key_features={"features": ["credit_score"]}))
    assert [f.severity.value for f in fired(findings, "key_features")] == ["critical"]
    assert [f.severity.value for f in fired(findings, "feature_drift")] == ["warning"]


def test_severities_come_from_the_config_and_off_disables_a_rule():
    findings = rules.findings(drifted("credit_score"), model(feature_drift={"severity": "critical"}))
    assert [f.severity.value for f in fired(findings, "feature_drift")] == ["critical"]
    assert fired(rules.findings(drifted("credit_score"), model(feature_drift={"severity": "off"})),
                 "feature_drift") == []
    info = rules.findings(drifted("credit_score"), model(feature_drift={"severity": "info"}))
    assert [f.severity.value for f in info] == ["info"]


def test_a_key_feature_must_be_a_feature():
    from monitoring.config import ConfigError

    with pytest.raises(ConfigError, match=r"key 'rules.key_features.features': \['nope'\]"):
        model(key_features={"features": ["nope"]})
    with pytest.raises(ConfigError, match=r"key 'rules.volume.severity'"):
        model(volume={"severity": "loud"})


# --- wording: what counts as positive comes from the config; a change of a share is in percentage points ----------
def calibrated(s, **statistics):
    from monitoring.verdicts import DayVerdicts

    return s.model_copy(update={"verdicts": DayVerdicts(mode="calibrated", band_sigma=3.0, fdr=0.05,
                                                        expected_false_alarms_per_month=0.04, statistics=statistics)})


def moved(change: float, low: float, high: float, min_effect: float):
    from monitoring.verdicts import Judgement

    return Judgement(value=change, rows=1000, reference_rows=5000, mode="calibrated", band=(low, high), tail=1e-9,
                     effect=abs(change), min_effect=min_effect, outside=True, fired=True)


def test_the_positive_rate_is_named_by_the_decision_column_and_its_change_is_in_points():
    found = fired(rules.findings(day(positive_rate=0.65, reference_positive_rate=0.40), model()), "positive_rate")
    assert found[0].message == "Positive rate (approved = 1) 65.0%: 25 points above the reference's 40.0%."
    lower = fired(rules.findings(day(positive_rate=0.123, reference_positive_rate=0.40), model()), "positive_rate")
    assert lower[0].message == "Positive rate (approved = 1) 12.3%: 27.7 points below the reference's 40.0%."
    flagged = copy.deepcopy(BASE)
    flagged["models"]["loan_approval"]["columns"]["decision"] = "flagged"
    other = parse_config(flagged).model("loan_approval")
    message = fired(rules.findings(day(positive_rate=0.65, reference_positive_rate=0.40), other), "positive_rate")[0]
    assert message.message.startswith("Positive rate (flagged = 1) 65.0%") and "approv" not in message.message


def test_the_calibrated_positive_rate_evidence_is_in_points():
    s = calibrated(day(positive_rate=0.65, reference_positive_rate=0.40),
                   positive_rate=moved(0.25, -0.031, 0.031, 0.04))
    found = fired(rules.findings(s, model()), "positive_rate")[0]
    assert found.message == "Positive rate (approved = 1) 65.0%: 25 points above the reference's 40.0%."
    assert found.evidence == ["positive rate change: +25 points; no change on a day of 1,000 rows against 5,000 "
                              "reference rows stays within -3.1 to +3.1 points; the smallest change that counts "
                              "is 4 points"]


def test_the_low_confidence_and_missing_share_changes_are_in_points():
    found = fired(rules.findings(day(low_confidence_share=0.40, reference_low_confidence_share=0.10), model()),
                  "low_confidence")[0]
    assert "30 points above the reference's 10.0%" in found.message and "30%" not in found.message
    s = calibrated(day(low_confidence_share=0.40, reference_low_confidence_share=0.10),
                   low_confidence_share=moved(0.30, -0.02, 0.021, 0.05), **{"missing:credit_score": moved(
                       0.125, -0.01, 0.01, 0.02)})
    quality = s.data_quality.columns["credit_score"].model_copy(update={"missing_share": 0.125})
    s = s.model_copy(update={"data_quality": s.data_quality.model_copy(update={"columns": {"credit_score": quality}})})
    findings = rules.findings(s, model())
    assert fired(findings, "low_confidence")[0].evidence == [
        "low-confidence share change: +30 points; no change on a day of 1,000 rows against 5,000 reference rows "
        "stays within -2 to +2.1 points; the smallest change that counts is 5 points"]
    assert fired(findings, "missing_values")[0].evidence == [
        "credit_score missing share change: +12.5 points; no change on a day of 1,000 rows against 5,000 reference "
        "rows stays within -1 to +1 points; the smallest change that counts is 2 points"]


def test_points_read_as_points():
    assert [rules.points(c) for c in (0.25, 0.01, 0.0, 0.0004, 0.1234)] == [
        "25 points", "1 point", "0 points", "0 points", "12.3 points"]
    assert [rules.points(c, signed=True) for c in (0.25, -0.031, 0.0)] == ["+25 points", "-3.1 points", "0 points"]


def test_the_prediction_drift_finding_quotes_the_positive_rate_as_a_share_of_the_decision_column():
    s = summary()
    s = s.model_copy(update={"prediction_drift": s.prediction_drift.model_copy(update={"drifted": True, "columns": {
        "approved": s.prediction_drift.columns["score"].model_copy(update={"drifted": True})}})})
    found = fired(rules.findings(s, model()), "prediction_drift")[0]
    assert "mean score 0.610 vs 0.600 in the reference, positive rate (approved = 1) 58.0% vs 57.0%." in found.message
    regression = summary(regression=True)
    regression = regression.model_copy(update={"prediction_drift": regression.prediction_drift.model_copy(
        update={"drifted": True})})
    rate_model = parse_config(copy.deepcopy(BASE)).model("loan_rate")
    message = fired(rules.findings(regression, rate_model), "prediction_drift")[0].message
    assert "mean prediction 11.200 vs 10.900 in the reference." in message and "positive" not in message


# --- the decision's log ---------------------------------------------------------------------------------------------
def published_drifting_day(store, model, day: str) -> None:
    """A published day whose dataset and predictions drifted (the loan model's retraining rule), without Evidently."""
    from monitoring.layout import DayLayout
    from monitoring.storage import JSON

    s = summary(day=day)
    drifting = s.model_copy(update={
        "data_drift": s.data_drift.model_copy(update={"dataset_drift": True, "drift_share": 1.0,
                                                      "drifted_features": ["credit_score"]}),
        "prediction_drift": s.prediction_drift.model_copy(update={"drifted": True, "columns": {
            "approval_probability": s.prediction_drift.columns["score"].model_copy(update={"drifted": True})}})})
    layout = DayLayout.of(model, day)
    store.put_bytes(layout.summary, drifting.to_json(), JSON)
    store.put_json(layout.manifest, {"files": {}})


def test_a_held_retraining_request_logs_its_reasons_once(store, caplog):
    from monitoring.steps import decide

    loan = parse_config(copy.deepcopy(BASE)).model("loan_approval")  # retraining.min_labelled_rows: 4000
    published_drifting_day(store, loan, "2026-10-14")
    with caplog.at_level("INFO", logger="monitoring.steps.decide"):
        decision = decide.decide_day(store, loan, "2026-10-14")
    held = next(m for m in caplog.messages if m.startswith("no retraining request"))
    assert decision.retrain_held.startswith("waiting for labels") and held.count("dataset drift: 100% of") == 1
    assert "(reasons: " in held and "reasons were" not in held

    caplog.clear()
    anytime = loan.model_copy(update={"retraining": loan.retraining.model_copy(update={"min_labelled_rows": 0})})
    published_drifting_day(store, anytime, "2026-10-15")
    assert decide.decide_day(store, anytime, "2026-10-14").retrain is not None  # claims
    with caplog.at_level("INFO", logger="monitoring.steps.decide"):
        decide.decide_day(store, anytime, "2026-10-15")  # within the cooldown: held, the reasons said once
    held = next(m for m in caplog.messages if m.startswith("no retraining request"))
    assert held.startswith("no retraining request: retraining was already requested for 2026-10-14")
    assert held.count("(reasons: ") == 1 and held.count("dataset drift: 100% of") == 1
