"""Retraining closes the loop: on drifted days a candidate trained on the recent labelled window beats the current
model on a held-out slice, is promoted with its reference baseline, and the monitoring of a later day (scored by the
new model) against that baseline is healthy; on clean days nothing is promoted; a rerun changes nothing.

Labels come from the demo's true process (demo/loan_data.labels, demo/rate_data.labels), not from the model."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import pickle
import subprocess
import sys

import boto3
import pandas as pd
import pytest

from demo import loan_data, offer_data, rate_data
from demo.seed import DayLog, seed_label_files, seed_model_day, seed_reference, write_log
from monitoring import candidate, metrics, reference_store, retraining, steps
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.storage import ObjectStore
from tests.conftest import BUCKET, ROOT
from tests.helpers import get_json, land_labels, now, read

START = dt.date(2026, 10, 1)  # demo day 1
MODEL = "loan_approval"


def demo_day(number: int) -> dt.date:
    return START + dt.timedelta(days=number - 1)


def window(first: int, last: int) -> dict[str, str]:
    return {"first": demo_day(first).isoformat(), "last": demo_day(last).isoformat()}


def seed_days(client, store: ObjectStore, config: ModelConfig, model, numbers: list[int], drift=None) -> list[DayLog]:
    """The demo's logs of these days, validated (staged) as the monitoring DAG does, and every one of their labels."""
    logs = []
    for number in numbers:
        frame = seed_model_day(client, BUCKET, config.name, model, demo_day(number), number, drift=drift)
        logs.append(DayLog(demo_day(number), number, frame))
        steps.validate_day(store, config, demo_day(number), now=now())
    seed_label_files(client, BUCKET, config.name, logs, drift=drift)
    return logs


def reference_ids(client, version: str, model: str = MODEL) -> list[str]:
    """The prediction ids of a retrained version's reference, in its order."""
    frame = pd.read_parquet(io.BytesIO(read(client, f"reference/{model}/v={version}/reference.parquet")))
    return frame["prediction_id"].tolist()


