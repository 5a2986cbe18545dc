"""How a day is judged against its model's fitted reference: one answer, in one place.

A day's statistics are measured (`monitoring.distances`, `monitoring.day_state`, `monitoring.metrics`), then judged
here with the verdicts of `monitoring.verdicts` against the no-change bands fitted on the reference
(`ReferenceProfile.nulls`):

- `judge_columns`: each monitored column's drift score and its own verdict (calibrated: outside the band at the
  day's size and past the minimum effect; fixed: past the configured line);
- `judge_levels`: the day's rates (positive rate, low-confidence share, missing shares, exact over every valid row)
  and the joint drift (mean reconstruction error), against the reference's;
- `judge_day`: the columns and the levels together, one family per model-day (the gate and the false discovery
  control): the day's final drift verdicts and `DayVerdicts`;
- `judge_metrics`: a labelled day's (or an estimate's) performance metrics, one family of their own;
- `labelled_day`, `due_day`, `estimate_check`, `estimate_day`: what labels (or the estimators, before them) say of a
  prediction day, as written to `performance.json`, `labels.json` and `summary.json`;
- `window_performance`, `window_estimate`, `window_loss_estimate`: the same of a trailing window's days together, from
  their summed counts (a regressor's DLE estimate: its summed expected losses).

Each takes the settings it uses (`DriftConfig`, `DriftSpec`, `MinimumChanges`, `MetricJudging`, `Scoring`), never the
whole model config.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from monitoring import classes, distances, estimators, metrics, segments, verdicts
from monitoring.config import DriftConfig, DriftSpec, MetricJudging, MinimumChanges, Scoring, SegmentsConfig
from monitoring.estimators import Estimate, ExpectedConfusion, ExpectedMulticlassConfusion
from monitoring.operations import Operations
from monitoring.quality import ColumnQuality
from monitoring.records import ColumnDrift, DueDay, EstimateCheck, Performance, WindowPerformance
from monitoring.reference import ReferenceProfile
from monitoring.segments import SegmentPerformance, SegmentsReport, SegmentTally
from monitoring.verdicts import DayVerdicts, Degradation, Judgement
from monitoring.window_state import ConfusionState, LabelState, LossState
from monitoring.vocabulary import CATEGORICAL, LOWER_IS_BETTER, effect_method, is_test, statistic_name, worse_by

log = logging.getLogger(__name__)

ALL_MISSING = "all values missing"
NO_ROWS = "no valid rows on this day"


# --- drift ----------------------------------------------------------------------------------------------------------
def skipped_columns(current: pd.DataFrame, reference: pd.DataFrame, specs: dict[str, DriftSpec],
                    max_categories: int) -> dict[str, str]:
    """Monitored columns left out of drift (and of the Evidently reports), with why: every value missing on either
    side (one all-missing column would abort a whole Evidently report), or more distinct categories than
    `max_categories` (a report with a bar per value is huge and slow)."""
    if current.empty:
        return dict.fromkeys(specs, NO_ROWS)
    skipped = {}
    for column, spec in specs.items():
        if current[column].isna().all() or reference[column].isna().all():
            skipped[column] = ALL_MISSING
        elif spec.kind == CATEGORICAL:
            distinct = max(current[column].nunique(), reference[column].nunique())
            if distinct > max_categories:
                skipped[column] = (f"{distinct} distinct values, above the limit of {max_categories} for a "
                                   "categorical column")
    for column, why in sorted(skipped.items()):
        log.warning("column %s is left out of drift and of the Evidently reports: %s", column, why)
    return skipped


def _reference_values(profile: ReferenceProfile, column: str) -> int:
    if column in profile.numerical:
        return profile.numerical[column].count
    return sum(profile.categorical[column].counts.values()) if column in profile.categorical else profile.rows


def judge_columns(current: pd.DataFrame, reference: pd.DataFrame, specs: dict[str, DriftSpec], drift: DriftConfig,
                  profile: ReferenceProfile, skipped: dict[str, str]) -> dict[str, ColumnDrift]:
    """Every monitored column's drift: its score of the day's rows `current` against the reference's rows
    `reference`, and its own verdict, before the day's family is judged together (`judge_day`)."""
    results: dict[str, ColumnDrift] = {}
    for column, spec in specs.items():
        if column in skipped:
            results[column] = ColumnDrift(kind=spec.kind, method=spec.method, threshold=spec.threshold, score=None,
                                          drifted=False, skipped=skipped[column])
            continue
        value = distances.score(spec.method, spec.kind, reference[column], current[column])
        rows, compared = int(current[column].notna().sum()), int(reference[column].notna().sum())
        enough = _reference_values(profile, column) >= drift.min_reference_rows
        if not drift.calibrated or spec.explicit:  # an explicit line wins over the calibration
            verdict = verdicts.fixed(value, rows, compared, spec.threshold, spec.method)
        elif is_test(spec.method):
            effect = distances.score(effect_method(spec.method, spec.kind), spec.kind, reference[column],
                                     current[column])
            verdict = verdicts.test(value, effect, rows, drift.band_sigma, drift.min_effect, compared, enough)
        else:
            verdict = verdicts.distance(value, rows, profile.null(statistic_name("drift", column)), drift.band_sigma,
                                        spec.threshold, compared, enough)
        results[column] = ColumnDrift(kind=spec.kind, method=spec.method, threshold=spec.threshold, score=value,
                                      drifted=verdict.fired, verdict=verdict)
    return results


