"""A model's weekly report (`reports/<model>/week=YYYY-Www/`: week.json and its page): an ISO week's published days
merged from their states (monitoring.window_state) and compared with the reference and with the week before
(monitoring.windows, each comparison one family), and the week's labelled predictions: their metrics as far as the
labels have landed, judged together once every day's labels are complete (monitoring.judging.window_performance).

Built once a day on or after the week's Sunday is published, and built again whenever one of its inputs changes (a
day of it or of the week before republished, labels landing on its predictions): `inputs_sha256` names them, so a
run that changes none rewrites nothing. Days monitored against an earlier reference version than the week's last
day (a promotion inside the week) are left out of the comparisons and named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from monitoring import judging, windows
from monitoring.config import ModelConfig
from monitoring.records import Performance, WindowPerformance
from monitoring.reference import ReferenceProfile
from monitoring.vocabulary import Record
from monitoring.window_state import LabelState, WindowState, merge
from monitoring.windows import WindowComparison

SCHEMA_VERSION = 1


class WeekReport(Record):
    schema_version: int = SCHEMA_VERSION
    model: str
    week: str  # ISO week, 2026-W48
    days: list[str]  # its seven days, Monday first
    published: list[str]  # those with a state, compared
    left_out: dict[str, str] = {}  # day -> why it is not compared (another reference version)
    reference_version: str
    inputs_sha256: str
    states_sha256: str = ""  # the part of the inputs its drift comparisons are made from (labels landing keep them)
    rows: int
    reference: WindowComparison  # against the reference version its days were monitored with
    previous: WindowComparison | None = None  # against the week before (its days of the same version)
    predictions: int = 0  # of the compared days, with their label join's counts
    labelled: int = 0
    metrics: dict[str, float | None] = {}  # of the labelled predictions so far (the metrics counts give)
    performance: WindowPerformance | None = None  # judged once every day's labels are complete

    @property
    def drifted(self) -> list[str]:
        return self.reference.drifted


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def days_of(week: str) -> list[dt.date]:
    year, number = week.split("-W")
    return [dt.date.fromisocalendar(int(year), int(number), weekday) for weekday in range(1, 8)]


def due(week: str, published: dt.date) -> bool:
    """Whether a published day on `published` builds the week: on or after its Sunday."""
    return published >= days_of(week)[-1]


def _identity(state: WindowState | LabelState | Performance | None) -> object:
    if state is None:
        return None
    if isinstance(state, WindowState):
        return [state.schema_version, state.source_sha256, state.reference_versions, state.edges_from, state.rows]
    if isinstance(state, Performance):
        return [state.complete, state.reference_version, state.label_digest]
    return state.model_dump(mode="json")


def _digest(document: dict) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def states_inputs(model: ModelConfig, week: str, states: dict[dt.date, WindowState], reference: WindowState) -> str:
    """The digest of what the week's drift comparisons are made from: its days' and the week before's states, the
    reference's, the settings."""
    days = days_of(week)
    before = [d - dt.timedelta(days=7) for d in days]
    return _digest({"schema": SCHEMA_VERSION, "week": week,
                    "states": {d.isoformat(): _identity(states.get(d)) for d in [*before, *days]},
                    "reference": _identity(reference),
                    "settings": [model.windows.model_dump(mode="json"), model.drift.band_sigma, model.drift.fdr]})


def inputs(model: ModelConfig, week: str, states: dict[dt.date, WindowState], labels: dict[dt.date, LabelState],
           performances: dict[dt.date, Performance], reference: WindowState) -> str:
    """The digest of everything the week's report is made from: the states' part and its days' labels."""
    days = days_of(week)
    return _digest({"states": states_inputs(model, week, states, reference),
                    "labels": {d.isoformat(): _identity(labels.get(d)) for d in days},
                    "performances": {d.isoformat(): _identity(performances.get(d)) for d in days},
                    "judging": model.metric_judging.model_dump(mode="json")})


def version_of(week: str, states: dict[dt.date, WindowState]) -> str | None:
    """The reference version the week's last published day was monitored with (None: no day of it has a state)."""
    found = [states[d] for d in days_of(week) if d in states]
    return found[-1].reference_versions[-1] if found else None


def build(model: ModelConfig, week: str, states: dict[dt.date, WindowState], labels: dict[dt.date, LabelState],
          performances: dict[dt.date, Performance], reference: WindowState,
          fitted: Callable[[str], ReferenceProfile], stored: WeekReport | None = None) -> WeekReport | None:
    """The week's report from the states of its days and of the week before (`states`), its days' label counts and
    performances, and the reference's state of the week's version (`fitted`: that version's profile, loaded only
    when the labels are complete); None when no day of the week has a state. The `stored` report's comparisons are
    kept when the states they were made from are the same (labels landed)."""
    version = version_of(week, states)
    if version is None:
        return None
    days = days_of(week)
    ours = {d: states[d] for d in days if d in states and states[d].reference_versions == [version]}
    left_out = {d.isoformat(): f"monitored against {', '.join(states[d].reference_versions)}"
                for d in days if d in states and d not in ours}
    current = merge(ours.values())
    drift_inputs = states_inputs(model, week, states, reference)
    if stored is not None and stored.states_sha256 == drift_inputs:
        against_reference, previous = stored.reference, stored.previous
    else:
        k, fdr, settings = model.drift.band_sigma, model.drift.fdr, model.windows
        options = {"k": k, "fdr": fdr, "min_mean_shift": settings.min_mean_shift,
                   "min_distance": settings.min_distance}
        against_reference = windows.compare(current, reference, f"reference ({version})", **options)
        before = [states[d - dt.timedelta(days=7)] for d in days if d - dt.timedelta(days=7) in states
                  and states[d - dt.timedelta(days=7)].reference_versions == [version]
                  and states[d - dt.timedelta(days=7)].edges_from == current.edges_from]
        previous = (windows.compare(current, merge(before),
                                    f"previous week ({week_of(days[0] - dt.timedelta(days=7))})", **options)
                    if before else None)
    counted = [labels[d] for d in ours if d in labels]
    merged = merge(counted) if counted else None
    judged = None
    if all(d in performances and performances[d].complete for d in ours) and len(counted) == len(ours):
        judged = judging.window_performance(list(ours), labels, performances, model.metric_judging, fitted(version),
                                            model.performance.min_coverage,
                                            model.segments if model.segments.enabled else None)
    return WeekReport(
        model=model.name, week=week, days=[d.isoformat() for d in days], published=[d.isoformat() for d in ours],
        left_out=left_out, reference_version=version,
        inputs_sha256=inputs(model, week, states, labels, performances, reference), states_sha256=drift_inputs,
        rows=current.rows,
        reference=against_reference, previous=previous,
        predictions=merged.predictions if merged else 0, labelled=merged.labelled if merged else 0,
        metrics=merged.metrics() if merged else {}, performance=judged)
