"""What the days before a published day add to its judgement: its trailing window (`windows.days`) against
`windows.baseline` (monitoring.windows) and each numerical column's slow-drift CUSUM (monitoring.gradual), judged
from the days' mergeable states as one family of their own (the day's gate and Benjamini-Hochberg, at the model's
`drift.band_sigma` and `drift.fdr`).

A day's trailing judgement is a function of its inputs alone, never of the order runs happened in: it is made only
once every day of its trailing window is published, and made again whenever one of its inputs changes (a day inside
its reach published later, by a backfill's parallel runs or a rerun with other data; see
`monitoring.steps.publish.judge_trailing`). `inputs_sha256` names the inputs it was made from: a rerun that changes
none of them changes nothing.

Its family is the model-day's second: a model that did not change alarms by chance on about `k`-sigma's tail of its
days from the day's family and as often from the trailing one (0.135% each at k = 3, 0.08 expected false alarms a
month together; `benchmarks/false_alarms.py --windows` measures the trailing family's alone). A column that a single
day of the window already showed drifted is that day's finding, not the window's (`shown_by_days`, used by
`monitoring.rules`): a window still holding the days of an episode does not keep it alive after the data returned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from monitoring import gradual, judging, verdicts, window_state, windows
from monitoring.config import ModelConfig, SegmentsConfig
from monitoring.gradual import Creep
from monitoring.records import WindowPerformance
from monitoring.reference import ReferenceProfile
from monitoring.verdicts import Judgement
from monitoring.vocabulary import Record
from monitoring.window_state import ConfusionState, LossState, WindowState, merge
from monitoring.windows import WindowComparison

SCHEMA_VERSION = 1
SEGMENT = "segment:"


def segment_statistic(key: str, name: str) -> str:
    """A segment's window statistic in the family: `segment:<key>|mean_shift:<column>`."""
    return f"{SEGMENT}{key}|{name}"


class TrailingJudgement(Record):
    """A published day's trailing window and slow drift, judged (`reports/<model>/dt=<day>/window.json`)."""

    schema_version: int = SCHEMA_VERSION
    model: str
    day: str
    inputs_sha256: str  # the states, reference and settings it was judged from
    window: WindowComparison | None = None  # None while its baseline has nothing to compare with
    gradual: list[Creep] = []
    verdicts: dict[str, Judgement] = {}  # the family: mean_shift:<c>, distance:<c>, gradual:<c>
    expected_false_alarms_per_month: float | None = None
    # the columns the family fired that single days of the window (or of a creep since its start) showed drifted
    # on their own: column -> those days
    shown_by_days: dict[str, list[str]] = {}
    # windows.baseline weekday: the day against the same weekday of the earlier weeks (its own family, once two are
    # published), and the columns the day showed drifted against the reference that those weekdays share: a weekly
    # rhythm, not a change (monitoring.rules does not alert on them)
    weekday: WindowComparison | None = None
    seasonal: list[str] = []
    # windows.baseline weekday: the prediction columns (score, decision) compared with the same weekday of the earlier
    # weeks and not drifted there: the day's rates that follow them (positive rate, low-confidence share) move with
    # the week's rhythm (monitoring.rules does not alert on their move from the reference)
    steady: list[str] = []
    # the window inside each configured segment against the baseline's same segment, judged in the same family
    # (statistics `segment:<key>|mean_shift:<column>`, ...): the segments where a column fired
    segments: dict[str, WindowComparison] = {}
    # the performance CBPE (a regressor's: DLE) expects of the window's predictions together (before their labels
    # land), judged at the window's rows against the reference's baseline, its own family as a day's estimate is
    estimate: WindowPerformance | None = None

    @property
    def fired(self) -> set[str]:
        """The columns any statistic of the whole window fired for (`<key>|<column>` inside a segment)."""
        found = {name.split(":", 1)[1] for name, j in self.verdicts.items() if j.fired}
        return found | {f"{key}|{column}" for key, c in self.segments.items() for column in c.drifted}


