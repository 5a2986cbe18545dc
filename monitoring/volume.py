"""How many predictions a model logged on the days before a day: the trailing volume the `volume` rule compares with.

Counted from the logs, not from what is published: a backfill running days in parallel gets the figure a rerun of the
day gets, whichever neighbours finished first.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass

from monitoring import ingest
from monitoring.config import ModelConfig
from monitoring.layout import DayLayout
from monitoring.storage import ObjectStore


def day_volume(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> int | None:
    """Rows logged on the layout's day: counted by its validation when it ran, else from its log files (parquet
    footers; other formats read); None when the day has no logs."""
    try:
        return int(store.get_json(layout.staged_contract)["rows_read"])
    except FileNotFoundError:
        pass
    try:
        files = ingest.list_day_files(store, layout.predictions_dir, model.storage.log_format,
                                      model.storage.completion_marker)
        return sum(ingest.count_rows(store, f.key, model.storage.log_format) for f in files)
    except ingest.IngestError:
        return None  # no logs, still being written, or unreadable (that day's own run says so)


@dataclass(frozen=True)
class Trailing:
    """The volume of the days before a day: their mean, how many there were, and the spread of their logarithms."""

    mean: float | None
    days: int
    log_sd: float | None


def trailing_volume(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> Trailing:
    """The days with logs among the `rules.volume.window_days` before the layout's day."""
    volumes = [v for back in range(1, model.rules.volume.window_days + 1)
               if (v := day_volume(store, model, layout.on(layout.day - dt.timedelta(days=back)))) is not None]
    logs = [math.log(v) for v in volumes if v > 0]
    return Trailing(mean=sum(volumes) / len(volumes) if volumes else None, days=len(volumes),
                    log_sd=statistics.stdev(logs) if len(logs) >= 2 else None)
