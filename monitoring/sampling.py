"""Deterministic sampling by hash of the prediction id: reruns and backfills see the same rows.

The sample is the `max_rows` rows whose ids hash lowest: it does not depend on how the day is split into files or
batches, nor on their order, so a day read batch by batch gives the same sample as the day read whole.
"""

from __future__ import annotations

import pandas as pd

_HASH, _ORDER = "__sample_hash", "__sample_order"


def _hashes(ids: pd.Series) -> pd.Series:
    return pd.util.hash_pandas_object(ids.astype(str), index=False)


def hash_sample(frame: pd.DataFrame, id_column: str, max_rows: int) -> pd.DataFrame:
    """The `max_rows` rows with the smallest id hashes, in their original order; the whole frame when it fits."""
    if len(frame) <= max_rows:
        return frame
    keep = _hashes(frame[id_column]).nsmallest(max_rows).index.sort_values()
    return frame.loc[keep]


class HashSample:
    """`hash_sample` of a day fed in batches, holding at most about twice `max_rows` rows at any time."""

    def __init__(self, id_column: str, max_rows: int) -> None:
        self.id_column, self.max_rows = id_column, max_rows
        self.kept: list[pd.DataFrame] = []
        self.held = self.seen = 0

    def add(self, batch: pd.DataFrame) -> None:
        batch = batch.assign(**{_HASH: _hashes(batch[self.id_column]).to_numpy(),
                                _ORDER: range(self.seen, self.seen + len(batch))})
        self.seen += len(batch)
        self.kept.append(batch)
        self.held += len(batch)
        if self.held > 2 * self.max_rows:
            self._shrink()

    def _shrink(self) -> None:
        kept = pd.concat(self.kept, ignore_index=True)
        if len(kept) > self.max_rows:
            kept = kept.nsmallest(self.max_rows, _HASH)
        self.kept, self.held = [kept], len(kept)

    def rows(self) -> pd.DataFrame:
        """The sample, in the order its rows were fed."""
        if not self.kept:
            return pd.DataFrame()
        self._shrink()
        return self.kept[0].sort_values(_ORDER).drop(columns=[_HASH, _ORDER]).reset_index(drop=True)
