"""Drift scores of one column, exactly as Evidently computes them (its own stattest functions), and what each method's
score means.

The day's score and the scores of the calibration's replicate days come from the same function, so a band fitted on
the reference applies to the score the reports show. Two kinds of methods:

- **distances** (`wasserstein` normed by the reference's spread, `jensenshannon`, `psi`, `hellinger`, `kl_div`, `ed`):
  larger is more drift; the score is itself the effect size;
- **tests** (`ks`, `chisquare`, `t_test`, `mannw`, `anderson`, `cramer_von_mises`, `es`, `empirical_mmd`, `z`,
  `g_test`, `fisher_exact`, `TVD`): the score is a p-value, smaller is more drift, and on a large day it is tiny for
  any difference at all, so the effect is measured beside it: the normed Wasserstein distance of a numerical column,
  the Jensen-Shannon distance of a categorical one.

Evidently is imported inside the functions (it takes seconds to import).
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from monitoring.config import ModelConfig

if TYPE_CHECKING:
    from monitoring.reference import ReferenceProfile
    from monitoring.verdicts import Judgement

log = logging.getLogger(__name__)
_imported = False


def import_evidently() -> None:
    """Imports Evidently once per process, logging whether the worker had preloaded it (`monitoring.
    worker_preload`) and what the import cost here: the task log shows whether the workers are warm."""
    global _imported
    if _imported:
        return
    preloaded = "evidently" in sys.modules
    started = time.monotonic()
    import evidently.legacy.calculations.stattests.registry  # noqa: F401
    import evidently.presets  # noqa: F401

    _imported = True
    log.info("Evidently %s (%.2f s)", "preloaded by the worker" if preloaded else "imported by this task",
             time.monotonic() - started)


ALL_MISSING = "all values missing"
NO_ROWS = "no valid rows on this day"

TESTS = frozenset({"ks", "chisquare", "t_test", "mannw", "anderson", "cramer_von_mises", "es", "empirical_mmd", "z",
                   "g_test", "fisher_exact", "TVD"})
EFFECT_METHODS = {"numerical": "wasserstein", "categorical": "jensenshannon"}  # the effect size beside a test


def is_test(method: str) -> bool:
    """The method's score is a p-value (drift when small), not a distance."""
    return method in TESTS


def effect_method(method: str, kind: str) -> str:
    """The method whose score is the column's effect size: the method itself for distances."""
    return EFFECT_METHODS[kind] if is_test(method) else method


def _clean(values: pd.Series) -> pd.Series:
    return values.replace([float("inf"), float("-inf")], float("nan")).dropna()


def in_order(values) -> list:
    """Category values sorted (by type name and text when their types do not compare), missing ones last."""
    values = list(values)
    present = [v for v in values if not pd.isna(v)]
    try:  # a column may mix types (text and numbers) that do not compare
        present.sort()
    except TypeError:
        present.sort(key=lambda v: (type(v).__name__, str(v)))
    return present + sorted((v for v in values if pd.isna(v)), key=lambda v: type(v).__name__)


def score(method: str, kind: str, reference: pd.Series, current: pd.Series) -> float | None:
    """The method's score of `current` against `reference` (missing and infinite values left out, as Evidently does);
    None when either side has no values. Categories reach Evidently as their ranks in sorted order: its stattests
    sum over a `set` of them, whose order (and so the score's last digits) would follow the process's hash seed."""
    import_evidently()
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    reference, current = _clean(reference), _clean(current)
    if reference.empty or current.empty:
        return None
    if kind == "categorical":
        ranks = {v: i for i, v in enumerate(in_order(set(reference.unique()) | set(current.unique())))}
        reference, current = reference.map(ranks), current.map(ranks)
    column_type = ColumnType.Categorical if kind == "categorical" else ColumnType.Numerical
    test = get_stattest(reference, current, column_type, method)
    return float(test(reference, current, column_type, None).drift_score)


@dataclass(frozen=True)
class ColumnDriftResult:
    column: str
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


def skipped_columns(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig) -> dict[str, str]:
    """Monitored columns left out of drift (and of the Evidently reports), with why: every value missing on either
    side (one all-missing column would abort a whole Evidently report), or more distinct categories than
    `drift.max_categories` (a report with a bar per value is huge and slow)."""
    if current.empty:
        return dict.fromkeys(model.monitored, NO_ROWS)
    skipped = {}
    for column in model.monitored:
        if current[column].isna().all() or reference[column].isna().all():
            skipped[column] = ALL_MISSING
        elif column in model.columns.categorical:
            distinct = max(current[column].nunique(), reference[column].nunique())
            if distinct > model.drift.max_categories:
                skipped[column] = (f"{distinct} distinct values, above the limit of {model.drift.max_categories} "
                                   "for a categorical column")
    for column, why in sorted(skipped.items()):
        log.warning("column %s is left out of drift and of the Evidently reports: %s", column, why)
    return skipped


def _reference_values(profile: ReferenceProfile, column: str) -> int:
    if column in profile.numerical:
        return profile.numerical[column].count
    return sum(profile.categorical[column].counts.values()) if column in profile.categorical else profile.rows


def judge(current: pd.DataFrame, reference: pd.DataFrame, model: ModelConfig, profile: ReferenceProfile,
          skipped: dict[str, str]) -> dict[str, ColumnDriftResult]:
    """Every monitored column's drift: its score of the day's sample against the reference's, and its own verdict
    (calibrated, or against the fixed line; see `monitoring.verdicts`), before the day's family is judged together
    (`verdicts.day_verdicts`). `current`, `reference`: the rows compared (the day's sample, the reference's)."""
    from monitoring import verdicts
    from monitoring.calibration import null_name

    settings = model.drift
    results: dict[str, ColumnDriftResult] = {}
    for column in model.monitored:
        setting, kind = model.drift_method(column), model.kind(column)
        if column in skipped:
            results[column] = ColumnDriftResult(column, kind, setting.method, setting.threshold, None, False,
                                                skipped[column])
            continue
        value = score(setting.method, kind, reference[column], current[column])
        rows, compared = int(current[column].notna().sum()), int(reference[column].notna().sum())
        enough = _reference_values(profile, column) >= settings.min_reference_rows
        if not settings.calibrated or column in settings.columns:  # an explicit line wins over the calibration
            verdict = verdicts.fixed(value, rows, compared, setting.threshold, setting.method)
        elif is_test(setting.method):
            effect = score(effect_method(setting.method, kind), kind, reference[column], current[column])
            verdict = verdicts.test(value, effect, rows, settings.band_sigma, settings.min_effect, compared, enough)
        else:
            verdict = verdicts.distance(value, rows, profile.null(null_name("drift", column)), settings.band_sigma,
                                        setting.threshold, compared, enough)
        results[column] = ColumnDriftResult(column, kind, setting.method, setting.threshold, value, verdict.fired,
                                            verdict=verdict)
    return results