# --- the day's rates and joint drift, and the day's family -----------------------------------------------------------
def judge_levels(drift: DriftConfig, minimums: MinimumChanges, profile: ReferenceProfile, operations: Operations,
                 quality: dict[str, ColumnQuality], errors: list[float] | None) -> dict[str, Judgement]:
    """The judgements of the day's rates (exact, over every valid row) and of its mean reconstruction error (over
    the rows compared, whose errors are `errors`), against the reference's; none in fixed mode."""
    if not drift.calibrated or not operations.volume:  # a day without rows has no rates to judge
        return {}
    k, found = drift.band_sigma, {}
    ops, reference = operations, profile.operations
    if ops.positive_rate is not None and reference.positive_rate is not None:
        name = statistic_name("positive_rate")
        found[name] = verdicts.level(ops.positive_rate - reference.positive_rate, ops.volume, profile.null(name), k,
                                     minimums.positive_rate, profile.rows, "both")
    if ops.low_confidence_share is not None and reference.low_confidence_share is not None:
        name = statistic_name("low_confidence_share")
        found[name] = verdicts.level(ops.low_confidence_share - reference.low_confidence_share, ops.volume,
                                     profile.null(name), k, minimums.low_confidence_share, profile.rows, "up")
    for column, figures in quality.items():
        name = statistic_name("missing", column)
        found[name] = verdicts.level(figures.missing_share - profile.missing_share(column), ops.volume,
                                     profile.null(name), k, minimums.missing_share, profile.rows, "up")
    if errors and profile.reconstruction_error:
        name = statistic_name("reconstruction_error")
        found[name] = verdicts.level(sum(errors) / len(errors) - profile.reconstruction_error, len(errors),
                                     profile.null(name), k, minimums.reconstruction_error, profile.rows, "up",
                                     relative_to=profile.reconstruction_error)
    return found