def judged(model: ModelConfig) -> bool:
    """Whether the model's daily runs judge trailing windows (calibrated verdicts and `windows.daily`)."""
    return model.windows.daily and model.drift.calibrated


def window_days(model: ModelConfig, day: dt.date) -> list[dt.date]:
    """The days of `day`'s trailing window, in order."""
    return windows.days_between(day - dt.timedelta(days=model.windows.days - 1), day)


def input_days(model: ModelConfig, day: dt.date) -> list[dt.date]:
    """Every day whose state can change `day`'s judgement: its CUSUM's lookback and its window's baseline."""
    found = set(windows.days_between(day - dt.timedelta(days=gradual.LOOKBACK - 1), day))
    found.update(windows.baseline_days(window_days(model, day), model.windows.baseline, model.windows.weekday_weeks))
    return sorted(found)


def reach(model: ModelConfig) -> int:
    """How many days after a day its state can still change a judgement."""
    day = dt.date(2000, 1, 1)
    return (day - input_days(model, day)[0]).days


def _identity(state: WindowState) -> list:
    """What makes a state what it is (the same identity `monitoring.steps.report` keeps a rerun's bytes by)."""
    return [state.schema_version, state.source_sha256, state.reference_versions, state.edges_from, state.rows]


def _history(model: ModelConfig, day: dt.date, states: dict[dt.date, WindowState]) -> list[WindowState] | None:
    """The states of the CUSUM's days monitored against the same reference version as `day`, in order, `day`'s last;
    None until every day of the trailing window is published. Days of an earlier version are left out: after a
    promotion the new reference is the population the model now serves."""
    today = states.get(day)
    if today is None:
        return None
    days = windows.days_between(day - dt.timedelta(days=gradual.LOOKBACK - 1), day)
    found = {d: s for d, s in states.items() if d in days and s.edges_from == today.edges_from
             and s.reference_versions == today.reference_versions}
    if any(d not in found for d in window_days(model, day)):
        return None
    return [found[d] for d in days if d in found]


def judge(model: ModelConfig, day: dt.date, states: dict[dt.date, WindowState],
          reference_of: Callable[[str], WindowState],
          drifted_on: Callable[[dt.date], set[str]],
          profile_of: Callable[[str], ReferenceProfile] | None = None,
          estimated_on: Callable[[dt.date], set[str]] | None = None) -> TrailingJudgement | None:
    """`day`'s trailing judgement from the published `states` (by day; those of `input_days` are used), the
    reference's state of a version (`reference_of`) and the columns a published day showed drifted on its own
    (`drifted_on`: `<column>`, or `<segment key>|<column>` inside a segment; asked about the days of what the family
    fired, and about the day itself with the weekday baseline); None while its trailing window is short of a
    published day. With the version's fitted profile (`profile_of`), the window's estimated performance too
    (`judging.window_estimate`; `estimated_on`: the metrics a published day's own estimate was judged worse on)."""
    history = _history(model, day, states)
    if history is None:
        return None
    settings, k, fdr = model.windows, model.drift.band_sigma, model.drift.fdr
    version = history[-1].reference_versions[-1]
    reference = reference_of(version)
    days = window_days(model, day)
    current = merge(history[-settings.days:])
    if settings.baseline == "reference":
        baseline, name = reference, f"reference ({version})"
    else:
        wanted = windows.baseline_days(days, settings.baseline, settings.weekday_weeks)
        kept = [states[d] for d in wanted if d in states and states[d].edges_from == current.edges_from]
        baseline = merge(kept) if kept else None
        name = f"{settings.baseline} ({wanted[0]}..{wanted[-1]})"
        if baseline is not None and settings.baseline == "weekday" and windows.weeks_covered(
                days, list(baseline.days)) < 2:
            baseline = None
    inputs = _inputs(model, day, states, reference)
    found = windows.judge(current, baseline, k=k, min_mean_shift=settings.min_mean_shift,
                          min_distance=settings.min_distance, columns=judged_columns(model)
                          ) if baseline is not None else {}
    creeping, creeps = gradual.judge(history, reference, k=k, min_mean_shift=settings.min_mean_shift,
                                     seed=f"{model.name}|{day}")
    inside = _segments(model, current, baseline) if baseline is not None else {}
    family = verdicts.control({**found, **creeping, **{segment_statistic(key, name): j for key, judged in inside.items()
                                                       for name, j in judged.items()}}, k, fdr)
    segments = {key: windows.comparison(current.segments[key], baseline.segments[key], f"{name}, segment {key}",
                                        {n: family[segment_statistic(key, n)] for n in judged}, k, fdr)
                for key, judged in inside.items()}
    creeps = [c.model_copy(update={"verdict": family[gradual.statistic(c.column)]}) for c in creeps.values()]
    weekday = _weekday(model, day, states) if settings.baseline == "weekday" else None
    judgement = TrailingJudgement(
        model=model.name, day=day.isoformat(), inputs_sha256=inputs,
        window=windows.comparison(current, baseline, name, {n: family[n] for n in found}, k, fdr)
        if baseline is not None else None,
        gradual=creeps, verdicts={n: j for n, j in family.items() if not n.startswith(SEGMENT)},
        expected_false_alarms_per_month=verdicts.false_alarms_per_month(family, k), weekday=weekday,
        segments={key: c for key, c in segments.items() if c.drifted},
        estimate=_estimate(model, days, history[-settings.days:], current, profile_of(version) if profile_of else None,
                           estimated_on))
    compared = {c.column for c in weekday.columns} if weekday is not None else set()
    seasonal = sorted(c for c in drifted_on(day) if c in compared and c not in weekday.drifted) if compared else []
    steady = sorted(c for c in (model.scoring.score, model.scoring.decision)
                    if c and c in compared and c not in weekday.drifted)
    return judgement.model_copy(update={"shown_by_days": _shown_by_days(judgement, day, drifted_on),
                                        "seasonal": seasonal, "steady": steady})


