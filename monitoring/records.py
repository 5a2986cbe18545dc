"""Records of a judged day, as written to JSON: each column's drift with its verdict (in `summary.json`); what labels
tell about a prediction day, its performance (`performance.json`, rewritten as more labels land), the labels that
landed on a run's day with the verdict on the day that came due (`labels.json`), and how the day's estimate compared
with its realized performance.
"""

from __future__ import annotations

from typing import Literal

from monitoring.classes import ClassRecall
from monitoring.metrics import ClassFigures, ReliabilityBin
from monitoring.segments import SegmentPerformance
from monitoring.verdicts import Degradation, Judgement
from monitoring.vocabulary import Record, is_test


class ColumnDrift(Record):
    """One column's drift on a day: its score, and whether it drifted (with the verdict: the day's size, the
    no-change band and why it fired or not), or why it was not measured."""

    kind: str  # "numerical" or "categorical"
    method: str
    threshold: float  # the method's configured line: the minimum effect in calibrated mode
    score: float | None
    drifted: bool
    skipped: str | None = None  # why no drift was computed
    verdict: Judgement | None = None

    @property
    def line(self) -> float:
        """The value the score must reach (a test: fall below) to count: the band's edge or the minimum effect,
        whichever is further; the configured threshold in fixed mode. Evidently's report draws this line."""
        verdict = self.verdict
        if verdict is None or verdict.band is None:
            return self.threshold
        return verdict.band[0] if is_test(self.method) else max(verdict.band[1], self.threshold)


class EstimateCheck(Record):
    """How the day's estimate (CBPE, DLE) compares with its realized performance once its labels are complete."""

    method: str
    estimated: dict[str, float]
    errors: dict[str, float]  # estimated - realized
    bands: dict[str, float]  # how far the error may go by chance: 3 standard errors of the realized value
    unreliable: list[str]  # metrics whose error left its band: the estimate did not hold (concept drift?)


class Performance(Record):
    """performance.json of a prediction day: what its labels, as known on `labels_as_of`, say about the model."""

    day: str
    labels_as_of: str
    complete: bool  # labels.lag_days have passed: its labels should all be in
    predictions: int
    labelled: int
    coverage: float
    label_digest: str
    metrics: dict[str, float | None]
    baseline: dict[str, float | None] | None
    degraded: list[Degradation]
    unjudged: dict[str, str] = {}  # metrics shown but not judged against a band, with why (ReferenceProfile.unjudged)
    confusion: dict[str, int] | None = None  # classification: tp, fp, tn, fn
    calibration: list[ReliabilityBin] | None = None  # classification: the score's reliability bins
    errors: dict[str, float] | None = None  # regression: mean error and error quantiles
    per_class: dict[str, ClassFigures] | None = None  # multiclass: each class's figures, in the classes' order
    confusion_matrix: list[list[int]] | None = None  # multiclass: [labelled class][predicted class]
    class_recalls: list[ClassRecall] = []  # multiclass: each class's recall judged against the reference's
    # Each metric's 95% confidence interval over the labelled rows (bootstrap): where the day's true value lies.
    intervals: dict[str, tuple[float, float]] | None = None
    estimate_check: EstimateCheck | None = None  # once complete: the day's estimate against its realized figures
    report: str | None = None  # the Evidently report beside it, once the day has labels
    report_labelled: int | None = None  # the labelled predictions the report was drawn on (reports.redraw_performance)
    report_skipped: str | None = None
    reference_version: str | None = None  # the version the day was monitored against: its baseline is this one's
    segments: list[SegmentPerformance] = []  # the headline metric inside each segment (monitoring.segments)
    # what the figures rest on (the day's predictions, its labels, the version, the judging settings): a complete day
    # whose inputs are unchanged is not computed or written again by later label runs
    inputs_sha256: str | None = None


Status = Literal["judged", "too_few_labels", "no_predictions"]


class DueDay(Record):
    """The prediction day whose labels came due on a run's day: judged, or why not."""

    day: str
    status: Status
    labelled: int
    coverage: float | None
    metrics: dict[str, float | None]
    baseline: dict[str, float | None] | None
    degraded: list[Degradation]
    reference_version: str | None = None  # the model version that made the judged predictions (its baseline)
    current_version: str | None = None  # the version in use on the run's day
    estimate_check: EstimateCheck | None = None
    segments_degraded: list[SegmentPerformance] = []  # segments whose headline metric fell (judged days only)
    classes_collapsed: list[ClassRecall] = []  # multiclass: classes whose recall collapsed (judged days only)

    @property
    def superseded(self) -> bool:
        """The judged predictions came from a version that has been replaced since (e.g. retrained)."""
        return bool(self.reference_version and self.current_version and self.reference_version != self.current_version)

    @property
    def retrain(self) -> list[Degradation]:
        """Degradations past the retraining limit; none when the version that made them is no longer in use."""
        return [] if self.superseded else [d for d in self.degraded if d.retrain]


class WindowPerformance(Record):
    """The labelled predictions of the last `windows.days` prediction days up to the day whose labels came due,
    judged together from the days' label counts (monitoring.window_state): a drop too small for one day's labels,
    plain over a week's. Only the metrics counts give (accuracy, precision, recall, F1 and their macro and weighted
    averages; MAE and RMSE)."""

    days: list[str]
    predictions: int
    labelled: int
    reference_version: str
    metrics: dict[str, float | None]
    baseline: dict[str, float | None]
    degraded: list[Degradation] = []
    shown_by_days: dict[str, list[str]] = {}  # degraded metrics single days were judged worse on: metric -> days
    # "CBPE": estimated before the labels land, from the days' expected confusion counts (`labelled` is then 0,
    # `predictions` the rows estimated); None: realized from the labels
    method: str | None = None
    # the headline metric inside each configured segment over the window (fallen ones first), and of the fallen ones
    # the days that showed the fall in the segment on their own: key -> days
    segments: list[SegmentPerformance] = []
    segments_shown_by_days: dict[str, list[str]] = {}


class LabelsReport(Record):
    """labels.json of a run's day: the labels that became known that day, and the verdict on the prediction day
    whose labels came due."""

    day: str
    files: list[dict[str, str | int]]
    rows: int
    joined: int  # usable labels that labelled a prediction of the window
    problems: dict[str, int]  # rejected or unknown label rows, per reason (see monitoring.labels)
    file_problems: list[str]  # files that could not be used at all, and label objects outside the dt= folders
    due: DueDay
    # labels.deadline_days: the prediction day whose labels are that many days past due, if still too few
    overdue: DueDay | None = None
    # Label folders of the window left for a later run: files there, their completion marker not yet
    waiting: list[str] = []
    window: WindowPerformance | None = None  # the due day's trailing window of labelled days (windows.daily)
