"""Multivariate drift: how well the reference's main directions still describe a day's rows (NannyML's data
reconstruction with PCA, carried over).

A change in the joint distribution of the features (two features that moved together now move apart) shows no
drift in either feature alone, but rows of the day are then reconstructed worse from the reference's principal
components. Fitted once on the reference: missing values imputed (a numerical column's mean, a categorical one's most
frequent value), categories encoded by their share in the reference (unseen ones 0), every column standardized, and
the principal components that explain just over 65% of the variance kept. A row's reconstruction error is the
distance between its standardized values and their projection back from those components; a day's value is the
mean over its rows (its sample), and the no-change band of that mean comes from the reference's replicate days
(`monitoring.replicates`, `monitoring.bands`). Everything fitted is plain numbers, persisted in the reference profile.

A reference's own rows are reconstructed better than new rows by the components fitted on them (markedly so for a
reference of a thousand rows). The replicate days and the reference's level are therefore measured on held-out
errors (`held_out_errors`: each fifth of the reference reconstructed from components fitted on the rest), which is
what a new day's rows get.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

VARIANCE = 0.65


class PcaFit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    numerical: list[str]
    categorical: list[str]
    fill: dict[str, float | str]  # imputed value of each column
    shares: dict[str, dict[str, float]]  # categorical: each category's share of the reference
    center: list[float]  # of the encoded columns (numerical first, then categorical)
    scale: list[float]
    components: list[list[float]]  # kept components (rows), in the standardized space
    explained: float  # share of the variance the kept components explain

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        columns = []
        for column in self.numerical:
            columns.append(frame[column].astype(float).fillna(self.fill[column]).to_numpy())
        for column in self.categorical:
            values = frame[column].astype(object).where(frame[column].notna(), self.fill[column]).astype(str)
            columns.append(values.map(self.shares[column]).fillna(0.0).to_numpy(dtype=float))
        return (np.column_stack(columns) - np.array(self.center)) / np.array(self.scale)

    def errors(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's reconstruction error."""
        z = self.encode(frame)
        v = np.array(self.components)
        return np.linalg.norm(z - (z @ v.T) @ v, axis=1)


def fit(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> PcaFit | None:
    """The fit on a typed reference; None with fewer than two columns (nothing joint to see) or rows."""
    numerical = [c for c in numerical if frame[c].notna().any()]
    categorical = [c for c in categorical if frame[c].notna().any()]
    if len(numerical) + len(categorical) < 2 or len(frame) < 10:
        return None
    fill: dict[str, float | str] = {c: float(frame[c].mean()) for c in numerical}
    fill.update({c: str(frame[c].mode().iloc[0]) for c in categorical})
    shares = {c: {str(k): float(v) for k, v in frame[c].astype(object).where(frame[c].notna(), fill[c]).astype(str)
                  .value_counts(normalize=True).items()} for c in categorical}
    draft = PcaFit(numerical=numerical, categorical=categorical, fill=fill, shares=shares,
                   center=[0.0] * (len(numerical) + len(categorical)), scale=[1.0] * (len(numerical) + len(categorical)),
                   components=[], explained=0.0)
    raw = draft.encode(frame)
    center, scale = raw.mean(axis=0), raw.std(axis=0)
    scale[scale == 0] = 1.0
    z = (raw - center) / scale
    _, singular, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    variance = singular ** 2 / (singular ** 2).sum()
    kept = int(np.searchsorted(np.cumsum(variance), VARIANCE, side="right")) + 1
    kept = min(kept, len(variance))
    return draft.model_copy(update={"center": center.tolist(), "scale": scale.tolist(),
                                    "components": vt[:kept].tolist(), "explained": float(variance[:kept].sum())})


FOLDS = 5


def held_out_errors(frame: pd.DataFrame, fitted: PcaFit, seed: int) -> np.ndarray:
    """Each reference row's reconstruction error from components fitted on the other folds (the fitted columns)."""
    order = np.random.default_rng(seed).permutation(len(frame))
    errors = np.empty(len(frame))
    for fold in np.array_split(order, FOLDS):
        rest = np.setdiff1d(order, fold)
        partial = fit(frame.iloc[rest], fitted.numerical, fitted.categorical)
        errors[fold] = (partial or fitted).errors(frame.iloc[fold])
    return errors