def judged_columns(model: ModelConfig) -> list[str]:
    """The columns a trailing window is judged on: those a state counts but the decision, which a state counts for
    the weekday comparison only (the day's positive rate is judged every day on its own: a window of it would
    repeat that finding)."""
    numerical, categorical = window_state.monitored_columns(model)
    return [*numerical, *(c for c in categorical if c != model.scoring.decision)]


def _segments(model: ModelConfig, current: WindowState, baseline: WindowState) -> dict[str, dict[str, Judgement]]:
    """Each segment's window against the baseline's same segment (segments with at least `segments.min_rows` rows
    on both sides), before the family is judged."""
    settings, least = model.windows, model.segments.min_rows
    return {key: windows.judge(mine, theirs, k=model.drift.band_sigma, min_mean_shift=settings.min_mean_shift,
                               min_distance=settings.min_distance, columns=judged_columns(model))
            for key, mine in sorted(current.segments.items())
            if (theirs := baseline.segments.get(key)) is not None and mine.rows >= least and theirs.rows >= least}


def _estimate(model: ModelConfig, days: list[dt.date], states: list[WindowState], current: WindowState,
              fitted: ReferenceProfile | None,
              estimated_on: Callable[[dt.date], set[str]] | None) -> WindowPerformance | None:
    """The window's estimated performance, once every day of it (`states`, merged: `current`) kept its estimate's
    sums: a classifier's CBPE expected confusion counts (`judging.window_estimate`, per segment too), a regressor's
    DLE expected losses (`judging.window_loss_estimate`)."""
    if fitted is None:
        return None
    if all(s.expected is not None for s in states):
        return judging.window_estimate(days, current.expected, fitted, model.metric_judging, estimated_on,
                                       *_segment_sums(model, states, current, "expected"))
    if all(s.expected_loss is not None for s in states):
        return judging.window_loss_estimate(days, current.expected_loss, fitted, model.metric_judging, estimated_on,
                                            *_segment_sums(model, states, current, "expected_loss"))
    return None