def judge_day(drift: DriftConfig, minimums: MinimumChanges, profile: ReferenceProfile,
              columns: dict[str, ColumnDrift], operations: Operations, quality: dict[str, ColumnQuality],
              current: pd.DataFrame, segmented: tuple[SegmentsConfig, SegmentTally | None] | None = None
              ) -> tuple[dict[str, ColumnDrift], DayVerdicts, SegmentsReport | None]:
    """The day's family judged together (see `monitoring.verdicts`): the columns' drift with their final verdicts,
    how the day was judged with the rates' and the joint drift's judgements (`current`: the rows compared, whose
    reconstruction error is measured), and the day's segments (`segmented`: their settings and the day's tally),
    whose statistics are judged in the same family. What the days before add is the model-day's second family
    (monitoring.trailing), judged once the day's neighbours are published."""
    pca = profile.multivariate
    errors = pca.errors(current).tolist() if pca is not None and len(current) and drift.calibrated else None
    levels = judge_levels(drift, minimums, profile, operations, quality, errors)
    settings, tally = segmented or (None, None)
    fit = profile.segments
    parts = (segments.judge(fit, tally, settings, drift.band_sigma)
             if settings is not None and tally is not None and fit is not None else {})
    family = {**{statistic_name("drift", c): r.verdict for c, r in columns.items() if r.verdict is not None},
              **levels, **parts}
    judged = verdicts.control(family, drift.band_sigma, drift.fdr)
    final = {c: r.model_copy(update={"drifted": judged[name].fired, "verdict": judged[name]})
             if (name := statistic_name("drift", c)) in judged else r for c, r in columns.items()}
    report = None
    if settings is not None and tally is not None and fit is not None:
        report = segments.report(fit, tally, {n: judged[n] for n in parts}, settings,
                                 {c for c, r in final.items() if r.drifted}, drift.band_sigma)
    return final, DayVerdicts(
        mode=drift.threshold_mode, band_sigma=drift.band_sigma, fdr=drift.fdr,
        expected_false_alarms_per_month=verdicts.false_alarms_per_month(judged, drift.band_sigma),
        statistics={name: judged[name] for name in levels}), report


# --- performance -----------------------------------------------------------------------------------------------------
def _limit(absolute: float | None, relative: float | None) -> str:
    parts = [f"more than {absolute:g} worse" if absolute is not None else None,
             f"more than {relative:.0%} worse" if relative is not None else None]
    return " or ".join(p for p in parts if p)


def _past(worse: float, relative: float | None, limits: tuple[float | None, float | None] | None) -> bool:
    absolute, share = limits or (None, None)
    return bool((absolute is not None and worse > absolute) or
                (share is not None and relative is not None and relative > share))


def judge_metrics(values: dict[str, float | None], baseline: dict[str, float | None] | None, judging: MetricJudging,
                  labelled: int = 0, profile: ReferenceProfile | None = None) -> list[Degradation]:
    """The metrics worse than the reference's baseline: past their rule's line (fixed mode), or (calibrated, the
    default: every metric the task reports) outside the no-change band of a day of `labelled` rows and by at least
    the metric's minimum worsening, the day's metrics judged together as one family. Past the metric's retraining
    limit too: a retraining reason."""
    found, family, candidates = [], {}, {}
    for metric in sorted(judging.metrics):
        value, base = values.get(metric), (baseline or {}).get(metric)
        if value is None or base is None:
            continue
        worse = worse_by(metric, value, base)
        relative = worse / abs(base) if base else None
        retrain = _past(worse, relative, judging.retrain_limits.get(metric))
        null = profile.null(statistic_name("metric", metric)) if profile is not None else None
        if judging.calibrated and null is not None:
            absolute, share = judging.min_drops.get(metric, (None, None))
            family[metric] = verdicts.level(value - base, labelled, null, judging.band_sigma,
                                            absolute if absolute is not None else share, profile.rows,
                                            "up" if metric in LOWER_IS_BETTER else "down",
                                            relative_to=None if absolute is not None else base)
            low, high = family[metric].band
            candidates[metric] = Degradation(
                metric=metric, value=value, baseline=base, worse_by=worse, relative=relative,
                limit=(f"outside what no change gives on {labelled:,} labelled rows ({base + low:.3f} to "
                       f"{base + high:.3f}) and {_limit(absolute, share)}"), retrain=retrain)
        elif metric in judging.alert_limits and _past(worse, relative, judging.alert_limits[metric]):
            found.append(Degradation(metric=metric, value=value, baseline=base, worse_by=worse, relative=relative,
                                     limit=_limit(*judging.alert_limits[metric]), retrain=retrain))
    judged = verdicts.control(family, judging.band_sigma, judging.fdr)  # the day's metrics, one family
    found += [candidates[m].model_copy(update={"verdict": judged[m]}) for m in sorted(judged) if judged[m].fired]
    return sorted(found, key=lambda d: d.metric)


