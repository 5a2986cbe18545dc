"""Retraining a model on its recent labelled predictions, and promoting the result only when it is better.

What the built-in retraining DAG (`dags/model_retraining.py`) runs for a request of day D:

1. `plan_retraining`: the **window** of prediction days to learn from (the request's `window`, else the last
   `labels.lookback_days`
   days whose labels are complete on D: D - lag - window + 1 .. D - lag) and which of them the monitoring DAG has
   processed (their validated rows are staged under `staging/<model>/dt=<day>/valid.parquet`).
2. `retrain_and_evaluate`: joins those rows to the labels known on D (never later: a rerun sees the same labels),
   splits them by a hash of the prediction id (a fixed, reproducible split) into a training part and a held-out
   slice (`holdout_share`), fits `sklearn.base.clone` of the current model (the artifact of the version named by
   `reference/<model>/CURRENT.json`) on the training part, and scores both models on the held-out slice. The
   candidate is promoted only when it beats the current model on the headline metric (`ModelConfig.headline_metric`:
   f1, mae, ...) by at least `min_gain` (relative). A promoted candidate is staged as version `r<YYYYMMDD>` of D:
   its pickled model under `models/<model>/v=<version>/model.pkl` and, as its reference baseline, the whole labelled
   window scored out of fold (the held-out slice by the candidate, each other fold by a copy fitted on the rest: no
   row scored by a model that learned it) with the label column under `reference/<model>/v=<version>/
   reference.parquet`. A reference of the whole window carries calibrated verdicts a quarter of it could not.
3. `promote` or `keep`: writes the outcome (`retraining/<model>/results/dt=<D>.json`); `promote` then fits the new
   version's reference profile (`monitoring.reference_store`) and moves `CURRENT.json` to it, last: monitoring never reads
   a half-written version.

A rerun of the same request returns the recorded outcome and creates no second version. Models are unpickled from
the model's own bucket: only the team's training code writes there.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import pickle
from typing import Any

import pandas as pd

from monitoring import ingest, labels, reference_store
from monitoring.candidate import (HOLDOUT_SHARE, MIN_GAIN, RetrainingError, compare, cross_fitted, new_reference,
                                  retrain, split, too_little)
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout, parse_day
from monitoring.storage import JSON, PARQUET, ObjectStore, canonical
from monitoring.vocabulary import LABEL, LOWER_IS_BETTER, Record

log = logging.getLogger(__name__)

REFERENCE_FILE = "reference.parquet"


class Window(Record):
    """Prediction days `first`..`last` (inclusive), with the labels that became known up to `labels_as_of`."""

    first: str
    last: str
    labels_as_of: str

    def days(self) -> list[dt.date]:
        first, last = parse_day(self.first), parse_day(self.last)
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]

    def describe(self) -> str:
        return f"{self.first}..{self.last} (labels known by {self.labels_as_of})"


class RetrainingPlan(Record):
    """The window of a request and the days of it the monitoring DAG has processed."""

    model: str
    day: str
    window: Window
    days: list[str]


class Rows(Record):
    labelled: int  # labelled predictions of the window
    train: int
    holdout: int


class Review(Record):
    """The human decision on a better candidate when `retraining.approval` is required."""

    approved: bool
    by: str | None  # who answered; None: nobody did within retraining.approval_timeout_hours
    reason: str = ""


class RetrainingOutcome(Record):
    """retraining/<model>/results/dt=<day>.json: what the retraining run of a request did, and why."""

    model: str
    day: str  # the request's day
    window: Window
    days: list[str]  # processed prediction days of the window
    rows: Rows
    current_version: str  # the version in use when the candidate was evaluated
    candidate_version: str | None  # None when no candidate could be trained
    metric: str  # the headline metric the decision compares
    lower_is_better: bool
    min_gain: float
    current: dict[str, float | None]  # the current model's metrics on the held-out slice
    candidate: dict[str, float | None]  # the candidate's
    current_value: float | None
    candidate_value: float | None
    promoted: bool
    why: str
    reference_rows: int  # rows of the candidate's reference version (0 when it is not promoted)
    review: Review | None = None  # retraining.approval: required: the approval's answer

    @property
    def version_in_use(self) -> str:
        return self.candidate_version if self.promoted and self.candidate_version else self.current_version


# --- the window ------------------------------------------------------------------------------------------------
def _labels_config(model: ModelConfig):
    if model.labels is None:
        raise RetrainingError(f"model {model.name!r} has no labels configured (labels.column, labels.lag_days): "
                              "retraining needs labelled predictions")
    return model.labels


def default_window(model: ModelConfig, day: Any) -> Window:
    """The last `labels.lookback_days` prediction days whose labels are complete on `day` (`labels.lag_days`
    ago)."""
    config = _labels_config(model)
    day = parse_day(day)
    last = day - dt.timedelta(days=config.lag_days)
    first = last - dt.timedelta(days=config.lookback - 1)
    return Window(first=first.isoformat(), last=last.isoformat(), labels_as_of=day.isoformat())


def resolve_window(model: ModelConfig, day: Any, requested: dict[str, Any] | None = None) -> Window:
    """The request's window {"first": ..., "last": ...} (labels known by `day`), else the default window."""
    if not requested:
        return default_window(model, day)
    _labels_config(model)
    unknown = sorted(set(requested) - {"first", "last"})
    if unknown or not {"first", "last"} <= set(requested):
        raise RetrainingError(f'the request\'s window must be {{"first": "YYYY-MM-DD", "last": "YYYY-MM-DD"}}, '
                              f"got {requested!r}")
    day = parse_day(day)
    first, last = parse_day(requested["first"]), parse_day(requested["last"])
    if not first <= last <= day:
        raise RetrainingError(f"window {first}..{last} of the request of {day} must satisfy first <= last <= {day} "
                              "(the labels known on the request's day are used)")
    return Window(first=first.isoformat(), last=last.isoformat(), labels_as_of=day.isoformat())


