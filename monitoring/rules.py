"""Findings from a day's summary: which drift, prediction, volume, data-quality and performance rules fire, how
severe, and what to do.

Each rule's severity comes from the model's `rules` config (`off` disables it). Three rules escalate on their own:
`missing_values` is critical when a column is entirely missing, `performance_degradation` when a metric passes its
retraining limit, `volume` on a day without rows; `label_problems` is only info while rejected labels stay under `performance.max_label_problem_share`.
"""

from __future__ import annotations

import hashlib
import math
from enum import Enum

from monitoring.config import ModelConfig
from monitoring.records import DueDay, LabelsReport, WindowPerformance
from monitoring.segments import CONCENTRATION, SegmentPerformance
from monitoring.summary import DaySummary
from monitoring.text import listing
from monitoring.verdicts import Degradation, Judgement
from monitoring.vocabulary import ModelTask, Record


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ["info", "warning", "critical"].index(self.value)


class Finding(Record):
    rule: str
    severity: Severity
    message: str
    action: str
    columns: list[str] = []
    evidence: list[str] = []  # the calibrated verdicts behind it, in plain words (value, band at the day's size)
    segment: str | None = None  # the segment it is about (monitoring.segments); None: the whole day

    @property
    def episode(self) -> str:
        """What its alert episode is keyed by: the rule, and the segment when it has one ("F1 fell in
        channel=mobile" and "F1 fell overall" have their own hysteresis and cooldown)."""
        if self.segment is None:
            return self.rule
        return f"{self.rule}-{hashlib.sha256(self.segment.encode()).hexdigest()[:12]}"


def findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    """Every rule that fires on this day, most severe first, in a stable order."""
    raised = [*_drift_findings(summary, model), *_output_findings(summary, model),
              *_quality_findings(summary, model), *_label_findings(summary, model), *_segment_findings(summary),
              *_window_findings(summary), *_segment_window_findings(summary), *_gradual_findings(summary),
              *_window_estimate(summary), *_segment_window_estimate(summary)[:model.segments.max_findings]]
    configured = [f for f in (_configured(f, model) for f in raised) if f is not None]
    return sorted(configured, key=lambda f: (-f.severity.rank, f.rule, f.segment or ""))


def _evidence(columns: dict, names: list[str]) -> list[str]:
    """The calibrated verdicts of these columns in plain words: value, band at the day's size, minimum effect."""
    return [f"{name}: {verdict.words()}" for name in names
            if (verdict := columns[name].verdict) is not None and verdict.mode == "calibrated"]


def _drift_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    """The features' drift (the dataset's, single features', key features'), the predictions', the estimate's, the
    joint drift; each message names where and why when the day knows (`where_and_why`)."""
    found = [*_feature_drift(summary, model), _prediction_drift(summary, model), _estimated_drop(summary),
             _multivariate_drift(summary), _weekday_pattern(summary)]
    context = where_and_why(summary)
    return [f.model_copy(update={"message": f"{f.message} {context}"}) if context else f
            for f in found if f is not None]


def where_and_why(summary: DaySummary, features: int = 3) -> str:
    """The drifted features the model leans on most (drift x importance) and the segment that carries the most
    change, in a sentence; empty when the day has neither."""
    ranked = [r.feature for r in summary.feature_ranking if r.drifted][:features]
    parts = [f"Features first (drift x importance): {listing(ranked)}."] if ranked else []
    top = summary.segments.top(1) if summary.segments is not None else []
    if top:
        parts.append(f"Largest change in segment {top[0].key}.")
    return " ".join(parts)


def _without_seasonal(summary: DaySummary):
    """The day's feature drift without the columns its weekday shares (`summary.seasonal`, windows.baseline
    weekday): their drift is the week's rhythm, not a change; the dataset's share is counted again without them."""
    drift = summary.data_drift
    if not summary.seasonal:
        return drift
    drifted = [c for c in drift.drifted_features if c not in summary.seasonal]
    measured = [r for r in drift.features.values() if r.skipped is None]
    share = len(drifted) / len(measured) if measured else 0.0
    return drift.model_copy(update={"drifted_features": drifted, "drift_share": share,
                                    "dataset_drift": bool(measured) and share >= drift.dataset_drift_share_threshold})


def _weekday_pattern(summary: DaySummary) -> Finding | None:
    """Drifted columns the same weekday of the earlier weeks shares: shown, not alerted (info by default)."""
    if not summary.seasonal:
        return None
    return Finding(
        rule="weekday_pattern", severity=Severity.INFO, columns=summary.seasonal,
        message=(f"{listing(summary.seasonal)} drifted against the reference as on the same weekday of the earlier "
                 "weeks (a weekly rhythm the reference averages away, not a change: windows.baseline weekday)."),
        action="Nothing to do unless the rhythm itself is new: python -m monitoring compare --against weekday "
               "shows the days against their weekdays.")


