"""The stakeholder site, rendered from `reports_templates/` with jinja2 (autoescape on: data never runs).

    reports/index.html                  home: every model, its latest status and a sparkline
    reports/<model>/index.html          model: the last 90 days as charts, a table of days, CSV/JSON downloads
    reports/<model>/dt=<day>/index.html day: status and health, findings in plain words, KPIs, drift, quality,
                                        performance once labels arrive, the labels that landed that day

Performance is shown through one headline metric per model (the first of its `metric_rules`: f1 for a binary
classifier, macro F1 for a multiclass one, mae for a regressor, unless configured otherwise); the day page lists every
metric, and for a multiclass model each class's figures and the confusion matrix; its model page charts each class's
recall.

Links are relative, so the site works from any prefix, a bucket website or presigned access. Pages are built from
the metric history (`monitoring.history`) and each day's summary, never from raw logs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import mean

import jinja2
from markupsafe import Markup

from monitoring import charts
from monitoring.classes import ClassRecall
from monitoring.history import DayMetrics
from monitoring.importance import Correlation, correlation_ranking
from monitoring.layout import LayoutError, day_page_link
from monitoring.metrics import ClassFigures
from monitoring.records import DueDay, LabelsReport, Performance
from monitoring.rules import Finding, positive_rate_name
from monitoring.summary import DaySummary
from monitoring.text import listing
from monitoring.verdicts import Degradation, nominal_tail
from monitoring.vocabulary import LOWER_IS_BETTER, METRICS, REGRESSION_METRICS, TASK_METRICS, ModelTask, worse_by

TEMPLATES_ENV_VAR = "MONITORING_TEMPLATES"
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "reports_templates"
MODEL_PAGE_DAYS = 90
SPARKLINE_DAYS = 30
TRAILING_DAYS = 7


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    folder = Path(os.environ.get(TEMPLATES_ENV_VAR) or DEFAULT_TEMPLATES)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                                      undefined=jinja2.StrictUndefined)
    environment.globals.update(num=_num, pct=_pct, metric_label=metric_label, metric_value=metric_value)
    return environment


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


METRIC_LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1",
                 "roc_auc": "ROC AUC", "log_loss": "log loss", "calibration_error": "calibration error",
                 "macro_precision": "macro precision", "macro_recall": "macro recall", "macro_f1": "macro F1",
                 "weighted_precision": "weighted precision", "weighted_recall": "weighted recall",
                 "weighted_f1": "weighted F1", "mae": "MAE", "rmse": "RMSE", "mape": "MAPE", "r2": "R²"}
DEFAULT_HEADLINES = {ModelTask.MULTICLASS_CLASSIFICATION: "macro_f1", ModelTask.BINARY_CLASSIFICATION: "f1",
                     ModelTask.REGRESSION: "mae"}
ERROR_FIGURES = (("mean_error", "mean error"), ("p5", "P5"), ("p25", "P25"), ("p50", "median"), ("p75", "P75"),
                 ("p95", "P95"))
VERDICT_WORDS = {"judged": "judged", "too_few_labels": "not judged: too few of its predictions are labelled",
                 "no_predictions": "nothing to judge: no published predictions on that day"}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def metric_value(name: str, value: float | None) -> str:
    """A metric as people read it: MAPE in percent, large errors without decimals, else three decimals."""
    if value is None:
        return "n/a"
    if name == "mape":
        return f"{value:.2f}%"
    size = abs(value)
    return f"{value:,.0f}" if size >= 1000 else f"{value:.1f}" if size >= 100 else f"{value:.3f}"


def _own_metrics(task: ModelTask) -> set[str]:
    """The metrics of `task` that no other task has (accuracy or ROC AUC tell a binary from a multiclass model
    nothing)."""
    return set(TASK_METRICS[task]).difference(*(TASK_METRICS[t] for t in ModelTask if t is not task))


def headline_of(names, regression: bool | None = None) -> str | None:
    """The headline metric when the caller does not say: that of the task whose own metrics are among `names` (f1
    for a binary classifier, macro F1 for a multiclass one, mae for a regressor), only among the regressors or the
    classifiers when `regression` says which."""
    names = set(names)
    tasks = [t for t in DEFAULT_HEADLINES if regression is None or (t is ModelTask.REGRESSION) == regression]
    for family in (_own_metrics, lambda t: set(TASK_METRICS[t])):
        for task in tasks:
            if names & family(task):
                return DEFAULT_HEADLINES[task]
    return min(names) if names else None


def _order(names) -> list[str]:
    known = [m for m in METRICS if m in names]
    return known + sorted(set(names) - set(known))


@dataclass(frozen=True)
class MetricRow:
    """One performance metric of a day against the reference's baseline."""

    name: str
    value: float | None
    baseline: float | None
    change: str  # signed difference and relative change, in words ("" without a baseline)
    worse: bool | None  # the change is a worsening (None without both figures)
    degraded: Degradation | None