def _segment_sums(model: ModelConfig, days: list[WindowState], current: WindowState,
                  kept: str) -> tuple[dict[str, ConfusionState | LossState], SegmentsConfig | None]:
    """Each segment's estimate sums over the window (`kept`: "expected", CBPE's confusion counts, or
    "expected_loss", DLE's losses; `current`: the `days` merged) and the model's segments; nothing unless every day
    kept them in each of its segments (a day published before they were kept has none)."""
    if not model.segments.enabled or not all(s.segments and all(
            getattr(inside, kept) is not None for inside in s.segments.values()) for s in days):
        return {}, None
    return {key: getattr(inside, kept) for key, inside in current.segments.items()}, model.segments


def _weekday(model: ModelConfig, day: dt.date, states: dict[dt.date, WindowState]) -> WindowComparison | None:
    """The day against the same weekday of the `windows.weekday_weeks` weeks before (those published under its
    reference version), once two are."""
    today, settings = states[day], model.windows
    same = [day - dt.timedelta(weeks=w) for w in range(settings.weekday_weeks, 0, -1)]
    kept = [states[d] for d in same if d in states and states[d].edges_from == today.edges_from
            and states[d].reference_versions == today.reference_versions]
    if len(kept) < 2:
        return None
    first, last = kept[0].days[0], kept[-1].days[0]
    return windows.compare(today, merge(kept), f"same weekday ({first}..{last}, {len(kept)} weeks)",
                           k=model.drift.band_sigma, fdr=model.drift.fdr, min_mean_shift=settings.min_mean_shift,
                           min_distance=settings.min_distance)


def _shown_by_days(judgement: TrailingJudgement, day: dt.date,
                   drifted_on: Callable[[dt.date], set[str]]) -> dict[str, list[str]]:
    """The fired columns some single day showed drifted: for the window, its days (a segment's column: the days that
    showed it inside the segment or over the whole day); for a creep, the days since its start (the whole lookback
    without one)."""
    fired = judgement.fired
    if not fired:
        return {}
    window = (windows.days_between(dt.date.fromisoformat(judgement.window.days[0]), day)
              if judgement.window else [])
    spans = {c: window for c in (judgement.window.drifted if judgement.window else [])}
    spans.update({f"{key}|{c}": window for key, comparison in judgement.segments.items() for c in comparison.drifted})
    for creep in judgement.gradual:
        if creep.verdict is not None and creep.verdict.fired:
            start = creep.started or day - dt.timedelta(days=gradual.LOOKBACK - 1)
            first = min(start, spans[creep.column][0]) if creep.column in spans else start
            spans[creep.column] = windows.days_between(first, day)
    asked: dict[dt.date, set[str]] = {}
    found: dict[str, list[str]] = {}
    for column, span in sorted(spans.items()):
        for d in span:
            if d not in asked:
                asked[d] = drifted_on(d)
            # inside a segment, a day that showed the column drifted in the segment or in the whole day
            if column in asked[d] or column.split("|", 1)[-1] in asked[d]:
                found.setdefault(column, []).append(d.isoformat())
    return found


def _inputs(model: ModelConfig, day: dt.date, states: dict[dt.date, WindowState], reference: WindowState) -> str:
    """The digest of everything `day`'s judgement is made from: the states of its input days, the reference's and
    the settings (a rerun that changed none of them is not judged again)."""
    document = {
        "schema": SCHEMA_VERSION, "day": day.isoformat(),
        "states": {d.isoformat(): _identity(states[d]) for d in input_days(model, day) if d in states},
        "reference": _identity(reference),
        "settings": [model.windows.model_dump(mode="json"), model.drift.band_sigma, model.drift.fdr,
                     model.metric_judging.model_dump(mode="json")],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def inputs_of(model: ModelConfig, day: dt.date, states: dict[dt.date, WindowState],
              reference_of: Callable[[str], WindowState]) -> str | None:
    """The digest `judge` would record for `day` (None while its window is short): what tells whether a stored
    judgement still stands without judging again."""
    history = _history(model, day, states)
    if history is None:
        return None
    return _inputs(model, day, states, reference_of(history[-1].reference_versions[-1]))
