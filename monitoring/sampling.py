"""Deterministic sampling by hash of the prediction id: reruns and backfills see the same rows.

The sample is the `max_rows` rows whose ids hash lowest: it does not depend on how the day is split into files or
batches, nor on their order, so a day read batch by batch gives the same sample as the day read whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.ids import ID_HASH, id_hashes
_HASH, _ORDER = "__sample_hash", "__sample_order"


def _hashes(frame: pd.DataFrame, id_column: str) -> np.ndarray:
    return frame[ID_HASH].to_numpy(dtype=np.uint64) if ID_HASH in frame.columns else id_hashes(frame[id_column])


def hash_sample(frame: pd.DataFrame, id_column: str, max_rows: int) -> pd.DataFrame:
    """The `max_rows` rows with the smallest id hashes, in their original order; the whole frame when it fits."""
    if len(frame) <= max_rows:
        return frame
    keep = pd.Series(_hashes(frame, id_column), index=frame.index).nsmallest(max_rows).index.sort_values()
    return frame.loc[keep]


class HashSample:
    """`hash_sample` of a day fed in batches, holding at most about twice `max_rows` rows at any time.

    Once `max_rows` rows are held, the largest hash among the `max_rows` lowest is a bound: a later row hashing above
    it can never be in the sample, so it is dropped before anything of its batch is copied (most of a big day's rows;
    ties at the bound are kept, for the final choice to break them by order as `hash_sample` does)."""

    def __init__(self, id_column: str, max_rows: int) -> None:
        self.id_column, self.max_rows = id_column, max_rows
        self.kept: list[pd.DataFrame] = []
        self.held = self.seen = 0
        self.bound: int | None = None

    def add(self, batch: pd.DataFrame) -> None:
        hashes = _hashes(batch, self.id_column)
        order = np.arange(self.seen, self.seen + len(batch))
        self.seen += len(batch)
        if self.bound is not None:
            candidates = np.flatnonzero(hashes <= self.bound)
            if len(candidates) < len(batch):
                batch, hashes, order = batch.iloc[candidates], hashes[candidates], order[candidates]
        if not len(batch):
            return
        self.kept.append(batch.assign(**{_HASH: hashes, _ORDER: order}))
        self.held += len(batch)
        if self.held > 2 * self.max_rows:
            self._shrink()
        if self.held >= self.max_rows > 0:
            held = np.concatenate([frame[_HASH].to_numpy() for frame in self.kept])
            self.bound = int(np.partition(held, self.max_rows - 1)[self.max_rows - 1])

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
        return self.kept[0].sort_values(_ORDER).drop(columns=[_HASH, _ORDER, ID_HASH], errors="ignore").reset_index(
            drop=True)
