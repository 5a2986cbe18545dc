import copy

import pytest
import yaml

from monitoring.config import ConfigError, load_config, parse_config
from tests.conftest import ROOT

BASE = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())


def with_change(path: str, value, model: str = "loan_approval"):
    document = copy.deepcopy(BASE)
    node = document["models"][model]
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return document


def test_the_shipped_config_loads_with_defaults_merged_under_each_model(config):
    model = config.model("loan_approval")
    assert model.storage.bucket == "ml-monitoring"
    assert model.storage.aws_conn_id == "monitoring_s3"
    assert model.contract.max_rejected_share == 0.05
    assert model.columns.features[0] == "credit_score"
    assert model.retraining.dag_id == "retrain_loan_approval"


def test_an_unknown_key_names_the_model_and_the_key():
    with pytest.raises(ConfigError, match=r"model 'loan_approval': key 'drift.treshold': unknown key"):
        parse_config(with_change("drift.treshold", 0.3))


@pytest.mark.parametrize("name", ["Loan", "../etc", "a/b", "", "x" * 64, "loan approval"])
def test_a_model_name_unsafe_for_s3_keys_is_rejected(name):
    document = copy.deepcopy(BASE)
    document["models"] = {name: document["models"]["loan_approval"]}
    with pytest.raises(ConfigError, match="must be 1-63 lowercase letters"):
        parse_config(document)


def test_a_column_listed_twice_is_rejected_with_both_roles():
    with pytest.raises(ConfigError, match=r"key 'columns': column 'state' is listed both as numerical and as categorical"):
        parse_config(with_change("columns.numerical", ["credit_score", "state"]))


def test_a_drift_override_for_an_unknown_column_is_rejected():
    with pytest.raises(ConfigError, match=r"key 'drift.columns.salary': 'salary' is not a feature or prediction column"):
        parse_config(with_change("drift.columns", {"salary": {"method": "psi", "threshold": 0.2}}))


def test_a_drift_method_that_does_not_fit_the_column_kind_is_rejected():
    with pytest.raises(ConfigError, match=r"key 'drift.columns.state.method': 'wasserstein' does not fit a categorical column; one of"):
        parse_config(with_change("drift.columns", {"state": {"method": "wasserstein", "threshold": 0.2}}))


def test_a_per_column_drift_override_wins_over_the_kind_default():
    model = parse_config(with_change("drift.columns", {"credit_score": {"method": "psi", "threshold": 0.2}})).models[0]
    assert (model.drift_method("credit_score").method, model.drift_method("credit_score").threshold) == ("psi", 0.2)
    assert model.drift_method("loan_amount").method == "wasserstein"
    assert model.drift_method("state").method == "jensenshannon"
    assert model.drift_method("approved").method == "jensenshannon"  # the 0/1 decision is categorical


def test_a_missing_required_setting_is_named():
    document = copy.deepcopy(BASE)
    del document["models"]["loan_approval"]["columns"]["timestamp"]
    with pytest.raises(ConfigError, match=r"key 'columns.timestamp': missing: set it: the prediction time"):
        parse_config(document)
    document = copy.deepcopy(BASE)
    del document["models"]["loan_approval"]["columns"]["score"]
    with pytest.raises(ConfigError, match=r"key 'columns.score': required for a binary_classification model: the "
                                          r"column of its predicted probability"):
        parse_config(document)


def test_an_unsafe_prefix_is_rejected():
    with pytest.raises(ConfigError, match=r"key 'storage.reports_prefix'.*not a safe S3 prefix"):
        parse_config(with_change("storage.reports_prefix", "../reports"))


def test_an_unknown_log_format_is_rejected():
    with pytest.raises(ConfigError, match=r"key 'storage.log_format'"):
        parse_config(with_change("storage.log_format", "xlsx"))


def test_a_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="does not exist .*MONITORING_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_top_level_keys_are_rejected():
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['model'\]"):
        parse_config({"model": {}})


