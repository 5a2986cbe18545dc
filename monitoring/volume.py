"""How many predictions a model logged on the days before a day: the trailing volume the `volume` rule compares with.

Counted from the logs, not from what is published: a backfill running days in parallel gets the figure a rerun of the
day gets, whichever neighbours finished first.
"""

from __future__ import annotations

import datetime as dt

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


def trailing_volume(store: ObjectStore, model: ModelConfig, layout: DayLayout) -> tuple[float | None, int]:
    """Mean rows a day over the days with logs among the `rules.volume.window_days` before the layout's day, and how
    many there were."""
    volumes = [v for back in range(1, model.rules.volume.window_days + 1)
               if (v := day_volume(store, model, layout.on(layout.day - dt.timedelta(days=back)))) is not None]
    return (sum(volumes) / len(volumes) if volumes else None), len(volumes)
