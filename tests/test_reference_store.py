"""The reference of a model version, fitted once (monitoring/reference.py, monitoring/reference_store.py): what every
daily step compares with is derived from the raw reference one time, persisted beside the version, reused by every
run and refitted when the reference or a setting the fit depends on changes."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring import contract, metrics, reference_store, steps
from monitoring.layout import ModelLayout
from tests.conftest import BUCKET
from tests.helpers import day_log, now, put_frame, seed_days

DAY = dt.date(2026, 10, 5)


def profiles(client) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix="reference/loan_approval/_profiles/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def run(store, model, trained, client, day):
    put_frame(client, f"predictions/loan_approval/dt={day}/part-0.parquet", day_log(trained, day, rows=400))
    steps.validate_day(store, model, day, now=now())
    return steps.report_day(store, model, day)


def test_the_profile_is_fitted_on_first_use_and_every_later_run_reads_it_not_the_raw_reference(
        s3_client, store, loan_model, trained, monkeypatch):
    seed_days(s3_client, trained, {})
    run(store, loan_model, trained, s3_client, DAY)
    fitted = profiles(s3_client)
    assert [k.rsplit("/", 1)[-1] for k in fitted] == ["profile.json", "sample.parquet"]
    assert fitted[0].startswith("reference/loan_approval/_profiles/v=v1/")

    raw_reads = []
    for name in ("get_bytes", "download"):
        real = getattr(store, name)

        def spy(key, _real=real):
            if key.startswith("reference/loan_approval/v="):
                raw_reads.append(key)
            return _real(key)

        monkeypatch.setattr(store, name, spy)
    run(store, loan_model, trained, s3_client, DAY + dt.timedelta(days=1))
    assert raw_reads == [] and profiles(s3_client) == fitted


def test_the_profile_holds_what_the_raw_reference_gives(store, s3_client, loan_model, trained):
    seed_days(s3_client, trained, {})
    fitted = reference_store.load_or_fit(store, loan_model, ModelLayout.of(loan_model))
    frame = contract.prepare_reference(trained[1], loan_model, "reference")
    income = frame["annual_income"].to_numpy()
    baseline = fitted.numerical["annual_income"]
    assert baseline.edges == pytest.approx(np.quantile(income, np.linspace(0, 1, 11))[1:-1].tolist())
    assert sum(baseline.shares) == pytest.approx(1.0) and baseline.count == len(frame) == fitted.rows
    assert (baseline.mean, baseline.min, baseline.max) == (income.mean(), income.min(), income.max())
    assert fitted.categorical["state"].counts == frame["state"].value_counts().to_dict()
    assert fitted.categorical["approved"].counts == {"1": int(frame["approved"].sum()),
                                                      "0": int((1 - frame["approved"]).sum())}
    assert fitted.operations.positive_rate == frame["approved"].mean()
    assert fitted.performance == metrics.reference_figures(frame, loan_model.scoring, loan_model.labels.column).metrics
    assert len(frame) <= loan_model.reports.max_rows  # Evidently gets all of it, typed as fitted
    pd.testing.assert_frame_equal(reference_store.evidently_sample(store, ModelLayout.of(loan_model), fitted), frame)


def test_a_changed_reference_or_fitted_setting_refits_and_any_other_setting_reuses(store, s3_client, loan_model,
                                                                                  trained):
    seed_days(s3_client, trained, {})
    layout = ModelLayout.of(loan_model)
    first = reference_store.load_or_fit(store, loan_model, layout)
    alerts = loan_model.model_copy(update={"alerts": loan_model.alerts.model_copy(update={"cooldown_days": 9})})
    assert reference_store.load_or_fit(store, alerts, layout).fingerprint == first.fingerprint  # not a setting the fit uses
    sampled = loan_model.model_copy(update={"reports": loan_model.reports.model_copy(update={"max_rows": 5_000})})
    refitted = reference_store.load_or_fit(store, sampled, layout)
    assert refitted.fingerprint != first.fingerprint and refitted.sample_rows == 5_000
    _, frame = trained
    put_frame(s3_client, "reference/loan_approval/v=v1/reference.parquet", frame.iloc[:8_000])  # re-uploaded
    smaller = reference_store.load_or_fit(store, loan_model, layout)
    assert smaller.fingerprint not in (first.fingerprint, refitted.fingerprint) and smaller.rows == 8_000
    assert len(profiles(s3_client)) == 6  # three fits, each a profile and its sample