def plan_retraining(store: ObjectStore, model: ModelConfig, day: Any,
                    requested: dict[str, Any] | None = None) -> RetrainingPlan:
    """The window of the request and which of its days the monitoring DAG has processed (maybe none)."""
    window = resolve_window(model, day, requested)
    layout = DayLayout.of(model, day)
    days = [d.isoformat() for d in window.days() if store.exists(layout.on(d).staged_valid_rows)]
    return RetrainingPlan(model=model.name, day=layout.day.isoformat(), window=window, days=days)


def unprocessed(store: ObjectStore, model: ModelConfig, plan_: RetrainingPlan) -> str:
    """Why a window without processed days gives nothing to learn from, naming the keys that are missing."""
    layout = DayLayout.of(model, plan_.day)
    return (f"no prediction day of {plan_.window.describe()} has been processed: "
            f"{store.url(layout.on(plan_.window.first).staged_valid_rows)} and the other days' valid.parquet do not "
            "exist. Run the monitoring DAG for those days, or pass another window {\"first\", \"last\"} in the conf")


def labelled_window(store: ObjectStore, model: ModelConfig, window: Window,
                    days: list[str] | None = None) -> pd.DataFrame:
    """The validated predictions of the window's processed days (id, features) that have a label known by
    `window.labels_as_of`, with the label in column `label`; sorted by id."""
    config = _labels_config(model)
    cols = model.columns
    layout = DayLayout.of(model, window.labels_as_of)
    found = labels.read_window(store, model, layout, parse_day(window.first), parse_day(window.labels_as_of))
    frames = []
    for day in days if days is not None else [d.isoformat() for d in window.days()]:
        key = layout.on(day).staged_valid_rows
        if not store.exists(key):
            continue
        valid = ingest.read_columns(store, key, [cols.id, *cols.features], list(model.extra_segment_columns))
        frames.append(labels.join(valid, cols.id, found).drop(columns=[labels.LABEL_DAY]))
    log.info("%d label(s) of %s known by %s; %d labelled prediction(s) in %d processed day(s)", len(found.labels),
             config.column, window.labels_as_of, sum(map(len, frames)), len(frames))
    if not frames:
        return pd.DataFrame(columns=[cols.id, *cols.features, *model.extra_segment_columns, LABEL])
    return pd.concat(frames, ignore_index=True).sort_values(cols.id, kind="stable").reset_index(drop=True)


