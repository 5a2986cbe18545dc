"""A synthetic world with segments and a known answer, for `test_segments.py`: the world of `tests/world.py` (features
x, y, c, score p, decision d) plus a logged channel (a categorical segment column the model does not use) and an
amount cut into buckets. Days are built with exact channel counts, so a segment's size on a day is what the test
says it is; a shift is injected into the feature y (~ N(10, 2)) of chosen channels, in standard deviations.

The reference is fitted once per session (`fitted`), about five seconds.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from monitoring.config import FitSettings, SegmentsConfig, SegmentSpec
from monitoring.reference import ReferenceProfile
from tests.world import settings, world

Y_SD = 2.0  # the standard deviation of y in the world
EDGES = (5_000.0, 20_000.0)  # the amount's buckets: < 5,000, [5,000, 20,000), >= 20,000
SPEC = SegmentSpec(columns=("channel",), buckets={"amount": EDGES}, crossed=(("channel", "amount"),))
CONFIG = SegmentsConfig(columns=SPEC.columns, buckets=SPEC.buckets, crossed=SPEC.crossed)

REFERENCE_ROWS = 20_000
# The reference's channels: fax is a sliver (30 rows, under the default min_rows of 50 and under MIN_FIT_ROWS).
REFERENCE_CHANNELS = {"web": 11_970, "branch": 4_000, "partner": 2_000, "mobile": 2_000, "fax": 30}


def fit_settings() -> FitSettings:
    return settings().model_copy(update={"segments": SPEC})


def channel_counts(rows: int, **shares: float) -> dict[str, int]:
    """Exact channel counts of a day of `rows` rows: the reference's shares (fax left out unless given), changed
    by `shares` (channel -> share of the day; 0 removes it); web takes what is left."""
    base = {"branch": 0.2, "partner": 0.1, "mobile": 0.1, **shares}
    counts = {channel: int(round(rows * share)) for channel, share in base.items() if share > 0}
    counts = {"web": rows - sum(counts.values()), **counts}
    assert counts["web"] >= 0, counts
    return counts


def segment_day(counts: dict[str, int], rng: np.random.Generator, shift: dict[str, float] | None = None,
                everywhere: float = 0.0) -> pd.DataFrame:
    """A day of the world whose channels have exactly `counts` rows (in a random order), y shifted by `shift[channel]`
    standard deviations in those channels' rows and by `everywhere` in every row."""
    rows = sum(counts.values())
    frame = world(rows, rng)
    channel = np.repeat(np.array(list(counts), dtype=object), list(counts.values()))
    frame["channel"] = rng.permutation(channel)
    frame["amount"] = rng.uniform(0, 30_000, rows)
    for name, sd in (shift or {}).items():
        frame.loc[frame["channel"] == name, "y"] += sd * Y_SD
    frame["y"] += everywhere * Y_SD
    return frame


@cache
def fitted() -> tuple[pd.DataFrame, ReferenceProfile]:
    """The world's reference (with its channels and amounts) and its fitted profile, segments included."""
    reference = segment_day(REFERENCE_CHANNELS, np.random.default_rng(1))
    return reference, ReferenceProfile.fit(reference, "m", fit_settings(), "v1", "0" * 16)
