"""The one hash of a prediction id: 64 bits of its text (pandas' fixed-key hash, the same in every process). It finds
duplicate ids across a day's batches (`monitoring.contract.SeenIds`) and draws the day's deterministic sample
(`monitoring.sampling`): a day's ids are hashed once, in the contract, and the sample reuses them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ID_HASH = "_id_hash"  # the column in which the valid rows carry their id's hash


def id_hashes(ids: pd.Series) -> np.ndarray:
    """The 64-bit hash of each id's text."""
    return pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()