def segment_performance(joined: pd.DataFrame, scoring: Scoring, judging: MetricJudging, fitted: ReferenceProfile,
                        settings: SegmentsConfig | None) -> list[SegmentPerformance]:
    """The headline metric inside each segment of the labelled predictions `joined` (with their segment columns),
    judged against the reference's same segment at its labelled size (`segments.judge_performance`)."""
    fit = fitted.segments
    if settings is None or fit is None or fit.metric is None or not len(joined):
        return []
    metric = fit.metric
    return segments.judge_performance(
        fit, joined, lambda rows: metrics.metric_of_arrays(scoring, metric, *metrics.arrays(rows, scoring)),
        settings, judging.band_sigma, judging.fdr, *_worsening(metric, judging))


def _worsening(metric: str, judging: MetricJudging) -> tuple[float, str, bool]:
    """How a segment's `metric` is judged: the smallest worsening that counts, its direction ("down": higher is
    better), and whether that smallest worsening is relative to the baseline (`performance.min_drop` as a share)."""
    absolute, share = judging.min_drops.get(metric, (None, None))
    return (absolute if absolute is not None else (share or 0.0), "up" if metric in LOWER_IS_BETTER else "down",
            absolute is None)


def segment_estimates(fitted: ReferenceProfile, tally: SegmentTally | None, judging: MetricJudging,
                      settings: SegmentsConfig, sample: pd.DataFrame | None = None,
                      losses: dict[str, np.ndarray] | None = None) -> list[SegmentPerformance]:
    """The headline metric inside each segment before the labels, judged at each segment's size: a classifier's by
    CBPE (the day's expected confusion counts in `tally`), a regression model's by DLE (`losses`: each row of the
    day's `sample`'s expected loss, `expected_losses`)."""
    fit = fitted.segments
    if fit is None or fit.metric is None or not judging.calibrated:
        return []
    if fitted.cbpe is not None and tally is not None:
        return segments.estimated_performance(fit, tally, settings, judging.band_sigma, judging.fdr,
                                              *_worsening(fit.metric, judging))
    if fitted.dle is not None and losses is not None and sample is not None and len(sample):
        return segments.estimated_losses(fit, sample, losses, settings, judging.band_sigma, judging.fdr,
                                         *_worsening(fit.metric, judging))
    return []


def expected_losses(profile: ReferenceProfile, nannies: dict[str, object], sample: pd.DataFrame,
                    numerical: tuple[str, ...], score: str) -> dict[str, np.ndarray] | None:
    """Each row of the day's `sample`'s expected loss by a regressor's DLE nanny models (`estimators.dle_losses`),
    computed once for the day's estimate, its segments' and its state; None without DLE or rows."""
    if profile.dle is None or not nannies or not len(sample):
        return None
    return estimators.dle_losses(profile.dle, nannies, sample, numerical, score)


def labelled_day(*, joined: pd.DataFrame, predictions: int, scoring: Scoring, judging: MetricJudging, lag_days: int,
                 day: dt.date, as_of: dt.date, fitted: ReferenceProfile, label_digest: str,
                 segmented: SegmentsConfig | None = None) -> Performance:
    """The performance of prediction day `day` from its labelled predictions `joined`, as known on `as_of`, against
    the baseline of the reference version the day was monitored with (`fitted`); with `segmented` (the model's
    segments), the headline metric inside each segment too."""
    found = metrics.figures(joined, scoring)
    recalls = (classes.judge_recalls(found.per_class, fitted.per_class, judging.band_sigma, *judging.class_recall)
               if found.per_class and judging.class_recall else [])
    return Performance(
        day=day.isoformat(), labels_as_of=as_of.isoformat(), complete=(as_of - day).days >= lag_days,
        predictions=predictions, labelled=len(joined), coverage=len(joined) / predictions if predictions else 0.0,
        label_digest=label_digest, metrics=found.metrics, baseline=fitted.performance,
        degraded=judge_metrics(found.metrics, fitted.performance, judging, len(joined), fitted) if len(joined) else [],
        unjudged={m: why for m, why in fitted.unjudged.items() if m in judging.metrics} if judging.calibrated else {},
        confusion=found.confusion, calibration=found.reliability, errors=found.errors,
        per_class=found.per_class, confusion_matrix=found.confusion_matrix, class_recalls=recalls,
        reference_version=fitted.version,
        segments=segment_performance(joined, scoring, judging, fitted, segmented) if judging.calibrated else [],
    )


