"""A day is read and profiled batch by batch: the figures, the quarantine and the sample are those of the day read
whole, and a rare event outside the sample is never lost."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring import contract, ingest, steps
from monitoring.layout import DayLayout
from monitoring.day_state import DayState
from monitoring.reference import ReferenceProfile
from monitoring.sampling import HashSample, hash_sample
from tests.helpers import day_log, get_json, now, put_frame, seed_days

DAY = dt.date(2026, 10, 5)
PREFIX = "predictions/loan_approval/dt=2026-10-05/"


@pytest.fixture
def awkward_day(s3_client, trained):
    """Three files; duplicate ids within a file and across files; bad rows; a category the reference never had."""
    seed_days(s3_client, trained, {})
    frames = [day_log(trained, DAY, rows=700, seed=n) for n in (1, 2, 3)]
    for number, frame in enumerate(frames):
        frame["prediction_id"] = [f"f{number}-{i}" for i in range(len(frame))]
    frames[0].loc[5, "prediction_id"] = frames[0].loc[4, "prediction_id"]  # within a file
    frames[1].loc[10:12, "prediction_id"] = frames[0].loc[100:102, "prediction_id"].to_numpy()  # across files
    frames[2].loc[650, "prediction_id"] = frames[2].loc[3, "prediction_id"]  # across batches of one file
    frames[1].loc[20, "approval_probability"] = 1.5
    frames[2].loc[30:32, "home_ownership"] = "HOUSEBOAT"
    frames[2].loc[40, "annual_income"] = np.nan
    for number, frame in enumerate(frames):
        put_frame(s3_client, f"{PREFIX}part-{number}.parquet", frame)
    return s3_client


def figures(client, store, model, batch_rows, monkeypatch) -> dict:
    monkeypatch.setattr(ingest, "BATCH_ROWS", batch_rows)
    steps.validate_day(store, model, DAY, now=now())
    steps.report_day(store, model, DAY)
    layout = DayLayout.of(model, DAY)
    summary = get_json(client, "staging/loan_approval/dt=2026-10-05/summary.json")
    quarantine = pd.read_parquet(store.open(f"{layout.staging_dir}quarantine.parquet"))
    valid = pd.read_parquet(store.open(layout.staged_valid_rows))
    return {"contract": store.get_json(layout.staged_contract), "summary": summary,
            "quarantine": quarantine.sort_values(["_source_file", "_source_row"]).reset_index(drop=True),
            "valid": valid}


def test_a_day_read_in_small_batches_gives_exactly_the_figures_of_the_day_read_whole(awkward_day, store, loan_model,
                                                                                    monkeypatch):
    whole = figures(awkward_day, store, loan_model, 1_000_000, monkeypatch)
    batched = figures(awkward_day, store, loan_model, 64, monkeypatch)

    assert whole["contract"]["reasons"] == {"duplicate_id": 5, "score_out_of_range": 1}
    assert batched["contract"] == whole["contract"]
    pd.testing.assert_frame_equal(batched["quarantine"], whole["quarantine"])
    assert batched["quarantine"]["_source_row"].tolist() == [5, 10, 11, 12, 20, 650]  # the later copy of each id
    pd.testing.assert_frame_equal(batched["valid"], whole["valid"])
    for section in ("rows", "data_drift", "prediction_drift"):
        assert batched["summary"][section] == whole["summary"][section], section
    assert batched["summary"]["operations"] == whole["summary"]["operations"]
    quality = batched["summary"]["data_quality"]["columns"]
    for column, expected in whole["summary"]["data_quality"]["columns"].items():
        for name, value in expected.items():
            got = quality[column][name]
            assert got == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), (column, name)
    assert quality["home_ownership"]["new_categories"] == ["HOUSEBOAT"]


def fitted(reference: pd.DataFrame, model) -> ReferenceProfile:
    return ReferenceProfile.fit(contract.prepare_reference(reference, model, "reference"), model.name,
                                model.fit_settings, "v1", "0" * 16)


def test_the_state_of_a_day_fed_in_batches_is_the_state_of_the_day_whole(trained, loan_model):
    _, reference = trained
    frame = contract.validate(day_log(trained, DAY, rows=3000), loan_model, DAY).valid
    reference = fitted(reference, loan_model)
    whole = DayState(loan_model.fit_settings, reference).add(frame)
    batched = DayState(loan_model.fit_settings, reference)
    for start in range(0, len(frame), 250):
        batched.add(frame.iloc[start:start + 250])
    assert batched.quality().keys() == whole.quality().keys()
    for column, figures in whole.quality().items():
        mine, theirs = batched.quality()[column].model_dump(), figures.model_dump()
        assert mine["distribution"] == theirs["distribution"] and mine["new_categories"] == theirs["new_categories"]
        for name in ("missing_share", "mean", "std", "min", "max", "out_of_range_share", "new_category_share"):
            assert mine[name] == (theirs[name] if theirs[name] is None else pytest.approx(theirs[name], rel=1e-12)), \
                (column, name)
    mine, theirs = batched.operations(frame).model_dump(), whole.operations(frame).model_dump()
    assert mine.keys() == theirs.keys()
    for name, value in theirs.items():
        assert mine[name] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), name
    # The same figures as pandas computes on the whole column.
    income = frame["annual_income"]
    assert whole.quality()["annual_income"].std == pytest.approx(income.std(), rel=1e-12)
    assert whole.quality()["annual_income"].mean == pytest.approx(income.mean(), rel=1e-12)


def test_the_sample_of_a_day_fed_in_batches_is_the_sample_of_the_day_whole(trained):
    frame = day_log(trained, DAY, rows=10_000).reset_index(drop=True)
    expected = hash_sample(frame, "prediction_id", 1_000).reset_index(drop=True)
    sample = HashSample("prediction_id", 1_000)
    for start in range(0, len(frame), 333):
        sample.add(frame.iloc[start:start + 333])
    pd.testing.assert_frame_equal(sample.rows(), expected)
    shuffled = HashSample("prediction_id", 1_000)  # the files of a day listed in another order: the same rows
    for start in reversed(range(0, len(frame), 333)):
        shuffled.add(frame.iloc[start:start + 333])
    assert set(shuffled.rows()["prediction_id"]) == set(expected["prediction_id"])
    # Ids that repeat (hashes tie): the earlier row is kept, as hash_sample keeps it, whatever the batches.
    repeated = frame.assign(prediction_id=frame["prediction_id"].iloc[np.arange(len(frame)) % 1_500].to_numpy())
    for size in (333, 1_000, 4_096):
        batched = HashSample("prediction_id", 1_000)
        for start in range(0, len(repeated), size):
            batched.add(repeated.iloc[start:start + size])
        pd.testing.assert_frame_equal(batched.rows(), hash_sample(repeated, "prediction_id", 1_000)
                                      .reset_index(drop=True))


def test_a_new_category_in_three_rows_outside_the_sample_is_still_counted(s3_client, store, loan_model, trained):
    seed_days(s3_client, trained, {})
    model = loan_model.model_copy(update={"reports": loan_model.reports.model_copy(update={"max_rows": 1_000})})
    frame = day_log(trained, DAY, rows=6_000)
    sampled = set(hash_sample(frame, "prediction_id", 1_000)["prediction_id"])
    outside = frame.index[~frame["prediction_id"].isin(sampled)][:3]
    frame.loc[outside, "home_ownership"] = "HOUSEBOAT"
    put_frame(s3_client, PREFIX + "part-0.parquet", frame)
    steps.validate_day(store, model, DAY, now=now())
    steps.report_day(store, model, DAY)
    summary = get_json(s3_client, "staging/loan_approval/dt=2026-10-05/summary.json")
    assert summary["rows"]["sampled_for_reports"] == 1_000
    column = summary["data_quality"]["columns"]["home_ownership"]
    assert column["new_categories"] == ["HOUSEBOAT"] and column["new_category_share"] == 0.0005



def test_psi_on_the_reference_bins_is_near_zero_for_a_stable_column_and_large_for_a_shifted_one(trained, loan_model):
    _, reference = trained
    reference = fitted(reference, loan_model)
    frame = contract.validate(day_log(trained, DAY, rows=20_000), loan_model, DAY).valid
    frame["credit_score"] += frame["credit_score"].std()  # one standard deviation
    frame["home_ownership"] = "RENT"  # a single category
    quality = DayState(loan_model.fit_settings, reference).add(frame).quality()
    assert quality["annual_income"].psi < 0.02
    assert quality["credit_score"].psi > 0.25 and quality["home_ownership"].psi > 0.25
    shares = quality["credit_score"].distribution
    expected = sum((max(c, 1e-4) - max(r, 1e-4)) * np.log(max(c, 1e-4) / max(r, 1e-4))
                   for r, c in zip(shares.reference, shares.current))
    assert quality["credit_score"].psi == pytest.approx(expected)
