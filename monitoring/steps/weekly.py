"""The weekly reports a run touches (monitoring.weekly): built by `publish` once a day on or after a week's Sunday is
published, and built again by `publish` and `performance` whenever a week's inputs changed (its days or the week
before republished, labels landing on its predictions)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from monitoring import reference_store, site, weekly, window_state
from monitoring.config import ModelConfig
from monitoring.layout import ModelLayout
from monitoring.records import Performance
from monitoring.reference import ReferenceProfile
from monitoring.storage import HTML, JSON, ObjectStore, canonical

log = logging.getLogger(__name__)

READERS = 8
WEEKS_ON_MODEL_PAGE = 12


def _performance(store: ObjectStore, layout: ModelLayout, day: dt.date) -> Performance | None:
    try:
        return Performance.model_validate_json(store.get_bytes(layout.on(day).performance))
    except FileNotFoundError:
        return None


def read_report(store: ObjectStore, layout: ModelLayout, week: str) -> weekly.WeekReport | None:
    try:
        return weekly.WeekReport.model_validate_json(store.get_bytes(layout.week_report(week)))
    except (FileNotFoundError, ValueError):  # none yet, or of an earlier schema: built again
        return None


def update_weeks(store: ObjectStore, model: ModelConfig, days: Iterable[dt.date], run_day: dt.date,
                 fitted: Callable[[str], ReferenceProfile] | None = None) -> list[str]:
    """Build the weekly reports of the weeks `days` (published or relabelled by the run of `run_day`) are inputs of,
    where their inputs changed: a week is built once `run_day` is on or after its Sunday, and built again while it
    exists. `fitted`: a reference version's profile (the caller's, when it has them loaded). Returns the weeks
    written."""
    layout = ModelLayout.of(model)
    fitted = fitted or (lambda version: reference_store.load_or_fit(store, model, layout, version))
    candidates = sorted({weekly.week_of(d + dt.timedelta(days=offset)) for d in days for offset in (-7, 0, 7)})
    written = []
    for week in candidates:
        stored = read_report(store, layout, week)
        if stored is None and not weekly.due(week, run_day):
            continue
        week_days = weekly.days_of(week)
        before = [d - dt.timedelta(days=7) for d in week_days]
        states = window_state.read_days(store, model, [*before, *week_days], labels=False)
        version = weekly.version_of(week, states)
        if version is None:
            continue
        labels = window_state.read_label_states(store, model, week_days)
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            found = dict(zip(week_days, pool.map(lambda d: _performance(store, layout, d), week_days)))
        performances = {d: p for d, p in found.items() if p is not None}
        reference = window_state.reference_state_of(store, model, version)
        if stored is not None and stored.inputs_sha256 == weekly.inputs(model, week, states, labels, performances,
                                                                        reference):
            continue
        report = weekly.build(model, week, states, labels, performances, reference, fitted, stored)
        if report is None:
            continue
        # the page first, week.json last: a run that dies between them leaves the week to be built again
        store.put_bytes(layout.week_page(week), site.render_week_page(report).encode(), HTML)
        store.put_bytes(layout.week_report(week), canonical(report), JSON)
        log.info("weekly report %s: %d day(s), drifted against the reference: %s; %s", week, len(report.published),
                 ", ".join(report.drifted) or "none", store.url(layout.week_page(week)))
        written.append(week)
    return written


def recent_weeks(store: ObjectStore, model: ModelConfig, limit: int = WEEKS_ON_MODEL_PAGE) -> list[weekly.WeekReport]:
    """The model's latest weekly reports, oldest first."""
    layout = ModelLayout.of(model)
    weeks = sorted({o.key.removeprefix(layout.weeks_prefix).split("/", 1)[0] for o in store.list(layout.weeks_prefix)
                    if o.key.endswith("/week.json")})[-limit:]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        found = list(pool.map(lambda w: read_report(store, layout, w), weeks))
    return [r for r in found if r is not None]