def window_performance(days: list[dt.date], states: dict[dt.date, LabelState],
                       performances: dict[dt.date, Performance], judging: MetricJudging, fitted: ReferenceProfile,
                       min_coverage: float, segmented: SegmentsConfig | None = None) -> WindowPerformance | None:
    """The labelled predictions of `days` judged together against the baseline of the reference version they were
    monitored with (`fitted`), the metrics at the window's labelled size (the same calibrated judgement as a day's,
    `judge_metrics`); None unless every day's labels are complete and counted (`states`, `performances`), all of
    one reference version, with at least `min_coverage` of the window's predictions labelled. `shown_by_days`: the
    degraded metrics days of the window were judged worse on by themselves. With `segmented` (the model's segments)
    and every day counted per segment, the headline metric inside each segment too (`window_segments`)."""
    if any(d not in states or d not in performances or not performances[d].complete for d in days):
        return None
    if {performances[d].reference_version for d in days} != {fitted.version}:
        return None
    merged = states[days[0]]
    for day in days[1:]:
        merged = merged.merge(states[day])
    if not merged.labelled or merged.labelled < min_coverage * merged.predictions:
        return None
    values = merged.metrics()
    degraded = judge_metrics(values, fitted.performance, judging, merged.labelled, fitted)
    shown = {d.metric: [day.isoformat() for day in days
                        if d.metric in {m.metric for m in performances[day].degraded}] for d in degraded}
    inside = window_segments(merged.segments, fitted, judging, segmented) if segmented and merged.segmented else []
    return WindowPerformance(days=[d.isoformat() for d in days], predictions=merged.predictions,
                             labelled=merged.labelled, reference_version=fitted.version, metrics=values,
                             baseline={m: fitted.performance.get(m) for m in values} if fitted.performance else {},
                             degraded=degraded, shown_by_days={m: d for m, d in shown.items() if d},
                             segments=inside, segments_shown_by_days={
                                 s.key: [day.isoformat() for day in days if any(
                                     p.key == s.key and p.degraded for p in performances[day].segments)]
                                 for s in inside if s.degraded})


def window_segments(states: dict[str, LabelState | LossState], fitted: ReferenceProfile, judging: MetricJudging,
                    settings: SegmentsConfig, estimated_by: str | None = None) -> list[SegmentPerformance]:
    """The headline metric inside each segment of a window (`states`: each segment's sums over the days: its
    labelled predictions' counts, or, `estimated_by` CBPE, its expected confusion counts as if labelled, or, by DLE,
    its expected losses), judged against the reference's same segment at the segment's rows over the window: the
    day's calculation (`segments.judge_counts`) at the window's size. Nothing for a metric the sums do not give
    (ROC-AUC)."""
    fit = fitted.segments
    if fit is None or fit.metric is None or not judging.calibrated:
        return []
    rows = {key: state.rows if isinstance(state, LossState) else state.labelled for key, state in states.items()}
    values = {key: (rows[key], state.metrics().get(fit.metric)) for key, state in states.items()
              if rows[key] and key in fit.baselines}
    if not any(value is not None for _, value in values.values()):
        return []
    return segments.judge_counts(fit, values, settings, judging.band_sigma, judging.fdr,
                                 *_worsening(fit.metric, judging), estimated_by=estimated_by)


