"""The reference of a model version, fitted once: `ReferenceProfile`.

A reference version is the baseline a model was trained or validated on. Everything the daily runs compare against is
derived from it once and persisted beside it (`monitoring.reference_store`): per numerical column (features and the
score) its count, mean, range, inner edges at its deciles (the bins of every day's histogram, fixed for the version)
and its shares in those bins; per categorical column (features and the decision) the count of every category; the
operational baselines (mean score, positive rate, confidence); the performance baseline on the labelled reference;
the principal components of the features (multivariate drift); the no-change band of every calibrated statistic
(`monitoring.replicates`, `monitoring.bands`); and the estimators of performance before the labels
(`monitoring.estimators`). Fitting is deterministic: the same rows, settings and fingerprint give the same profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import PrivateAttr

from monitoring import estimators, importance, metrics, multivariate, replicates
from monitoring.bands import NullModel
from monitoring.config import FitSettings, Scoring
from monitoring.estimators import CbpeFit, DleFit, MulticlassCbpeFit
from monitoring.metrics import ClassFigures
from monitoring.importance import FeatureImportance
from monitoring.multivariate import PcaFit
from monitoring.operations import confidence
from monitoring.quality import finite, reference_bins, shares
from monitoring.segments import COUNTED, BinnedColumn, SegmentsFit
from monitoring.storage import dumps
from monitoring.vocabulary import LABEL, Record

PROFILE_SCHEMA = 7  # raise when what is fitted changes: every version is then refitted on first use (7: `unjudged`)


class NumericalBaseline(Record):
    count: int  # values present
    mean: float | None
    min: float | None
    max: float | None
    edges: list[float]  # inner bin edges at the deciles (empty for a constant column)
    bins: list[str]  # the bins' labels
    shares: list[float]  # the reference's share of values in each bin


class CategoricalBaseline(Record):
    counts: dict[str, int]  # every category of the reference


class OperationalBaseline(Record):
    mean_score: float | None
    positive_rate: float | None
    mean_confidence: float | None  # classifiers only
    low_confidence_share: float | None


class ReferenceProfile(Record):
    """What every daily step compares a day with: fitted once per reference version (see the module's doc)."""

    schema_version: int = PROFILE_SCHEMA
    model: str
    version: str
    fingerprint: str
    rows: int
    numerical: dict[str, NumericalBaseline]
    categorical: dict[str, CategoricalBaseline]
    operations: OperationalBaseline
    performance: dict[str, float | None] | None  # the metrics on the labelled reference; None without labels
    unjudged: dict[str, str] = {}  # metrics shown but given no no-change band, with why (metrics.unjudgeable)
    per_class: dict[str, ClassFigures] | None = None  # multiclass with a labelled reference: each class's figures
    sample_rows: int  # rows in the sample handed to Evidently
    multivariate: PcaFit | None = None  # the principal components of the features (monitoring.multivariate)
    reconstruction_error: float | None = None  # the reference rows' mean reconstruction error, held out
    # The no-change distribution of every calibrated statistic, by name (see `vocabulary.statistic_name`): empty in fixed mode.
    nulls: dict[str, NullModel] = {}
    cbpe: CbpeFit | None = None  # binary classifiers with a labelled reference: performance estimated before labels
    cbpe_multiclass: MulticlassCbpeFit | None = None  # multiclass classifiers with a labelled reference: the same
    dle: DleFit | None = None  # regressors with a labelled reference (its nanny models beside the profile)
    segments: SegmentsFit | None = None  # the configured segments (monitoring.segments): calibrated mode only
    importance: FeatureImportance | None = None  # which features the model leans on (monitoring.importance)
    _artifacts: dict[str, bytes] = PrivateAttr(default_factory=dict)  # fitted models to store beside the profile

    def null(self, name: str) -> NullModel | None:
        return self.nulls.get(name)

    def missing_share(self, column: str) -> float:
        """The share of the reference's rows without a value in `column`."""
        if column in self.numerical:
            present = self.numerical[column].count
        else:
            present = sum(self.categorical[column].counts.values()) if column in self.categorical else self.rows
        return 1 - present / self.rows if self.rows else 0.0

    @classmethod
    def fit(cls, frame: pd.DataFrame, model: str, settings: FitSettings, version: str, fingerprint: str,
            salt: int = 0, artifact: object | None = None) -> ReferenceProfile:
        """Fit on a typed reference (`contract.prepare_reference`) of model `model`. Each statistic's replicate days
        are drawn from a generator seeded by the data it reads and the settings that shape it (`replicates.
        calibrate_each`): the fit depends on the reference and these settings, not on the fingerprint. `salt` draws
        other replicate days (independent fits of the same reference, for the benchmarks). `artifact`: the model
        version's unpickled model, whose permutation importance on the labelled reference ranks the features (a
        surrogate of the score stands in without it)."""
        scoring = settings.scoring
        pca = multivariate.fit(frame, list(settings.numerical), list(settings.categorical))
        errors = multivariate.held_out_errors(frame, pca, salt) if pca is not None else None
        nulls = {}
        unjudged = metrics.unjudgeable(frame, scoring, settings.label)
        if settings.calibrated:
            banded = settings.model_copy(update={"metrics": tuple(m for m in settings.metrics if m not in unjudged)})
            rows = replicates.RowValues(frame, banded, errors)
            nulls = replicates.calibrate_each(rows, min(len(frame), settings.max_rows), salt)
        estimate = settings.estimate
        cbpe = estimators.fit_cbpe(frame, scoring, settings.label) if estimate and scoring.is_classification else None
        multiclass = _fit_cbpe_multiclass(frame, scoring, settings.label) if estimate else None
        dle = (estimators.fit_dle(frame, settings.numerical, settings.categorical, scoring.score, settings.label)
               if estimate and scoring.is_regression else None)
        labelled = metrics.reference_figures(frame, scoring, settings.label)
        profile = cls(
            model=model, version=version, fingerprint=fingerprint, rows=len(frame),
            numerical={c: _numerical(frame[c]) for c in (*settings.numerical, scoring.score, *scoring.scores)},
            categorical={c: CategoricalBaseline(counts={str(k): int(v) for k, v in frame[c].dropna().astype(str)
                                                        .value_counts().items()})
                         for c in (*settings.categorical, *([scoring.decision] if scoring.decision else []))},
            operations=_operations(frame, settings), performance=labelled.metrics if labelled else None,
            unjudged=unjudged,
            per_class=labelled.per_class if labelled else None,
            sample_rows=min(len(frame), settings.max_rows), multivariate=pca, nulls=nulls,
            reconstruction_error=float(errors.mean()) if errors is not None else None, cbpe=cbpe,
            cbpe_multiclass=multiclass,
            dle=dle[0] if dle else None,
            importance=importance.fit_importance(frame, settings.numerical, settings.categorical, scoring.score,
                                                 settings.label, scoring.is_classification, artifact,
                                                 multiclass=scoring.is_multiclass))
        profile._artifacts = dle[1] if dle else {}
        if settings.segments is not None:
            binned = [BinnedColumn(column=c, edges=b.edges) for c, b in profile.numerical.items() if b.count]
            binned += [BinnedColumn(column=c, categories=sorted(b.counts)) for c, b in profile.categorical.items()]
            profile = profile.model_copy(update={"segments": SegmentsFit.fit(
                frame, settings.segments, binned, salt, **_segment_measures(frame, settings, cbpe, dle))})
            profile._artifacts = dle[1] if dle else {}
        return profile

    def to_json(self) -> bytes:
        return dumps(self.model_dump(mode="json"))  # floats at full precision: the fitted values read back exactly


def _fit_cbpe_multiclass(frame: pd.DataFrame, scoring: Scoring, label: str | None) -> MulticlassCbpeFit | None:
    """A multiclass model's CBPE on its labelled reference; None for the others or without labels."""
    if not scoring.is_multiclass or label is None or label not in frame.columns:
        return None
    y, scores, decisions = metrics.arrays(frame.rename(columns={label: LABEL}), scoring)
    return estimators.fit_cbpe_multiclass(y, scores, decisions, list(scoring.classes))


def _numerical(series: pd.Series) -> NumericalBaseline:
    values = series.dropna().to_numpy(dtype=float)
    edges, labels = reference_bins(values)
    present = len(values) > 0
    return NumericalBaseline(count=len(values), mean=finite(values.mean()) if present else None,
                             min=float(values.min()) if present else None, max=float(values.max()) if present else None,
                             edges=[float(e) for e in edges], bins=labels, shares=shares(values, edges))


def _mean(series: pd.Series) -> float | None:
    series = series.dropna()
    return float(series.mean()) if len(series) else None


def _operations(frame: pd.DataFrame, settings: FitSettings) -> OperationalBaseline:
    """The reference's side of the operational figures (confidence for classifiers only: a regression's output is
    not a probability)."""
    scoring = settings.scoring
    scores = frame[scoring.score].dropna()
    sure = confidence(scores, scoring.is_multiclass)
    classifier = not scoring.is_regression and len(scores)
    binary_decision = scoring.decision if scoring.is_classification else None
    return OperationalBaseline(
        mean_score=_mean(scores), positive_rate=_mean(frame[binary_decision]) if binary_decision else None,
        mean_confidence=_mean(sure) if classifier else None,
        low_confidence_share=float((sure < settings.low_confidence).mean()) if classifier else None)


def _segment_measures(frame: pd.DataFrame, settings: FitSettings, cbpe: CbpeFit | None,
                      dle: tuple[DleFit, dict[str, bytes]] | None) -> dict:
    """What `SegmentsFit.fit` measures inside each segment of a labelled reference (none without labels): the
    headline metric of reference rows, a classifier's confusion counts, and the metric as the estimator sees those
    rows (CBPE's expected counts, DLE's expected losses), the baseline of a segment's estimate: the estimator's own
    bias inside a segment (a calibration that is global, a nanny that cannot see the segment) then cancels."""
    scoring, name = settings.scoring, settings.segments.metric if settings.segments else None
    if not name or not settings.label or settings.label not in frame.columns:
        return {}
    y, p, yhat = metrics.arrays(frame.rename(columns={settings.label: LABEL}), scoring)
    found: dict = {"metric": (name, lambda rows: metrics.metric_of_arrays(
        scoring, name, y[rows], p[rows], None if yhat is None else yhat[rows]))}
    if scoring.is_classification:
        found["confusion"] = lambda rows: metrics.confusion_counts(y[rows].astype(int), yhat[rows])
    if cbpe is not None and scoring.is_classification and name in COUNTED:
        chance = cbpe.probabilities(p)

        def expected(rows: np.ndarray) -> float:
            counts = estimators.ExpectedConfusion(cbpe)
            counts.add_probabilities(chance[rows], yhat[rows])
            return counts.metrics()[name]
        found["estimated"] = expected
    elif dle is not None and name in estimators.DLE_METRICS:
        nannies = estimators.load_nannies(dle[1])
        losses = estimators.dle_losses(dle[0], {m: nannies[f] for m, f in dle[0].artifacts.items()}, frame,
                                       settings.numerical, scoring.score)[name]
        found["estimated"] = lambda rows: estimators.dle_metric(name, losses[rows])
    return found