def _change(name: str, value: float | None, base: float | None) -> tuple[str, bool | None]:
    if value is None or base is None:
        return "", None
    diff = value - base
    if diff == 0:
        return "no change", False
    worse = diff > 0 if name in LOWER_IS_BETTER else diff < 0
    relative = f", {diff / abs(base):+.1%}" if base else ""
    sign = "+" if diff > 0 else "−"
    # MAPE is a percentage: a difference of two is in points ("+1.75 points", not "+1.75%")
    size = f"{abs(diff):.2f} points" if name == "mape" else metric_value(name, abs(diff))
    return f"{sign}{size}{relative} ({'worse' if worse else 'better'})", worse


def metric_rows(metrics: dict[str, float | None], baseline: dict[str, float | None] | None,
                degraded: list[Degradation]) -> list[MetricRow]:
    flagged = {d.metric: d for d in degraded}
    rows = []
    for name in _order(set(metrics) | set(flagged)):
        value, base = metrics.get(name), (baseline or {}).get(name)
        change, worse = _change(name, value, base)
        rows.append(MetricRow(name, value, base, change, worse, flagged.get(name)))
    return rows


@dataclass(frozen=True)
class HeadlineKpi:
    """The headline metric of a day's predictions, for the key figures."""

    name: str
    performance: Performance | None  # None: no label joined to the day yet
    value: float | None
    baseline: float | None
    trailing: float | None
    degraded: bool


@dataclass(frozen=True)
class DuePage:
    """The verdict on the prediction day whose labels came due, for the day page."""

    verdict: DueDay
    words: str
    rows: list[MetricRow]
    link: str | None


@dataclass(frozen=True)
class Trailing:
    """Averages of the days before a day (at most TRAILING_DAYS back); None where there were none."""

    rows: float | None
    positive_rate: float | None
    mean_score: float | None
    drift_share: float | None
    performance: float | None = None  # of the headline metric, over the days that have it
    low_confidence_share: float | None = None