# --- versions and artifacts ------------------------------------------------------------------------------------
def candidate_version(day: Any) -> str:
    """The version a request of `day` promotes: r<YYYYMMDD> (one per request day)."""
    return f"r{parse_day(day):%Y%m%d}"


def load_model(store: ObjectStore, layout: DayLayout, version: str) -> Any:
    """The pickled scikit-learn model of `version` (models/<model>/v=<version>/model.pkl)."""
    key = layout.model_artifact(version)
    try:
        data = store.get_bytes(key)
    except FileNotFoundError:
        raise RetrainingError(f"no model artifact for version {version!r} of {layout.model!r}: {store.url(key)} does "
                              "not exist. Upload the pickled scikit-learn model that scored this version's reference "
                              "there.") from None
    try:
        return pickle.loads(data)  # noqa: S301 - the model's own bucket, written by its training code only
    except Exception as exc:  # unpickling raises whatever the pickled classes raise
        raise RetrainingError(f"cannot load {store.url(key)}: {type(exc).__name__}: {exc}. The task's environment "
                              "must import the modules (and scikit-learn version) the model was pickled with.") from exc


def stage(store: ObjectStore, layout: DayLayout, version: str, candidate: Any, reference: pd.DataFrame) -> list[str]:
    """Upload a candidate's model and reference version (not in use until CURRENT.json names it)."""
    buffer = io.BytesIO()
    reference.to_parquet(buffer, index=False)
    return [store.put_bytes(layout.model_artifact(version), pickle.dumps(candidate), "application/octet-stream"),
            store.put_bytes(layout.reference_file(version, REFERENCE_FILE), buffer.getvalue(), PARQUET)]


def stored_outcome(store: ObjectStore, layout: DayLayout) -> RetrainingOutcome | None:
    try:
        return RetrainingOutcome.model_validate_json(store.get_bytes(layout.retraining_result))
    except FileNotFoundError:
        return None


# --- the steps the DAG tasks call ------------------------------------------------------------------------------
def _kept(plan_: RetrainingPlan, model: ModelConfig, version: str, rows: Rows, why: str, min_gain: float) -> RetrainingOutcome:
    return RetrainingOutcome(
        model=model.name, day=plan_.day, window=plan_.window, days=plan_.days, rows=rows, current_version=version,
        candidate_version=None, metric=model.headline_metric, lower_is_better=model.headline_metric in LOWER_IS_BETTER,
        min_gain=min_gain, current={}, candidate={}, current_value=None, candidate_value=None, promoted=False,
        why=f"kept the current model {version}: {why}", reference_rows=0)


def _recorded(store: ObjectStore, layout: DayLayout, plan_: RetrainingPlan) -> RetrainingOutcome | None:
    """The outcome of a request already carried out (on the same window), else None."""
    done = stored_outcome(store, layout)
    if done is not None and done.window != plan_.window:
        raise RetrainingError(
            f"the request of {plan_.day} was already carried out on window {done.window.describe()} "
            f"({store.url(layout.retraining_result)}); delete that outcome to retrain on {plan_.window.describe()}")
    return done


def _base_version(store: ObjectStore, layout: DayLayout, plan_: RetrainingPlan) -> str:
    """The version in use, which the candidate must beat (never the candidate's own version)."""
    version = reference_store.current_version(store, layout)
    if version == candidate_version(plan_.day):
        raise RetrainingError(f"version {version} is already in use but its outcome "
                              f"{store.url(layout.retraining_result)} is missing; restore the outcome, or point "
                              "CURRENT.json back to the previous version to retrain again")
    return version


