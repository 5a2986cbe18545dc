"""Verdicts with a known error rate (monitoring/verdicts.py): a statistic fires only outside its no-change band and
past the minimum effect, and a day's statistics judged together alarm by chance no more often than k says, however
many there are."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring import distances, verdicts
from monitoring.bands import NullPoint, fit_null
from monitoring.verdicts import benjamini_hochberg
from tests.world import fitted_world, world


def test_a_half_standard_deviation_shift_leaves_the_band_and_is_drifted():
    reference, nulls = fitted_world()
    day = world(5_000, np.random.default_rng(11), shift=0.5)
    value = distances.score("wasserstein", "numerical", reference["x"], day["x"])
    judged = verdicts.distance(value, 5_000, nulls["drift:x"], 3.0, 0.1, len(reference), True)
    assert judged.outside and judged.fired and judged.tail < 1e-6


def test_a_tiny_move_on_a_huge_day_is_outside_the_band_but_below_the_minimum_effect():
    reference, nulls = fitted_world()
    null = nulls["drift:y"]
    value = null.upper(1_000_000, 3.0) * 1.5  # far outside the band of a 10-million-row day...
    judged = verdicts.distance(value, 1_000_000, null, 3.0, 0.1, len(reference), True)
    assert judged.outside and value < 0.1 and not judged.fired  # ...but below the smallest change that counts


def test_a_reference_too_small_gives_no_calibrated_verdict():
    judged = verdicts.distance(0.5, 3_000, None, 3.0, 0.1, 50, enough_reference=False)
    assert judged.mode == "small_reference" and not judged.fired
    assert judged.words() == "reference too small to tell (50 rows)"


def test_a_test_fires_on_its_p_value_only_with_an_effect_past_the_minimum():
    assert verdicts.test(1e-9, 0.2, 5_000, 3.0, 0.1, 20_000, True).fired
    assert not verdicts.test(1e-9, 0.05, 5_000, 3.0, 0.1, 20_000, True).fired  # significant, too small to count
    assert not verdicts.test(0.01, 0.5, 5_000, 3.0, 0.1, 20_000, True).fired  # inside the k-sigma band


def test_benjamini_hochberg_keeps_its_false_discovery_rate():
    rng = np.random.default_rng(13)
    days, fdr, false_share = 2_000, 0.05, []
    for _ in range(days):
        tails = {f"f{i}": rng.uniform() for i in range(27)}  # 27 features that did not move
        tails.update({f"real{i}": rng.uniform() * 1e-4 for i in range(3)})  # 3 that did
        found = benjamini_hochberg(tails, fdr)
        false = [n for n in found if n.startswith("f")]
        false_share.append(len(false) / len(found) if found else 0.0)
    assert np.mean(false_share) <= fdr * 1.2
    assert benjamini_hochberg({"a": 0.001, "b": 0.02, "c": 0.04}, 0.05) == {"a", "b", "c"}
    assert benjamini_hochberg({"a": 0.001, "b": 0.5}, 0.05) == {"a"}
    assert benjamini_hochberg({"a": 0.2}, 0.05) == set()


def test_a_day_of_many_statistics_alarms_by_chance_no_more_often_than_k_says():
    """40 statistics a day, none changed: with k = 3 bands alone about 5% of days would alarm; the day's gate keeps
    it near the k-sigma tail (0.135%), and a day with one strong change still fires it, and only it."""
    rng = np.random.default_rng(17)
    null = fit_null("level", 10**9, [NullPoint(size=1_000, n_eff=1_000.0, how="chunks", replicates=100, mean=0.0,
                                               sd=1.0)])

    def day(changed: float = 0.0) -> dict:
        values = rng.normal(0, 1, 40)
        values[0] += changed
        return {f"s{i}": verdicts.level(v, 1_000, null, 3.0, 0.0, 10**9, "up") for i, v in enumerate(values)}

    days = 4_000
    alone = sum(any(j.fired for j in day().values()) for _ in range(days)) / days
    gated = sum(any(j.fired for j in verdicts.control(day(), 3.0, 0.05).values()) for _ in range(days)) / days
    assert 0.03 < alone < 0.08
    assert gated < 0.004
    strong = verdicts.control(day(changed=6.0), 3.0, 0.05)
    assert strong["s0"].fired and sum(j.fired for j in strong.values()) <= 2


def test_a_statistic_just_outside_its_band_among_quiet_ones_does_not_fire():
    """Just past its band, alone among 39 quiet statistics: what 40 chances a day give by luck. Forty of them at
    once are not luck."""
    reference, nulls = fitted_world()
    null = nulls["drift:x"]
    weak = verdicts.distance(max(null.upper(300, 3.0), 0.1) * 1.01, 300, null, 3.0, 0.1, len(reference), True)
    quiet = verdicts.distance(null.mean(300), 300, null, 3.0, 0.1, len(reference), True)
    judged = verdicts.control({"weak": weak, **{f"f{i}": quiet for i in range(39)}}, 3.0, fdr=0.05)
    assert weak.fired and judged["weak"].outside and not judged["weak"].significant and not judged["weak"].fired
    assert all(j.fired for j in verdicts.control({f"f{i}": weak for i in range(40)}, 3.0, fdr=0.05).values())


def test_the_expected_false_alarms_a_month_are_the_gate_s_level():
    reference, nulls = fitted_world()
    judged = {c: verdicts.distance(0.0, 300, nulls[f"drift:{c}"], 3.0, 0.1, len(reference), True) for c in "xyc"}
    assert verdicts.false_alarms_per_month(judged, 3.0) == pytest.approx(30 * 0.0013499, rel=1e-3)
    fixed = {c: verdicts.fixed(0.0, 300, len(reference), 0.1) for c in "xyc"}
    assert verdicts.false_alarms_per_month(fixed, 3.0) is None


def test_a_fixed_line_fires_past_it_in_the_method_s_direction():
    assert verdicts.fixed(0.12, 300, 1_000, 0.1, "wasserstein").fired
    assert not verdicts.fixed(0.08, 300, 1_000, 0.1, "wasserstein").fired
    assert verdicts.fixed(0.01, 300, 1_000, 0.05, "ks").fired  # a p-value: below the line
    assert not verdicts.fixed(0.2, 300, 1_000, 0.05, "ks").fired


def test_a_verdict_in_words_writes_large_values_plainly():
    """A regressor's MAE in the thousands read '1.37e+03' in findings and pages; numbers are written as people read
    them."""
    judged = verdicts.Judgement(value=1370.0, rows=5_000, reference_rows=20_000, mode="calibrated",
                                band=(-2125.0, 2125.0), min_effect=0.05)
    words = judged.words()
    assert words.startswith("1,370; no change on a day of 5,000 rows against 20,000 reference rows")
    assert "stays within -2,125 to 2,125" in words and "e+" not in words