def _avg(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def trailing(history: list[DayMetrics], day: str, headline: str | None = None) -> Trailing:
    end = dt.date.fromisoformat(day)
    window = [d for d in history if end - dt.timedelta(days=TRAILING_DAYS) <= dt.date.fromisoformat(d.day) < end]
    return Trailing(rows=_avg([d.rows for d in window]), positive_rate=_avg([d.positive_rate for d in window]),
                    mean_score=_avg([d.mean_score for d in window]), drift_share=_avg([d.drift_share for d in window]),
                    performance=_avg([d.performance.get(headline) for d in window]) if headline else None,
                    low_confidence_share=_avg([d.low_confidence_share for d in window]))


def _reliability(performance: Performance | None) -> Markup | None:
    if performance is None or not performance.calibration:
        return None
    return charts.reliability_chart(
        [(b.mean_score, b.observed_rate, b.count, f"{b.low:.1f}–{b.high:.1f}") for b in performance.calibration],
        title="Calibration")


def _due(labels: LabelsReport | None) -> DuePage | None:
    if labels is None:
        return None
    due = labels.due
    words = VERDICT_WORDS.get(due.status, due.status)
    if due.status == "judged":
        words = ("judged: performance degraded against the reference" if due.degraded else
                 f"judged: the recall of {listing(c.label for c in due.classes_collapsed)} collapsed"
                 if due.classes_collapsed else "judged: no metric worse than its limit")
    try:
        link = None if due.status == "no_predictions" else day_page_link(due.day, from_day_page=True)
    except LayoutError:
        link = None  # not a day: shown as text, never linked
    return DuePage(verdict=due, words=words, rows=metric_rows(due.metrics, due.baseline, due.degraded), link=link)


@dataclass(frozen=True)
class ClassRow:
    """One class of a multiclass model's labelled day: its figures, and its recall judged against the reference's
    (None when it was not: too few of its rows labelled, or the rule is off)."""

    label: str
    figures: ClassFigures
    judged: ClassRecall | None

    @property
    def collapsed(self) -> bool:
        return bool(self.judged and self.judged.collapsed)


@dataclass(frozen=True)
class ConfusionCell:
    """The labelled rows of one class predicted as one class: their count, their share of the class's labelled rows,
    and the cell's shade (darker with the share: green on the diagonal, where the prediction was right, else red)."""

    predicted: str
    count: int
    share: float | None
    shade: str


@dataclass(frozen=True)
class ConfusionRow:
    """The labelled rows of one class by the class predicted for them."""

    label: str
    total: int
    cells: list[ConfusionCell]


def _shade(share: float | None, right: bool) -> str:
    """A cell's background: transparent at 0%, at most 55% opaque (dark text stays readable on it)."""
    colour = "31,138,76" if right else "192,57,43"
    return f"rgba({colour},{0.55 * (share or 0.0):.2f})"


@dataclass(frozen=True)
class ClassesPage:
    """A multiclass model's labelled day: each class's figures and the confusion matrix, in the classes' order
    (`order` None when that order is unknown: the matrix, which has no names, is then not shown)."""

    rows: list[ClassRow]
    order: list[str] | None
    matrix: list[ConfusionRow]

    @property
    def judged(self) -> bool:
        return any(r.judged for r in self.rows)


def _class_order(performance: Performance, classes: tuple[str, ...] = ()) -> list[str] | None:
    """The classes of `performance` in the model's order: as configured, else as its judged recalls list them when
    they name every class (both keep the order; performance.json's keys come back sorted); None when unknown."""
    named = set(performance.per_class or {})
    for order in (list(classes), [c.label for c in performance.class_recalls]):
        if order and set(order) == named and len(order) == len(named):
            return order
    return None


def _classes(performance: Performance | None, classes: tuple[str, ...]) -> ClassesPage | None:
    """A multiclass model's labelled day, for its day page; None for the other models and before the labels."""
    if performance is None or not performance.labelled or not performance.per_class:
        return None
    figures, judged = performance.per_class, {c.label: c for c in performance.class_recalls}
    order = _class_order(performance, classes)
    listed = order or [*judged, *(c for c in figures if c not in judged)]
    matrix = performance.confusion_matrix or []
    if order is None or len(matrix) != len(order) or any(len(row) != len(order) for row in matrix):
        order, matrix = None, []
    rows = []
    for label, counts in zip(order or [], matrix):
        total, cells = sum(counts), []
        for predicted, n in zip(order, counts):
            share = n / total if total else None
            cells.append(ConfusionCell(predicted, n, share, _shade(share, predicted == label)))
        rows.append(ConfusionRow(label, total, cells))
    return ClassesPage(rows=[ClassRow(c, figures[c], judged.get(c)) for c in listed], order=order, matrix=rows)


def positive_rate_title(decision: str | None) -> str:
    """The positive rate's title, named after the model's decision column when known: "Positive rate (<decision> =
    1)"."""
    name = positive_rate_name(decision)
    return name[0].upper() + name[1:]


def render_day_page(summary: DaySummary, findings: list[Finding], metrics: DayMetrics,
                    history: list[DayMetrics], *, headline: str | None = None, decision: str | None = None,
                    regression: bool | None = None, classes: tuple[str, ...] = ()) -> str:
    """`headline`: the model's headline metric (the first of its metric_rules); guessed from the metric names when
    not given. `decision`: the model's decision column, which names the positive rate. `regression`: the model's
    task is regression (its figures are predictions, not scores); guessed from the summary when not given.
    `classes`: a multiclass model's classes in their configured order, the order of its per-class figures and
    confusion matrix."""
    columns = [*summary.data_drift.features.items(), *summary.prediction_drift.columns.items()]
    pictures = {}
    for name, quality in summary.data_quality.columns.items():
        if quality.distribution:
            d = quality.distribution
            pictures[name] = charts.distribution_bars(d.bins, d.reference, d.current, title=f"distribution of {name}")
    perf = summary.performance
    headline = headline or headline_of({*(perf.metrics if perf else {}), *metrics.performance,
                                        *(summary.labels.due.metrics if summary.labels else {}),
                                        *(m for d in history for m in d.performance)}, regression)
    behind = trailing(history, summary.day, headline)
    kpi = None
    if headline:
        labelled = perf is not None and perf.labelled > 0
        kpi = HeadlineKpi(name=headline, performance=perf if labelled else None,
                          value=perf.metrics.get(headline) if labelled else None,
                          baseline=(perf.baseline or {}).get(headline) if perf else None, trailing=behind.performance,
                          degraded=labelled and any(d.metric == headline for d in perf.degraded))
    ops = summary.operations
    if regression is None:
        regression = (headline in REGRESSION_METRICS if headline else
                      summary.prediction_drift.positive_rate is None and ops.low_confidence_share is None)
    # a multiclass model's score is its top score, its confidence as it is
    multiclass = not regression and bool(classes or (perf and perf.per_class)
                                         or headline in _own_metrics(ModelTask.MULTICLASS_CLASSIFICATION))
    return _environment().get_template("day.html.j2").render(
        s=summary, m=metrics, findings=findings, columns=columns, pictures=pictures, trailing=behind,
        headline=kpi, regression=regression, multiclass=multiclass, classes=_classes(perf, classes),
        positive_rate_title=positive_rate_title(decision),
        perf_rows=metric_rows(perf.metrics, perf.baseline, perf.degraded) if perf and perf.labelled else [],
        estimate=_estimate(summary),
        calibration=_reliability(perf), error_figures=ERROR_FIGURES, due=_due(summary.labels),
        band_tail=nominal_tail(summary.verdicts.band_sigma) if summary.verdicts else 0.0,
        segment_chart=_segment_chart(summary))


def _segment_chart(summary: DaySummary) -> str:
    """The day's segments that carry a change, by impact (at most ten), as bars."""
    top = summary.segments.top(10) if summary.segments is not None else []
    if not top:
        return ""
    return charts.impact_bars([s.key for s in top], [s.impact for s in top],
                              title="segments by the share of the day's change they carry")


@dataclass(frozen=True)
class EstimateRow:
    """A metric estimated before the labels, beside what the labels gave once they landed."""

    row: MetricRow  # the estimate against the reference
    band: tuple[float, float] | None
    realized: float | None
    off_by: float | None  # once the labels are complete: estimated - realized
    unreliable: bool  # off by more than chance


def _estimate(summary: DaySummary) -> list[EstimateRow]:
    estimate, perf = summary.estimated_performance, summary.performance
    if estimate is None:
        return []
    realized = perf.metrics if perf is not None and perf.labelled else {}
    check = perf.estimate_check if perf is not None else None
    return [EstimateRow(row=row, band=estimate.bands.get(row.name), realized=realized.get(row.name),
                        off_by=check.errors.get(row.name) if check else None,
                        unreliable=bool(check and row.name in check.unreliable))
            for row in metric_rows(estimate.metrics, estimate.baseline, estimate.degraded)]


def _headline_of_history(days: list[DayMetrics]) -> str | None:
    return headline_of({m for d in days for m in (*d.performance, *d.baseline_performance)})


def _band(pairs: list) -> list | None:
    """The days' bands for a chart, or None when no day has one (fixed mode, or before calibration)."""
    return pairs if any(pair is not None for pair in pairs) else None


@dataclass(frozen=True)
class ClassTrack:
    """One class of a multiclass model over the model page's days: the reference's recall, its latest labelled
    day's, and the days its recall collapsed."""

    label: str
    reference: float | None
    latest: float | None
    latest_day: str | None
    collapsed: list[str]


def _class_tracks(days: list[DayMetrics], classes: tuple[str, ...]) -> list[ClassTrack]:
    """Each class with a recall on one of the days, in the configured order (then any other, by name)."""
    seen = {c for d in days for c in d.class_recall}
    tracks = []
    for label in [c for c in classes if c in seen] + sorted(seen - set(classes)):
        last = next((d for d in reversed(days) if label in d.class_recall), None)
        reference = next((d.reference_class_recall[label] for d in reversed(days)
                          if label in d.reference_class_recall), None)
        tracks.append(ClassTrack(label, reference, last.class_recall[label] if last else None,
                                 last.day if last else None, [d.day for d in days if label in d.classes_collapsed]))
    return tracks


def render_model_page(model: str, description: str, history: list[DayMetrics], *, headline: str | None = None,
                      decision: str | None = None, classes: tuple[str, ...] = (), weeks: list = ()) -> str:
    """`headline`: the model's headline metric (the first of its metric_rules); guessed when not given. `decision`:
    the model's decision column, which names the positive rate. `classes`: a multiclass model's classes in their
    configured order, the order of its per-class recall lines. `weeks`: its latest weekly reports
    (`weekly.WeekReport`), oldest first: their trend of weekly drift, linked."""
    days = history[-MODEL_PAGE_DAYS:]
    tracks = _class_tracks(days, classes)
    headline = headline or _headline_of_history(days)
    labelled = [d for d in days if headline and d.performance.get(headline) is not None]
    has_positive_rate = any(d.positive_rate is not None or d.reference_positive_rate is not None for d in days)
    labels = [d.day for d in days]
    links = [day_page_link(d.day) for d in days]
    features = sorted({f for d in days for f in d.features})
    cells = {f: {d.day: (p.score, p.line or p.threshold, p.drifted) for d in days if (p := d.features.get(f))}
             for f in features}
    figures: dict[str, Markup] = {}
    if days:
        figures = {
            "health": charts.line_chart(labels, {"health score": [d.health_score for d in days]}, title="Health score",
                                        y_min=0, y_max=100, links=links),
            "drift_share": charts.line_chart(labels, {"drifted features": [d.drift_share for d in days]},
                                             title="Share of drifted features", percent=True, y_min=0, y_max=1,
                                             links=links),
            "heatmap": charts.heatmap(labels, features, cells, title="Drift score by feature (red border: drifted)",
                                      links=links),
            "volume": charts.line_chart(labels, {"predictions": [float(d.rows) for d in days]},
                                        title="Prediction volume", y_min=0, links=links,
                                        band=_band([d.volume_band for d in days]),
                                        band_label="within the trailing days' own ups and downs"),
        }
        if has_positive_rate:
            figures["positive_rate"] = charts.line_chart(
                labels, {"positive rate": [d.positive_rate for d in days],
                         "reference": [d.reference_positive_rate for d in days]},
                title=positive_rate_title(decision), percent=True, links=links,
                band=_band([d.positive_rate_band for d in days]))
        estimated = [d for d in days if headline and d.estimated_performance.get(headline) is not None]
        if labelled or estimated:
            name = metric_label(headline)
            series = {name: [d.performance.get(headline) for d in days],
                      f"reference {name}": [d.baseline_performance.get(headline) for d in days]}
            if estimated:
                series[f"estimated {name} ({estimated[-1].estimate_method})"] = [
                    d.estimated_performance.get(headline) for d in days]
            figures["performance"] = charts.performance_chart(
                labels, series, [d.label_coverage for d in days], [d.labels_complete for d in days],
                title=f"Performance ({name}) with label coverage", links=links,
                band=_band([d.performance_intervals.get(headline) for d in days]),
                estimate_band=_band([d.estimated_bands.get(headline) for d in days]))
        if tracks:
            figures["class_recall"] = charts.line_chart(
                labels, {t.label: [d.class_recall.get(t.label) for d in days] for t in tracks},
                title="Recall of each class", percent=True, y_min=0, y_max=1, links=links)
        segments = sorted({k for d in days for k in d.segments},
                          key=lambda k: (-sum(p.drifted for d in days if (p := d.segments.get(k))), k))[:30]
        if segments:
            figures["segment_heatmap"] = charts.heatmap(
                labels, segments, {k: {d.day: (p.score, p.line or p.threshold, p.drifted) for d in days
                                       if (p := d.segments.get(k))} for k in segments},
                title="Largest drift inside each segment (red border: drifted there)", links=links)
        figures["feature_bands"] = Markup("".join(
            charts.line_chart(labels, {feature: [p.score if (p := d.features.get(feature)) else None for d in days]},
                              title=f"{feature}: drift score", y_min=0, height=110, links=links,
                              band=band, band_label="no drift: below its band's edge and its threshold")
            for feature in features
            if (band := _band([(0.0, p.line) if (p := d.features.get(feature)) and p.line is not None else None
                               for d in days]))))
    if weeks:
        figures["weekly_drift"] = charts.line_chart(
            [w.week for w in weeks],
            {"columns drifted against the reference": [float(len(w.reference.drifted)) for w in weeks],
             "against the week before": [float(len(w.previous.drifted)) if w.previous else None for w in weeks]},
            title="Weekly drift: columns drifted over each week", y_min=0,
            links=[f"week={w.week}/index.html" for w in weeks])
    return _environment().get_template("model.html.j2").render(
        model=model, description=description, days=days, latest=days[-1] if days else None, charts=figures,
        headline=headline, has_positive_rate=has_positive_rate, lower_is_better=headline in LOWER_IS_BETTER,
        classes=tracks, weeks=list(weeks),
        track=estimate_track(history, headline), correlations=_correlations(days, features, headline),
        has_estimate=any(headline and d.estimated_performance.get(headline) is not None for d in days))


def _correlations(days: list[DayMetrics], features: list[str], headline: str | None) -> list[Correlation]:
    """NannyML's correlation ranker over the page's days: each feature's daily drift against the headline metric's
    worsening (realized where labelled, else estimated); empty before five such days. The drift is its effect (a
    distance, or a test's effect size): a test's p-value falls as drift grows and would turn the sign."""
    if not headline:
        return []
    change = []
    for d in days:
        base = d.baseline_performance.get(headline)
        value = d.performance.get(headline)
        value = value if value is not None else d.estimated_performance.get(headline)
        change.append(worse_by(headline, value, base) if value is not None and base is not None else None)
    drift = {f: [p.effect if (p := d.features.get(f)) else None for d in days] for f in features}
    found = correlation_ranking(drift, change)
    return [c for c in found if c.correlation is not None]


@dataclass(frozen=True)
class EstimateTrack:
    """How the estimates made before the labels compared with the realized figures, over the last judged days."""

    method: str
    metric: str
    days: int  # judged days (labels complete) that had an estimate
    held: int  # of them, days whose estimate was within chance of the realized value
    within: float | None  # the largest |estimated - realized| over those days
    worst: float  # the largest over all of them


def estimate_track(history: list[DayMetrics], headline: str | None, days: int = MODEL_PAGE_DAYS) -> EstimateTrack | None:
    checked = [d for d in history if headline in d.estimate_errors][-days:]
    if not checked:
        return None
    held = [abs(d.estimate_errors[headline]) for d in checked if headline not in d.estimate_unreliable]
    return EstimateTrack(method=checked[-1].estimate_method or "estimate", metric=headline, days=len(checked),
                         held=len(held), within=max(held) if held else None,
                         worst=max(abs(d.estimate_errors[headline]) for d in checked))


@dataclass(frozen=True)
class HomePerformance:
    """The headline metric of the most recent prediction day that has labels."""

    metric: str
    day: DayMetrics

    @property
    def value(self) -> float | None:
        return self.day.performance.get(self.metric)

    @property
    def degraded(self) -> bool:
        return self.metric in self.day.performance_degraded


@dataclass(frozen=True)
class HomeEntry:
    name: str
    description: str
    latest: DayMetrics | None
    spark: Markup
    performance: HomePerformance | None = None


def render_compare_page(comparison, missing: dict[str, list]) -> str:
    """The page of `python -m monitoring compare`: a range of days against its baseline (`windows.WindowComparison`),
    column by column, and the days either side left out."""
    return _environment().get_template("compare.html.j2").render(c=comparison, missing=missing)


def render_week_page(report) -> str:
    """A model's weekly report (`weekly.WeekReport`): its days, its labelled predictions' performance, its columns
    against the reference and against the week before."""
    return _environment().get_template("week.html.j2").render(w=report)


def render_home_page(models: list[tuple[str, str, list[DayMetrics]]], *,
                     headlines: dict[str, str] | None = None) -> str:
    """`headlines`: model name -> its headline metric (the first of its metric_rules); guessed when not given."""
    entries = []
    for name, description, history in sorted(models):
        recent = history[-SPARKLINE_DAYS:]
        headline = (headlines or {}).get(name) or _headline_of_history(history)
        last = next((d for d in reversed(history) if headline and d.performance.get(headline) is not None), None)
        entries.append(HomeEntry(name, description, history[-1] if history else None,
                                 charts.sparkline([d.health_score for d in recent], label=f"{name} health"),
                                 HomePerformance(headline, last) if last else None))
    return _environment().get_template("home.html.j2").render(entries=entries)
