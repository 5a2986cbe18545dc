"""The statistics of the calibration's replicate days (`monitoring.calibration`), measured fast.

A reference is calibrated on a few hundred replicate days, each compared with a replicate reference. Each statistic
is the one a real day gets, computed from per-row values of the reference prepared once (codes of the categories,
the rows' confidence, reconstruction error, missing values, labels) and indexed by the replicate's rows:

- the normed Wasserstein distance and the Jensen-Shannon distance (the default methods) with numpy, as Evidently
  computes them (Jensen-Shannon over Sturges bins of both sides for a numerical column with more than 20 distinct
  reference values, else over the values); `tests/test_calibration.py` checks them against Evidently's own
  functions; every other method through Evidently (`monitoring.drift.score`);
- rates and metrics as the difference between the replicate day's value and its replicate reference's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import distance

from monitoring import drift, performance
from monitoring.calibration import null_name
from monitoring.config import ModelConfig
from monitoring.operations import confidence


def normed_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """scipy's first Wasserstein distance over the reference's standard deviation (at least 0.001), as Evidently."""
    u, v = np.sort(reference), np.sort(current)
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, values[:-1], side="right") / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas) / max(float(np.std(reference)), 0.001))


def jensenshannon_numerical(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's Jensen-Shannon distance of a numerical column: Sturges bins of both sides together when the
    reference has more than 20 distinct values, else the values themselves."""
    if len(np.unique(reference)) > 20:
        bins = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        return float(distance.jensenshannon(np.histogram(reference, bins)[0] / len(reference),
                                            np.histogram(current, bins)[0] / len(current)))
    keys, codes = np.unique(np.concatenate([reference, current]), return_inverse=True)
    return jensenshannon_codes(codes[:len(reference)], codes[len(reference):], len(keys))


def jensenshannon_codes(reference: np.ndarray, current: np.ndarray, categories: int) -> float:
    """Jensen-Shannon distance of two sets of category codes (categories seen on neither side weigh nothing)."""
    return float(distance.jensenshannon(np.bincount(reference, minlength=categories) / len(reference),
                                        np.bincount(current, minlength=categories) / len(current)))


class RowValues:
    """Per-row values of a typed reference, prepared once for its replicate days."""

    def __init__(self, frame: pd.DataFrame, model: ModelConfig, reconstruction_errors: np.ndarray | None) -> None:
        cols = model.columns
        self.model = model
        self.columns: dict[str, tuple[str, np.ndarray, int]] = {}  # column -> (method, values or codes, categories)
        for column in model.monitored:
            method, kind = model.drift_method(column).method, model.kind(column)
            if drift.is_test(method):
                continue  # a p-value needs no calibration
            series = frame[column]
            if kind == "categorical" and method == "jensenshannon":
                codes, keys = pd.factorize(series.astype(object), use_na_sentinel=True)
                self.columns[column] = (method, codes, len(keys))
            elif method in ("wasserstein", "jensenshannon"):
                self.columns[column] = (method, series.to_numpy(dtype=float, na_value=np.nan), 0)
            else:
                self.columns[column] = (method, series.to_numpy(dtype=object), -1)  # through Evidently
        self.levels: dict[str, np.ndarray] = {}
        if cols.decision:
            self.levels[null_name("positive_rate")] = frame[cols.decision].to_numpy(dtype=float)
        if model.is_classification:
            sure = confidence(frame[cols.score].astype(float)).to_numpy()
            self.levels[null_name("low_confidence_share")] = np.where(
                np.isnan(sure), np.nan, (sure < model.operations.low_confidence).astype(float))
        for column in (*cols.numerical, cols.score, *cols.categorical):
            self.levels[null_name("missing", column)] = frame[column].isna().to_numpy(dtype=float)
        if reconstruction_errors is not None:  # held out (monitoring.multivariate.held_out_errors)
            self.levels[null_name("reconstruction_error")] = reconstruction_errors
        self.labelled = None
        if model.labels and model.labels.column in frame.columns:
            self.labelled = (frame[model.labels.column].to_numpy(dtype=float), frame[cols.score].to_numpy(dtype=float),
                             performance.predicted_labels(frame, model).to_numpy() if model.is_classification
                             else None)
        self.frame = frame

    def kinds(self) -> dict[str, str]:
        kinds = {null_name("drift", c): "distance" for c in self.columns}
        kinds.update({name: "level" for name in self.levels})
        if self.labelled is not None:
            kinds.update({null_name("metric", m): "level" for m in self.model.judged_metrics})
        return kinds

    def _drift(self, column: str, day: np.ndarray, reference: np.ndarray) -> float | None:
        method, values, categories = self.columns[column]
        if categories > 0:
            mine, theirs = values[day], values[reference]
            mine, theirs = mine[mine >= 0], theirs[theirs >= 0]
            return jensenshannon_codes(theirs, mine, categories) if len(mine) and len(theirs) else None
        if categories == 0:
            mine, theirs = values[day], values[reference]
            mine, theirs = mine[np.isfinite(mine)], theirs[np.isfinite(theirs)]
            if not len(mine) or not len(theirs):
                return None
            return normed_wasserstein(theirs, mine) if method == "wasserstein" else jensenshannon_numerical(theirs, mine)
        series = self.frame[column]
        return drift.score(method, self.model.kind(column), series.iloc[reference], series.iloc[day])

    def _metrics(self, rows: np.ndarray) -> dict[str, float | None]:
        y, p, yhat = (None if a is None else a[rows] for a in self.labelled)
        found = (performance.classification_metrics(y.astype(int), p, yhat) if self.model.is_classification
                 else performance.regression_metrics(y, p))
        return {m: found.get(m) for m in self.model.judged_metrics}

    def statistics(self, day: np.ndarray, reference: np.ndarray) -> dict[str, float | None]:
        """Every calibrated statistic of the replicate day `day` (row positions) against the replicate reference."""
        found: dict[str, float | None] = {null_name("drift", c): self._drift(c, day, reference) for c in self.columns}
        for name, values in self.levels.items():
            mine, theirs = np.nanmean(values[day]) if len(day) else np.nan, np.nanmean(values[reference])
            found[name] = float(mine - theirs) if np.isfinite(mine) and np.isfinite(theirs) else None
        if self.labelled is not None:
            mine, theirs = self._metrics(day), self._metrics(reference)
            found.update({null_name("metric", m): mine[m] - theirs[m] if mine[m] is not None and theirs[m] is not None
                          else None for m in mine})
        return found