def _feature_drift(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    findings: list[Finding] = []
    drift = _without_seasonal(summary)
    if drift.dataset_drift:
        findings.append(Finding(
            rule="dataset_drift", severity=Severity.CRITICAL, columns=drift.drifted_features,
            message=(f"{len(drift.drifted_features)} of {len(drift.features)} features drifted "
                     f"({drift.drift_share:.0%}, threshold {drift.dataset_drift_share_threshold:.0%}): "
                     f"{listing(drift.drifted_features)}."),
            action="Open the data drift report, check the upstream sources of these features, and consider retraining.",
            evidence=_evidence(drift.features, drift.drifted_features),
        ))
    elif drift.drifted_features:
        findings.append(Finding(
            rule="feature_drift", severity=Severity.WARNING, columns=drift.drifted_features,
            message=f"Feature(s) drifted: {listing(drift.drifted_features)} (dataset drift not reached).",
            action="Check whether the change in these features is expected.",
            evidence=_evidence(drift.features, drift.drifted_features),
        ))
    key = sorted(set(model.rules.key_features.features) & set(drift.drifted_features))
    if key:
        findings.append(Finding(
            rule="key_features", severity=Severity.CRITICAL, columns=key,
            message=f"Key feature(s) drifted: {listing(key)} (rules.key_features).",
            action="These features drive the model's decisions: check their source before trusting today's outputs.",
            evidence=_evidence(drift.features, key),
        ))
    return findings


def _prediction_drift(summary: DaySummary, model: ModelConfig) -> Finding | None:
    prediction = summary.prediction_drift
    drifted = sorted(c for c, r in prediction.columns.items() if r.drifted and c not in summary.seasonal)
    if prediction.drifted and (drifted or not summary.seasonal):  # not when all of it is the weekday's rhythm
        return Finding(
            rule="prediction_drift", severity=Severity.WARNING, columns=drifted,
            message=(f"Prediction drift on {listing(drifted)}: mean {_score_name(model)}"
                     f" {_fmt(prediction.mean_score)} vs {_fmt(prediction.reference_mean_score)} in the reference"
                     + (f", {positive_rate_name(model.columns.decision)} {_share(prediction.positive_rate)} vs "
                        f"{_share(prediction.reference_positive_rate)}" if prediction.positive_rate is not None else "")
                     + "."),
            action="The model's output distribution changed; check the inputs and the business impact.",
            evidence=_evidence(prediction.columns, drifted),
        )
    return None


def _estimated_drop(summary: DaySummary) -> Finding | None:
    estimate = summary.estimated_performance
    if estimate is not None and estimate.degraded:
        return Finding(
            rule="estimated_performance_drop", severity=Severity.WARNING,
            columns=[d.metric for d in estimate.degraded],
            message=(f"Estimated performance ({estimate.method}, before the labels land) is worse than the "
                     f"reference's: {'; '.join(d.describe() for d in estimate.degraded)}."),
            action=("The labels will confirm it or not within labels.lag_days; meanwhile look at the day's drift "
                    "findings: the estimate follows the inputs, and assumes the model's scores and errors relate to "
                    "them as on the reference."),
        )
    return None


def _multivariate_drift(summary: DaySummary) -> Finding | None:
    multivariate = _judgement(summary, "reconstruction_error")
    if multivariate is not None and multivariate.fired:
        return Finding(
            rule="multivariate_drift", severity=Severity.WARNING,
            message=(f"The features' joint distribution changed: the rows are reconstructed "
                     f"{multivariate.effect:.0%} worse from the reference's principal components."),
            action="No single feature may show it: look at how the features move together (a broken join, a "
                   "mix-up of columns, a new population).",
            evidence=[f"mean reconstruction error change: {multivariate.words()}"],
        )
    return None


def drifted_today(summary: DaySummary) -> set[str]:
    """The columns the day showed drifted on its own (features and predictions)."""
    return {c for c, r in {**summary.data_drift.features, **summary.prediction_drift.columns}.items() if r.drifted}


def _window_findings(summary: DaySummary) -> list[Finding]:
    """The columns that drifted over the trailing window (monitoring.windows) while no single day of it showed them
    drifted: the change too small for a day, plain over the days together (a column a day showed drifted is that
    day's own finding, and a window still holding those days does not keep its episode alive)."""
    window = summary.window
    shown = {*drifted_today(summary), *summary.shown_by_days}
    quiet = [c for c in (window.drifted if window is not None else []) if c not in shown]
    if not quiet:  # what the days show themselves, their own findings say
        return []
    span = f"the last {len(window.days)} days ({window.days[0]} to {window.days[-1]})"
    message = (f"{listing(quiet)} drifted over {span} against the {window.baseline}; no single day showed "
               f"{'it' if len(quiet) == 1 else 'them'}.")
    evidence = [f"{c.column}: " + "; ".join(f"{what} {j.words()}" for what, j in (("mean shift (sd)", c.mean_shift),
                                                                                 ("distance", c.distance))
                                             if j is not None and j.fired)
                for c in window.columns if c.column in quiet]
    return [Finding(rule="window_drift", severity=Severity.WARNING, columns=quiet, message=message,
                    action=("A slow or small change that single days cannot tell from noise: compare the window with "
                            "the weeks before (python -m monitoring compare --against previous) and check what "
                            "feeds these columns."), evidence=evidence)]


def _segment_window_findings(summary: DaySummary) -> list[Finding]:
    """Inside a segment, columns that drifted over the trailing window against the baseline's same segment while
    neither the whole window nor any single day showed them there (each segment its own episode)."""
    found = []
    today = {f"{r.key}|{c}" for r in (summary.segments.segments if summary.segments else []) for c in r.fired}
    whole = set(summary.window.drifted) if summary.window else set()
    for key, comparison in sorted(summary.window_segments.items()):
        quiet = [c for c in comparison.drifted if c not in whole and f"{key}|{c}" not in today
                 and f"{key}|{c}" not in summary.shown_by_days]
        if not quiet:
            continue
        span = f"the last {len(comparison.days)} days ({comparison.days[0]} to {comparison.days[-1]})"
        found.append(Finding(
            rule="segment_window_drift", severity=Severity.WARNING, columns=quiet, segment=key,
            message=(f"In {key} ({comparison.rows:,} rows over {span}), {listing(quiet)} drifted against the same "
                     f"segment of the {comparison.baseline.split(', segment')[0]}; neither the whole window nor any "
                     "single day showed it."),
            action=("A change confined to one slice of the traffic, too small for a day: compare the segment's "
                    "days with the weeks before and check what feeds it (a channel's form, a region's source)."),
            evidence=[f"{c.column}: " + "; ".join(f"{what} {j.words()}" for what, j in (
                ("mean shift (sd)", c.mean_shift), ("distance", c.distance)) if j is not None and j.fired)
                for c in comparison.columns if c.column in quiet]))
    return found


def _gradual_findings(summary: DaySummary) -> list[Finding]:
    """Columns whose slow drift (monitoring.gradual) fired while no single day since it most likely started showed
    them drifted: a change that crept in, with the day it most likely started."""
    shown = {*drifted_today(summary), *summary.shown_by_days}
    fired = [c for c in summary.gradual if c.verdict is not None and c.verdict.fired and c.column not in shown]
    if not fired:  # a column a day showed drifted is that day's finding
        return []
    starts = sorted({c.started for c in fired if c.started})
    since = f" since {starts[0]}" if len(starts) == 1 else ""
    return [Finding(rule="gradual_drift", severity=Severity.WARNING, columns=[c.column for c in fired],
                    message=(f"{listing([c.column for c in fired])} crept away from the reference{since}: "
                             + "; ".join(f"{c.column} {c.direction} by {abs(c.shift):.2f} sd"
                                         + (f" since {c.started}" if c.started and not since else "")
                                         for c in fired)
                             + " (a slow change: the days' sums, not any one day)."),
                    action=("A change that creeps in a little each day: compare the weeks since it started with the "
                            "reference (python -m monitoring compare --against reference) and check what feeds "
                            "these columns."), evidence=[c.words() for c in fired])]


def _window_estimate(summary: DaySummary) -> list[Finding]:
    """The metrics CBPE expects worse over the trailing window (before its labels land) while no single day's own
    estimate was judged worse on them: a drop the days' inputs imply together, too small for one."""
    window, today = summary.window_estimate, summary.estimated_performance
    quiet = _quiet_metrics(window, today.degraded if today else [])
    if not quiet:
        return []
    span = f"the last {len(window.days)} days ({window.days[0]} to {window.days[-1]})"
    return [Finding(rule="window_estimated_performance", severity=Severity.WARNING, columns=[d.metric for d in quiet],
                    message=(f"Estimated performance ({window.method}, before the labels land) of the "
                             f"{window.predictions:,} predictions of {span}, judged together: "
                             + "; ".join(d.describe() for d in quiet) + "; no single day's estimate was worse."),
                    action=("The labels will confirm it or not (window_performance, once they are complete); "
                            "meanwhile look at the window's drift (python -m monitoring compare): the estimate "
                            "follows the inputs."),
                    evidence=[f"{d.metric} change: {d.verdict.words()}" for d in quiet if d.verdict])]


def _segment_findings(summary: DaySummary) -> list[Finding]:
    """Where the day changed: a column drifted inside a segment more than in the whole day, a segment's share of
    the traffic moved, a segment appeared or vanished (monitoring.segments); the largest impact first, at most
    `segments.max_findings` of each."""
    report = summary.segments
    if report is None:
        return []
    found = []
    for result in (r for r in report.segments if r.finding):
        if result.changed:
            words = [f"{c}: {result.fired[c].words()}" for c in result.changed]
            found.append(Finding(
                rule="segment_drift", severity=Severity.WARNING, columns=result.changed, segment=result.key,
                message=(f"In {result.where()}, {listing(result.changed)} drifted against the same segment of the "
                         "reference (Jensen-Shannon distance on the model's bins), more than in the whole day."),
                action=("Look at this segment's drift report and at what feeds it (a channel's form, a region's "
                        "source, a client version): the change starts here."), evidence=words))
        verdict = result.share_verdict
        if result.share_changed and verdict is not None:
            found.append(Finding(
                rule="segment_share", severity=Severity.WARNING, columns=[], segment=result.key,
                message=(f"{result.key} holds {result.share:.1%} of the day's rows ({result.rows:,}) against "
                         f"{result.reference_share:.1%} of the reference's."),
                action="The traffic's mix changed: check whether this segment's volume is expected (a campaign, an "
                       "outage, a routing change).", evidence=[f"share change: {verdict.words('%')}"]))
    for estimate in [e for e in report.estimated if e.degraded][:report.max_findings]:
        found.append(Finding(
            rule="segment_estimated_drop", severity=Severity.WARNING, columns=[estimate.metric],
            segment=estimate.key,
            message=(f"Estimated before the labels ({estimate.estimated_by}): "
                     f"{estimate.describe()}."),
            action="The labels will confirm it or not; meanwhile look at this segment's drift (the segment table).",
            evidence=[f"{estimate.metric} change: {estimate.verdict.words()}"] if estimate.verdict else []))
    for new in report.new[:report.max_findings]:
        found.append(Finding(
            rule="new_segment", severity=Severity.WARNING, segment=new.key,
            message=(f"{new.key}: {new.rows:,} rows ({new.share:.1%} of the day), a value the reference never had "
                     f"in {report.reference_rows:,} rows."),
            action="A new value reached the model: check the source, and whether the model knows how to treat it."))
    for gone in report.vanished[:report.max_findings]:
        found.append(Finding(
            rule="vanished_segment", severity=Severity.WARNING, segment=gone.key,
            message=(f"{gone.key} is absent from the day's {summary.rows.valid:,} valid rows; it holds "
                     f"{gone.reference_share:.1%} of the reference's."),
            action="A whole slice of the traffic stopped reaching the model, or its value changed: check the source."))
    return found


def _judgement(summary: DaySummary, name: str):
    """A calibrated judgement of the day's rates and joint drift, None without one (fixed mode)."""
    return summary.verdicts.statistics.get(name) if summary.verdicts else None


ESCALATING = frozenset({"missing_values", "performance_degradation", "volume"})


def _configured(finding: Finding, model: ModelConfig) -> Finding | None:
    setting = getattr(model.rules, finding.rule, None)
    if setting is None:
        return finding  # not configurable (unknown_label_ids: always info)
    if setting.severity == "off":
        return None
    if finding.severity is Severity.INFO or (finding.rule in ESCALATING and finding.severity is Severity.CRITICAL):
        return finding
    return finding.model_copy(update={"severity": Severity(setting.severity)})


def _output_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    """Volume against the trailing days, positive rate, a collapse of the predictions, low-confidence share."""
    found = [_volume(summary, model), _positive_rate(summary, model), _low_confidence(summary, model)]
    collapse = _collapse(summary, model)
    if collapse:
        found.append(Finding(
            rule="prediction_collapse", severity=Severity.CRITICAL, columns=[collapse[0]],
            message=f"Prediction collapse: {collapse[1]}.",
            action="The model may be stuck: check the served model artifact, its inputs and any threshold change "
                   "now; do not trust today's decisions until it is explained.",
        ))
    return [f for f in found if f is not None]


def _volume(summary: DaySummary, model: ModelConfig) -> Finding | None:
    """Far from the mean of the trailing days: outside [min_ratio, max_ratio] of it, and (calibrated, with at least
    two trailing days) outside their own spread, k standard deviations of their logarithms."""
    setting, ops, rows = model.rules.volume, summary.operations, summary.rows.read
    if rows == 0:
        return Finding(
            rule="volume", severity=Severity.CRITICAL,
            message="No predictions on this day: its partition is complete but holds no rows (a volume collapse).",
            action="Check that the model is serving and that its logs are exported: a day without traffic looks "
                   "like this.")
    if not ops.trailing_volume or ops.trailing_volume_days < setting.min_days:
        return None
    ratio = rows / ops.trailing_volume
    if setting.min_ratio <= ratio <= setting.max_ratio:
        return None
    evidence = []
    if model.drift.calibrated and ops.trailing_volume_log_sd is not None:
        k = model.drift.band_sigma
        low, high = (math.exp(-k * ops.trailing_volume_log_sd), math.exp(k * ops.trailing_volume_log_sd))
        if low <= ratio <= high:
            return None  # within the trailing days' own ups and downs
        evidence = [f"volume: {ratio:.0%} of the trailing mean; the trailing days stay within {low:.0%} to "
                    f"{high:.0%} of it"]
    return Finding(
        rule="volume", severity=Severity.WARNING, evidence=evidence,
        message=(f"{rows} predictions, {ratio:.0%} of the mean of the previous {ops.trailing_volume_days} published "
                 f"day(s) ({ops.trailing_volume:.0f}); expected between {setting.min_ratio:.0%} and "
                 f"{setting.max_ratio:.0%}."),
        action="Check the serving logs' export and traffic: a partial export or an outage looks like this.")


def _positive_rate(summary: DaySummary, model: ModelConfig) -> Finding | None:
    """Outside its absolute bounds; away from the reference's: beyond its band and `min_change` (calibrated), or
    further than `max_change` (fixed)."""
    ops, limits = summary.operations, model.rules.positive_rate
    rate, ref = ops.positive_rate, ops.reference_positive_rate
    if rate is None:
        return None
    judged = _judgement(summary, "positive_rate")
    if judged is not None:
        moved = judged.fired
    else:
        moved = limits.max_change is not None and ref is not None and abs(rate - ref) > limits.max_change
    reasons = [f"below {limits.min:.0%}" if limits.min is not None and rate < limits.min else "",
               f"above {limits.max:.0%}" if limits.max is not None and rate > limits.max else "",
               f"{points(abs(rate - ref))} {'above' if rate > ref else 'below'} the reference's {ref:.1%}"
               if moved and ref is not None else ""]
    if not any(reasons):
        return None
    name = positive_rate_name(model.columns.decision)
    rhythm = not any(reasons[:2]) and model.columns.decision in summary.weekday_steady
    return Finding(
        rule="positive_rate", severity=Severity.INFO if rhythm else Severity.WARNING,
        message=f"{name[0].upper()}{name[1:]} {rate:.1%}: {'; '.join(r for r in reasons if r)}"
                + (f" as on the same weekday of the earlier weeks ({model.columns.decision} did not drift against "
                   "them: a weekly rhythm, windows.baseline weekday)." if rhythm else "."),
        action="The share of positive decisions moved: check the business impact and the inputs.",
        evidence=[f"positive rate change: {change_words(judged)}"] if judged is not None and moved else [])


def _low_confidence(summary: DaySummary, model: ModelConfig) -> Finding | None:
    """Above its absolute bound (binary classifiers: a multiclass model's top score spreads with its number of
    classes, so its share is only compared with its reference's); above the reference's: beyond its band and
    `min_increase` (calibrated), or by more than `max_increase` (fixed)."""
    ops, limits = summary.operations, model.rules.low_confidence
    bound = None if model.is_multiclass else limits.max_share
    share, ref = ops.low_confidence_share, ops.reference_low_confidence_share
    if share is None:
        return None
    judged = _judgement(summary, "low_confidence_share")
    if judged is not None:
        rose = judged.fired
    else:
        rose = limits.max_increase is not None and ref is not None and share - ref > limits.max_increase
    reasons = [f"above {bound:.0%}" if bound is not None and share > bound else "",
               f"{points(share - ref)} above the reference's {ref:.1%}" if rose and ref is not None else ""]
    if not any(reasons):
        return None
    rhythm = not reasons[0] and model.scoring.score in summary.weekday_steady
    return Finding(
        rule="low_confidence", severity=Severity.INFO if rhythm else Severity.WARNING,
        message=(f"{share:.1%} of predictions are low-confidence "
                 f"({'top score' if model.is_multiclass else 'max(p, 1 - p)'} below "
                 f"{ops.low_confidence_threshold}): {'; '.join(r for r in reasons if r)}"
                 + (" as on the same weekday of the earlier weeks (a weekly rhythm, windows.baseline weekday)."
                    if rhythm else ".")),
        action="The model is unsure on more inputs than usual: look for new kinds of inputs.",
        evidence=[f"low-confidence share change: {change_words(judged)}"] if judged is not None and rose else [])


def _collapse(summary: DaySummary, model: ModelConfig) -> tuple[str, str] | None:
    """(column, what collapsed) when every decision of the day took one class although the reference's positive rate
    makes that a near-impossible accident (`max_chance`), or when every prediction has the same score although the
    reference's vary; else None."""
    setting, ops, cols = model.rules.prediction_collapse, summary.operations, model.columns
    rows = ops.volume
    rate, reference = ops.positive_rate, ops.reference_positive_rate
    if cols.decision and rows and rate in (0.0, 1.0) and reference is not None and 0.0 < reference < 1.0:
        # The chance that `rows` independent decisions all land in this class at the reference's rate.
        log_chance = rows * math.log(reference if rate == 1.0 else 1.0 - reference)
        if log_chance < math.log(setting.max_chance):
            return cols.decision, (f"all {rows} predictions had {cols.decision} = {int(rate)} (the reference: "
                                   f"{reference:.1%} positive; by chance this happens less than once in "
                                   f"{1 / setting.max_chance:,.0f} days)")
    for column in cols.score_columns:
        score = summary.data_quality.columns.get(column)
        varied_reference = score is not None and score.distribution is not None and len(score.distribution.bins) > 1
        if rows >= setting.min_rows and varied_reference and score.min is not None and score.min == score.max:
            return column, (f"all {rows} predictions have the same {column} {score.min:g}, where the "
                            "reference's vary")
    return None


def _score_name(model: ModelConfig) -> str:
    return {ModelTask.BINARY_CLASSIFICATION: "score", ModelTask.MULTICLASS_CLASSIFICATION: "top score"}.get(
        model.task, "prediction")


def _label_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    """What the labels that landed on the day say: about the prediction day that came due (its performance, or its
    missing labels), the day whose labels are overdue, the estimate made before them, and the labels themselves."""
    report = summary.labels
    if report is None or model.labels is None:
        return []
    found = [_due_day(report.due, model, report.waiting), _overdue(report.overdue, model), _estimator_unreliable(report.due, model),
             _label_problems(report, model), _unknown_label_ids(report, model)]
    return [*(f for f in found if f is not None), *_class_recall(report.due), *_window_performance(report),
            *_segment_performance(report.due)[:model.segments.max_findings],
            *_segment_window_performance(report)[:model.segments.max_findings]]


def _due_day(due: DueDay, model: ModelConfig, waiting: list[str] = ()) -> Finding | None:
    if due.status == "judged" and due.degraded and due.superseded:
        return Finding(  # a version no longer in use: worth showing, not worth paging anyone
            rule="performance_degradation", severity=Severity.INFO, columns=[d.metric for d in due.degraded],
            message=(f"The predictions made on {due.day} by version {due.reference_version} ({due.coverage:.0%} "
                     f"labelled) performed worse than its reference: "
                     f"{'; '.join(d.describe() for d in due.degraded)}. Version {due.current_version} has replaced "
                     "it since."),
            action=f"None for {due.reference_version}; the days monitored with {due.current_version} are judged "
                   "against its own baseline.")
    if due.status == "judged" and due.degraded:
        retrain = due.retrain
        return Finding(
            rule="performance_degradation", severity=Severity.CRITICAL if retrain else Severity.WARNING,
            columns=[d.metric for d in due.degraded],
            message=(f"The predictions made on {due.day} ({due.coverage:.0%} labelled) performed worse than the "
                     f"reference: {'; '.join(d.describe() for d in due.degraded)}."),
            action=(f"Open the model performance report of {due.day}; compare with the drift of that day. "
                    + ("The drop passes the retraining limit: retraining is requested." if retrain else
                       "Retrain if the drop persists.")))
    if due.status == "too_few_labels":
        perf = model.performance
        return Finding(
            rule="labels_missing", severity=Severity.WARNING,
            message=(f"Only {due.coverage:.0%} ({due.labelled}) of the predictions made on {due.day} have labels "
                     f"{model.labels.lag_days} day(s) later (labels.lag_days), so their performance is not judged "
                     f"(it needs {perf.min_coverage:.0%} and {perf.min_labelled_rows} labelled rows)."
                     + (f" {len(waiting)} label folder(s) wait for their completion marker {model.labels_marker}: "
                        f"{waiting[0]}" if waiting else "")),
            action=("Write the label folders' completion marker, or set labels.completion_marker: none."
                    if waiting else "Check the label feed under labels/<model>/: labels may be late, or keyed by "
                                    "other ids."))
    return None


def _quiet_metrics(window: WindowPerformance | None, today: list[Degradation]) -> list[Degradation]:
    """The window's degraded metrics that neither a single day of it (`shown_by_days`) nor the day itself (`today`)
    was judged worse on: the window's own finding."""
    shown = {*(window.shown_by_days if window else {}), *(d.metric for d in today)}
    return [d for d in (window.degraded if window else []) if d.metric not in shown]


def _class_recall(due: DueDay) -> list[Finding]:
    """Multiclass: a class whose recall collapsed on a judged day (a version no longer in use pages nobody)."""
    if due.status != "judged" or due.superseded or not due.classes_collapsed:
        return []
    collapsed = due.classes_collapsed
    return [Finding(rule="class_recall", severity=Severity.WARNING, columns=[c.label for c in collapsed],
                    message=(f"The predictions made on {due.day}: the model no longer finds "
                             f"{listing([c.label for c in collapsed])}: "
                             + "; ".join(c.describe() for c in collapsed) + "."),
                    action=("Open the day's performance report (its confusion matrix: which class took these rows) "
                            "and the drift of that day; a class the model misses is a change in what it means, "
                            "often retraining."))]


def _window_performance(report: LabelsReport) -> list[Finding]:
    """The metrics worse over the due day's trailing window of labelled days while no single day of it was judged
    worse on them: a drop too small for a day's labels (a version no longer in use pages nobody)."""
    window, due = report.window, report.due
    quiet = _quiet_metrics(window, due.degraded) if not due.superseded else []
    if not quiet:
        return []
    span = f"the {len(window.days)} days {window.days[0]} to {window.days[-1]}"
    return [Finding(rule="window_performance", severity=Severity.WARNING, columns=[d.metric for d in quiet],
                    message=(f"The predictions made on {span}, judged together ({window.labelled:,} labelled of "
                             f"{window.predictions:,}): " + "; ".join(d.describe() for d in quiet)
                             + "; no single day was judged worse."),
                    action=("A drop too small for one day's labels: open the days' performance reports and the "
                            "window's drift (python -m monitoring compare), and look for the change that started it."),
                    evidence=[f"{d.metric} change: {d.verdict.words()}" for d in quiet if d.verdict])]


def _segment_performance(due: DueDay) -> list[Finding]:
    """A due day's headline metric fell inside a segment (judged against the reference's same segment); a version
    no longer in use pages nobody."""
    if due.status != "judged" or due.superseded:
        return []
    return [Finding(rule="segment_performance", severity=Severity.WARNING, columns=[s.metric], segment=s.key,
                    message=f"The predictions made on {due.day}: {s.describe()}.",
                    action=("Look at this segment's inputs on that day (its drift report, the segment table of the day "
                            "page): a slice of the traffic the model now serves worse."),
                    evidence=[f"{s.metric} change: {s.verdict.words()}"] if s.verdict else [])
            for s in due.segments_degraded]


def _quiet_segments(window: WindowPerformance, today: list[SegmentPerformance]) -> list[SegmentPerformance]:
    """The window's fallen segments that neither a single day of it (`segments_shown_by_days`) nor the day itself
    (`today`'s fallen ones) showed: the window's own findings, as `_quiet_metrics` are for the whole window."""
    shown = {s.key for s in today if s.degraded} | {key for key, days in window.segments_shown_by_days.items() if days}
    return [s for s in window.segments if s.degraded and s.key not in shown]


def _segment_window_estimate(summary: DaySummary) -> list[Finding]:
    """The headline metric CBPE expects worse inside a segment over the trailing window (before its labels land)
    while no single day's estimate, the day's included, showed it there."""
    window = summary.window_estimate
    if window is None:
        return []
    quiet = _quiet_segments(window, summary.segments.estimated if summary.segments else [])
    span = f"the last {len(window.days)} days ({window.days[0]} to {window.days[-1]})"
    return [Finding(rule="segment_window_estimated_drop", severity=Severity.WARNING, columns=[s.metric],
                    segment=s.key,
                    message=(f"Estimated ({window.method}, before the labels land) over {span}, judged together: "
                             f"{s.describe()}; no single day's estimate showed it."),
                    action=("The labels will confirm it or not (segment_window_performance, once they are complete); "
                            "meanwhile compare the segment's inputs over these days with the reference's "
                            "(python -m monitoring compare)."),
                    evidence=[f"{s.metric} change: {s.verdict.words()}"] if s.verdict else [])
            for s in quiet]


def _segment_window_performance(report: LabelsReport) -> list[Finding]:
    """The headline metric fell inside a segment over the due day's trailing window of labelled days while no single
    day of it, the due day included, showed it there: a slice's drop too small for a day's labels (a version no
    longer in use pages nobody)."""
    window, due = report.window, report.due
    if window is None or due.superseded:
        return []
    quiet = _quiet_segments(window, due.segments_degraded)
    span = f"the {len(window.days)} days {window.days[0]} to {window.days[-1]}" if window.days else ""
    return [Finding(rule="segment_window_performance", severity=Severity.WARNING, columns=[s.metric], segment=s.key,
                    message=f"The predictions made on {span}, judged together: {s.describe()}; no single day showed it.",
                    action=("A slice's drop too small for one day's labels: compare the segment's inputs over these "
                            "days with the reference's (python -m monitoring compare) and look at what feeds it."),
                    evidence=[f"{s.metric} change: {s.verdict.words()}"] if s.verdict else [])
            for s in quiet]


def _overdue(overdue: DueDay | None, model: ModelConfig) -> Finding | None:
    if overdue is None or overdue.status != "too_few_labels":
        return None
    return Finding(
        rule="labels_overdue", severity=Severity.WARNING,
        message=(f"The labels of the predictions made on {overdue.day} are overdue: {overdue.coverage:.0%} "
                 f"({overdue.labelled}) of them are labelled {model.labels.lag_days + model.labels.deadline_days} "
                 f"day(s) later, {model.labels.deadline_days} day(s) after they were due (labels.deadline_days)."),
        action="The label feed is behind or broken: check labels/<model>/ and the job that writes it; until "
               "the labels land, performance is only estimated.")


def _estimator_unreliable(due: DueDay, model: ModelConfig) -> Finding | None:
    check = due.estimate_check if due.status == "judged" else None
    if check is None or not check.unreliable or model.rules.estimator_unreliable.severity == "off":
        return None
    return Finding(
        rule="estimator_unreliable", severity=Severity(model.rules.estimator_unreliable.severity),
        columns=check.unreliable,
        message=(f"The {check.method} estimate made on {due.day} before its labels missed the realized "
                 "performance by more than chance: " + "; ".join(
                     f"{m} estimated {check.estimated[m]:.3f}, realized {check.estimated[m] - check.errors[m]:.3f}"
                     f" (off by {check.errors[m]:+.3f}, chance explains {check.bands[m]:.3f})"
                     for m in check.unreliable) + "."),
        action=("The estimate assumes the model's scores and errors relate to the inputs as on the reference: "
                "when the inputs look stable but the realized performance moved, the relation itself changed "
                "(concept drift). Trust the estimates of later days less until a retrained version is in use."))


def _label_problems(report: LabelsReport, model: ModelConfig) -> Finding | None:
    rejected = {k: v for k, v in sorted(report.problems.items()) if k != "unknown_id"}
    if not rejected and not report.file_problems:
        return None
    share = sum(rejected.values()) / report.rows if report.rows else 0.0
    limit = model.performance.max_label_problem_share
    parts = [f"{sum(rejected.values())} label row(s) rejected ({', '.join(f'{k}: {v}' for k, v in rejected.items())})"
             if rejected else "", f"{len(report.file_problems)} label file(s) unusable" if report.file_problems else ""]
    return Finding(
        rule="label_problems", severity=Severity.WARNING if report.file_problems or share > limit else Severity.INFO,
        message=(f"Of the {report.rows} labels that landed on {report.day}: {' and '.join(p for p in parts if p)}"
                 f" ({share:.1%}; a warning above {limit:.0%} or when a file is unusable)."),
        action="Inspect labels_quarantine.parquet and labels.json beside this summary; each row carries its reason.")


def _unknown_label_ids(report: LabelsReport, model: ModelConfig) -> Finding | None:
    if not report.problems.get("unknown_id"):
        return None
    return Finding(
        rule="unknown_label_ids", severity=Severity.INFO,
        message=(f"{report.problems['unknown_id']} label(s) that landed on {report.day} match no prediction of "
                 f"the last {model.labels.lookback} days."),
        action="Normal for labels of older predictions; otherwise check the ids the label feed uses.")


def _missing_where(summary: DaySummary, missing: list[str]) -> str:
    """Where the missing values concentrate: the judged segment whose most-missing column is one of `missing`, at
    least twice as missing there as over the whole day (the largest such share); "" when none is."""
    if summary.segments is None:
        return ""
    columns = summary.data_quality.columns
    found = [r for r in summary.segments.segments if r.status == "judged" and r.missing_column in missing
             and r.missing_share >= CONCENTRATION * columns[r.missing_column].missing_share]
    if not found:
        return ""
    top = max(found, key=lambda r: (r.missing_share, r.rows, r.key))
    return (f" Concentrated in segment {top.key}: {top.missing_share:.1%} of its {top.rows:,} rows lack "
            f"{top.missing_column} ({columns[top.missing_column].missing_share:.1%} over the day).")


def _quality_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    limits = model.quality
    findings = []
    columns = summary.data_quality.columns
    judged = {c: j for c in columns if (j := _judgement(summary, f"missing:{c}")) is not None}
    if judged:  # calibrated: beyond the reference's own missing share by more than chance and min_missing_increase
        missing = sorted(c for c, q in columns.items() if q.missing_share >= 1.0 or (c in judged and judged[c].fired))
        line = "beyond what the reference's missing values explain"
    else:
        missing = sorted(c for c, q in columns.items() if q.missing_share > limits.max_missing_share)
        line = f"above {limits.max_missing_share:.0%}"
    if missing:
        worst = max(columns[c].missing_share for c in missing)
        findings.append(Finding(
            rule="missing_values", severity=Severity.CRITICAL if worst >= 1.0 else Severity.WARNING, columns=missing,
            message=(f"Missing values {line} in {listing(missing)} (worst {worst:.1%})."
                     f"{_missing_where(summary, missing)}"),
            action="Check the feature pipeline that fills these columns.",
            evidence=[f"{c} missing share change: {change_words(judged[c])}" for c in missing if c in judged],
        ))
    new = sorted(c for c, q in columns.items() if (q.new_category_share or 0.0) > limits.max_new_category_share)
    if new:
        examples = listing([f"{c}: {listing(columns[c].new_categories or [], limit=5)}" for c in new], sep="; ",
                           each=None)
        findings.append(Finding(
            rule="new_categories", severity=Severity.WARNING, columns=new,
            message=f"Categories unseen in the reference above {limits.max_new_category_share:.0%} of rows ({examples}).",
            action="Confirm the new values are legitimate; the model has never seen them.",
        ))
    out = sorted(c for c, q in columns.items() if (q.out_of_range_share or 0.0) > limits.max_out_of_range_share)
    if out:
        findings.append(Finding(
            rule="out_of_range", severity=Severity.WARNING, columns=out,
            message=(f"Values outside the reference's range above {limits.max_out_of_range_share:.0%} of rows in "
                     f"{listing(out)}."),
            action="Check for unit changes or upstream bugs in these columns.",
        ))
    if summary.rows.quarantined_share > limits.max_quarantined_share:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.rows.quarantine_reasons.items()))
        findings.append(Finding(
            rule="quarantined_rows", severity=Severity.WARNING,
            message=(f"{summary.rows.quarantined} of {summary.rows.read} rows ({summary.rows.quarantined_share:.1%}) "
                     f"broke the data contract ({reasons})."),
            action="Inspect quarantine.parquet beside this summary; each row carries its reason.",
        ))
    return findings


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def positive_rate_name(decision: str | None) -> str:
    """The positive rate named after what counts as positive: the model's decision column (`columns.decision`)
    equal to 1, "positive rate (<decision> = 1)"."""
    return f"positive rate ({decision} = 1)" if decision else "positive rate"


def _in_points(change: float, signed: bool = False) -> str:
    text = f"{abs(change) * 100:.1f}".removesuffix(".0")
    if not signed or text == "0":
        return text
    return ("+" if change > 0 else "-") + text


def points(change: float, signed: bool = False) -> str:
    """A difference of two shares in percentage points ("25 points" from 40% to 65%, not "25%", which would be a
    relative change), to a tenth of a point."""
    text = _in_points(change, signed)
    return f"{text} {'point' if text.lstrip('+-') == '1' else 'points'}"


def change_words(judged: Judgement) -> str:
    """A calibrated judgement of the change of a share in plain words, in percentage points: the change, the band
    no change stays within at the day's size, and the smallest change that counts."""
    if judged.mode != "calibrated" or judged.value is None or judged.band is None:
        return judged.words("%")
    low, high = judged.band
    return (f"{points(judged.value, signed=True)}; no change on a day of {judged.rows:,} rows against "
            f"{judged.reference_rows:,} reference rows stays within {_in_points(low, signed=True)} to "
            f"{_in_points(high, signed=True)} points; the smallest change that counts is "
            f"{points(judged.min_effect or 0.0)}")