def window_estimate(days: list[dt.date], expected: ConfusionState | None, fitted: ReferenceProfile,
                    judging: MetricJudging,
                    estimated_on: Callable[[dt.date], set[str]] | None = None,
                    segment_expected: dict[str, ConfusionState] | None = None,
                    segmented: SegmentsConfig | None = None) -> WindowPerformance | None:
    """The performance CBPE expects of the predictions of `days` together, before their labels land: the metrics of
    the days' summed expected confusion counts (`expected`, monitoring.window_state; exact sums), judged against the
    reference version's baseline at the window's rows (`judge_metrics`, as a day's estimate at its rows; its own
    family). None without CBPE (a regressor, a reference without labels) or rows. `estimated_on`: the metrics a day's
    own estimate was judged worse on, and `<segment key>|<metric>` inside a segment (`shown_by_days`), asked about
    the window's days only when something fired. With `segment_expected` (each segment's summed expected counts) and
    `segmented` (the model's segments), the headline metric inside each segment too, judged as a day's segment
    estimate is (`segments.judge_counts`) at the segment's rows over the window."""
    if expected is None or (fitted.cbpe is None and fitted.cbpe_multiclass is None):
        return None
    whole = _as_labelled(expected)
    if not whole.labelled:
        return None
    inside = window_segments({key: _as_labelled(counts) for key, counts in (segment_expected or {}).items()},
                             fitted, judging, segmented, "CBPE") if segmented else []
    return _window_estimated(days, whole.labelled, whole.metrics(), fitted, judging, estimated_on, "CBPE", inside)


def _as_labelled(expected: ConfusionState) -> LabelState:
    """CBPE's expected confusion counts as the counts of that many labelled rows (what their metrics are read from)."""
    rows = int(sum(expected.predicted))
    return LabelState(predictions=rows, labelled=rows, confusion=expected)


def window_loss_estimate(days: list[dt.date], expected: LossState | None, fitted: ReferenceProfile,
                         judging: MetricJudging,
                         estimated_on: Callable[[dt.date], set[str]] | None = None,
                         segment_losses: dict[str, LossState] | None = None,
                         segmented: SegmentsConfig | None = None) -> WindowPerformance | None:
    """The MAE and RMSE DLE expects of a regressor's predictions of `days` together, before their labels land: from
    the days' summed expected losses (`expected`, monitoring.window_state; exact sums over the rows each day's
    estimate was made on), judged against the reference version's baseline at the window's rows, as a day's DLE
    estimate is at its rows (`estimate_day`). None without DLE or rows. With `segment_losses` (each segment's summed
    expected losses) and `segmented` (the model's segments), the headline metric inside each segment too, judged as
    a day's segment estimate is, at the segment's rows over the window."""
    if expected is None or fitted.dle is None or not expected.rows:
        return None
    inside = window_segments(segment_losses or {}, fitted, judging, segmented, "DLE") if segmented else []
    return _window_estimated(days, expected.rows, expected.metrics(), fitted, judging, estimated_on, "DLE", inside)


def _window_estimated(days: list[dt.date], rows: int, values: dict[str, float | None], fitted: ReferenceProfile,
                      judging: MetricJudging, estimated_on: Callable[[dt.date], set[str]] | None, method: str,
                      inside: list[SegmentPerformance] = ()) -> WindowPerformance:
    """A window's estimated metrics (`values`, at `rows`) and its segments' (`inside`), judged; the days whose own
    estimates showed what fired (`estimated_on`)."""
    degraded = judge_metrics(values, fitted.performance, judging, rows, fitted)
    fallen = [s for s in inside if s.degraded]
    asked = {day: estimated_on(day) for day in days} if (degraded or fallen) and estimated_on else {}
    shown = {d.metric: [day.isoformat() for day in days if d.metric in asked.get(day, set())] for d in degraded}
    return WindowPerformance(days=[d.isoformat() for d in days], predictions=rows, labelled=0,
                             reference_version=fitted.version, metrics=values,
                             baseline={m: fitted.performance.get(m) for m in values} if fitted.performance else {},
                             degraded=degraded, shown_by_days={m: d for m, d in shown.items() if d}, method=method,
                             segments=list(inside), segments_shown_by_days={
                                 s.key: [day.isoformat() for day in days if f"{s.key}|{s.metric}" in asked.get(
                                     day, set())] for s in fallen})


