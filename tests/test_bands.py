"""The no-change band of a statistic at a day's size (monitoring/bands.py), fitted on replicate days drawn from the
reference (monitoring/replicates.py): its spread is fitted against the size, no-change days land inside it at its
nominal rate, and a skewed distance's band holds at its nominal tail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitoring import distances, verdicts
from monitoring.bands import NullPoint, fit_null
from monitoring.replicates import replicate_days, sizes_for
from tests.world import fitted_world, world


def test_a_distances_spread_is_fitted_against_the_size_not_assumed():
    _, nulls = fitted_world()
    for name in ("drift:x", "drift:y", "drift:c"):
        _, slope = nulls[name].sd_fit
        assert -0.65 < slope < -0.35, name  # close to 1/sqrt(n), from the data
        assert nulls[name].sd(300) > 3 * nulls[name].sd(5_000), name
    assert {p.how for p in nulls["drift:x"].points} == {"chunks", "subsamples"}


def test_a_levels_spread_goes_as_one_over_root_n_with_its_scale_from_every_size():
    """A rate's sd is sqrt(p (1 - p) / n_eff): only the scale is fitted, so one size's noisy sd does not tilt it."""
    _, nulls = fitted_world()
    null = nulls["positive_rate"]
    assert null.sd_fit[1] == -0.5
    assert null.sd(300) / null.sd(30_000) == pytest.approx(math.sqrt(null.n_eff(30_000) / null.n_eff(300)))
    points = [NullPoint(size=n, n_eff=float(n), how="subsamples", replicates=25, mean=0.0, sd=sd)
              for n, sd in ((100, 0.05), (1_000, 0.0158 * 1.3), (10_000, 0.005))]  # the middle size 30% high
    sd = fit_null("level", 10**9, points).sd(1_000)
    assert 0.0158 < sd < 0.0158 * 1.15  # pulled up by a third of the noise, not tilted at the ends


@pytest.mark.parametrize("rows", [300, 3_000])
def test_no_change_days_stay_inside_the_band_at_its_nominal_rate(rows):
    """Fresh days of the same world (not the reference's rows): at k = 2 the band should hold 97.7% of them."""
    reference, nulls = fitted_world()
    rng = np.random.default_rng(rows)
    outside = {name: 0 for name in ("drift:x", "drift:y", "drift:c")}
    draws = 300
    for _ in range(draws):
        day = world(rows, rng)
        for column in ("x", "y", "c"):
            kind = "categorical" if column == "c" else "numerical"
            method = "jensenshannon" if kind == "categorical" else "wasserstein"
            value = distances.score(method, kind, reference[column], day[column])
            outside[f"drift:{column}"] += value > nulls[f"drift:{column}"].upper(rows, 2.0)
    for name, count in outside.items():
        assert count / draws < 0.055, (name, count)  # nominal 2.3%; mean + 2 sd on the raw scores lets through ~5%


def test_the_band_of_a_skewed_distance_holds_at_its_nominal_tail():
    """A skewed, non-negative statistic: mean + 3 sd lets several times too much through; the fitted band does not."""
    rng = np.random.default_rng(5)
    values = np.abs(rng.normal(0, 1, (200_000, 2))).sum(axis=1)  # skewed and non-negative
    points = [NullPoint(size=1_000, n_eff=1_000.0, how="subsamples", replicates=len(values), mean=values.mean(),
                        sd=values.std())]
    null = fit_null("distance", 10**9, points)
    nominal = verdicts.nominal_tail(3.0)
    assert np.mean(values > values.mean() + 3 * values.std()) > 2 * nominal
    assert np.mean(values > null.upper(1_000, 3.0)) < 2 * nominal


def test_the_tail_of_a_level_is_two_sided_where_both_sides_alarm():
    reference, nulls = fitted_world()
    null = nulls["positive_rate"]
    mean, sd = null.mean(3_000), null.sd(3_000)
    up = verdicts.level(mean + 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "both")
    down = verdicts.level(mean - 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "both")
    assert up.outside and down.outside and up.tail == pytest.approx(down.tail, rel=1e-6)
    assert up.tail == pytest.approx(2 * verdicts.nominal_tail(4.0), rel=1e-6)
    assert verdicts.level(mean - 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "up").outside is False
    assert math.isclose(verdicts.nominal_tail(3.0), 0.0013499, rel_tol=1e-4)


def test_replicate_days_are_held_out_from_the_rows_they_are_compared_with():
    rng = np.random.default_rng(4)
    drawn = list(replicate_days(20_000, 10_000, rng))
    assert {d.size for d in drawn} == set(sizes_for(20_000)) and {d.how for d in drawn} == {"chunks", "subsamples"}
    for day in drawn:
        assert not set(day.day) & set(day.reference) and len(day.day) == day.size
    assert sizes_for(400) == (50, 100, 200)  # a small reference: eighths, quarters and halves of it


def test_a_level_s_mean_follows_a_small_day_s_bias_and_its_precise_sizes():
    """A calibration error measured on a small day is biased upwards (about 1/sqrt(n)): the band's centre follows it
    on small days and is near 0 on large ones; a statistic whose noisy small days' means stray by chance keeps its
    large days' centre where their precise means put it."""
    biased = [NullPoint(size=n, n_eff=float(n), how="chunks", replicates=50, mean=1.0 / math.sqrt(n), sd=0.3 / math.sqrt(n))
              for n in (100, 300, 1_000, 3_000, 10_000)]
    null = fit_null("level", 10**9, biased)
    for n in (100, 300, 5_000):
        assert null.mean(n) == pytest.approx(1.0 / math.sqrt(n), rel=0.02)
    noisy = [NullPoint(size=100, n_eff=100.0, how="chunks", replicates=50, mean=-0.02, sd=0.08),
             NullPoint(size=3_000, n_eff=3_000.0, how="chunks", replicates=50, mean=0.0005, sd=0.012),
             NullPoint(size=10_000, n_eff=9_000.0, how="subsamples", replicates=50, mean=0.0, sd=0.006)]
    assert abs(fit_null("level", 10**6, noisy).mean(5_000)) < 0.002  # an equal-weight average: -0.0065


def test_a_feature_s_band_depends_on_its_data_not_on_unrelated_settings():
    """The same reference fitted as a classifier and as a regressor, with another column list and another
    fingerprint: every feature's band is the same (the replicate days of a statistic are seeded by the data it
    reads); another salt draws other days."""
    from monitoring.config import DriftSpec, Scoring
    from monitoring.reference import ReferenceProfile
    from monitoring.vocabulary import ModelTask
    from tests.world import settings

    reference = world(4_000, np.random.default_rng(3))
    as_classifier = settings()
    regression = Scoring(task=ModelTask.REGRESSION, score="p")
    specs = {c: s for c, s in as_classifier.drift.items() if c != "d"}
    specs["extra"] = DriftSpec(kind="numerical", method="wasserstein", threshold=0.1)
    as_regressor = settings(scoring=regression, specs=specs, numerical=("x", "y", "extra"))
    first = ReferenceProfile.fit(reference, "a", as_classifier, "v1", "0" * 16)
    second = ReferenceProfile.fit(reference.assign(extra=np.arange(4_000.0)), "b", as_regressor, "v2", "f" * 16)
    for name in ("drift:x", "drift:y", "drift:c", "missing:x", "missing:c"):
        assert first.null(name) == second.null(name), name
    other = ReferenceProfile.fit(reference, "a", as_classifier, "v1", "0" * 16, salt=1)
    assert other.null("drift:x") != first.null("drift:x")
