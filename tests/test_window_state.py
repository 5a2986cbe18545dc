"""The mergeable state of a model-day (monitoring.window_state): merging days equals counting their rows together where
the figures are sums, and stays within the stated bound where they are sketches."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring import window_state
from monitoring.config import Scoring
from monitoring.vocabulary import LABEL, ModelTask
from monitoring.window_state import StateEdges, WindowState, WindowTally

DAY = dt.date(2026, 11, 2)
NUMERICAL, CATEGORICAL = ["income", "age"], ["channel", "merchant"]


def draw(rows: int, rng: np.random.Generator, merchants: int = 20) -> pd.DataFrame:
    income = rng.lognormal(10, 0.5, rows)
    income[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame({
        "income": income, "age": rng.normal(40, 12, rows).round(),
        "channel": rng.choice(["web", "app", None], rows, p=[0.6, 0.35, 0.05]),
        "merchant": (rng.zipf(1.3, rows) % merchants).astype(str),
        "score": rng.beta(2, 5, rows), "latency_ms": rng.gamma(2, 20, rows)})


def edges(reference: pd.DataFrame) -> StateEdges:
    return window_state.fit_edges(reference, NUMERICAL + ["score"], "v1")


def tally(fixed: StateEdges, day: dt.date = DAY, version: str = "v1") -> WindowTally:
    return WindowTally(model="m", day=day, reference_version=version, edges=fixed, numerical=NUMERICAL + ["score"],
                       categorical=CATEGORICAL, score="score", latency="latency_ms")


def split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    cuts = np.linspace(0, len(frame), parts + 1).astype(int)
    return [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def day_states(frame: pd.DataFrame, fixed: StateEdges, days: int) -> list[WindowState]:
    """A state per day of `frame` cut in `days`, each day fed in two batches, each state through its JSON (a file)."""
    states = []
    for number, part in enumerate(split(frame, days)):
        counting = tally(fixed, DAY + dt.timedelta(days=number))
        for batch in split(part, 2):
            counting.add(batch)
        states.append(WindowState.from_json(counting.state().to_json()))
    return states


def test_merging_days_equals_counting_their_rows_together_for_the_exact_parts():
    rng = np.random.default_rng(1)
    reference, frame = draw(5_000, rng), draw(7_000, rng)
    fixed = edges(reference)
    merged = window_state.merge(day_states(frame, fixed, 7))
    whole = tally(fixed).add(frame).state()
    assert merged.days == [DAY + dt.timedelta(days=n) for n in range(7)] and merged.rows == whole.rows == 7_000
    for column in NUMERICAL + ["score"]:
        a, b = merged.numerical[column], whole.numerical[column]
        assert (a.rows, a.count, a.bins, a.min, a.max) == (b.rows, b.count, b.bins, b.min, b.max)
        values = frame[column].dropna()
        assert a.mean == pytest.approx(values.mean(), rel=1e-12) and a.std == pytest.approx(values.std(), rel=1e-10)
        assert sum(a.bins) == a.count and len(a.bins) == len(fixed.columns[column]) + 1
    income, inner = frame["income"].dropna(), fixed.columns["income"]
    assert merged.numerical["income"].bins[0] == (income < inner[0]).sum() > 0  # open bins either side
    assert merged.numerical["income"].bins[-1] == (income >= inner[-1]).sum()
    for column in CATEGORICAL:
        a = merged.categorical[column]
        assert a.exact and a.counts == whole.categorical[column].counts
        assert a.counts == frame[column].dropna().value_counts().to_dict() and a.missing == frame[column].isna().sum()
    assert merged.score.count == frame["score"].notna().sum() and merged.latency.count == 7_000


def test_a_value_outside_the_fixed_edges_lands_in_an_open_bin():
    fixed = StateEdges(fixed_from="v1", columns={"income": [1.0, 2.0, 3.0], "age": [], "score": [0.5]})
    frame = pd.DataFrame({"income": [-5.0, 1.0, 2.5, 3.0, 99.0, np.nan], "age": [1.0] * 6, "channel": ["a"] * 6,
                          "merchant": ["b"] * 6, "score": [0.1] * 6, "latency_ms": [1.0] * 6})
    state = tally(fixed).add(frame).state()
    assert state.numerical["income"].bins == [1, 1, 1, 2] and state.numerical["income"].count == 5
    assert state.numerical["age"].bins == [6]  # a column without edges: one open bin


def test_the_expected_and_realized_confusion_counts_merge_as_sums():
    binary = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="score", decision="approved")
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"score": rng.random(600), LABEL: rng.integers(0, 2, 600)})
    frame["approved"] = (frame["score"] > 0.5).astype(int)
    parts = split(frame, 3)
    merged = window_state.merge([window_state.label_state(p, len(p) + 10, binary) for p in parts])
    whole = window_state.label_state(frame, 630, binary)
    assert merged == whole and merged.labelled == 600 and merged.predictions == 630
    matrix = np.array(whole.confusion.matrix)
    assert matrix[1, 1] == ((frame[LABEL] == 1) & (frame["approved"] == 1)).sum() and matrix.sum() == 600
    regression = Scoring(task=ModelTask.REGRESSION, score="score")
    merged = window_state.merge([window_state.label_state(p, len(p), regression) for p in parts])
    error = frame["score"] - frame[LABEL]
    assert merged.errors.rows == 600 and merged.errors.total == pytest.approx(error.sum())
    assert merged.errors.squares == pytest.approx((error ** 2).sum())
    assert merged.errors.absolute == pytest.approx(error.abs().sum())


def test_the_metrics_of_merged_label_counts_are_those_of_the_rows_together():
    from monitoring import metrics

    rng = np.random.default_rng(3)
    binary = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="score", decision="approved")
    frame = pd.DataFrame({"score": rng.random(900), LABEL: rng.integers(0, 2, 900)})
    frame["approved"] = (frame["score"] > 0.4).astype(int)
    offer = Scoring(task=ModelTask.MULTICLASS_CLASSIFICATION, score="top", decision="offer", classes=("a", "b", "c"),
                    scores=("p_a", "p_b", "p_c"))
    scores = rng.dirichlet([1, 1, 1], 900)
    classes = pd.DataFrame({"p_a": scores[:, 0], "p_b": scores[:, 1], "p_c": scores[:, 2],
                            "offer": np.array(["a", "b", "c"])[scores.argmax(axis=1)], "top": scores.max(axis=1),
                            LABEL: rng.choice(["a", "b", "c"], 900)})
    regression = Scoring(task=ModelTask.REGRESSION, score="score")
    for scoring, rows in ((binary, frame), (offer, classes), (regression, frame)):
        merged = window_state.merge([window_state.label_state(p, len(p), scoring) for p in split(rows, 3)])
        whole = metrics.figures(rows, scoring).metrics
        found = merged.metrics()
        assert found and all(found[m] == pytest.approx(whole[m]) for m in found), (scoring.task, found, whole)


def test_a_high_cardinality_column_keeps_its_heavy_hitters_within_the_stated_bound():
    rng = np.random.default_rng(3)
    fixed = edges(draw(1_000, rng))
    frame = draw(60_000, rng, merchants=20_000)  # Zipf: a few merchants take most rows, thousands are seen once
    merged = window_state.merge(day_states(frame, fixed, 6))
    merchants = merged.categorical["merchant"]
    truth = frame["merchant"].value_counts()
    assert not merchants.exact and merchants.error_bound() <= 0.01 * len(frame)
    for category, low, high in merchants.top(10):
        assert low <= truth[category] <= high and high - low <= merchants.error_bound()
    assert [c for c, _, _ in merchants.top(3)] == list(truth.index[:3])
    assert merchants.distinct() == pytest.approx(len(truth), rel=0.05)
    assert merged.categorical["channel"].exact  # a low-cardinality column stays exact


def test_a_merged_quantile_is_within_the_sketch_s_rank_error():
    rng = np.random.default_rng(4)
    frame = draw(50_000, rng)
    merged = window_state.merge(day_states(frame, edges(frame), 10))
    values = np.sort(frame["latency_ms"].to_numpy())
    bound = merged.latency.rank_error()
    assert 0 < bound < 0.02
    for q in (0.5, 0.95, 0.99):
        rank = np.searchsorted(values, merged.latency.quantile(q)) / len(values)
        assert abs(rank - q) <= bound


def test_states_merge_only_when_they_can():
    rng = np.random.default_rng(5)
    reference = draw(1_000, rng)
    fixed = edges(reference)
    day, later = tally(fixed).add(draw(100, rng)).state(), tally(fixed, DAY + dt.timedelta(days=1), "v2")
    merged = day.merge(later.add(draw(100, rng)).state())  # another reference version: the same fixed edges
    assert merged.reference_versions == ["v1", "v2"] and merged.rows == 200
    with pytest.raises(ValueError, match="counted twice"):
        day.merge(day)
    other_edges = window_state.fit_edges(draw(1_000, rng), NUMERICAL + ["score"], "v3")
    with pytest.raises(ValueError, match="edges of 'v1' and 'v3'"):
        day.merge(tally(other_edges, DAY + dt.timedelta(days=2)).state())


def test_fixed_edges_are_extended_for_a_new_column_and_kept_for_the_others():
    rng = np.random.default_rng(6)
    fixed = edges(draw(1_000, rng))
    later = draw(1_000, rng).assign(tenure=rng.exponential(5, 1_000))
    extended = fixed.covering(later, [*NUMERICAL, "score", "tenure"], "v2")
    assert {c: extended.columns[c] for c in fixed.columns} == fixed.columns and extended.fixed_from == "v1"
    assert 10 < len(extended.columns["tenure"]) <= window_state.EDGE_QUANTILES + 1


def test_a_day_s_state_is_compact():
    rng = np.random.default_rng(7)
    frame = pd.concat([draw(20_000, rng, merchants=50_000)] + [
        pd.DataFrame({f"x{i}": rng.normal(size=20_000) for i in range(28)})], axis=1)
    columns = [*NUMERICAL, *(f"x{i}" for i in range(28)), "score"]
    fixed = window_state.fit_edges(frame, columns, "v1")
    state = WindowTally(model="m", day=DAY, reference_version="v1", edges=fixed, numerical=columns,
                        categorical=CATEGORICAL, score="score", latency="latency_ms").add(frame).state()
    assert len(state.to_json()) < 100_000
