"""Drift scores (monitoring/distances.py): the numpy versions the calibration's replicate days use are Evidently's
own figures, and a categorical score does not depend on the process's string hash order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring import distances


@pytest.mark.parametrize("kind", ["normal", "skewed", "few values", "ties"])
def test_the_fast_replicate_distances_are_evidentlys(kind):
    rng = np.random.default_rng(7)
    make = {"normal": lambda n: rng.normal(0, 1, n), "skewed": lambda n: rng.lognormal(0, 1, n),
            "few values": lambda n: rng.integers(0, 12, n).astype(float),
            "ties": lambda n: np.round(rng.normal(0, 1, n), 1)}[kind]
    reference, current = make(3_000), make(400)
    for method, fast in (("wasserstein", distances.normed_wasserstein),
                         ("jensenshannon", distances.jensenshannon_numerical)):
        expected = distances.score(method, "numerical", pd.Series(reference), pd.Series(current))
        assert fast(reference, current) == pytest.approx(expected, rel=1e-9, abs=1e-12), method


def test_the_fast_categorical_distance_is_evidentlys():
    rng = np.random.default_rng(8)
    values = np.array(list("abcdefg"), dtype=object)
    reference, current = rng.choice(values[:6], 3_000), rng.choice(values, 500)
    codes, keys = pd.factorize(pd.Series(np.concatenate([reference, current])))
    fast = distances.jensenshannon_codes(codes[:3_000], codes[3_000:], len(keys))
    assert fast == pytest.approx(distances.score("jensenshannon", "categorical", pd.Series(reference),
                                                 pd.Series(current)), rel=1e-9)


def test_a_score_of_missing_or_infinite_values_only_is_none():
    values = pd.Series([1.0, 2.0, 3.0])
    assert distances.score("wasserstein", "numerical", values, pd.Series([np.nan, np.inf])) is None
    assert distances.score("ks", "numerical", pd.Series([], dtype=float), values) is None
