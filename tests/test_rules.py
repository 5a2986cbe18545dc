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
