"""Slow drift: a change that creeps in a little each day, found by a CUSUM over the days' mean shifts.

For each numerical column, day t's mean shift from the reference in reference standard deviations,
x_t = (mean_t - mean_ref) / sd_ref, is exact from the day's state (`monitoring.window_state`). Two one-sided CUSUMs
accumulate what exceeds an allowance of half the minimum shift that counts (kappa = `windows.min_mean_shift` / 2), in
units of the day's own noise, sigma_t = sqrt(1/n_t + 1/N):

    S+_t = max(0, S+_{t-1} + (x_t - kappa) / sigma_t)        S-_t = max(0, S-_{t-1} + (-x_t - kappa) / sigma_t)

over the `LOOKBACK` days up to today (those published), from zero. A shift below kappa drains the sums; a shift
above it grows them by (shift - kappa) / sigma_t a day, so a small persistent change on small days adds up where no
single day and no single week can tell. The day the change most likely started is the most likely change point of
the days' means (`_start`), not the day after the sum last stood at zero, which noise often puts days too early.

**Calibrated, not assumed**: today's larger sum is judged against the same CUSUM run on `REPLICATES` no-change
sequences of the very same days (each day's mean drawn around the reference's at its own size, and the reference's
own mean error, shared by every day, drawn once a sequence), so its tail probability is what no change gives on
these days at these sizes. It joins the day's family (`judging.judge_day`) like any statistic; its minimum effect is
the mean shift since the estimated start (`windows.min_mean_shift`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import numpy as np

from monitoring import verdicts
from monitoring.verdicts import Judgement
from monitoring.vocabulary import Record
from monitoring.window_state import WindowState

LOOKBACK = 28  # days the sums run over, today included
REPLICATES = 2_000


class Creep(Record):
    """One column's CUSUM today."""

    column: str
    direction: str  # "up" or "down": the side of the larger sum
    value: float  # the larger of the two sums today
    started: dt.date | None  # the day the shift most likely started (`_start`)
    shift: float  # the mean shift since then, in reference standard deviations
    days: int  # the days the sums ran over
    verdict: Judgement | None = None  # after the day's family was judged

    def words(self) -> str:
        since = f" since {self.started}" if self.started else ""
        return (f"{self.column} crept {self.direction} by {abs(self.shift):.2f} sd{since} (CUSUM over {self.days} "
                f"days: {self.verdict.words() if self.verdict else self.value})")


def statistic(column: str) -> str:
    return f"gradual:{column}"


def _sums(x: np.ndarray, sigma: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Both CUSUMs over the last axis of `x` (days), each day's increment in its own sigma; the sums after each
    day."""
    up, down = np.zeros(x.shape[:-1]), np.zeros(x.shape[:-1])
    ups, downs = np.empty(x.shape), np.empty(x.shape)
    for t in range(x.shape[-1]):
        up = np.maximum(0.0, up + (x[..., t] - kappa) / sigma[t])
        down = np.maximum(0.0, down + (-x[..., t] - kappa) / sigma[t])
        ups[..., t], downs[..., t] = up, down
    return ups, downs


def _start(x: np.ndarray, counts: np.ndarray, sign: float) -> int:
    """The day a shift of `sign` most likely started: the tau that maximizes the likelihood of "the reference's mean
    before tau, one other mean from tau on", (sum over t >= tau of n_t x_t)^2 / sum over t >= tau of n_t, among the
    taus whose later mean lies on that side."""
    weighted = np.cumsum((counts * x)[::-1])[::-1]
    weights = np.cumsum(counts[::-1])[::-1]
    score = np.where(sign * weighted > 0, weighted ** 2 / weights, -np.inf)
    return int(np.argmax(score))


def judge(days: list[WindowState], reference: WindowState, *, k: float, min_mean_shift: float, seed: str
          ) -> tuple[dict[str, Judgement], dict[str, Creep]]:
    """Each numerical column's CUSUM today (the last of `days`, in order) against its no-change replicates, before
    the day's family is judged; and what each sum says (direction, start, shift)."""
    judged: dict[str, Judgement] = {}
    creeps: dict[str, Creep] = {}
    kappa = min_mean_shift / 2
    for column, baseline in reference.numerical.items():
        present = [(d.days[0], d.numerical[column]) for d in days if column in d.numerical and d.numerical[column].count]
        sd = baseline.std
        if len(present) < 2 or not sd or baseline.count < 2:
            continue
        counts = np.array([s.count for _, s in present], dtype=float)
        x = np.array([(s.mean - baseline.mean) / sd for _, s in present])
        sigma = np.sqrt(1 / counts + 1 / baseline.count)
        ups, downs = _sums(x, sigma, kappa)
        upward = ups[-1] >= downs[-1]
        run = ups if upward else downs
        value = float(run[-1])
        start = _start(x, counts, 1.0 if upward else -1.0)
        shift = float(np.average(x[start:], weights=counts[start:]))
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{seed}|{column}".encode()).digest()[:8],
                                                   "little"))
        null = (rng.normal(size=(REPLICATES, len(x))) / np.sqrt(counts)
                + rng.normal(size=(REPLICATES, 1)) / math.sqrt(baseline.count))
        null_ups, null_downs = _sums(null, sigma, kappa)
        simulated = np.maximum(null_ups[:, -1], null_downs[:, -1])
        judgement = verdicts.empirical(value, simulated, int(counts[start:].sum()), k, min_mean_shift,
                                       baseline.count, "up")
        effect = abs(shift)
        judged[statistic(column)] = judgement.model_copy(update={
            "effect": effect, "fired": judgement.outside and effect >= min_mean_shift and value > 0})
        creeps[column] = Creep(column=column, direction="up" if upward else "down", value=value,
                               started=present[start][0] if value > 0 else None, shift=shift, days=len(present))
    return judged, creeps
