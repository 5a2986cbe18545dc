"""Deterministic sampling by hash of the prediction id: reruns and backfills see the same rows."""

from __future__ import annotations

import pandas as pd


def hash_sample(frame: pd.DataFrame, id_column: str, max_rows: int) -> pd.DataFrame:
    """The `max_rows` rows with the smallest id hashes, in their original order; the whole frame when it fits."""
    if len(frame) <= max_rows:
        return frame
    hashes = pd.util.hash_pandas_object(frame[id_column].astype(str), index=False)
    keep = hashes.nsmallest(max_rows).index.sort_values()
    return frame.loc[keep]