def _compared(store: ObjectStore, model: ModelConfig, layout: DayLayout, plan_: RetrainingPlan, version: str,
              frame: pd.DataFrame, min_gain: float, holdout_share: float) -> RetrainingOutcome:
    """Fit the candidate, compare it with `version` on the held-out slice, stage it when it is better."""
    current = load_model(store, layout, version)
    result = retrain(current, frame, model, holdout_share)
    metric, target = model.headline_metric, candidate_version(plan_.day)
    current_value, candidate_value = result.current_metrics.get(metric), result.candidate_metrics.get(metric)
    better, why = compare(metric, current_value, candidate_value, min_gain)
    reference_rows = 0
    if better:
        reference = new_reference(cross_fitted(result, current, model, holdout_share), model)
        for url in stage(store, layout, target, result.candidate, reference):
            log.info("staged %s", url)
        reference_rows = len(reference)
    return RetrainingOutcome(
        model=model.name, day=plan_.day, window=plan_.window, days=plan_.days,
        rows=Rows(labelled=len(frame), train=result.train_rows, holdout=len(result.holdout)),
        current_version=version, candidate_version=target, metric=metric, lower_is_better=metric in LOWER_IS_BETTER,
        min_gain=min_gain, current=result.current_metrics, candidate=result.candidate_metrics,
        current_value=current_value, candidate_value=candidate_value, promoted=better,
        why=(f"promoted {target}: " if better else f"kept the current model {version}: ") + why +
            f", on {len(result.holdout)} held-out labelled predictions of {plan_.window.first}..{plan_.window.last}",
        reference_rows=reference_rows)


def retrain_and_evaluate(store: ObjectStore, model: ModelConfig, plan_: RetrainingPlan, *, min_gain: float = MIN_GAIN,
                         holdout_share: float = HOLDOUT_SHARE) -> RetrainingOutcome:
    """Retrain on the plan's window and compare with the current model; stage the candidate when it is better.

    A request already carried out returns its recorded outcome (a rerun creates no second version)."""
    layout = DayLayout.of(model, plan_.day)
    done = _recorded(store, layout, plan_)
    if done is not None:
        log.info("the request of %s was already carried out: %s", plan_.day, done.why)
        return done
    version = _base_version(store, layout, plan_)
    frame = labelled_window(store, model, plan_.window, plan_.days) if plan_.days else pd.DataFrame()
    reason = too_little(frame, model, holdout_share) if plan_.days else unprocessed(store, model, plan_)
    if reason:
        train, holdout = split(frame, model.columns.id, holdout_share) if len(frame) else (frame, frame)
        outcome = _kept(plan_, model, version, Rows(labelled=len(frame), train=len(train), holdout=len(holdout)),
                        reason, min_gain)
    else:
        outcome = _compared(store, model, layout, plan_, version, frame, min_gain, holdout_share)
    log.info("%s", outcome.why)
    return outcome


def _check_staged(store: ObjectStore, layout: DayLayout, outcome: RetrainingOutcome) -> None:
    """A promoted candidate's model and reference are in place before anything points at them."""
    version = outcome.candidate_version
    for key in (layout.model_artifact(version), layout.reference_file(version, REFERENCE_FILE)):
        if not store.exists(key):
            raise RetrainingError(f"the promoted candidate {version} lacks {store.url(key)}; delete "
                                  f"{store.url(layout.retraining_result)} if it exists and rerun the retraining")


def _record(store: ObjectStore, layout: DayLayout, outcome: RetrainingOutcome) -> str:
    """Write the outcome; returns its URL."""
    return store.put_bytes(layout.retraining_result, canonical(outcome), JSON)


def keep(store: ObjectStore, model: ModelConfig, outcome: RetrainingOutcome) -> str:
    """The `keep` branch: record why the current model stays (both models' figures, or why there was no candidate).
    Returns the outcome's URL."""
    if outcome.promoted:
        raise RetrainingError(f"the outcome of {outcome.day} promotes {outcome.candidate_version}: it takes the "
                              "promote branch")
    return _record(store, DayLayout.of(model, outcome.day), outcome)


