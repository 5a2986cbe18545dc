"""The reference of a model version, fitted once: `ReferenceProfile`.

A reference version is the baseline a model was trained or validated on (`reference/<model>/v=<version>/*.parquet`,
named by `reference/<model>/CURRENT.json`). Everything the daily runs compare against is derived from it once, the
first time the version is used (or when the built-in retraining promotes it), and persisted beside it:

    reference/<model>/_profiles/v=<version>/<fingerprint>/profile.json    the fitted profile (below)
    reference/<model>/_profiles/v=<version>/<fingerprint>/sample.parquet  the rows Evidently compares with

The fingerprint covers the version's files (keys, sizes, ETags) and the settings the fit depends on (the columns and
their kinds, the label, `operations.low_confidence`, `performance.probability_threshold`, `reports.max_rows`), so a
changed reference or config refits and a rerun reuses. Fitting is deterministic: two runs fitting the same version at
once write the same bytes. The raw reference is read only to fit.

The profile holds, per numerical column (features and the score), its count, mean, range, inner edges at its deciles
(the bins of every day's histogram, fixed for the version) and its shares in those bins; per categorical column
(features and the decision) the count of every category; the operational baselines (mean score, positive rate,
confidence); and the performance baseline on the labelled reference. Later calibrations and estimators are fitted
here too.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, PrivateAttr

from monitoring import calibration, contract, estimation, ingest, multivariate, replicates
from monitoring.calibration import NullModel
from monitoring.estimation import CbpeFit, DleFit
from monitoring.config import LogFormat, ModelConfig
from monitoring.layout import ModelLayout
from monitoring.multivariate import PcaFit
from monitoring.operations import confidence
from monitoring.quality import finite, reference_bins, shares
from monitoring.storage import JSON, PARQUET, ObjectStore, StoredObject, dumps

log = logging.getLogger(__name__)

PROFILE_SCHEMA = 3  # raise when what is fitted changes: every version is then refitted on first use


class MissingReferenceError(LookupError):
    """The model has no usable reference version."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericalBaseline(_Frozen):
    count: int  # values present
    mean: float | None
    min: float | None
    max: float | None
    edges: list[float]  # inner bin edges at the deciles (empty for a constant column)
    bins: list[str]  # the bins' labels
    shares: list[float]  # the reference's share of values in each bin


class CategoricalBaseline(_Frozen):
    counts: dict[str, int]  # every category of the reference


class OperationalBaseline(_Frozen):
    mean_score: float | None
    positive_rate: float | None
    mean_confidence: float | None  # classifiers only
    low_confidence_share: float | None


class ReferenceProfile(_Frozen):
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
    sample_rows: int  # rows in the sample handed to Evidently
    multivariate: PcaFit | None = None  # the principal components of the features (monitoring.multivariate)
    reconstruction_error: float | None = None  # the reference rows' mean reconstruction error, held out
    # The no-change distribution of every calibrated statistic, by name (see `null_name`): empty in fixed mode.
    nulls: dict[str, NullModel] = {}
    cbpe: CbpeFit | None = None  # binary classifiers with a labelled reference: performance estimated before labels
    dle: DleFit | None = None  # regressors with a labelled reference (its nanny models beside the profile)
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
    def fit(cls, frame: pd.DataFrame, model: ModelConfig, version: str, fingerprint: str) -> ReferenceProfile:
        """Fit on a typed reference (`contract.prepare_reference`)."""
        from monitoring import performance

        cols = model.columns
        pca = multivariate.fit(frame, list(cols.numerical), list(cols.categorical))
        seed = int(fingerprint, 16) % 2**32
        errors = multivariate.held_out_errors(frame, pca, seed) if pca is not None else None
        nulls = {}
        if model.drift.calibrated:
            rows = replicates.RowValues(frame, model, errors)
            nulls = calibration.calibrate(len(frame), min(len(frame), model.reports.max_rows), rows.statistics,
                                          rows.kinds(), seed=seed)
        estimate = model.performance.estimate
        cbpe = estimation.fit_cbpe(frame, model) if estimate and model.is_classification else None
        dle = estimation.fit_dle(frame, model) if estimate and not model.is_classification else None
        profile = cls(
            model=model.name, version=version, fingerprint=fingerprint, rows=len(frame),
            numerical={c: _numerical(frame[c]) for c in (*cols.numerical, cols.score)},
            categorical={c: CategoricalBaseline(counts={str(k): int(v) for k, v in frame[c].dropna().astype(str)
                                                        .value_counts().items()})
                         for c in (*cols.categorical, *([cols.decision] if cols.decision else []))},
            operations=_operations(frame, model), performance=performance.baseline(frame, model),
            sample_rows=min(len(frame), model.reports.max_rows), multivariate=pca, nulls=nulls,
            reconstruction_error=float(errors.mean()) if errors is not None else None, cbpe=cbpe,
            dle=dle[0] if dle else None)
        profile._artifacts = dle[1] if dle else {}
        return profile

    def to_json(self) -> bytes:
        return dumps(self.model_dump(mode="json"))  # floats at full precision: the fitted values read back exactly


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


def _operations(frame: pd.DataFrame, model: ModelConfig) -> OperationalBaseline:
    """The reference's side of the operational figures (confidence for classifiers only: a regression's output is
    not a probability)."""
    cols = model.columns
    scores = frame[cols.score].dropna()
    sure = confidence(scores)
    classifier = model.is_classification and len(scores)
    return OperationalBaseline(
        mean_score=_mean(scores), positive_rate=_mean(frame[cols.decision]) if cols.decision else None,
        mean_confidence=_mean(sure) if classifier else None,
        low_confidence_share=float((sure < model.operations.low_confidence).mean()) if classifier else None)


