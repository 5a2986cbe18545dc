"""A range of published days compared with a baseline from the days' mergeable states, never rereading their logs:
what `python -m monitoring compare` prints and draws.

    --against reference        the model's current reference version
    --against previous         as many days just before the range
    --against D3..D4           any range of published days
    --against weekday          the same weekdays of the `windows.weekday_weeks` weeks before (at least two of them)

A day of either range without a state (not published, or published before states were kept) is left out and named.
"""

from __future__ import annotations

import datetime as dt
import re

from monitoring import reference_store, windows
from monitoring.config import ModelConfig
from monitoring.layout import LayoutError, ModelLayout, parse_day
from monitoring.storage import ObjectStore
from monitoring.window_state import read_window, reference_state
from monitoring.windows import WindowComparison

BASELINES = ("reference", "previous", "weekday")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class CompareError(ValueError):
    """A range or baseline that cannot be compared (no published day in it, too few earlier weeks)."""


def days_from(first: dt.date, last: dt.date) -> list[dt.date]:
    if last < first:
        raise CompareError(f"the range {first}..{last} ends before it starts")
    return windows.days_between(first, last)


def parse_against(text: str) -> str | tuple[dt.date, dt.date]:
    """`reference`, `previous`, `weekday` or a range `YYYY-MM-DD..YYYY-MM-DD`."""
    if text in BASELINES:
        return text
    found = _RANGE.match(text)
    if not found:
        raise CompareError(f"--against {text!r} is none of {', '.join(BASELINES)} or a range YYYY-MM-DD..YYYY-MM-DD")
    try:
        return parse_day(found[1]), parse_day(found[2])
    except LayoutError as error:
        raise CompareError(str(error)) from None


def compare_range(store: ObjectStore, model: ModelConfig, first: dt.date, last: dt.date,
                  against: str | tuple[dt.date, dt.date]) -> tuple[WindowComparison, dict[str, list[dt.date]]]:
    """The range `first`..`last` against its baseline; and the days of each side left out for lack of a state."""
    days = days_from(first, last)
    current, missing = read_window(store, model, days)
    if current is None:
        raise CompareError(f"no day of {first}..{last} of model {model.name!r} has a published state; run those "
                           "days (or backfill them) first")
    settings = model.windows
    if against == "reference":
        fitted = reference_store.load_or_fit(store, model, ModelLayout.of(model).on(last))
        baseline, baseline_missing, name = reference_state(store, model, fitted), [], f"reference ({fitted.version})"
    else:
        wanted = windows.baseline_days(days, against, settings.weekday_weeks)
        baseline, baseline_missing = read_window(store, model, wanted)
        name = {"previous": "previous", "weekday": "same weekdays"}.get(against, "range")
        name = f"{name} ({wanted[0]}..{wanted[-1]})"
        if baseline is None:
            raise CompareError(f"no day of the baseline {wanted[0]}..{wanted[-1]} of model {model.name!r} has a "
                               "published state")
        if against == "weekday" and windows.weeks_covered(days, baseline.days) < 2:
            raise CompareError("the weekday baseline needs the same weekdays of at least two earlier weeks published")
    drift = model.drift
    comparison = windows.compare(current, baseline, name, k=drift.band_sigma, fdr=drift.fdr,
                                 min_mean_shift=settings.min_mean_shift, min_distance=settings.min_distance)
    return comparison, {"range": missing, "baseline": baseline_missing}


def table(comparison: WindowComparison, missing: dict[str, list[dt.date]]) -> str:
    """The comparison as plain text: one line per column, the drifted ones marked."""
    lines = [f"{comparison.model}: {comparison.days[0]}..{comparison.days[-1]} ({len(comparison.days)} days, "
             f"{comparison.rows:,} rows) against {comparison.baseline} ({comparison.baseline_rows:,} rows)"]
    for side, days in missing.items():
        if days:
            lines.append(f"  left out of the {side} (no published state): {', '.join(map(str, days))}")
    lines.append(f"  {'column':<24}{'kind':<13}{'mean':>12}{'baseline':>12}{'shift (sd)':>12}{'band':>9}"
                 f"{'distance':>10}{'band':>8}  verdict")
    for c in comparison.columns:
        shift, spread = c.mean_shift, c.distance
        lines.append(
            f"  {c.column[:23]:<24}{c.kind:<13}{_num(c.mean):>12}{_num(c.baseline_mean):>12}"
            f"{_num(shift.value if shift else None):>12}{_num(shift.band[1] if shift and shift.band else None):>9}"
            f"{_num(spread.value if spread else None):>10}"
            f"{_num(spread.band[1] if spread and spread.band else None):>8}  "
            + ("DRIFTED" if c.fired else "-"))
    lines.append(f"  drifted: {', '.join(comparison.drifted) or 'none'} (bands at {comparison.band_sigma:g} sigma; "
                 f"false discoveries at most {comparison.fdr:.0%} of the drifted)")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