def promote(store: ObjectStore, model: ModelConfig, outcome: RetrainingOutcome) -> str:
    """The `promote` branch: record the outcome, fit the candidate version's reference profile, then move
    CURRENT.json to it, last (monitoring never reads a half-written version). A rerun of a recorded outcome only
    finishes a move that did not happen. Returns the outcome's URL."""
    if not outcome.promoted:
        raise RetrainingError(f"the outcome of {outcome.day} keeps {outcome.current_version}: it takes the keep branch")
    layout = DayLayout.of(model, outcome.day)
    _check_staged(store, layout, outcome)
    pointer = reference_store.current_version(store, layout)
    recorded = stored_outcome(store, layout) == outcome  # a rerun of this very outcome
    if pointer != outcome.current_version and not recorded:
        raise RetrainingError(f"CURRENT.json of {model.name!r} moved from {outcome.current_version} to {pointer} "
                              f"while the candidate {outcome.candidate_version} was compared with "
                              f"{outcome.current_version}; rerun the retraining to compare it with {pointer}")
    url = _record(store, layout, outcome)
    if pointer == outcome.current_version:
        reference_store.load_or_fit(store, model, layout, outcome.candidate_version)
        store.put_json(layout.reference_pointer, {"version": outcome.candidate_version})
        log.info("%s now uses version %s (%s)", model.name, outcome.candidate_version,
                 store.url(layout.reference_pointer))
    elif pointer != outcome.candidate_version:
        log.warning("the outcome of %s was recorded earlier and %s has moved on to version %s since: left as is",
                    outcome.day, model.name, pointer)
    return url


def record_outcome(store: ObjectStore, model: ModelConfig, outcome: RetrainingOutcome) -> str:
    """Promote or keep, as the outcome says (the CLI's and the tests' path through both branches)."""
    return (promote if outcome.promoted else keep)(store, model, outcome)


def review_request(outcome: RetrainingOutcome, evidence: dict[str, str]) -> tuple[str, str]:
    """The approval's subject and body (Markdown): the window, both models' figures on the held-out slice, why the
    candidate is better, and links to the evidence that asked for retraining."""
    subject = f"Promote {outcome.candidate_version} of {outcome.model}? ({outcome.metric} {outcome.current_value} -> " \
              f"{outcome.candidate_value})"
    metrics = sorted(set(outcome.current) | set(outcome.candidate))
    rows = "\n".join(f"| {m} | {outcome.current.get(m)} | {outcome.candidate.get(m)} |" for m in metrics)
    links = "\n".join(f"- [{name.replace('_', ' ')}]({url})" for name, url in sorted(evidence.items()))
    body = (f"Retraining requested on {outcome.day}; learned from {outcome.window.describe()} "
            f"({len(outcome.days)} processed days, {outcome.rows.labelled} labelled predictions: "
            f"{outcome.rows.train} to train, {outcome.rows.holdout} held out).\n\n"
            f"| metric (held-out slice) | current {outcome.current_version} | candidate {outcome.candidate_version} |\n"
            f"|---|---:|---:|\n{rows}\n\n{outcome.why}\n\n"
            "**Approve** promotes the candidate: the next monitoring runs compare against its reference. **Reject** "
            "keeps the current version; the reason you give is recorded with the outcome.\n\n"
            f"Evidence:\n{links or '- (none given)'}")
    return subject, body


def reviewed(outcome: RetrainingOutcome, review: Review) -> RetrainingOutcome:
    """The outcome after the approval: approved, it promotes as before; rejected (or unanswered), it keeps the
    current version, saying who rejected it and why."""
    if review.approved:
        return outcome.model_copy(update={"review": review})
    who = f"by {review.by}" if review.by else "by nobody within retraining.approval_timeout_hours"
    why = f"kept the current model {outcome.current_version}: the candidate {outcome.candidate_version} " \
          f"({outcome.metric} {outcome.candidate_value} against {outcome.current_value}) was not approved ({who})" \
          + (f": {review.reason}" if review.reason else "")
    return outcome.model_copy(update={"promoted": False, "review": review, "why": why, "reference_rows": 0})


def run_retraining(store: ObjectStore, model: ModelConfig, day: Any, window: dict[str, Any] | None = None, *,
                   min_gain: float = MIN_GAIN, holdout_share: float = HOLDOUT_SHARE) -> RetrainingOutcome:
    """The whole retraining of a request without Airflow: plan, retrain and evaluate, record (and promote)."""
    found = plan_retraining(store, model, day, window)
    outcome = retrain_and_evaluate(store, model, found, min_gain=min_gain, holdout_share=holdout_share)
    record_outcome(store, model, outcome)
    return outcome