# --- versions -------------------------------------------------------------------------------------------------
def current_version(store: ObjectStore, layout: ModelLayout) -> str:
    """The reference version reference/<model>/CURRENT.json names (the model version in use)."""
    try:
        version = store.get_json(layout.reference_pointer)["version"]
        if isinstance(version, bool) or not isinstance(version, (str, int)) or not str(version).strip():
            raise ValueError(f"version {version!r}")
        return str(version)
    except FileNotFoundError:
        raise MissingReferenceError(
            f"no reference for model {layout.model!r}: {store.url(layout.reference_pointer)} does not exist. "
            'Upload the baseline under reference/<model>/v=<version>/ and write {"version": "<version>"} there.'
        ) from None
    except (KeyError, TypeError, ValueError):
        raise MissingReferenceError(
            f'{store.url(layout.reference_pointer)} must be a JSON object like {{"version": "2026-01-01"}}') from None


def version_files(store: ObjectStore, model: ModelConfig, layout: ModelLayout, version: str) -> list[StoredObject]:
    prefix = layout.reference_version_dir(version)
    files = [o for o in store.list(prefix) if not ingest.is_hidden(o.key, prefix)]
    if not files:
        raise MissingReferenceError(f"reference version {version!r} of model {model.name!r} has no files under "
                                    f"{store.url(prefix)}")
    return files


def read_frame(store: ObjectStore, model: ModelConfig, layout: ModelLayout, version: str,
               files: list[StoredObject] | None = None) -> pd.DataFrame:
    """A reference version's rows, typed like the valid rows (the label column too, when it has one)."""
    files = files if files is not None else version_files(store, model, layout, version)
    frame = pd.concat([ingest.read_file(store, f.key, LogFormat.PARQUET) for f in files], ignore_index=True)
    return contract.prepare_reference(frame, model, store.url(layout.reference_version_dir(version)))


def fit_settings(model: ModelConfig) -> dict[str, Any]:
    """The settings a profile depends on: a change refits it."""
    cols, labels = model.columns, model.labels
    return {"schema": PROFILE_SCHEMA, "task": model.task.value, "numerical": list(cols.numerical),
            "categorical": list(cols.categorical), "score": cols.score, "decision": cols.decision,
            "label": labels.column if labels else None, "low_confidence": model.operations.low_confidence,
            "probability_threshold": model.performance.probability_threshold, "max_rows": model.reports.max_rows,
            "threshold_mode": model.drift.threshold_mode, "metrics": list(model.judged_metrics),
            "methods": {c: model.drift_method(c).method for c in model.monitored},
            "calibration": [list(calibration.SIZES), calibration.REPLICATES, calibration.MAX_COMPARED,
                            "held-out", "log-normal"],
            "estimation": [model.performance.estimate, estimation.BINS, estimation.SPLITS, estimation.FOLDS]}


def fingerprint(model: ModelConfig, files: list[StoredObject]) -> str:
    listing = [[f.key, f.size, f.etag] for f in sorted(files, key=lambda f: f.key)]
    text = json.dumps({"files": listing, "settings": fit_settings(model)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample(frame: pd.DataFrame, cap: int) -> pd.DataFrame:
    """The rows of a reference handed to Evidently: all of them, or a fixed random sample of `cap`."""
    return frame if len(frame) <= cap else frame.sample(n=cap, random_state=0)


def fit(store: ObjectStore, model: ModelConfig, layout: ModelLayout, version: str | None = None) -> ReferenceProfile:
    """The profile of a version (default: the current one): read when it was fitted already, else fitted from the
    version's files and persisted with its Evidently sample."""
    version = version or current_version(store, layout)
    files = version_files(store, model, layout, version)
    found = fingerprint(model, files)
    key = layout.profile(version, found)
    try:
        return ReferenceProfile.model_validate_json(store.get_bytes(key))
    except FileNotFoundError:
        pass
    frame = read_frame(store, model, layout, version, files)
    profile = ReferenceProfile.fit(frame, model, version, found)
    buffer = io.BytesIO()
    sample(frame, model.reports.max_rows).to_parquet(buffer, index=False)
    store.put_bytes(layout.profile_sample(version, profile.fingerprint), buffer.getvalue(), PARQUET)
    for name, data in profile._artifacts.items():
        store.put_bytes(layout.profile_artifact(version, profile.fingerprint, name), data, "application/octet-stream")
    store.put_bytes(key, profile.to_json(), JSON)  # last: a profile is used only with its sample
    log.info("fitted the reference profile of %s version %s (%d rows): %s", model.name, version, len(frame),
             store.url(key))
    return profile


def nannies(store: ObjectStore, layout: ModelLayout, profile: ReferenceProfile) -> dict[str, object]:
    """The DLE nanny models of a fitted profile (metric -> model); none without DLE."""
    if profile.dle is None:
        return {}
    data = {name: store.get_bytes(layout.profile_artifact(profile.version, profile.fingerprint, name))
            for name in profile.dle.artifacts.values()}
    loaded = estimation.load_nannies(data)
    return {metric: loaded[name] for metric, name in profile.dle.artifacts.items()}


def evidently_sample(store: ObjectStore, layout: ModelLayout, profile: ReferenceProfile) -> pd.DataFrame:
    """The fitted version's rows handed to Evidently, typed as when they were fitted (missing text as NaN)."""
    with store.download(layout.profile_sample(profile.version, profile.fingerprint)) as local:
        frame = pd.read_parquet(local)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame
