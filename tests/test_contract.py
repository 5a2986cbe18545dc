import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring.contract import (ContractError, ContractResult, ContractTally, check_columns,
                                 enforce_rejected_share, prepare_reference, valid_schema, validate)
from monitoring.ingest import FileRead
from tests.helpers import DAY, day_log


def sourced(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["_source_file"] = "predictions/loan_approval/dt=2026-10-14/part-0.parquet"
    frame["_source_row"] = range(len(frame))
    return frame


def reasons_of(result: ContractResult) -> dict[str, str]:
    return dict(zip(result.quarantine["_source_row"], result.quarantine["reason"]))


def test_a_clean_day_passes_whole_and_typed(loan_model, trained):
    result = validate(sourced(day_log(trained, rows=200)), loan_model, DAY)
    assert (result.rows_read, result.rows_valid, result.rows_quarantined) == (200, 200, 0)
    assert str(result.valid["event_time"].dt.tz) == "UTC"
    assert result.valid["approved"].dtype == "int64"
    assert result.valid["credit_score"].dtype == "float64"


def test_each_broken_row_is_quarantined_with_its_reason_and_none_is_lost(loan_model, trained):
    frame = sourced(day_log(trained, rows=50)).astype({"approval_probability": object, "annual_income": object,
                                                        "event_time": object, "approved": object,
                                                        "prediction_id": object})
    frame.loc[1, "approval_probability"] = 1.7
    frame.loc[2, "prediction_id"] = None
    frame.loc[3, "prediction_id"] = frame.loc[4, "prediction_id"]
    frame.loc[5, "event_time"] = pd.Timestamp("2026-10-15T01:00:00Z")
    frame.loc[6, "event_time"] = "not a time"
    frame.loc[7, "annual_income"] = "sixty thousand"
    frame.loc[8, "annual_income"] = np.inf
    frame.loc[9, "approved"] = 2
    frame.loc[10, "approval_probability"] = None
    frame.loc[11, "approval_probability"] = "NaN-ish"
    result = validate(frame, loan_model, DAY)
    reasons = reasons_of(result)
    assert reasons[1] == "score_out_of_range: approval_probability 1.7 is outside [0.0, 1.0]"
    assert reasons[2] == "missing_id: prediction_id is empty"
    assert reasons[4] == "duplicate_id: prediction_id 20261014-0000004 appeared earlier in the day"
    assert 3 not in reasons  # the first occurrence of an id stays valid
    assert reasons[5].startswith("timestamp_outside_day: event_time 2026-10-15 01:00:00+00:00 is not on 2026-10-14")
    assert reasons[6] == "bad_timestamp: event_time not a time is not a time"
    assert reasons[7] == "bad_number: annual_income sixty thousand is not a number"
    assert reasons[8] == "infinite_value: annual_income inf is infinite"
    assert reasons[9] == "bad_decision: approved 2 is not 0 or 1 (or true/false)"
    assert reasons[10] == "missing_score: approval_probability is empty"
    assert reasons[11].startswith("bad_score: approval_probability NaN-ish is not a number")
    assert result.rows_valid + result.rows_quarantined == result.rows_read == 50
    assert result.rows_quarantined == 10
    assert result.reasons["duplicate_id"] == 1
    assert result.quarantine["_source_file"].str.endswith("part-0.parquet").all()


def test_a_row_breaking_several_rules_lists_every_reason(loan_model, trained):
    frame = sourced(day_log(trained, rows=5)).astype({"approval_probability": object, "prediction_id": object})
    frame.loc[0, "approval_probability"] = -0.2
    frame.loc[0, "prediction_id"] = None
    result = validate(frame, loan_model, DAY)
    assert reasons_of(result)[0] == ("missing_id: prediction_id is empty; "
                                     "score_out_of_range: approval_probability -0.2 is outside [0.0, 1.0]")


def test_missing_feature_values_are_kept_as_a_quality_matter(loan_model, trained):
    frame = sourced(day_log(trained, rows=20))
    frame.loc[0:4, "credit_score"] = np.nan
    frame.loc[0:2, "state"] = None
    result = validate(frame, loan_model, DAY)
    assert result.rows_valid == 20
    assert result.valid["credit_score"].isna().sum() == 5


def test_integer_category_codes_stay_as_codes(loan_model, trained):
    frame = sourced(day_log(trained, rows=5))
    frame["state"] = [1.0, 2.0, np.nan, 4.0, 5.0]
    assert validate(frame, loan_model, DAY).valid["state"].tolist()[:2] == ["1", "2"]


def test_naive_timestamps_are_read_as_utc(loan_model, trained):
    frame = sourced(day_log(trained, rows=5))
    frame["event_time"] = frame["event_time"].dt.tz_localize(None)
    assert validate(frame, loan_model, DAY).rows_valid == 5


def test_a_file_missing_a_required_column_fails_naming_the_file_and_column(loan_model):
    reads = [FileRead("predictions/loan_approval/dt=2026-10-14/part-3.parquet", 10, 100, ("prediction_id", "x"))]
    with pytest.raises(ContractError, match=r"file s3://b/predictions/.*part-3.parquet lacks required column\(s\) "
                                            r"\['event_time', 'approval_probability'"):
        check_columns(reads, loan_model, lambda key: f"s3://b/{key}")


def test_extra_columns_are_reported_not_fatal(loan_model, trained):
    result = validate(sourced(day_log(trained, rows=5)), loan_model, DAY)
    assert result.extra_columns == ("model_version",)


def test_too_many_rejected_rows_fail_the_day_with_counts_reasons_and_where_to_look(loan_model, trained):
    frame = sourced(day_log(trained, rows=100))
    frame.loc[0:9, "approval_probability"] = 3.0
    result = validate(frame, loan_model, DAY)
    with pytest.raises(ContractError, match=r"10 of 100 rows \(10.0%\) of model 'loan_approval' break the data "
                                            r"contract, above the allowed 5.0% .*score_out_of_range: 10.*in s3://q"):
        enforce_rejected_share(ContractTally.of(result), loan_model, "s3://q")


def test_a_share_at_the_limit_passes_and_one_row_more_fails(loan_model, trained):
    frame = sourced(day_log(trained, rows=100))
    frame.loc[0:4, "approval_probability"] = 3.0
    tally = ContractTally.of(validate(frame, loan_model, DAY))
    assert tally.rejected_share == loan_model.contract.max_rejected_share == 0.05
    enforce_rejected_share(tally, loan_model, "s3://q")  # at the limit: the day goes on
    frame.loc[5, "approval_probability"] = 3.0
    with pytest.raises(ContractError, match=r"6 of 100 rows \(6.0%\)"):
        enforce_rejected_share(ContractTally.of(validate(frame, loan_model, DAY)), loan_model, "s3://q")


def test_a_batch_without_rows_gives_no_rows_of_the_valid_schema(loan_model, trained):
    result = validate(sourced(day_log(trained, rows=5)).iloc[:0], loan_model, DAY)
    assert (result.rows_read, result.rows_valid, result.rows_quarantined) == (0, 0, 0)
    assert list(result.valid.columns) == valid_schema(loan_model).names


def test_the_reference_must_carry_every_feature(loan_model, trained):
    _, reference = trained
    with pytest.raises(ContractError, match=r"lacks column\(s\) \['state'\]"):
        prepare_reference(reference.drop(columns=["state"]), loan_model, "s3://ref")


def test_a_reference_with_non_numbers_is_rejected(loan_model, trained):
    _, reference = trained
    broken = reference.astype({"loan_amount": object})
    broken.loc[0, "loan_amount"] = "lots"
    with pytest.raises(ContractError, match=r"1 value\(s\) in numerical column 'loan_amount'"):
        prepare_reference(broken, loan_model, "s3://ref")


def test_a_latency_that_is_not_a_duration_is_quarantined(loan_model, trained):
    frame = sourced(day_log(trained, rows=10)).astype({"latency_ms": object})
    frame.loc[2, "latency_ms"] = -5
    frame.loc[3, "latency_ms"] = "slow"
    result = validate(frame, loan_model, DAY)
    assert reasons_of(result) == {2: "bad_latency: latency_ms -5 is not a duration in milliseconds",
                                  3: "bad_latency: latency_ms slow is not a duration in milliseconds"}