def version_keys(client, model: str = MODEL) -> list[str]:
    keys = []
    for prefix in (f"reference/{model}/v=", f"models/{model}/v="):
        keys += [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return sorted(keys)


def with_lag(model: ModelConfig, lag_days: int) -> ModelConfig:
    settings = model.model_dump(mode="json")
    settings["labels"] = {**settings["labels"], "lag_days": lag_days}
    return ModelConfig.model_validate(settings)


@pytest.fixture
def drifted(s3_client, store, trained, loan_model):
    """The approval model and its reference, and drifted days 12-15 with their labels."""
    model, reference = trained
    seed_reference(s3_client, BUCKET, model, reference)
    seed_days(s3_client, store, loan_model, model, [12, 13, 14, 15])
    return s3_client


def test_on_drifted_days_a_better_model_is_promoted_and_the_next_monitoring_run_is_healthy(
        drifted, store, loan_model):
    outcome = retraining.run_retraining(store, loan_model, demo_day(20), window(12, 15))

    assert outcome.promoted and outcome.metric == "f1" and not outcome.lower_is_better
    assert outcome.current_version == "v1" and outcome.candidate_version == "r20261020"
    assert outcome.days == [demo_day(n).isoformat() for n in (12, 13, 14, 15)]
    assert outcome.candidate_value > outcome.current_value + 0.05  # F1 about 0.82 against 0.74
    assert outcome.candidate["roc_auc"] > outcome.current["roc_auc"]
    assert outcome.why.startswith("promoted r20261020: the candidate's f1") and "v1" not in outcome.why[:20]
    assert 0.2 < outcome.rows.holdout / outcome.rows.labelled < 0.3
    assert outcome.rows.train + outcome.rows.holdout == outcome.rows.labelled
    layout = DayLayout.of(loan_model, demo_day(20))
    assert retraining.RetrainingOutcome.model_validate(get_json(drifted, layout.retraining_result)) == outcome

    # The new version: its model, its reference (the whole labelled window, scored out of fold: the held-out slice
    # by the candidate itself), then the pointer.
    assert get_json(drifted, layout.reference_pointer) == {"version": "r20261020"}
    new_model = pickle.loads(read(drifted, layout.model_artifact("r20261020")))
    version = reference_store.current_version(store, layout)
    reference = reference_store.read_frame(store, loan_model, layout, version)
    assert version == "r20261020" and len(reference) == outcome.rows.labelled == outcome.reference_rows
    assert reference["repaid"].isin([0, 1]).all() and reference["loan_purpose"].eq("crypto_investment").mean() > 0.2
    _, held = candidate.split(reference.assign(prediction_id=reference_ids(drifted, "r20261020")), "prediction_id")
    held_figures, all_figures = (metrics.reference_figures(f, loan_model.scoring, "repaid") for f in (held, reference))
    assert held_figures.metrics == pytest.approx(outcome.candidate, abs=1e-6)
    assert all_figures.metrics["f1"] == pytest.approx(outcome.candidate["f1"], abs=0.03)  # out of fold
    assert "reference/loan_approval/v=v1/reference.parquet" in version_keys(drifted)  # never overwritten
    fitted = [o.key.rsplit("/", 1)[-1] for o in store.list("reference/loan_approval/_profiles/v=r20261020/")]
    assert fitted == ["profile.json", "sample.parquet"]  # fitted by the promotion, before the pointer moved

    # A later drifted day, logged by the serving stack with the new model, monitored against the new baseline;
    # its labels land the next day and its performance is judged then (labels.lag_days 1 here).
    monitored = with_lag(loan_model, 1)
    logs = {n: loan_data.prediction_log(new_model, demo_day(n), n, loan_data.day_rows(n)) for n in (21, 22)}
    for number, log in logs.items():
        day = demo_day(number)
        write_log(drifted, BUCKET, MODEL, day, log)
        if number == 22:
            labels = loan_data.labels(logs[21], demo_day(21), 21)
            land_labels(drifted, MODEL, day, labels.drop(columns="label_day"))
        decision = steps.run_day(store, monitored, day, now=now())
        summary = get_json(drifted, DayLayout.of(loan_model, day).summary)
        assert summary["reference_version"] == "r20261020"
        assert summary["data_drift"]["drifted_features"] == [] and not summary["prediction_drift"]["drifted"]
        assert decision.branches == ["healthy"], decision.why
    judged = get_json(drifted, DayLayout.of(loan_model, demo_day(22)).labels_report)["due"]
    assert judged["day"] == demo_day(21).isoformat() and judged["status"] == "judged" and judged["degraded"] == []
    assert judged["reference_version"] == judged["current_version"] == "r20261020"  # its own version's baseline
    assert judged["metrics"]["f1"] == pytest.approx(outcome.candidate_value, abs=0.04)


def test_on_clean_days_the_candidate_is_not_better_and_nothing_is_promoted(s3_client, store, trained, loan_model):
    model, reference = trained
    seed_reference(s3_client, BUCKET, model, reference)
    seed_days(s3_client, store, loan_model, model, [2, 3, 4, 5])
    before = version_keys(s3_client)

    outcome = retraining.run_retraining(store, loan_model, demo_day(10), window(2, 5))

    assert not outcome.promoted and outcome.candidate_version == "r20261010" and outcome.reference_rows == 0
    assert outcome.why.startswith("kept the current model v1: the candidate's f1")
    assert "is not better than the current model's" in outcome.why and "by 1%" in outcome.why
    assert abs(outcome.candidate_value - outcome.current_value) < 0.01  # the same process, the same model
    assert set(outcome.current) == set(outcome.candidate) == set(loan_model.metric_names)
    layout = DayLayout.of(loan_model, demo_day(10))
    assert get_json(s3_client, layout.reference_pointer) == {"version": "v1"}
    assert version_keys(s3_client) == before  # no candidate version written
    assert get_json(s3_client, layout.retraining_result)["promoted"] is False


def test_a_rerun_gives_the_same_outcome_and_creates_no_second_version(drifted, store, loan_model):
    layout = DayLayout.of(loan_model, demo_day(20))
    first = retraining.run_retraining(store, loan_model, demo_day(20), window(12, 15))
    recorded, versions = read(drifted, layout.retraining_result), version_keys(drifted)
    assert [k for k in versions if "r20261020" in k] == ["models/loan_approval/v=r20261020/model.pkl",
                                                         "reference/loan_approval/v=r20261020/reference.parquet"]

    again = retraining.run_retraining(store, loan_model, demo_day(20), window(12, 15))
    assert again == first and read(drifted, layout.retraining_result) == recorded
    assert version_keys(drifted) == versions
    assert get_json(drifted, layout.reference_pointer) == {"version": "r20261020"}

    # A run stopped after recording its outcome but before moving the pointer: the rerun finishes the move.
    drifted.put_object(Bucket=BUCKET, Key=layout.reference_pointer, Body=json.dumps({"version": "v1"}).encode())
    assert retraining.run_retraining(store, loan_model, demo_day(20), window(12, 15)) == first
    assert get_json(drifted, layout.reference_pointer) == {"version": "r20261020"}

    # The same request on another window is refused, saying how to redo it.
    with pytest.raises(candidate.RetrainingError, match=r"already carried out on window 2026-10-12\.\.2026-10-15.*"
                                                       r"delete that outcome"):
        retraining.run_retraining(store, loan_model, demo_day(20), window(13, 15))


def test_the_rate_model_retrained_after_the_rate_hike_is_promoted_on_mae(s3_client, store, config):
    rate = config.model(rate_data.NAME)
    model, reference = rate_data.train_model()
    seed_reference(s3_client, BUCKET, model, reference, name=rate_data.NAME)
    hike = rate_data.RateDrift(campaign_day=99, hike_day=1)
    seed_days(s3_client, store, rate, model, [1, 2, 3, 4, 5], drift=hike)

    outcome = retraining.run_retraining(store, rate, demo_day(8), window(1, 5))

    assert outcome.promoted and outcome.metric == "mae" and outcome.lower_is_better
    assert outcome.current_value > 1.4 and outcome.candidate_value < 1.0  # the hike is learned
    version = reference_store.current_version(store, DayLayout.of(rate, demo_day(8)))
    new_reference = reference_store.read_frame(store, rate, DayLayout.of(rate, demo_day(8)), version)
    assert version == "r20261008" and "final_rate" in new_reference
    assert (new_reference["final_rate"] - new_reference["predicted_rate"]).mean() == pytest.approx(0, abs=0.1)


@pytest.fixture(scope="module")
def offer_trained():
    return offer_data.train_model()


def seed_offer_days(client, store: ObjectStore, offer: ModelConfig, trained, numbers: list[int]) -> None:
    """The multiclass offer model and its reference, and days where young workers take the student loan."""
    model, reference = trained
    seed_reference(client, BUCKET, model, reference, name=offer_data.NAME)
    seed_days(client, store, offer, model, numbers, drift=offer_data.OfferDrift(launch_day=99, student_day=1))


def test_the_multiclass_model_retrained_after_the_student_change_is_promoted_on_macro_f1(s3_client, store, config,
                                                                                          offer_trained):
    offer = config.model(offer_data.NAME)
    seed_offer_days(s3_client, store, offer, offer_trained, [1, 2, 3, 4, 5])

    outcome = retraining.run_retraining(store, offer, demo_day(8), window(1, 5))

    assert outcome.promoted and outcome.metric == "macro_f1" and not outcome.lower_is_better
    assert outcome.candidate_value > outcome.current_value * 1.02
    assert set(outcome.candidate) >= {"accuracy", "macro_f1", "weighted_f1", "roc_auc", "log_loss"}
    version = reference_store.current_version(store, DayLayout.of(offer, demo_day(8)))
    new_reference = reference_store.read_frame(store, offer, DayLayout.of(offer, demo_day(8)), version)
    scores = new_reference[list(offer.columns.score_columns)].sum(axis=1)
    assert (scores - 1).abs().max() < 1e-6 and set(new_reference["offered_product"]) <= set(offer.columns.classes)
    assert set(new_reference["taken_product"]) == set(offer.columns.classes)


def test_too_few_labels_keep_the_current_model_and_say_why(s3_client, store, trained, loan_model):
    model, reference = trained
    seed_reference(s3_client, BUCKET, model, reference)
    frame = seed_model_day(s3_client, BUCKET, MODEL, model, demo_day(12), 12)
    steps.validate_day(store, loan_model, demo_day(12), now=now())
    labels = loan_data.labels(frame, demo_day(12), 12).head(300)
    land_labels(s3_client, MODEL, demo_day(13), labels.drop(columns="label_day"))

    outcome = retraining.run_retraining(store, loan_model, demo_day(17), window(12, 12))

    assert not outcome.promoted and outcome.candidate_version is None and outcome.rows.labelled == 300
    assert outcome.why.startswith("kept the current model v1: too few labelled predictions")
    assert "widen the window or wait for labels" in outcome.why
    assert get_json(s3_client, DayLayout.of(loan_model, demo_day(12)).reference_pointer) == {"version": "v1"}


def test_the_default_window_is_the_last_label_window_of_days_whose_labels_are_complete(loan_model):
    found = retraining.default_window(loan_model, "2026-10-20")  # labels.lag_days 5, window 10
    assert (found.first, found.last, found.labels_as_of) == ("2026-10-06", "2026-10-15", "2026-10-20")
    assert retraining.resolve_window(loan_model, "2026-10-20", None) == found
    assert retraining.resolve_window(loan_model, "2026-10-20", {"first": "2026-10-12", "last": "2026-10-20"}).last \
        == "2026-10-20"
    with pytest.raises(candidate.RetrainingError, match="first <= last <= 2026-10-20"):
        retraining.resolve_window(loan_model, "2026-10-20", {"first": "2026-10-12", "last": "2026-10-21"})
    with pytest.raises(candidate.RetrainingError, match='must be {"first"'):
        retraining.resolve_window(loan_model, "2026-10-20", {"from": "2026-10-12"})


def test_a_window_without_processed_days_keeps_the_model_naming_the_staging_key(s3_client, store, trained,
                                                                                 loan_model):
    model, reference = trained
    seed_reference(s3_client, BUCKET, model, reference)
    outcome = retraining.run_retraining(store, loan_model, "2026-10-20")
    assert not outcome.promoted and outcome.days == [] and outcome.rows.labelled == 0
    assert outcome.why.startswith("kept the current model v1: no prediction day of 2026-10-06..2026-10-15")
    assert "s3://ml-monitoring/staging/loan_approval/dt=2026-10-06/valid.parquet" in outcome.why
    assert "Run the monitoring DAG for those days" in outcome.why


# --- the retraining DAG, end to end with Airflow against moto's S3 server ---------------------------------------
@pytest.fixture(scope="module")
def airflow_db():
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def server_bucket(s3_server):
    """The bucket on moto's S3 server, reached by the DAGs through the `monitoring_s3` connection."""
    os.environ["AIRFLOW_CONN_MONITORING_S3"] = json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}})
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    yield client
    os.environ.pop("AIRFLOW_CONN_MONITORING_S3", None)