def test_labels_and_performance_rules_default_by_task(config):
    loan = config.model("loan_approval")
    assert loan.labels.column == "repaid" and loan.labels.lag_days >= 1
    assert loan.labels.lookback >= loan.labels.lag_days
    assert set(loan.metric_rules) == {"f1", "roc_auc"} and loan.score_range == (0.0, 1.0)
    rate = config.model("loan_rate")
    assert rate.task.value == "regression" and rate.columns.decision is None
    assert set(rate.metric_rules) == {"mae", "r2"}
    unbounded = parse_config(with_change("contract.score_range", None, model="loan_rate")).model("loan_rate")
    assert unbounded.score_range is None  # a regression's output has no range unless the config gives one


@pytest.mark.parametrize(("path", "value", "message"), [
    ("performance.rules", {"mae": {"max_drop": 1}}, r"key 'performance.rules.mae': 'mae' is not a binary_classification metric"),
    ("performance.rules", {"f1": {"retrain_drop": 0.2}}, r"key 'performance.rules.f1': set max_drop, max_relative_drop"),
    ("labels", {"column": "repaid", "lag_days": 10, "lookback_days": 3}, r"lookback_days \(3\) must be at least lag_days"),
    ("labels", {"column": "credit_score", "lag_days": 1}, r"key 'labels.column': 'credit_score' is also a feature"),
    ("labels", {"lag_days": 1}, r"key 'labels.column': missing: set it: the label column"),
    ("task", "regression", r"key 'columns.decision': for classification only"),
    ("contract.score_range", [1, 0], r"score_range \[1.0, 0.0\] must be \[low, high\]"),
])
def test_label_and_performance_settings_are_validated_with_the_key_named(path, value, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_change(path, value))


@pytest.mark.parametrize(("channel", "message"), [
    ({"type": "email", "conn_id": "smtp_default"}, r"an email channel needs 'to'"),
    ({"type": "sns", "conn_id": "aws_default"}, r"an sns channel needs 'target_arn'"),
    ({"type": "pager", "conn_id": "x"}, r"key 'alerts.channels.0.type'"),
    ({"type": "slack", "conn_id": "bad id"}, r"key 'alerts.channels.0.conn_id'"),
])
def test_alert_channels_are_validated(channel, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_change("alerts.channels", [channel]))


def test_a_model_defined_twice_is_an_error_naming_the_key_and_both_lines(tmp_path):
    text = (ROOT / "config" / "models.yaml").read_text()
    start = text.index("  loan_rate:\n")
    again = text[start:text.index("\n  ", start + 1) + 1]  # its first line and the next key
    path = tmp_path / "models.yaml"
    path.write_text(text + again + "      task: regression\n")
    lines = text[:start].count("\n") + 1, text.count("\n") + 1
    with pytest.raises(ConfigError, match=rf"key 'models.loan_rate' is defined twice, on lines {lines[0]} and "
                                          rf"{lines[1]}; YAML would silently keep only the last one"):
        load_config(path)
    isolated = load_config(path, isolate=True)  # the DAG files: the repeated model is hidden, the others load
    assert "loan_rate" in isolated.broken and [m.name for m in isolated.models] == ["loan_approval", "loan_offer"]
    assert "defined twice" in isolated.broken["loan_rate"]


def test_a_key_repeated_anywhere_in_the_config_is_an_error(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("defaults:\n  storage:\n    bucket: a-bucket\n    bucket: b-bucket\nmodels: {}\n")
    with pytest.raises(ConfigError, match=r"key 'defaults.storage.bucket' is defined twice, on lines 3 and 4"):
        load_config(path, isolate=True)


def test_yaml_merge_keys_are_not_repeats(tmp_path):
    document = (ROOT / "config" / "models.yaml").read_text().replace(
        "  loan_approval:\n", "  loan_approval: &approval\n", 1)
    path = tmp_path / "models.yaml"
    path.write_text(document + "  loan_copy:\n    <<: *approval\n    description: a copy\n")
    config = load_config(path)
    assert config.model("loan_copy").description == "a copy"
