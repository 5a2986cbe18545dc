"""A model's reference versions in the bucket, and the profile fitted once on each, persisted beside it:

    reference/<model>/CURRENT.json                                         the version in use: {"version": "<v>"}
    reference/<model>/v=<version>/*.parquet                                the version's rows, as its trainer uploaded them
    reference/<model>/_profiles/v=<version>/<fingerprint>/profile.json    the fitted profile (`ReferenceProfile`)
    reference/<model>/_profiles/v=<version>/<fingerprint>/sample.parquet  the rows Evidently compares with
    reference/<model>/_profiles/v=<version>/<fingerprint>/dle_*.pkl       the DLE nanny models (regressors)

The fingerprint covers the version's files (keys, sizes, ETags) and the settings the fit depends on, so a changed
reference or config refits and a rerun reuses. The first run that needs a version fits it (two runs fitting it at
once write the same bytes); the raw reference is read only to fit.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
from typing import Any

import numpy as np
import pandas as pd

from monitoring import contract, estimators, ingest, replicates
from monitoring.config import LogFormat, ModelConfig
from monitoring.layout import ModelLayout
from monitoring.reference import PROFILE_SCHEMA, ReferenceProfile
from monitoring.storage import JSON, PARQUET, ObjectStore, StoredObject

log = logging.getLogger(__name__)


class MissingReferenceError(LookupError):
    """The model has no usable reference version."""


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


def raw_frame(store: ObjectStore, layout: ModelLayout, version: str, files: list[StoredObject]) -> pd.DataFrame:
    """A reference version's rows as its files hold them: parquet, CSV or JSON lines, each file by its suffix
    (`.parquet`/`.pq`, `.csv`, `.jsonl`/`.json`/`.ndjson`), whatever the logs' format."""
    frames = []
    for found in files:
        fmt = next((f for f in LogFormat if found.key.lower().endswith(f.suffixes)), None)
        if fmt is None:
            raise MissingReferenceError(
                f"{store.url(found.key)} is not a reference file: a reference version holds parquet (.parquet, .pq), "
                f"CSV (.csv) or JSON lines (.jsonl, .json, .ndjson) files, in "
                f"{store.url(layout.reference_version_dir(version))}")
        frames.append(ingest.read_file(store, found.key, fmt).drop(columns=[ingest.SOURCE_FILE, ingest.SOURCE_ROW]))
    return pd.concat(frames, ignore_index=True)


def read_frame(store: ObjectStore, model: ModelConfig, layout: ModelLayout, version: str,
               files: list[StoredObject] | None = None) -> pd.DataFrame:
    """A reference version's rows, typed like the valid rows (the label column too, when it has one)."""
    files = files if files is not None else version_files(store, model, layout, version)
    return contract.prepare_reference(raw_frame(store, layout, version, files), model,
                                      store.url(layout.reference_version_dir(version)))


def fit_settings(model: ModelConfig) -> dict[str, Any]:
    """The settings a profile depends on, as its fingerprint has always hashed them: a change refits it."""
    cols, labels = model.columns, model.labels
    return {"schema": PROFILE_SCHEMA, "task": model.task.value, "numerical": list(cols.numerical),
            "categorical": list(cols.categorical), "score": cols.score, "decision": cols.decision,
            "label": labels.column if labels else None, "low_confidence": model.operations.low_confidence,
            "probability_threshold": model.performance.probability_threshold, "max_rows": model.reports.max_rows,
            "threshold_mode": model.drift.threshold_mode, "metrics": list(model.judged_metrics),
            "methods": {c: model.drift_method(c).method for c in model.monitored},
            "calibration": [list(replicates.SIZES), replicates.REPLICATES, replicates.MAX_COMPARED,
                            "held-out", "log-normal", "level mean c + d / sqrt(n)", "seeded by the data"],
            "estimation": [model.performance.estimate, estimators.BINS, estimators.SPLITS, estimators.FOLDS],
            **({"segments": spec.model_dump(mode="json")} if (spec := model.segment_spec) is not None else {})}


def fingerprint(model: ModelConfig, files: list[StoredObject]) -> str:
    listing = [[f.key, f.size, f.etag] for f in sorted(files, key=lambda f: f.key)]
    text = json.dumps({"files": listing, "settings": fit_settings(model)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sample(frame: pd.DataFrame, cap: int) -> pd.DataFrame:
    """The rows of a reference handed to Evidently: all of them, or a fixed random sample of `cap`."""
    return frame if len(frame) <= cap else frame.sample(n=cap, random_state=0)


def load_or_fit(store: ObjectStore, model: ModelConfig, layout: ModelLayout,
                version: str | None = None) -> ReferenceProfile:
    """The profile of a version (default: the current one): read when it was fitted already, else fitted from the
    version's files and persisted with its Evidently sample."""
    version = version or current_version(store, layout)
    files = version_files(store, model, layout, version)
    artifact = store.list(layout.model_artifact(version))  # the model's pickle, when its trainer uploaded one
    found = fingerprint(model, files + artifact)
    key = layout.profile(version, found)
    try:
        return ReferenceProfile.model_validate_json(store.get_bytes(key))
    except FileNotFoundError:
        pass
    frame = read_frame(store, model, layout, version, files)
    profile = ReferenceProfile.fit(frame, model.name, model.fit_settings, version, found,
                                   artifact=load_artifact(store, layout, version) if artifact else None)
    buffer = io.BytesIO()
    sample(frame, model.reports.max_rows).to_parquet(buffer, index=False)
    store.put_bytes(layout.profile_sample(version, profile.fingerprint), buffer.getvalue(), PARQUET)
    for name, data in profile._artifacts.items():
        store.put_bytes(layout.profile_artifact(version, profile.fingerprint, name), data, "application/octet-stream")
    store.put_bytes(key, profile.to_json(), JSON)  # last: a profile is used only with its sample
    log.info("fitted the reference profile of %s version %s (%d rows): %s", model.name, version, len(frame),
             store.url(key))
    return profile


def load_artifact(store: ObjectStore, layout: ModelLayout, version: str) -> object | None:
    """The pickled model of `version` (models/<model>/v=<version>/model.pkl), None when it cannot be loaded here
    (the features are then ranked with a surrogate: the page says which)."""
    key = layout.model_artifact(version)
    try:
        return pickle.loads(store.get_bytes(key))  # noqa: S301 - the model's own bucket, written by its training code
    except Exception as exc:  # unpickling raises whatever the pickled classes raise
        log.warning("cannot load the model artifact %s (%s: %s): its features are ranked with a surrogate",
                    store.url(key), type(exc).__name__, exc)
        return None


def nannies(store: ObjectStore, layout: ModelLayout, profile: ReferenceProfile) -> dict[str, object]:
    """The DLE nanny models of a fitted profile (metric -> model); none without DLE."""
    if profile.dle is None:
        return {}
    data = {name: store.get_bytes(layout.profile_artifact(profile.version, profile.fingerprint, name))
            for name in profile.dle.artifacts.values()}
    loaded = estimators.load_nannies(data)
    return {metric: loaded[name] for metric, name in profile.dle.artifacts.items()}


def evidently_sample(store: ObjectStore, layout: ModelLayout, profile: ReferenceProfile) -> pd.DataFrame:
    """The fitted version's rows handed to Evidently, typed as when they were fitted (missing text as NaN)."""
    with store.download(layout.profile_sample(profile.version, profile.fingerprint)) as local:
        frame = pd.read_parquet(local)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame
