"""Verdicts with a known error rate, on synthetic data with a known answer: the no-change band holds no-change days
at its nominal rate whatever the day's size, a real shift leaves it, the false discovery control keeps its rate, the
fixed mode gives the configured lines' verdicts, and the confidence intervals of realized performance cover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitoring import calibration, drift, performance, replicates, verdicts
from monitoring.calibration import NullPoint, benjamini_hochberg, fit_null
from monitoring.config import parse_config
from tests.conftest import BUCKET


def model_config(**drift_settings):
    return parse_config({"models": {"m": {
        "storage": {"bucket": BUCKET}, "drift": drift_settings,
        "columns": {"id": "id", "timestamp": "ts", "score": "p", "decision": "d", "numerical": ["x", "y"],
                    "categorical": ["c"]},
        "retraining": {"dag_id": "retrain_m"}}}}).model("m")


def world(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """A population: a skewed and a normal feature, a categorical one, a score and its decision."""
    x = rng.lognormal(0.0, 0.6, n) + shift * 0.6
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 0.5)))
    return pd.DataFrame({"x": x, "y": rng.normal(10, 2, n), "c": rng.choice(list("abcdef"), n, p=[.3, .25, .2, .1,
                                                                                              .1, .05]),
                         "p": p, "d": (p >= 0.5).astype(int)})


@pytest.fixture(scope="module")
def fitted():
    """The null models of the features and the positive rate, fitted on a 20,000-row reference of the world."""
    model = model_config()
    reference = world(20_000, np.random.default_rng(1))
    rows = replicates.RowValues(reference, model, None)
    return model, reference, calibration.calibrate(len(reference), len(reference), rows.statistics, rows.kinds(),
                                                   seed=3)


# --- the replicate days measure what the day's verdict measures -------------------------------------------------
@pytest.mark.parametrize("kind", ["normal", "skewed", "few values", "ties"])
def test_the_fast_replicate_distances_are_evidentlys(kind):
    rng = np.random.default_rng(7)
    make = {"normal": lambda n: rng.normal(0, 1, n), "skewed": lambda n: rng.lognormal(0, 1, n),
            "few values": lambda n: rng.integers(0, 12, n).astype(float),
            "ties": lambda n: np.round(rng.normal(0, 1, n), 1)}[kind]
    reference, current = make(3_000), make(400)
    for method, fast in (("wasserstein", replicates.normed_wasserstein),
                         ("jensenshannon", replicates.jensenshannon_numerical)):
        expected = drift.score(method, "numerical", pd.Series(reference), pd.Series(current))
        assert fast(reference, current) == pytest.approx(expected, rel=1e-9, abs=1e-12), method


def test_the_fast_categorical_distance_is_evidentlys():
    rng = np.random.default_rng(8)
    values = np.array(list("abcdefg"), dtype=object)
    reference, current = rng.choice(values[:6], 3_000), rng.choice(values, 500)
    codes, keys = pd.factorize(pd.Series(np.concatenate([reference, current])))
    fast = replicates.jensenshannon_codes(codes[:3_000], codes[3_000:], len(keys))
    assert fast == pytest.approx(drift.score("jensenshannon", "categorical", pd.Series(reference),
                                             pd.Series(current)), rel=1e-9)


# --- the band ---------------------------------------------------------------------------------------------------
def test_the_spread_is_fitted_against_the_size_not_assumed(fitted):
    _, _, nulls = fitted
    for name in ("drift:x", "drift:y", "drift:c", "positive_rate"):
        _, slope = nulls[name].sd_fit
        assert -0.65 < slope < -0.35, name  # close to 1/sqrt(n), from the data
        assert nulls[name].sd(300) > 3 * nulls[name].sd(5_000), name
    assert {p.how for p in nulls["drift:x"].points} == {"chunks", "subsamples"}


@pytest.mark.parametrize("rows", [300, 3_000])
def test_no_change_days_stay_inside_the_band_at_its_nominal_rate(fitted, rows):
    """Fresh days of the same world (not the reference's rows): at k = 2 the band should hold 97.7% of them."""
    _, reference, nulls = fitted
    rng = np.random.default_rng(rows)
    outside = {name: 0 for name in ("drift:x", "drift:y", "drift:c")}
    draws = 300
    for _ in range(draws):
        day = world(rows, rng)
        for column in ("x", "y", "c"):
            kind = "categorical" if column == "c" else "numerical"
            method = "jensenshannon" if kind == "categorical" else "wasserstein"
            value = drift.score(method, kind, reference[column], day[column])
            outside[f"drift:{column}"] += value > nulls[f"drift:{column}"].upper(rows, 2.0)
    for name, count in outside.items():
        assert count / draws < 0.055, (name, count)  # nominal 2.3%; mean + 2 sd on the raw scores lets through ~5%


def test_a_half_standard_deviation_shift_leaves_the_band_and_is_drifted(fitted):
    model, reference, nulls = fitted
    day = world(5_000, np.random.default_rng(11), shift=0.5)
    value = drift.score("wasserstein", "numerical", reference["x"], day["x"])
    judged = verdicts.distance(value, 5_000, nulls["drift:x"], 3.0, 0.1, len(reference), True)
    assert judged.outside and judged.fired and judged.tail < 1e-6


def test_a_tiny_move_on_a_huge_day_is_outside_the_band_but_below_the_minimum_effect(fitted):
    _, reference, nulls = fitted
    null = nulls["drift:y"]
    value = null.upper(1_000_000, 3.0) * 1.5  # far outside the band of a 10-million-row day...
    judged = verdicts.distance(value, 1_000_000, null, 3.0, 0.1, len(reference), True)
    assert judged.outside and value < 0.1 and not judged.fired  # ...but below the smallest change that counts


def test_a_reference_too_small_gives_no_calibrated_verdict():
    judged = verdicts.distance(0.5, 3_000, None, 3.0, 0.1, 50, enough_reference=False)
    assert judged.mode == "small_reference" and not judged.fired
    assert judged.words() == "reference too small to tell (50 rows)"


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


# --- many features, one verdict ---------------------------------------------------------------------------------
def test_benjamini_hochberg_keeps_its_false_discovery_rate():
    rng = np.random.default_rng(13)
    days, fdr, false_days, false_share = 2_000, 0.05, 0, []
    for _ in range(days):
        tails = {f"f{i}": rng.uniform() for i in range(27)}  # 27 features that did not move
        tails.update({f"real{i}": rng.uniform() * 1e-4 for i in range(3)})  # 3 that did
        found = benjamini_hochberg(tails, fdr)
        false = [n for n in found if n.startswith("f")]
        false_share.append(len(false) / len(found) if found else 0.0)
        false_days += bool(false)
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


def test_a_statistic_just_outside_its_band_among_quiet_ones_does_not_fire(fitted):
    """Just past its band, alone among 39 quiet statistics: what 40 chances a day give by luck. Forty of them at
    once are not luck."""
    _, reference, nulls = fitted
    null = nulls["drift:x"]
    weak = verdicts.distance(max(null.upper(300, 3.0), 0.1) * 1.01, 300, null, 3.0, 0.1, len(reference), True)
    quiet = verdicts.distance(null.mean(300), 300, null, 3.0, 0.1, len(reference), True)
    judged = verdicts.control({"weak": weak, **{f"f{i}": quiet for i in range(39)}}, 3.0, fdr=0.05)
    assert weak.fired and judged["weak"].outside and not judged["weak"].significant and not judged["weak"].fired
    assert all(j.fired for j in verdicts.control({f"f{i}": weak for i in range(40)}, 3.0, fdr=0.05).values())


def test_the_expected_false_alarms_a_month_are_the_gate_s_level(fitted):
    _, reference, nulls = fitted
    judged = {c: verdicts.distance(0.0, 300, nulls[f"drift:{c}"], 3.0, 0.1, len(reference), True) for c in "xyc"}
    assert verdicts.false_alarms_per_month(judged, 3.0) == pytest.approx(30 * 0.0013499, rel=1e-3)
    fixed = {c: verdicts.fixed(0.0, 300, len(reference), 0.1) for c in "xyc"}
    assert verdicts.false_alarms_per_month(fixed, 3.0) is None


# --- the fixed mode is the configured lines -------------------------------------------------------------------
def test_fixed_mode_gives_the_configured_lines_verdicts():
    model = model_config(threshold_mode="fixed")
    rng = np.random.default_rng(2)
    reference, day = world(5_000, rng), world(300, rng, shift=0.1)
    from monitoring.reference import ReferenceProfile

    profile = ReferenceProfile.fit(reference, model, "v1", "0" * 16)
    assert profile.nulls == {}  # nothing calibrated
    judged = drift.judge(day, reference, model, profile, {})
    for column, result in judged.items():
        setting = model.drift_method(column)
        assert result.verdict.mode == "fixed" and result.drifted == (result.score >= setting.threshold), column


# --- confidence intervals of realized performance -------------------------------------------------------------
def test_the_confidence_intervals_of_realized_performance_cover_the_true_value():
    """Days of 2,000 labelled predictions from a population whose metrics are known: the 95% interval holds the
    population's value about 95% of the time."""
    rng = np.random.default_rng(21)
    model = parse_config({"models": {"m": {
        "storage": {"bucket": BUCKET}, "columns": {"id": "id", "timestamp": "ts", "score": "p", "decision": "d",
                                                   "numerical": ["x"]},
        "labels": {"column": "y", "lag_days": 1}, "retraining": {"dag_id": "r"}}}}).model("m")

    def draw(n: int) -> pd.DataFrame:
        p = 1 / (1 + np.exp(-rng.normal(0.4, 1.5, n)))
        return pd.DataFrame({"p": p, "d": (p >= 0.5).astype(int), "label": (rng.random(n) < p).astype(int)})

    population = draw(400_000)
    truth = performance.classification_metrics(population["label"].to_numpy(), population["p"].to_numpy(),
                                               population["d"].to_numpy())
    covered = {m: 0 for m in ("f1", "roc_auc", "accuracy")}
    days = 60
    for seed in range(days):
        found = performance.intervals(draw(2_000), model, seed)
        for metric in covered:
            low, high = found[metric]
            covered[metric] += low <= truth[metric] <= high
    for metric, count in covered.items():
        assert 0.85 <= count / days <= 1.0, (metric, count)


def test_the_tail_of_a_level_is_two_sided_where_both_sides_alarm(fitted):
    _, reference, nulls = fitted
    null = nulls["positive_rate"]
    mean, sd = null.mean(3_000), null.sd(3_000)
    up = verdicts.level(mean + 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "both")
    down = verdicts.level(mean - 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "both")
    assert up.outside and down.outside and up.tail == pytest.approx(down.tail, rel=1e-6)
    assert up.tail == pytest.approx(2 * verdicts.nominal_tail(4.0), rel=1e-6)
    assert verdicts.level(mean - 4 * sd, 3_000, null, 3.0, 0.01, len(reference), "up").outside is False
    assert math.isclose(verdicts.nominal_tail(3.0), 0.0013499, rel_tol=1e-4)


# --- the pages show the band -----------------------------------------------------------------------------------
def test_the_pages_show_each_verdict_with_its_band_the_day_s_size_and_the_reference_s(s3_client, store, loan_model,
                                                                                      trained):
    import datetime as dt

    from monitoring import steps
    from tests.helpers import now, read, seed_days

    days = {dt.date(2026, 10, 4): 5, dt.date(2026, 10, 5): 14}  # a clean day, then a drifted one
    seed_days(s3_client, trained, days, rows=1_200)
    for day in days:
        decision = steps.run_day(store, loan_model, day, now=now())
    drift = next(f for f in decision.findings if f.rule == "dataset_drift")
    assert any(line.startswith("annual_income: ") and "no change on a day of 1,200 rows against 20,000 reference rows "
               "stays within 0 to" in line for line in drift.evidence)
    page = read(s3_client, "reports/loan_approval/dt=2026-10-05/index.html").decode()
    assert 'id="judged"' in page and "where 99.87% of no-change days land" in page
    assert "(1,200 rows vs 20,000)" in page and "the smallest change that counts is 0.1" in page
    assert 'id="positive-rate-band"' in page
    model_page = read(s3_client, "reports/loan_approval/index.html").decode()
    assert model_page.count('class="band"') == 9 + 1  # every feature's band, the positive rate's (no trailing volume yet)
    assert "annual_income: drift score" in model_page


def test_a_reference_too_small_to_tell_says_so_on_the_day_page_and_pages_nobody(s3_client, store, loan_model,
                                                                                trained):
    import datetime as dt

    from monitoring import steps
    from tests.helpers import now, put_frame, read, write_day

    estimator, reference = trained
    small = loan_model.model_copy(update={"drift": loan_model.drift.model_copy(update={"min_reference_rows": 500})})
    from tests.helpers import seed_reference

    seed_reference(s3_client, (estimator, reference.iloc[:300]))
    write_day(s3_client, trained, dt.date(2026, 10, 5), rows=800, drifted=True)
    decision = steps.run_day(store, small, dt.date(2026, 10, 5), now=now())
    assert not {"dataset_drift", "feature_drift"} & {f.rule for f in decision.findings}
    page = read(s3_client, "reports/loan_approval/dt=2026-10-05/index.html").decode()
    assert page.count("reference too small to tell (300 rows)") == 9 + 2  # the features and the predictions


# --- every reported metric is judged ------------------------------------------------------------------------------
def labelled_world(task: str, n: int, rng: np.random.Generator, worse: bool = False) -> pd.DataFrame:
    """A labelled world: a regressor whose relative error grows on small targets when `worse` (MAPE rises ~15%, MAE
    barely moves), or a classifier that says yes more often when `worse` (precision falls, recall rises)."""
    x = rng.normal(0, 1, n)
    if task == "regression":
        y = np.exp(rng.normal(3, 0.6, n))
        noise = rng.normal(0, 0.25, n) * (1 + (0.6 if worse else 0.0) * (y < np.exp(2.6)))
        return pd.DataFrame({"x": x, "p": y * (1 + noise), "y": y})
    p = 1 / (1 + np.exp(-(2 * x)))
    label = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"x": x, "p": p, "d": (p >= (0.3 if worse else 0.5)).astype(int), "y": label})