def promoted_by_the_dag(dag_id: str, conf: dict) -> None:
    """Run the retraining DAG `dag_id` with `conf` (dag.test), which must succeed by promoting its candidate."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    run = bag.dags[dag_id].test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    assert states["promote"] == "success" and states["keep"] == "skipped"


@pytest.mark.e2e
def test_the_retraining_dag_promotes_the_candidate_and_a_rerun_changes_nothing(server_bucket, airflow_db, trained,
                                                                              loan_model):
    client = server_bucket
    model, reference = trained
    seed_reference(client, BUCKET, model, reference)
    seed_days(client, ObjectStore(client, BUCKET), loan_model, model, [12, 13, 14, 15])
    conf = {"model": MODEL, "day": demo_day(20).isoformat(), "reasons": ["dataset drift"], "evidence": {},
            "window": window(12, 15)}

    for attempt in range(2):
        promoted_by_the_dag("retrain_loan_approval", conf)
        layout = DayLayout.of(loan_model, demo_day(20))
        assert get_json(client, layout.reference_pointer) == {"version": "r20261020"}
        outcome = get_json(client, layout.retraining_result)
        assert outcome["promoted"] and outcome["current_version"] == "v1"
        assert get_json(client, layout.retraining_request)["request"] == conf
        assert len([k for k in version_keys(client) if "r20261020" in k]) == 2
    new_reference = pd.read_parquet(io.BytesIO(read(client, "reference/loan_approval/v=r20261020/"
                                                            "reference.parquet")))
    assert "repaid" in new_reference and len(new_reference) == outcome["rows"]["labelled"]  # the whole window


@pytest.mark.e2e
def test_the_retraining_dag_of_a_multiclass_model_promotes_its_candidate(server_bucket, airflow_db, config,
                                                                        offer_trained):
    client = server_bucket
    offer = config.model(offer_data.NAME)
    seed_offer_days(client, ObjectStore(client, BUCKET), offer, offer_trained, [1, 2, 3, 4, 5])
    conf = {"model": offer.name, "day": demo_day(8).isoformat(), "reasons": ["class recall"], "evidence": {},
            "window": window(1, 5)}
    promoted_by_the_dag("retrain_loan_offer", conf)
    layout = DayLayout.of(offer, demo_day(8))
    assert get_json(client, layout.reference_pointer) == {"version": "r20261008"}
    outcome = get_json(client, layout.retraining_result)
    assert outcome["promoted"] and outcome["metric"] == "macro_f1"