def due_day(performance: Performance | None, day: dt.date, min_coverage: float, min_labelled_rows: int,
            current_version: str | None = None) -> DueDay:
    """Judge the day whose labels came due; a day with too few labels (below `min_coverage` of its predictions or
    `min_labelled_rows`) is not judged, and says so. `current_version` is the version in use on the run's day: a
    verdict on predictions of a replaced version never asks for retraining (see `DueDay.retrain`)."""
    if performance is None:
        return DueDay(day=day.isoformat(), status="no_predictions", labelled=0, coverage=None,
                      metrics={}, baseline=None, degraded=[], current_version=current_version)
    enough = performance.coverage >= min_coverage and performance.labelled >= min_labelled_rows
    return DueDay(day=performance.day, status="judged" if enough else "too_few_labels",
                  labelled=performance.labelled, coverage=performance.coverage, metrics=performance.metrics,
                  baseline=performance.baseline, degraded=performance.degraded if enough else [],
                  reference_version=performance.reference_version, current_version=current_version,
                  estimate_check=performance.estimate_check if enough else None,
                  segments_degraded=[s for s in performance.segments if s.degraded] if enough else [],
                  classes_collapsed=[c for c in performance.class_recalls if c.collapsed] if enough else [])


def estimate_check(estimate: Estimate | None, realized: dict[str, float | None], fitted: ReferenceProfile,
                   labelled: int) -> EstimateCheck | None:
    """The day's estimate against the figures its complete labels gave; None without one. An error beyond 3
    standard errors of the realized value (at the day's labelled rows) is not chance."""
    if estimate is None or not labelled:
        return None
    fit = fitted.cbpe or fitted.cbpe_multiclass or fitted.dle
    errors, bands, estimated = {}, {}, {}
    for metric, value in estimate.metrics.items():
        actual = realized.get(metric)
        se = fit.errors[metric].at(labelled) if fit is not None and metric in fit.errors else None
        if metric == "rmse" and fitted.dle is not None:
            variance, mean = fitted.dle.squared_errors
            se = math.sqrt(variance / (4 * labelled * mean)) if mean > 0 else None
        if value is None or actual is None or se is None:
            continue
        estimated[metric], errors[metric], bands[metric] = value, value - actual, 3 * se
    return EstimateCheck(method=estimate.method, estimated=estimated, errors=errors, bands=bands,
                         unreliable=sorted(m for m in errors if abs(errors[m]) > bands[m]))


def estimate_day(profile: ReferenceProfile, judging: MetricJudging, scoring: Scoring, numerical: tuple[str, ...],
                 features: tuple[str, ...], confusion: ExpectedConfusion | ExpectedMulticlassConfusion | None,
                 sample: pd.DataFrame,
                 nannies: dict[str, object], quality: dict[str, ColumnQuality] | None = None,
                 losses: dict[str, np.ndarray] | None = None) -> Estimate | None:
    """The day's estimated performance and its verdict against the reference's baseline (`judge_metrics`: its band
    and minimum worsening in calibrated mode, its lines in fixed mode); None for a model whose reference has no
    labels. `quality`: the day's exact column figures, for the share of rows outside the reference; `losses`: a
    regressor's expected losses of the sample's rows when already computed (`expected_losses`)."""
    if profile.cbpe_multiclass is not None and isinstance(confusion, estimators.ExpectedMulticlassConfusion):
        found = estimators.cbpe_multiclass_estimate(profile.cbpe_multiclass, confusion,
                                                    sample[list(scoring.scores)].to_numpy(dtype=float))
    elif profile.cbpe is not None and isinstance(confusion, ExpectedConfusion):
        found = estimators.cbpe_estimate(profile.cbpe, confusion, sample[scoring.score].to_numpy(dtype=float)
                                         if len(sample) else np.array([]))
    elif profile.dle is not None and nannies:
        found = estimators.dle_estimate(profile.dle, nannies, sample, numerical, scoring.score, losses)
    else:
        return None
    if not found.rows:
        return found
    unsupported = {}
    for column in features:
        figures = (quality or {}).get(column)
        share = max(figures.new_category_share or 0.0, figures.out_of_range_share or 0.0) if figures else 0.0
        if share >= estimators.UNSUPPORTED_SHARE:
            unsupported[column] = share
    return found.model_copy(update={"baseline": profile.performance, "unsupported": unsupported,
                                    "degraded": judge_metrics(found.metrics, profile.performance, judging,
                                                              found.rows, profile)})