@pytest.mark.parametrize("task,metric", [("regression", "mape"),
                                          ("binary_classification", "precision")])
def test_every_reported_metric_is_judged_by_default_not_only_those_with_a_rule(task, metric):
    """With the default rules (f1 and roc_auc, or mae and r2) a worsening of a metric without a rule is found at its
    own band and minimum change, and a no-change day of the same size raises nothing."""
    from monitoring.reference import ReferenceProfile

    columns = {"id": "id", "timestamp": "ts", "score": "p", "numerical": ["x"]}
    if task != "regression":
        columns["decision"] = "d"
    model = parse_config({"models": {"m": {"task": task, "storage": {"bucket": BUCKET}, "columns": columns,
                                           "labels": {"column": "y", "lag_days": 1},
                                           "performance": {"estimate": False},
                                           "retraining": {"dag_id": "retrain_m"}}}}).model("m")
    assert metric not in model.metric_rules and metric in model.judged_metrics
    rng = np.random.default_rng(5)
    profile = ReferenceProfile.fit(labelled_world(task, 8_000, rng), model, "v1", "00000000000000a1")
    judged = {}
    for worse in (False, True):
        day = labelled_world(task, 3_000, rng, worse).rename(columns={"y": "label"})
        metrics = performance.figures(day, model)["metrics"]
        judged[worse] = {d.metric: d for d in performance.degradations(metrics, profile.performance, model,
                                                                       len(day), profile)}
    assert judged[False] == {}
    assert metric in judged[True], judged[True]
    found = judged[True][metric]
    assert found.verdict.fired and not found.retrain and "more than more than" not in found.limit
    assert found.limit.startswith(f"outside what no change gives on 3,000 labelled rows")
