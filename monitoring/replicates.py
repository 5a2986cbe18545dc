"""No-change days drawn from the reference, and every calibrated statistic measured on them: what the bands of
`monitoring.bands` are fitted to, once per reference version (NannyML's method, with the size made explicit).

- **replicate days** of several sizes n (100, 300, 1,000, 3,000, 10,000 rows, up to half the reference) are drawn
  from the reference, each **held out** from the rows it is compared with, as a new day is: while the reference
  holds `REPLICATES` disjoint chunks of n rows, its chunks, each compared with the rest; beyond that, random chunks
  of n rows compared with random disjoint rows of the rest (subsampling: the chunks overlap each other, never the
  rows they are compared with). A bootstrap (drawing with replacement) is not used: its day and reference share
  rows, which makes them look alike and the band too narrow by a third on skewed features (measured);
- each replicate day gets the **statistics a real day gets**, computed from per-row values of the reference prepared
  once (`RowValues`: codes of the categories, the rows' confidence, reconstruction error, missing values, labels)
  and indexed by the replicate's rows: the normed Wasserstein and Jensen-Shannon distances (the default methods)
  with numpy, as Evidently computes them (`monitoring.distances`), every other method through Evidently; rates and
  metrics as the difference between the replicate day's value and its replicate reference's.

Everything is deterministic: each group of statistics that read the same data draws its replicate days from a
generator seeded by that data and the settings that shape it (`calibrate_each`), so a feature's band is the same
whatever else the model's config says.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from monitoring import distances, metrics
from monitoring.bands import NullModel, NullPoint, fit_null
from monitoring.config import FitSettings
from monitoring.operations import confidence
from monitoring.vocabulary import CATEGORICAL, LABEL, is_test, statistic_name

SIZES = (100, 300, 1_000, 3_000, 10_000)
REPLICATES = 50  # replicate days measured at each size (benchmarks/README.md: how the band's edge moves with it)
MAX_COMPARED = 20_000  # reference rows a replicate day is compared with (the fit carries it to the day's own)
# The methods measured with numpy on the replicate days (the defaults); any other through Evidently.
FAST_METHODS = {"wasserstein": distances.normed_wasserstein, "jensenshannon": distances.jensenshannon_numerical}


@dataclass(frozen=True)
class ReplicateDay:
    """A no-change day drawn from the reference: its rows, and the reference rows it is compared with."""

    size: int
    how: Literal["chunks", "subsamples"]
    day: np.ndarray  # row positions in the reference
    reference: np.ndarray


def sizes_for(rows: int, sizes: tuple[int, ...] = SIZES) -> tuple[int, ...]:
    """The replicate sizes a reference of `rows` rows can hold out (at most half of it); for a small reference,
    eighths, quarters and halves of it."""
    fitting = tuple(n for n in sizes if 2 * n <= rows)
    return fitting if len(fitting) >= 3 else tuple(sorted({max(10, rows // 8), max(10, rows // 4), max(10, rows // 2)}))


def replicate_days(rows: int, compared_rows: int, rng: np.random.Generator,
                   sizes: tuple[int, ...] = SIZES) -> Iterator[ReplicateDay]:
    """Replicate days of each size, held out from the rows they are compared with (see the module's doc);
    `compared_rows`: how many reference rows a day is compared with (fewer when the rest is smaller)."""
    for size in sizes_for(rows, sizes):
        if rows // size >= REPLICATES + 1:
            order = rng.permutation(rows)
            for i in range(REPLICATES):
                rest = np.concatenate([order[:i * size], order[(i + 1) * size:]])
                yield ReplicateDay(size, "chunks", order[i * size:(i + 1) * size], rest[:compared_rows])
        else:
            for _ in range(REPLICATES):
                order = rng.permutation(rows)
                yield ReplicateDay(size, "subsamples", order[:size], order[size:size + compared_rows])


Statistic = Callable[[np.ndarray, np.ndarray], dict[str, float | None]]


def calibrate(rows: int, compared_rows: int, statistics: Statistic, kinds: dict[str, str], seed: int,
              sizes: tuple[int, ...] = SIZES) -> dict[str, NullModel]:
    """The null model of every statistic `statistics(day, reference)` returns (name -> value, None when it cannot be
    computed on that replicate; `day` and `reference` are row positions), measured on replicate days of a reference
    of `rows` rows (see the module's doc). A day is compared with `compared_rows` of them; replicate days are
    compared with at most `MAX_COMPARED` rows, which the fit against the effective size carries over."""
    rng = np.random.default_rng(seed)
    values: dict[tuple[str, int], list[float]] = {}
    how: dict[int, str] = {}
    n_eff: dict[int, list[float]] = {}
    for replicate in replicate_days(rows, min(compared_rows, MAX_COMPARED), rng, sizes):
        how[replicate.size] = replicate.how
        n, m = len(replicate.day), len(replicate.reference)
        n_eff.setdefault(replicate.size, []).append(n * m / (n + m))
        for name, value in statistics(replicate.day, replicate.reference).items():
            if value is not None and math.isfinite(value):
                values.setdefault((name, replicate.size), []).append(float(value))
    models = {}
    for name, kind in kinds.items():
        points = null_points({size: values.get((name, size), []) for size in how}, n_eff, how)
        if points:
            models[name] = fit_null(kind, compared_rows, points)
    return models


def null_points(values: dict[int, list[float]], n_eff: dict[int, list[float]],
                how: dict[int, str]) -> list[NullPoint]:
    """The measured points of one statistic: at each size with at least 3 replicate values (`values`), their mean
    and spread, the replicate days' mean effective size (`n_eff`) and how they were drawn (`how`)."""
    return [NullPoint(size=size, n_eff=float(np.mean(n_eff[size])), how=how[size], replicates=len(found),
                      mean=float(np.mean(found)), sd=float(np.std(found, ddof=1)))
            for size, found in sorted(values.items()) if len(found) >= 3]


def calibrate_each(rows: RowValues, compared_rows: int, salt: int = 0,
                   sizes: tuple[int, ...] = SIZES) -> dict[str, NullModel]:
    """The null model of every statistic of a typed reference, each group of statistics that read the same data (a
    column's drift and missing share, the score's, the metrics') on replicate days of its own, drawn from a
    generator seeded by that data and the settings that shape it (`RowValues.groups`): a statistic's band depends
    on nothing else, so a change of an unrelated setting or column leaves it as it was. `salt` draws other
    replicate days (independent fits of the same reference, for the benchmarks)."""
    models: dict[str, NullModel] = {}
    kinds = rows.kinds()
    for names, seed in rows.groups():
        models.update(calibrate(len(rows.frame), compared_rows, lambda day, ref, names=names: rows.statistics(
            day, ref, names), {n: kinds[n] for n in names}, seed ^ salt, sizes))
    return models


def _digest(*parts: object) -> int:
    """A 64-bit seed from data and settings: arrays by their bytes, anything else by its text."""
    found = hashlib.sha256()
    for part in parts:
        found.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
        found.update(b"|")
    return int.from_bytes(found.digest()[:8], "little")


def _column_digest(series: pd.Series) -> np.ndarray:
    """A column's values, hashed row by row (the same in every process, whatever their type)."""
    return pd.util.hash_pandas_object(series.astype(str), index=False).to_numpy()


class RowValues:
    """Per-row values of a typed reference, prepared once for its replicate days (`settings`: what the reference's
    fit depends on; `reconstruction_errors`: the rows' held-out errors, `monitoring.multivariate`)."""

    def __init__(self, frame: pd.DataFrame, settings: FitSettings, reconstruction_errors: np.ndarray | None) -> None:
        scoring = settings.scoring
        self.settings = settings
        self.columns: dict[str, tuple[str, np.ndarray, int]] = {}  # column -> (method, values or codes, categories)
        for column, spec in settings.drift.items():
            if is_test(spec.method):
                continue  # a p-value needs no calibration
            series = frame[column]
            if spec.kind == CATEGORICAL and spec.method == "jensenshannon":
                codes, keys = pd.factorize(series.astype(object), use_na_sentinel=True)
                self.columns[column] = (spec.method, codes, len(keys))
            elif spec.method in FAST_METHODS:
                self.columns[column] = (spec.method, series.to_numpy(dtype=float, na_value=np.nan), 0)
            else:
                self.columns[column] = (spec.method, series.to_numpy(dtype=object), -1)  # through Evidently
        self.levels: dict[str, np.ndarray] = {}
        if scoring.decision and scoring.is_classification:
            self.levels[statistic_name("positive_rate")] = frame[scoring.decision].to_numpy(dtype=float)
        if not scoring.is_regression:
            sure = confidence(frame[scoring.score].astype(float), scoring.is_multiclass).to_numpy()
            self.levels[statistic_name("low_confidence_share")] = np.where(
                np.isnan(sure), np.nan, (sure < settings.low_confidence).astype(float))
        for column in (*settings.numerical, scoring.score, *settings.categorical):
            self.levels[statistic_name("missing", column)] = frame[column].isna().to_numpy(dtype=float)
        if reconstruction_errors is not None:  # held out (monitoring.multivariate.held_out_errors)
            self.levels[statistic_name("reconstruction_error")] = reconstruction_errors
        self.labelled = None
        if settings.label and settings.label in frame.columns:
            self.labelled = metrics.arrays(frame.rename(columns={settings.label: LABEL}), scoring)
        self.frame = frame

    def groups(self) -> list[tuple[list[str], int]]:
        """The statistics in groups that read the same data, each with the seed of its replicate days: a column's
        drift and missing share (the score's with its low-confidence share, the decision's with its positive rate),
        the joint drift's reconstruction error, the metrics."""
        kinds, scoring, settings = self.kinds(), self.settings.scoring, self.settings
        found: dict[str, list[str]] = {}
        for name in kinds:
            kind, _, column = name.partition(":")
            if kind in ("drift", "missing"):
                found.setdefault(column, []).append(name)
            elif kind == "positive_rate":
                found.setdefault(scoring.decision, []).append(name)
            elif kind == "low_confidence_share":
                found.setdefault(scoring.score, []).append(name)
            else:  # metric:<name>, reconstruction_error
                found.setdefault(kind, []).append(name)
        seeded = []
        for source, names in found.items():
            if source == "metric":
                material = [_column_digest(self.frame[settings.label]), _column_digest(self.frame[scoring.score]),
                            scoring.decision and _column_digest(self.frame[scoring.decision]), scoring,
                            settings.metrics]
            elif source == "reconstruction_error":
                material = [self.levels[statistic_name("reconstruction_error")]]
            else:
                spec = settings.drift.get(source)
                material = [_column_digest(self.frame[source]), spec and (spec.kind, spec.method),
                            settings.low_confidence if source == scoring.score else None]
            seeded.append((sorted(names), _digest(source, *material, SIZES, REPLICATES)))
        return sorted(seeded)

    def kinds(self) -> dict[str, str]:
        kinds = {statistic_name("drift", c): "distance" for c in self.columns}
        kinds.update({name: "level" for name in self.levels})
        if self.labelled is not None:
            kinds.update({statistic_name("metric", m): "level" for m in self.settings.metrics})
        return kinds

    def _drift(self, column: str, day: np.ndarray, reference: np.ndarray) -> float | None:
        method, values, categories = self.columns[column]
        if categories > 0:
            mine, theirs = values[day], values[reference]
            mine, theirs = mine[mine >= 0], theirs[theirs >= 0]
            return distances.jensenshannon_codes(theirs, mine, categories) if len(mine) and len(theirs) else None
        if categories == 0:
            mine, theirs = values[day], values[reference]
            mine, theirs = mine[np.isfinite(mine)], theirs[np.isfinite(theirs)]
            if not len(mine) or not len(theirs):
                return None
            return FAST_METHODS[method](theirs, mine)
        series = self.frame[column]
        return distances.score(method, self.settings.drift[column].kind, series.iloc[reference], series.iloc[day])

    def _metrics(self, rows: np.ndarray) -> dict[str, float | None]:
        y, p, yhat = (None if a is None else a[rows] for a in self.labelled)
        found = metrics.metrics_of_arrays(self.settings.scoring, y, p, yhat)
        return {m: found.get(m) for m in self.settings.metrics}

    def statistics(self, day: np.ndarray, reference: np.ndarray,
                   names: list[str] | None = None) -> dict[str, float | None]:
        """Every calibrated statistic (or those of `names`) of the replicate day `day` (row positions) against the
        replicate reference."""
        wanted = set(self.kinds() if names is None else names)
        found: dict[str, float | None] = {statistic_name("drift", c): self._drift(c, day, reference)
                                          for c in self.columns if statistic_name("drift", c) in wanted}
        for name, values in self.levels.items():
            if name not in wanted:
                continue
            mine, theirs = np.nanmean(values[day]) if len(day) else np.nan, np.nanmean(values[reference])
            found[name] = float(mine - theirs) if np.isfinite(mine) and np.isfinite(theirs) else None
        if self.labelled is not None and any(n.startswith("metric:") for n in wanted):
            mine, theirs = self._metrics(day), self._metrics(reference)
            found.update({statistic_name("metric", m): mine[m] - theirs[m] if mine[m] is not None and theirs[m] is not None
                          else None for m in mine})
        return found
