"""Segments (monitoring/segments.py): a day's figures per segment, counted batch by batch, equal a pandas groupby of
the whole day; a change confined to one segment is found there and nowhere else, a change of the whole day is left
to the day's own verdicts; tiny segments never page; new, vanished and resized segments are findings; each segment
has its own alert episode; the config and the data contract name what is wrong; the fit is deterministic and reads
back from JSON.

The world (tests/segment_world.py) is fitted once per session, about five seconds; each day is a few thousand rows.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from monitoring import alerts, episodes, history, judging, rules
from monitoring.config import (ConfigError, DriftConfig, MinimumChanges, ModelConfig, SegmentsConfig, SegmentSpec,
                               parse_config)
from monitoring.contract import ContractError, prepare_reference, valid_schema, validate
from monitoring.day_state import DayState
from monitoring.layout import DayLayout
from monitoring.reference import ReferenceProfile
from monitoring.rules import Finding, Severity
from monitoring.segments import OTHER_COMBINATIONS, BinnedColumn, ColumnCoding, Dimension, SegmentsFit
from tests.conftest import ROOT
from tests.segment_world import CONFIG, EDGES, SPEC, channel_counts, fit_settings, fitted, segment_day
from tests.summaries import summary

DAY = dt.date(2026, 10, 14)
BASE = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
AMOUNT_LABELS = ["amount < 5,000", "amount in [5,000, 20,000)", "amount ≥ 20,000"]
SEGMENT_RULES = ("segment_drift", "segment_share", "new_segment", "vanished_segment")


# --- helpers -------------------------------------------------------------------------------------------------------
def judged(day: pd.DataFrame, settings: SegmentsConfig = CONFIG, batches: tuple[int, ...] = ()):
    """The day (fed to its DayState in batches cut at `batches`) judged as `judging.judge_day` judges it: the
    columns' final drift, the segments' report and the DayState."""
    reference, profile = fitted()
    fit = fit_settings()
    state = DayState(fit, profile)
    cuts = [0, *batches, len(day)]
    for start, end in zip(cuts[:-1], cuts[1:]):
        state.add(day.iloc[start:end])
    columns = judging.judge_columns(day, reference, fit.drift, DriftConfig(), profile, {})
    final, _, report = judging.judge_day(DriftConfig(), MinimumChanges(), profile, columns, state.operations(day),
                                         state.quality(), day, (settings, state.segments))
    return final, report, state


def segment_findings(report, model) -> list[Finding]:
    """The findings the rules raise from the day's segments (the rest of the summary is a quiet day)."""
    return [f for f in rules.findings(summary().model_copy(update={"segments": report}), model)
            if f.rule in SEGMENT_RULES]


def result(report, key: str):
    found = [s for s in report.segments if s.key == key]
    assert len(found) == 1, [s.key for s in report.segments]
    return found[0]


def single(report):
    """The segments of the single-column dimensions (channel, amount), not the crossed ones."""
    return [s for s in report.segments if s.dimension in ("channel", "amount")]


# --- 1. figures per segment ----------------------------------------------------------------------------------------
def awkward_day() -> pd.DataFrame:
    """A day with every case a segment meets: missing features, a category and a channel the reference never had,
    rows without a channel or an amount, amounts on the buckets' edges and y on the fitted bins' edges."""
    _, profile = fitted()
    rng = np.random.default_rng(11)
    day = segment_day(channel_counts(3_000, fax=0.002, kiosk=0.02), rng)
    day = day.astype({"c": object})
    rows = rng.permutation(len(day))
    day.loc[rows[:120], "channel"] = None  # -> "channel (missing)"
    day.loc[rows[100:250], "x"] = np.nan  # missing feature values, partly in the rows without a channel
    day.loc[rows[250:340], "c"] = None
    day.loc[rows[340:370], "c"] = "zz"  # a category the reference never had
    day.loc[rows[370:460], "amount"] = np.nan  # -> "amount (missing)"
    day.loc[rows[460:470], "amount"] = EDGES[0]  # on an edge: in [5,000, 20,000)
    day.loc[rows[470:480], "amount"] = EDGES[1]  # on an edge: >= 20,000
    edges = profile.numerical["y"].edges
    day.loc[rows[480:490], "y"] = edges[3]  # on a fitted edge: in the bin it closes, as the day's histogram has it
    return day


def expected_keys(day: pd.DataFrame, fit: SegmentsFit) -> dict[str, pd.Series]:
    """Each row's segment in each dimension, computed with pandas from the raw values."""
    channel = day["channel"]
    kept = fit.dimensions[0].codings[0].values
    channels = pd.Series(np.where(channel.isna(), "channel (missing)",
                                  np.where(channel.isin(kept), "channel=" + channel.astype(str),
                                           "channel (other values)")), index=day.index)
    amounts = pd.cut(day["amount"], [-np.inf, *EDGES, np.inf], right=False, labels=AMOUNT_LABELS)
    amounts = amounts.astype(object).where(amounts.notna(), "amount (missing)")
    pairs = channels + " × " + amounts
    crossed = pairs.where(pairs.isin(fit.dimensions[2].keys), f"channel × amount {OTHER_COMBINATIONS}")
    return {"channel": channels, "amount": amounts, "channel × amount": crossed}


def expected_bins(day: pd.DataFrame, column: BinnedColumn, profile: ReferenceProfile) -> pd.Series:
    """Each row's bin in a monitored column, computed with pandas: numerical bins closed on the right at the
    profile's edges (as the day's histogram, `quality.shares`), categories in sorted order then one bin of unseen
    values; missing values last."""
    values = day[column.column]
    if column.column in profile.numerical:
        edges = profile.numerical[column.column].edges
        bins = pd.cut(values, [-np.inf, *edges, np.inf], right=True, labels=False)
        return bins.fillna(len(edges) + 1).astype(int)
    categories = sorted(profile.categorical[column.column].counts)
    text = values.astype(object).where(values.isna(), values.astype(str))
    found = pd.Series(pd.Categorical(text, categories=categories).codes, index=day.index)
    return found.where(found >= 0, len(categories)).where(values.notna(), len(categories) + 1)


def test_figures_per_segment_counted_batch_by_batch_equal_a_groupby_of_the_whole_day():
    _, profile = fitted()
    fit = profile.segments
    day = awkward_day()
    _, report, state = judged(day, batches=(217, 2_400))  # three uneven batches
    tally = state.segments
    assert tally.rows == len(day)
    # the reference's channels, most rows first (mobile and partner tie: by name); its combinations, all kept
    assert fit.dimensions[0].codings[0].values == ["web", "branch", "mobile", "partner", "fax"]
    assert [d.name for d in fit.dimensions] == ["channel", "amount", "channel × amount"]
    assert fit.dimensions[1].keys == [*AMOUNT_LABELS, "amount (missing)"]
    reference, _ = fitted()
    combinations = expected_keys(reference, fit)["channel × amount"]
    assert set(fit.dimensions[2].keys) == {*combinations.unique(), f"channel × amount {OTHER_COMBINATIONS}"}

    keys = expected_keys(day, fit)
    assert keys["channel"].value_counts()["channel (missing)"] == 120
    kiosk = int((day["channel"] == "kiosk").sum())
    assert kiosk > 40 and keys["channel"].value_counts()["channel (other values)"] == kiosk  # pooled
    bins = {c.column: expected_bins(day, c, profile) for c in fit.columns}
    checked = 0
    for i, dimension in enumerate(fit.dimensions):
        groups = day.assign(key=keys[dimension.name].to_numpy()).groupby("key")
        assert set(groups.groups) <= set(dimension.keys)
        for index, key in enumerate(dimension.keys):
            rows = groups.get_group(key) if key in groups.groups else day.iloc[:0]
            assert tally.counts[i][index] == len(rows), key
            assert tally.positives[i][index] == rows["d"].sum(), key
            assert tally.scored[i][index] == rows["p"].notna().sum(), key
            assert tally.score_sum[i][index] == pytest.approx(rows["p"].sum(), rel=1e-12), key
            for j, column in enumerate(fit.columns):
                counted = bins[column.column].loc[rows.index].value_counts()
                want = counted.reindex(range(column.bins + 1), fill_value=0).to_numpy()
                assert tally.bins[i][j][index].tolist() == want.tolist(), (key, column.column)
                assert tally.bins[i][j][index][column.bins] == rows[column.column].isna().sum()
            if len(rows):
                found = result(report, key)
                assert found.rows == len(rows) and found.share == pytest.approx(len(rows) / len(day))
                assert found.mean_score == pytest.approx(rows["p"].mean())
                assert found.positive_rate == pytest.approx(rows["d"].mean())
                assert found.missing_share == pytest.approx(rows[[c.column for c in fit.columns]].isna().mean().max())
                checked += 1
    assert checked >= 20
    # the whole day's histogram (DayState) is the sum of the segments' bins
    y = [c.column for c in fit.columns].index("y")
    assert tally.bins[0][y].sum(axis=0)[:-1].tolist() == state.numbers["y"].bins.tolist()
    assert tally.new == {"channel": Counter({"kiosk": kiosk})}  # fax is known, only kiosk is new
    assert result(report, "channel (missing)").status == "new"  # the reference has no row without a channel


# --- 2. a change in one segment ------------------------------------------------------------------------------------
def test_a_shift_in_one_small_segment_is_found_there_and_nowhere_else(loan_model):
    day = segment_day(channel_counts(4_000, fax=0.0015), np.random.default_rng(12), shift={"mobile": 0.8})
    _, report, _ = judged(day)
    mobile = result(report, "channel=mobile")
    assert mobile.status == "judged" and mobile.rows == 400
    assert list(mobile.fired) == ["y"] and mobile.changed == ["y"] and mobile.finding
    assert mobile.top_column == "y" and report.top(1)[0].key == "channel=mobile"  # the largest impact
    assert [s.key for s in single(report) if s.fired or s.finding] == ["channel=mobile"]
    assert all(s.share_verdict is None or not s.share_verdict.fired for s in report.segments)

    found = segment_findings(report, loan_model)
    drift = [f for f in found if f.rule == "segment_drift"]
    assert drift and drift[0].segment == "channel=mobile" and drift[0].columns == ["y"]
    assert drift[0].severity is Severity.WARNING and "channel=mobile (400 rows, 10.0% of the day" in drift[0].message
    assert drift[0].evidence[0].startswith("y: ")
    assert all(f.segment.startswith("channel=mobile") for f in found), [(f.rule, f.segment) for f in found]

    capped = judged(day, CONFIG.model_copy(update={"max_findings": 1}))[1]
    assert [s.key for s in capped.segments if s.finding] == ["channel=mobile"]


def test_a_day_without_change_of_the_same_size_fires_nothing(loan_model):
    day = segment_day(channel_counts(4_000, fax=0.0015), np.random.default_rng(13))
    final, report, _ = judged(day)
    assert not any(r.drifted for r in final.values())
    assert [s.key for s in report.segments if s.fired or s.finding] == []
    assert all(s.share_verdict is None or not s.share_verdict.fired for s in report.segments)
    assert report.new == [] and report.vanished == []
    assert segment_findings(report, loan_model) == []


def test_a_column_missing_in_one_segment_is_shown_there_and_the_missing_values_finding_says_where(loan_model):
    """y missing in every mobile row (10% of the day): the mobile segment's most-missing column is y at 100%, the
    others show nothing missing, and the whole day's missing_values finding names the segment it sits in."""
    from monitoring.quality import ColumnQuality
    from monitoring.summary import DataQuality

    day = segment_day(channel_counts(4_000), np.random.default_rng(31))
    day.loc[day["channel"] == "mobile", "y"] = np.nan
    report = judged(day)[1]
    mobile = result(report, "channel=mobile")
    assert (mobile.missing_column, mobile.missing_share) == ("y", 1.0)
    assert result(report, "channel=web").missing_column is None
    quality = DataQuality(max_missing_share=0.2, columns={"y": ColumnQuality(kind="numerical", missing_share=0.2)})
    s = summary().model_copy(update={"segments": report, "data_quality": quality})
    finding = next(f for f in rules.findings(s, loan_model) if f.rule == "missing_values")
    assert finding.message.endswith("Concentrated in segment channel=mobile: 100.0% of its 400 rows lack y "
                                    "(20.0% over the day).")
    spread = quality.model_copy(update={"columns": {"y": ColumnQuality(kind="numerical", missing_share=0.6)}})
    everywhere = summary().model_copy(update={"segments": report, "data_quality": spread})
    assert "Concentrated" not in next(f for f in rules.findings(everywhere, loan_model)
                                      if f.rule == "missing_values").message  # 100% is less than twice 60%


# --- 3. tiny segments ----------------------------------------------------------------------------------------------
def test_a_segment_with_too_few_rows_on_the_day_never_fires_however_shifted(loan_model):
    counts = channel_counts(400, mobile=0.09)  # mobile 36 rows, partner 40: under min_rows (50), at their share
    day = segment_day(counts, np.random.default_rng(14), shift={"mobile": 5.0, "partner": 5.0})
    final, report, _ = judged(day)
    assert final["y"].drifted  # the whole day shows it
    for key, rows in (("channel=mobile", 36), ("channel=partner", 40)):
        tiny = result(report, key)
        assert (tiny.status, tiny.rows, tiny.reference_rows) == ("too_few_rows", rows, 2_000)
        assert tiny.drift == {} and tiny.fired == {} and not tiny.finding and tiny.impact == 0.0
        assert tiny.share_verdict is None  # 40 rows expected: its share is not judged either
    assert all(s.fired == {} for s in report.segments if s.status == "too_few_rows")
    assert not [f for f in segment_findings(report, loan_model) if "mobile" in f.segment or "partner" in f.segment]


def test_a_segment_with_a_small_reference_is_never_judged():
    day = segment_day(channel_counts(4_000, fax=0.05), np.random.default_rng(15), shift={"fax": 5.0})
    _, report, _ = judged(day)
    fax = result(report, "channel=fax")
    assert (fax.status, fax.rows, fax.reference_rows) == ("small_reference", 200, 30)
    assert fax.drift == {} and fax.fired == {} and fax.share_verdict is None and not fax.finding
    _, profile = fitted()
    assert profile.segments.baselines["channel=fax"].drift_nulls == {}  # under MIN_FIT_ROWS: no band fitted
    # judged at all only under a min_rows it passes
    assert result(judged(day, CONFIG.model_copy(update={"min_rows": 20}))[1], "channel=fax").status == "judged"


# --- 4. new and vanished segments ----------------------------------------------------------------------------------
def test_a_value_the_reference_never_had_on_8_percent_of_the_day_is_a_new_segment(loan_model):
    day = segment_day(channel_counts(4_000, kiosk=0.08), np.random.default_rng(16))
    _, report, state = judged(day)
    assert [(n.key, n.rows, n.share) for n in report.new] == [("channel=kiosk", 320, 0.08)]
    pooled = result(report, "channel (other values)")
    assert (pooled.status, pooled.rows) == ("new", 320)
    found = [f for f in segment_findings(report, loan_model) if f.rule == "new_segment"]
    assert [f.segment for f in found] == ["channel=kiosk"]
    assert "320 rows (8.0% of the day), a value the reference never had in 20,000 rows" in found[0].message


def test_a_couple_of_rows_of_a_new_value_are_counted_but_raise_nothing(loan_model):
    day = segment_day(channel_counts(4_000, kiosk=0.0005), np.random.default_rng(17))
    _, report, state = judged(day)
    assert state.segments.new == {"channel": Counter({"kiosk": 2})}
    assert report.new == []
    assert not [f for f in segment_findings(report, loan_model) if f.rule == "new_segment"]


def test_a_segment_the_reference_makes_certain_that_is_absent_has_vanished(loan_model):
    day = segment_day(channel_counts(4_000, branch=0.0), np.random.default_rng(18))  # no fax either: 6 expected
    _, report, _ = judged(day)
    vanished = [v.key for v in report.vanished]
    assert vanished[0] == "channel=branch" and all(k.startswith("channel=branch") for k in vanished)
    assert len(vanished) == 4  # the channel and its three combinations with the amount
    assert result(report, "channel=branch").rows == 0 and result(report, "channel=branch").reference_share == 0.2
    assert "channel=fax" not in vanished  # 30 reference rows: absent by chance often enough
    found = [f for f in segment_findings(report, loan_model) if f.rule == "vanished_segment"]
    assert found[0].segment == "channel=branch" and len(found) == CONFIG.max_findings
    assert "holds 20.0% of the reference's" in found[0].message


def test_rows_without_a_segment_value_the_reference_never_lacked_are_a_finding(loan_model):
    day = segment_day(channel_counts(4_000), np.random.default_rng(19))
    day.loc[day.index[:200], "channel"] = None  # 5% of the day; the reference has a channel on every row
    _, report, _ = judged(day)
    missing = result(report, "channel (missing)")
    assert (missing.status, missing.rows, missing.reference_rows) == ("new", 200, 0)
    assert [f.segment for f in segment_findings(report, loan_model)] == ["channel (missing)"]


# --- 5. a segment's share ------------------------------------------------------------------------------------------
def test_a_segment_holding_25_percent_of_the_day_instead_of_10_fires_its_share(loan_model):
    day = segment_day(channel_counts(4_000, mobile=0.25), np.random.default_rng(20))
    _, report, _ = judged(day)
    mobile = result(report, "channel=mobile")
    assert mobile.share_verdict.fired and mobile.share_verdict.value == pytest.approx(0.15)
    assert mobile.fired == {} and mobile.finding
    found = [f for f in segment_findings(report, loan_model) if f.rule == "segment_share"]
    assert "channel=mobile" in [f.segment for f in found]
    share = next(f for f in found if f.segment == "channel=mobile")
    assert "holds 25.0% of the day's rows (1,000) against 10.0% of the reference's" in share.message
    assert not [f for f in segment_findings(report, loan_model) if f.rule == "segment_drift"]


# --- 6. concentration ----------------------------------------------------------------------------------------------
def test_a_shift_of_the_whole_day_is_the_days_finding_not_a_segments(loan_model):
    day = segment_day(channel_counts(4_000, fax=0.0015), np.random.default_rng(21), everywhere=0.8)
    final, report, _ = judged(day)
    assert final["y"].drifted
    assert [s.key for s in report.segments if "y" in s.fired]  # the segments see it too
    assert all("y" not in s.changed for s in report.segments)
    assert not [f for f in segment_findings(report, loan_model) if f.rule == "segment_drift"]


# --- 7. alert episodes per segment ---------------------------------------------------------------------------------
def finding(rule: str, segment: str | None = None) -> Finding:
    return Finding(rule=rule, severity=Severity.WARNING, segment=segment, message=f"{rule} in {segment}",
                   action="look")


def test_each_segment_has_its_own_episode_key_safe_for_s3(loan_model):
    overall, mobile, web = (finding("segment_drift", s) for s in (None, "channel=mobile", "channel=web"))
    assert overall.episode == "segment_drift"
    assert len({overall.episode, mobile.episode, web.episode}) == 3
    assert finding("segment_drift", "channel=mobile").episode == mobile.episode  # stable
    assert finding("segment_share", "channel=mobile").episode != mobile.episode
    hostile = finding("segment_drift", "channel=../../x × amount ≥ 20,000 / é")
    layout = DayLayout.of(loan_model, DAY)
    for f in (mobile, web, hostile):
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", f.episode), f.episode
        key = layout.sent_alert(f.episode, DAY)
        assert layout.parse_sent_alert(key) == (f.episode, DAY.isoformat(), "alert")


def test_a_segment_alert_and_the_overall_alert_of_a_rule_are_sent_once_each(store, loan_model):
    found = [finding("performance_degradation"), finding("performance_degradation", "channel=mobile"),
             finding("performance_degradation", "channel=web")]
    first, second = DAY, DAY + dt.timedelta(days=1)
    inbox = []

    def send(message):
        inbox.append(message)
        return ["sent"]

    layout = DayLayout.of(loan_model, first)
    plan = episodes.plan_notices(loan_model.alerts, loan_model.name, first, found, {}, None, {},
                                 alerts.sent_episodes(store, layout))
    assert [(n.kind, n.rule, n.segment) for n in plan.message.notices] == [
        ("alert", "performance_degradation", None), ("alert", "performance_degradation", "channel=mobile"),
        ("alert", "performance_degradation", "channel=web")]
    assert len({n.episode for n in plan.message.notices}) == 3
    assert alerts.deliver(store, layout, plan, send, "now") == ["sent"]
    assert len(inbox) == 1 and "in channel=mobile" in inbox[0].text()
    sent = alerts.sent_episodes(store, layout)
    assert set(sent) == {f.episode for f in found}

    # the next day, all three still firing: already alerted for their episodes, nothing is sent
    recent = {first.isoformat(): history.day_metrics(summary(day=first.isoformat()), found)}
    later = layout.on(second)
    plan = episodes.plan_notices(loan_model.alerts, loan_model.name, second, found, {}, None, recent, sent)
    assert plan.message is None
    assert len(plan.skipped) == 3 and all("already alerted for its episode since 2026-10-14" in s for s in plan.skipped)
    assert alerts.deliver(store, later, plan, send, "now") == [] and len(inbox) == 1

    # the segments stop firing, the overall rule goes on: after alerts.resolve_after quiet days each segment's
    # episode is resolved on its own, the overall one goes on
    recent[second.isoformat()] = history.day_metrics(summary(day=second.isoformat()), found)
    quiet = loan_model.alerts.resolve_after
    for n in range(1, quiet):
        when = second + dt.timedelta(days=n)
        recent[when.isoformat()] = history.day_metrics(summary(day=when.isoformat()), found[:1])
    last = second + dt.timedelta(days=quiet)
    plan = episodes.plan_notices(loan_model.alerts, loan_model.name, last, found[:1], {}, None, recent, sent,
                                 alerts.open_segments(store, layout, sent))
    resolved = sorted((n.kind, n.rule, n.episode, n.episode_start, n.segment) for n in plan.message.notices)
    assert resolved == sorted(("resolved", "performance_degradation", f.episode, "2026-10-14", f.segment)
                              for f in found[1:])
    assert plan.message.still_firing == ["performance_degradation"]
    messages = sorted(n.message for n in plan.message.notices)  # each resolution says where
    assert messages == [f"performance_degradation in channel={c} has not fired for {quiet} day(s)."
                        for c in ("mobile", "web")]
    assert "RESOLVED performance_degradation in channel=mobile" in plan.message.text()
    # without the alerts' records (deleted by hand), the resolution still goes out, saying only "in one segment"
    blind = episodes.plan_notices(loan_model.alerts, loan_model.name, last, found[:1], {}, None, recent, sent)
    assert all("(in one segment)" in n.message and n.segment is None for n in blind.message.notices)


# --- 8. config -----------------------------------------------------------------------------------------------------
def with_segments(value) -> dict:
    document = copy.deepcopy(BASE)
    document["models"]["loan_approval"]["segments"] = value
    return document


@pytest.mark.parametrize(("segments", "message"), [
    ({"columns": ["channel"], "crossed": [["channel", "nope"]]},
     r"model 'loan_approval': key 'segments.crossed.0': \['nope'\] are not segment columns"),
    ({"columns": ["state"], "crossed": [["state", "state"]]},
     r"key 'segments.crossed.0': a column crossed with itself"),
    ({"buckets": {"amount": [5, 1]}},
     r"key 'segments.buckets': 'amount': give at least one edge, in increasing order \(got \[5.0, 1.0\]\)"),
    ({"buckets": {"loan_amount": []}}, r"key 'segments.buckets': 'loan_amount': give at least one edge"),
    ({"columns": ["credit_score"]}, r"key 'segments.columns.0': 'credit_score' is a numerical feature"),
    ({"buckets": {"state": [1]}}, r"key 'segments.buckets.state': 'state' is a categorical feature"),
    ({"columns": ["approved"]}, r"key 'segments.columns.0': 'approved' is the id, time, prediction or label column"),
    ({"columns": ["channel"], "buckets": {"channel": [1]}}, r"key 'segments.columns.0': 'channel' is also under"),
    ({"colums": ["state"]}, r"key 'segments.colums': unknown key"),
    ({"columns": ["state"], "min_rows": 5}, r"key 'segments.min_rows'"),
])
def test_a_bad_segments_setting_is_an_error_naming_its_key(segments, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_segments(segments))


@pytest.mark.parametrize("segments", [{"columns": ["state", "state"]},
                                      {"columns": ["state", "channel"],
                                       "crossed": [["state", "channel"], ["state", "channel"]]}])
def test_a_segment_column_or_pair_listed_twice_is_an_error(segments):
    with pytest.raises(ConfigError, match=r"key 'segments\.(columns|crossed)"):
        parse_config(with_segments(segments))


def test_segment_columns_the_model_does_not_use_are_kept_beside_the_features():
    model = parse_config(with_segments({"columns": ["channel", "state"], "buckets": {"loan_amount": [5000, 20000],
                                                                                     "requested": [1000]},
                                        "crossed": [["channel", "loan_amount"]]})).model("loan_approval")
    assert model.extra_segment_columns == {"channel": "categorical", "requested": "numerical"}
    spec = model.segment_spec
    assert spec.columns == ("channel", "state") and spec.crossed == (("channel", "loan_amount"),)
    assert model.fit_settings.segments == spec
    assert parse_config(with_segments({"columns": ["channel"]})).model("loan_approval").segment_spec is not None
    document = with_segments({"columns": ["channel"]})
    document["models"]["loan_approval"]["drift"]["threshold_mode"] = "fixed"
    assert parse_config(document).model("loan_approval").segment_spec is None  # calibrated mode only


# --- 9. the data contract ------------------------------------------------------------------------------------------
def prediction_log(model: ModelConfig, rows: int, seed: int, **extra) -> pd.DataFrame:
    """A day's log of the model (no trained model needed: features and score are drawn), with `extra` columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({**{c: rng.normal(100, 10, rows).round(1) for c in model.columns.numerical},
                          **{c: rng.choice(["a", "b", "c"], rows) for c in model.columns.categorical}})
    frame["approval_probability"] = rng.uniform(0, 1, rows).round(6)
    frame["approved"] = (frame["approval_probability"] >= 0.5).astype(int)
    frame.insert(0, "event_time", pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(rng.integers(0, 86_400, rows), "s"))
    frame.insert(0, "prediction_id", [f"{seed}-{i:05d}" for i in range(rows)])
    for column, values in extra.items():
        frame[column] = values
    return frame


@pytest.fixture(scope="module")
def channel_model():
    return parse_config(with_segments({"columns": ["channel"], "buckets": {"requested": [1000.0]}})).model(
        "loan_approval")


def test_the_contract_keeps_extra_segment_columns_typed_and_a_file_without_them_lands_in_missing(channel_model):
    logged = prediction_log(channel_model, 6, 1, channel=[1, 2, 2, None, 3, 1],
                            requested=["500", 2_000, None, 1e3, 7, 8])
    result = validate(logged, channel_model, DAY)
    assert result.rows_valid == 6 and "channel" not in result.extra_columns
    assert result.valid["channel"].tolist()[:3] == ["1", "2", "2"] and pd.isna(result.valid["channel"][3])
    assert result.valid["requested"].dtype == "float64" and result.valid["requested"][0] == 500.0
    pa.Table.from_pandas(result.valid, schema=valid_schema(channel_model), preserve_index=False)  # typed as written

    without = validate(prediction_log(channel_model, 5, 2), channel_model, DAY)
    assert without.rows_valid == 5 and without.valid["channel"].isna().all()
    assert without.valid["requested"].isna().all()
    pa.Table.from_pandas(without.valid, schema=valid_schema(channel_model), preserve_index=False)
    coding = ColumnCoding.fit("channel", pd.Series(["1", "2", "2", "3"]), None, 19)
    dimension = Dimension.single(coding)
    assert [dimension.keys[s] for s in dimension.segments(without.valid)] == ["channel (missing)"] * 5
    buckets = Dimension.single(ColumnCoding.fit("requested", pd.Series([1.0]), (1000.0,), 0))
    assert [buckets.keys[s] for s in buckets.segments(result.valid)] == [
        "requested < 1,000", "requested ≥ 1,000", "requested (missing)", "requested ≥ 1,000", "requested < 1,000",
        "requested < 1,000"]


def test_a_reference_without_a_segment_column_is_refused_naming_it(channel_model):
    reference = prediction_log(channel_model, 20, 3, channel=["web"] * 20, requested=1_500.0)
    reference = reference.drop(columns=["prediction_id", "event_time"])
    typed = prepare_reference(reference, channel_model, "s3://b/reference.parquet")
    assert typed["channel"].tolist() == ["web"] * 20 and typed["requested"].dtype == "float64"
    with pytest.raises(ContractError, match=r"lacks segment column\(s\) \['channel'\] of model 'loan_approval'"):
        prepare_reference(reference.drop(columns=["channel"]), channel_model, "s3://b/reference.parquet")
    with pytest.raises(ContractError, match=r"segment column 'requested' that are not finite numbers"):
        prepare_reference(reference.assign(requested="lots"), channel_model, "s3://b/reference.parquet")


# --- 10. a deterministic fit that reads back -----------------------------------------------------------------------
def test_the_segments_fit_is_deterministic_and_reads_back_from_json():
    reference, profile = fitted()
    binned = [BinnedColumn(column=c, edges=b.edges) for c, b in profile.numerical.items() if b.count]
    binned += [BinnedColumn(column=c, categories=sorted(b.counts)) for c, b in profile.categorical.items()]
    again = SegmentsFit.fit(reference, SPEC, binned)
    assert again == profile.segments
    assert again.model_dump_json() == profile.segments.model_dump_json()
    other = SegmentsFit.fit(reference, SPEC, binned, salt=1)  # other replicate days: other bands, same counts
    assert other != again and other.baselines["channel=web"].counts == again.baselines["channel=web"].counts
    mobile = profile.segments.baselines["channel=mobile"]
    assert (mobile.rows, mobile.share) == (2_000, 0.1) and set(mobile.drift_nulls) == {"x", "y", "p", "c", "d"}
    assert mobile.share_null is not None

    back = ReferenceProfile.model_validate_json(profile.to_json())
    assert back.segments == profile.segments and back == profile

    _, report, _ = judged(segment_day(channel_counts(2_000, kiosk=0.05), np.random.default_rng(22)))
    assert type(report).model_validate_json(report.model_dump_json()) == report


# --- performance inside a segment -----------------------------------------------------------------------------------
def _labelled(n: int, rng: np.random.Generator, worse_in: str | None = None, flip: float = 0.25) -> pd.DataFrame:
    """A labelled classifier's rows with a channel; in `worse_in`, `flip` of the labels flipped (F1 falls there)."""
    from tests.world import labelled_world
    from monitoring.vocabulary import ModelTask

    frame = labelled_world(ModelTask.BINARY_CLASSIFICATION, n, rng)
    frame["channel"] = rng.choice(["web", "branch", "mobile"], n, p=[0.7, 0.2, 0.1])
    if worse_in:
        flip = (frame["channel"] == worse_in).to_numpy() & (rng.random(n) < flip)
        frame.loc[flip, "y"] = 1 - frame.loc[flip, "y"]
    return frame


def test_a_metric_that_falls_inside_one_segment_is_found_there_only():
    """F1 judged inside each segment against the reference's same segment at its labelled size: a quarter of one
    10% segment's labels flipped is found there and nowhere else; a no-change day finds nothing; the due day's rule
    names the segment."""
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.records import DueDay
    from monitoring.vocabulary import ModelTask
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y").model_copy(
        update={"segments": SegmentSpec(columns=("channel",), metric="f1")})
    rng = np.random.default_rng(3)
    profile = ReferenceProfile.fit(_labelled(12_000, rng), "m", fit, "v1", "00000000000000b2")
    rules_of = metric_judging(ModelTask.BINARY_CLASSIFICATION)
    for worse in (None, "mobile"):
        day = _labelled(4_000, rng, worse).rename(columns={"y": "label"})
        found = judging.segment_performance(day, scoring, rules_of, profile, SegmentsConfig(columns=("channel",)))
        assert {s.key for s in found} >= {"channel=web", "channel=branch", "channel=mobile"}
        assert [s.key for s in found if s.degraded] == ([] if worse is None else ["channel=mobile"])
    degraded = [s for s in found if s.degraded]
    assert degraded[0].value < degraded[0].baseline - 0.05 and degraded[0].verdict.band is not None
    from monitoring.segments import predictive_changes
    cells = profile.segments.baselines["channel=mobile"].confusion  # judged on the counts' predictive draws
    assert sum(cells) == profile.segments.baselines["channel=mobile"].rows
    expected = np.quantile(predictive_changes("f1", cells, degraded[0].labelled, "channel=mobile"), 0.00135)
    assert degraded[0].verdict.band[0] == pytest.approx(expected, abs=1e-4)
    due = DueDay(day="2026-10-09", status="judged", labelled=4_000, coverage=1.0, metrics={}, baseline={},
                 degraded=[], segments_degraded=degraded)
    finding = rules._segment_performance(due)[0]
    assert finding.segment == "channel=mobile" and "f1" in finding.message and finding.episode != "segment_performance"


def test_a_segment_s_drop_too_small_for_its_days_is_found_over_the_labelled_window():
    """Seven 600-row days whose mobile segment (60 rows a day) has a quarter of its labels flipped: the days' label
    counts per segment, summed, judge mobile's F1 worse at the window's 400-odd labelled rows, which no day judged
    alone did; the other segments and an unchanged week find nothing; the rule names the segment (its own episode)
    and is silent when a day showed it; the window's counts per segment equal those of the week's rows together."""
    from monitoring import window_state
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.records import DueDay
    from monitoring.vocabulary import ModelTask
    from tests.summaries import labels_report
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y").model_copy(
        update={"segments": SegmentSpec(columns=("channel",), metric="f1")})
    rng = np.random.default_rng(3)
    profile = ReferenceProfile.fit(_labelled(12_000, rng), "m", fit, "v1", "00000000000000b2")
    rules_of, configured = metric_judging(ModelTask.BINARY_CLASSIFICATION), SegmentsConfig(columns=("channel",))
    masks = window_state.segment_masks(profile.segments)
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=i) for i in range(7)]

    def week(worse: str | None):
        states, performances, frames = {}, {}, []
        for i, day in enumerate(days):
            frame = _labelled(600, rng, worse).rename(columns={"y": "label"})
            performances[day] = judging.labelled_day(
                joined=frame, predictions=len(frame), scoring=scoring, judging=rules_of, lag_days=5, day=day,
                as_of=day + dt.timedelta(days=5), fitted=profile, label_digest=str(i), segmented=configured)
            states[day] = window_state.label_state(frame, frame, scoring, masks)
            frames.append(frame)
        return judging.window_performance(days, states, performances, rules_of, profile, 0.5, configured), \
            performances, states, pd.concat(frames, ignore_index=True)

    window, performances, states, rows = week("mobile")
    assert not any(s.degraded for p in performances.values() for s in p.segments)  # no day saw it alone
    assert [s.key for s in window.segments if s.degraded] == ["channel=mobile"]
    mobile = window.segments[0]
    assert mobile.value < mobile.baseline - 0.05 and mobile.labelled == int((rows["channel"] == "mobile").sum())
    together = window_state.label_state(rows, rows, scoring, masks)
    merged = window_state.merge(states[d] for d in days)
    assert merged.segments.keys() == together.segments.keys() and all(
        merged.segments[k].confusion.matrix == together.segments[k].confusion.matrix for k in together.segments)
    assert window_state.merge([states[days[0]], states[days[1]].model_copy(update={"segmented": False})]).segments == {}

    due = DueDay(day=str(days[-1]), status="judged", labelled=600, coverage=1.0, metrics={}, baseline={}, degraded=[])
    report = labels_report().model_copy(update={"due": due, "window": window})
    found = rules._segment_window_performance(report)
    assert len(found) == 1 and found[0].segment == "channel=mobile" and found[0].columns == ["f1"]
    assert found[0].message.startswith("The predictions made on the 7 days 2026-10-05 to 2026-10-11, judged together: "
                                       "f1 ") and found[0].episode != "segment_window_performance"
    from monitoring.site import render_day_page
    from tests.summaries import metrics_of

    day = summary().with_labels(None, report)
    page = render_day_page(day, [], metrics_of(day), [])
    assert 'id="window-segments"' in page and "Over these days, f1 " in page and "channel=mobile" in page
    shown = window.model_copy(update={"segments_shown_by_days": {"channel=mobile": [str(days[2])]}})
    assert not rules._segment_window_performance(report.model_copy(update={"window": shown}))
    unchanged, *_ = week(None)
    assert unchanged.segments and not any(s.degraded for s in unchanged.segments)


def test_a_segment_s_f1_is_judged_on_its_skewed_predictive_draws_and_no_change_keeps_its_false_alarm_rate():
    """At a segment's 235 labelled rows F1's no-change distribution leans left: its predictive draws (the
    reference segment's counts, Dirichlet then multinomial) put the band's lower edge further out than the upper
    one, and a drop 3.5 sd out gets a tail over twice the normal's (`level` would have said 0.02%). No-change days
    drawn from the segment's true shares stay near the nominal rates."""
    from monitoring.metrics import metric_of_counts
    from monitoring.segments import predictive_changes
    from monitoring.verdicts import empirical, nominal_tail

    truth = np.array([0.38, 0.19, 0.15, 0.28])  # tp, fp, fn, tn shares: F1 ~ 0.72, as benchmarks.false_alarms' world
    rng = np.random.default_rng(41)
    cells = tuple(int(c) for c in rng.multinomial(4_700, truth))
    draws = predictive_changes("f1", cells, 235, "channel=ch03")
    assert draws.shape == (50_000,) and np.array_equal(draws, predictive_changes("f1", cells, 235, "channel=ch03"))
    verdict = empirical(-3.5 * draws.std(), draws, 235, 3.0, 0.02, 4_700, "down")
    low, high = verdict.band
    assert -low > 1.1 * high  # skewed left
    assert verdict.fired and verdict.tail > 2 * nominal_tail(3.5)
    assert not empirical(0.0, draws, 235, 3.0, 0.02, 4_700, "down").outside
    # beyond every draw: below the draws' resolution, so a segment of a 100-segment family can open its gate alone
    beyond = empirical(float(draws.min()) - 0.05, draws, 235, 3.0, 0.02, 4_700, "down")
    assert beyond.tail < nominal_tail(3.0) / 100 < 1 / 50_001 and beyond.fired

    reference = float(metric_of_counts("f1", *cells))
    tails = []
    for _ in range(300):
        tp, fp, fn, tn = rng.multinomial(235, truth)
        change = float(metric_of_counts("f1", tp, fp, fn, tn)) - reference
        tails.append(empirical(change, predictive_changes("f1", cells, 235, "channel=ch03"), 235, 3.0, 0.0, 4_700,
                               "down").tail)
    tails = np.array(tails)
    assert 0.02 <= (tails <= 0.1).mean() <= 0.2  # about 10% of no-change days in the 10% tail
    assert (tails <= 0.002).sum() <= 3  # the band's edge (0.135%): 0.4 expected of 300


def test_a_segment_s_drop_past_its_band_is_a_finding_only_when_it_would_open_the_family_s_gate_alone():
    """A large drop in mobile opens the labelled day's gate; branch's drop, past its band with a tail between the gate
    of three segments (0.135% / 3) and the band's 0.135%, is then a discovery and shows as fired, but raises no
    finding: it would not have opened the gate on its own (as `segment_drift`'s findings)."""
    from monitoring import segments as segments_module
    from monitoring.bands import NullPoint, fit_null
    from monitoring.metrics import metric_of_counts
    from monitoring.segments import SegmentBaseline, predictive_changes

    cells = (380, 190, 150, 280)
    base = float(metric_of_counts("f1", *cells))
    null = fit_null("level", 1_000, [NullPoint(size=100, n_eff=90.0, how="subsamples", replicates=50, mean=0.0,
                                               sd=0.05)])
    baselines = {key: SegmentBaseline(key=key, rows=1_000, share=1 / 3, counts={}, performance=base,
                                      performance_null=null, confusion=cells)
                 for key in ("channel=mobile", "channel=branch", "channel=web")}
    fit = SegmentsFit(rows=3_000, columns=[], dimensions=[], baselines=baselines, metric="f1")
    draws = predictive_changes("f1", cells, 300, "channel=branch")
    between = [v for v in np.linspace(-0.15, -0.05, 401)
               if 0.0006 < (np.sum(draws <= v) + 1) / (len(draws) + 1) < 0.0012]
    branch = base + between[len(between) // 2]
    found = {r.key: r for r in segments_module.judge_counts(
        fit, {"channel=mobile": (300, base - 0.3), "channel=branch": (300, branch), "channel=web": (300, base)},
        SegmentsConfig(columns=("channel",)), 3.0, 0.05, 0.02, "down", False)}
    assert found["channel=mobile"].degraded
    assert found["channel=branch"].verdict.fired and not found["channel=branch"].degraded
    assert not found["channel=web"].verdict.fired and not found["channel=web"].degraded


def test_cbpe_inside_a_segment_sees_a_drop_before_the_labels_where_the_scores_say_so():
    """With the estimator fitted, each segment's expected confusion counts give its F1 before the labels: a segment
    whose scores slide towards the threshold (the model less sure there) is estimated worse there only; a
    no-change day estimates nothing worse. Counted batch by batch, the counts equal the whole day's."""
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.vocabulary import ModelTask
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y", estimate=True).model_copy(
        update={"segments": SegmentSpec(columns=("channel",), metric="f1")})
    rng = np.random.default_rng(8)
    profile = ReferenceProfile.fit(_labelled(12_000, rng), "m", fit, "v1", "00000000000000b3")
    assert profile.cbpe is not None
    rules_of = metric_judging(ModelTask.BINARY_CLASSIFICATION)
    for unsure in (False, True):
        day = _labelled(4_000, rng).drop(columns="y")
        if unsure:  # mobile's scores pulled halfway to 0.5: the calibrated model expects more errors there
            mobile = day["channel"] == "mobile"
            day.loc[mobile, "p"] = 0.5 + (day.loc[mobile, "p"] - 0.5) * 0.3
            day.loc[mobile, "d"] = (day.loc[mobile, "p"] >= 0.5).astype(int)
        whole, split = DayState(fit, profile).add(day), DayState(fit, profile)
        split.add(day.iloc[:1_500]).add(day.iloc[1_500:])
        assert np.allclose(whole.segments.expected[0], split.segments.expected[0])
        found = judging.segment_estimates(profile, split.segments, rules_of, SegmentsConfig(columns=("channel",)))
        assert [e.key for e in found if e.degraded] == (["channel=mobile"] if unsure else [])


def test_cbpe_over_the_window_sees_a_segment_s_drop_no_day_s_estimate_shows(loan_model):
    """Seven 600-row days whose mobile segment's scores are pulled halfway to 0.5: each day's expected confusion
    counts per segment (the day's state), summed over the week, estimate mobile's F1 worse at its 400-odd rows, which
    no day's segment estimate did; an unchanged week estimates nothing worse; the rule names the segment (its own
    episode) and is silent when a day's estimate showed it; the day page lists it under the window's estimate."""
    from monitoring import window_state
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.vocabulary import ModelTask
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y", estimate=True).model_copy(
        update={"segments": SegmentSpec(columns=("channel",), metric="f1")})
    rng = np.random.default_rng(3)
    profile = ReferenceProfile.fit(_labelled(12_000, rng), "m", fit, "v1", "00000000000000b2")
    rules_of, configured = metric_judging(ModelTask.BINARY_CLASSIFICATION), SegmentsConfig(columns=("channel",))
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=i) for i in range(7)]

    def week(unsure: bool):
        whole, inside = [], []
        for _ in days:
            day = _labelled(600, rng).drop(columns="y")
            if unsure:
                mobile = day["channel"] == "mobile"
                day.loc[mobile, "p"] = 0.5 + (day.loc[mobile, "p"] - 0.5) * 0.5
                day.loc[mobile, "d"] = (day.loc[mobile, "p"] >= 0.5).astype(int)
            state = DayState(fit, profile).add(day)
            assert not any(e.degraded for e in judging.segment_estimates(profile, state.segments, rules_of,
                                                                         configured))
            whole.append(window_state.expected_state(state.expected, scoring))
            inside.append(window_state.segment_expected(state.segments))
        summed = {key: window_state.merge(d[key] for d in inside if key in d) for key in inside[0]}
        return judging.window_estimate(days, window_state.merge(whole), profile, rules_of, None, summed, configured)

    window = week(True)
    assert [s.key for s in window.segments if s.degraded] == ["channel=mobile"]
    mobile = window.segments[0]
    assert mobile.estimated_by == "CBPE" and mobile.value < mobile.baseline - 0.05 and 300 < mobile.labelled < 500
    day = summary().model_copy(update={"window_estimate": window})
    found = [f for f in rules.findings(day, loan_model) if f.rule == "segment_window_estimated_drop"]
    assert len(found) == 1 and found[0].segment == "channel=mobile" and found[0].message.startswith(
        "Estimated (CBPE, before the labels land) over the last 7 days (2026-10-05 to 2026-10-11), judged together: "
        "f1 ") and "rows)" in found[0].message and "labelled" not in found[0].message
    from monitoring.site import render_day_page
    from tests.summaries import metrics_of

    page = render_day_page(day, [], metrics_of(day), [])
    assert 'id="window-estimate-segments"' in page and "channel=mobile" in page
    shown = window.model_copy(update={"segments_shown_by_days": {"channel=mobile": ["2026-10-07"]}})
    assert not [f for f in rules.findings(summary().model_copy(update={"window_estimate": shown}), loan_model)
                if f.rule == "segment_window_estimated_drop"]
    unchanged = week(False)
    assert unchanged.segments and not any(s.degraded for s in unchanged.segments)


def _dle_by_channel(reference: pd.DataFrame) -> tuple[ReferenceProfile, dict]:
    """A regressor's profile fitted with DLE and segments by channel (MAE their metric), and its nanny models."""
    from monitoring import estimators
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.vocabulary import ModelTask
    from tests.world import settings

    scoring = Scoring(task=ModelTask.REGRESSION, score="prediction")
    fit = settings(scoring=scoring, specs={}, numerical=("x", "spread"), categorical=("kind",), label="actual",
                   estimate=True).model_copy(update={"segments": SegmentSpec(columns=("channel",), metric="mae")})
    profile = ReferenceProfile.fit(reference, "m", fit, "v1", "00000000000000b4")
    loaded = estimators.load_nannies(profile._artifacts)
    return profile, {metric: loaded[name] for metric, name in profile.dle.artifacts.items()}


def test_dle_over_the_window_sees_a_segment_s_errors_grow_where_no_day_s_estimate_shows_it(loan_model):
    """A regressor whose errors grow with |spread|: seven 600-row days whose mobile rows (60 a day) have 1.5 times the
    spread. Each day's expected losses inside each segment (the day's state), summed over the week, estimate mobile's
    MAE worse at its 400-odd rows, which no day's segment estimate does; the sums are exact (the estimate of the
    week's mobile rows together); an unchanged week estimates nothing worse; the rule names DLE."""
    from monitoring import estimators, window_state
    from monitoring.vocabulary import ModelTask
    from tests.test_estimators import heteroscedastic
    from tests.world import judging as metric_judging

    def day_of(rows: int, rng: np.random.Generator, wider: float = 1.0) -> pd.DataFrame:
        frame = heteroscedastic(rows, rng)
        frame["channel"] = rng.choice(["web", "branch", "mobile"], rows, p=[0.7, 0.2, 0.1])
        frame.loc[frame["channel"] == "mobile", "spread"] *= wider
        return frame

    rng = np.random.default_rng(21)
    profile, nannies = _dle_by_channel(day_of(12_000, rng))
    configured, rules_of = SegmentsConfig(columns=("channel",)), metric_judging(ModelTask.REGRESSION)
    segmenter = window_state.segment_masks(profile.segments)
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=i) for i in range(7)]

    def week(wider: float):
        whole, inside, mobile_rows = [], [], []
        for _ in days:
            sample = day_of(600, rng, wider).drop(columns="actual")
            losses = judging.expected_losses(profile, nannies, sample, ("x", "spread"), "prediction")
            assert not any(e.degraded for e in judging.segment_estimates(profile, None, rules_of, configured, sample,
                                                                         losses))
            estimate = estimators.dle_estimate(profile.dle, nannies, sample, ("x", "spread"), "prediction", losses)
            whole.append(window_state.loss_state(estimate))
            inside.append(window_state.segment_losses(segmenter, sample, losses))
            mobile_rows.append(sample[sample["channel"] == "mobile"])
        summed = {key: window_state.merge(d[key] for d in inside if key in d) for key in inside[0]}
        together = estimators.dle_estimate(profile.dle, nannies, pd.concat(mobile_rows, ignore_index=True),
                                           ("x", "spread"), "prediction")
        assert summed["channel=mobile"].metrics() == pytest.approx(together.metrics)  # the sums are exact
        return judging.window_loss_estimate(days, window_state.merge(whole), profile, rules_of, None, summed,
                                            configured)

    window = week(1.5)
    assert [s.key for s in window.segments if s.degraded] == ["channel=mobile"]
    mobile = next(s for s in window.segments if s.key == "channel=mobile")
    assert mobile.estimated_by == "DLE" and mobile.metric == "mae" and 350 < mobile.labelled < 500
    assert mobile.value > 1.15 * mobile.baseline
    day = summary().model_copy(update={"window_estimate": window})
    found = [f for f in rules.findings(day, loan_model) if f.rule == "segment_window_estimated_drop"]
    assert len(found) == 1 and found[0].segment == "channel=mobile" and found[0].message.startswith(
        "Estimated (DLE, before the labels land) over the last 7 days (2026-10-05 to 2026-10-11), judged together: "
        "mae ")
    unchanged = week(1.0)
    assert unchanged.segments and not any(s.degraded for s in unchanged.segments)
    assert window_state.segment_losses(None, day_of(10, rng), None) == {}


def test_a_segment_s_estimate_is_judged_against_the_estimator_s_view_of_the_same_segment_so_its_bias_cancels():
    """In mobile the model is right more often than its scores say (half its labels equal its decisions): CBPE, whose
    calibration is global, estimates mobile's F1 well below the realized one on the reference and on every day
    alike. Judged against the realized baseline that gap is a drop on every no-change day; against CBPE's own view
    of the reference's mobile rows it is nothing."""
    from monitoring.config import Scoring, SegmentSpec
    from monitoring.vocabulary import ModelTask
    from tests.world import judging as metric_judging
    from tests.world import settings

    def rows_of(n: int, rng: np.random.Generator) -> pd.DataFrame:
        frame = _labelled(n, rng)
        sure = (frame["channel"] == "mobile").to_numpy() & (rng.random(n) < 0.5)
        frame.loc[sure, "y"] = frame.loc[sure, "d"]
        return frame

    scoring = Scoring(task=ModelTask.BINARY_CLASSIFICATION, score="p", decision="d")
    fit = settings(scoring=scoring, specs={}, numerical=("x",), categorical=(), label="y", estimate=True).model_copy(
        update={"segments": SegmentSpec(columns=("channel",), metric="f1")})
    rng = np.random.default_rng(9)
    profile = ReferenceProfile.fit(rows_of(12_000, rng), "m", fit, "v1", "00000000000000b5")
    mobile = profile.segments.baselines["channel=mobile"]
    assert mobile.estimated_performance < mobile.performance - 0.05  # the estimator's bias inside the segment
    day = rows_of(4_000, rng).drop(columns="y")
    found = judging.segment_estimates(profile, DayState(fit, profile).add(day).segments,
                                      metric_judging(ModelTask.BINARY_CLASSIFICATION),
                                      SegmentsConfig(columns=("channel",)))
    estimate = next(e for e in found if e.key == "channel=mobile")
    assert estimate.baseline == mobile.estimated_performance and estimate.value < mobile.performance - 0.05
    assert not any(e.degraded for e in found)


def test_dle_inside_a_segment_sees_a_regressor_s_errors_grow_before_the_labels_where_the_inputs_say_so():
    """A regressor's errors grow with |spread|: with DLE fitted, each segment's expected MAE is the mean of its sampled
    rows' expected losses. A day whose mobile rows have three times the spread is estimated worse in channel=mobile
    only; a no-change day estimates nothing worse; the estimate is named DLE in the finding."""
    from monitoring import estimators
    from monitoring.segments import SegmentsReport
    from monitoring.vocabulary import ModelTask
    from tests.test_estimators import heteroscedastic
    from tests.world import judging as metric_judging

    def day_of(rows: int, rng: np.random.Generator, wider_in: str | None = None) -> pd.DataFrame:
        frame = heteroscedastic(rows, rng)
        frame["channel"] = rng.choice(["web", "branch", "mobile"], rows, p=[0.7, 0.2, 0.1])
        if wider_in:  # the inputs say the errors grow there: the model sees rows it is less sure of
            wide = frame["channel"] == wider_in
            frame.loc[wide, "spread"] *= 3
            noise = rng.normal(0, 1, int(wide.sum())) * (0.5 + np.abs(frame.loc[wide, "spread"]))
            frame.loc[wide, "actual"] = frame.loc[wide, "prediction"] + noise
        return frame

    rng = np.random.default_rng(21)
    profile, nannies = _dle_by_channel(day_of(12_000, rng))
    assert profile.dle is not None and profile.segments.metric == "mae"
    config, rules_of = SegmentsConfig(columns=("channel",)), metric_judging(ModelTask.REGRESSION)
    for wider in (None, "mobile"):
        sample = day_of(4_000, rng, wider).drop(columns="actual")
        found = judging.segment_estimates(profile, None, rules_of, config, sample, judging.expected_losses(
            profile, nannies, sample, ("x", "spread"), "prediction"))
        assert {e.key for e in found} == {"channel=web", "channel=branch", "channel=mobile"}
        assert all(e.estimated_by == "DLE" and e.metric == "mae" for e in found)
        assert [e.key for e in found if e.degraded] == ([] if wider is None else ["channel=mobile"])
    mobile = next(e for e in found if e.key == "channel=mobile")
    web = next(e for e in found if e.key == "channel=web")
    assert mobile.value > 1.5 * mobile.baseline and web.value == pytest.approx(web.baseline, rel=0.15)
    losses = estimators.dle_losses(profile.dle, nannies, sample, ("x", "spread"), "prediction")
    assert mobile.value == pytest.approx(losses["mae"][(sample["channel"] == "mobile").to_numpy()].mean())
    report = SegmentsReport(dimensions=["channel"], min_rows=50, max_findings=3, reference_rows=12_000, segments=[],
                            estimated=found)
    day = summary().model_copy(update={"segments": report})
    finding = next(f for f in rules._segment_findings(day) if f.rule == "segment_estimated_drop")
    assert finding.segment == "channel=mobile" and finding.message.startswith("Estimated before the labels (DLE): mae")


def test_a_column_with_one_value_throughout_a_segment_gets_no_band_and_cannot_open_the_family():
    """Inside a segment where the reference's column never varies, every replicate distance is 0: a band of no
    spread would give any day with one other value a tail of 0, and open the day's whole family (measured on the
    employment data). Such a column is not judged inside that segment."""
    rng = np.random.default_rng(12)
    n = 6_000
    seg = rng.choice(["a", "b"], n)
    frame = pd.DataFrame({"f": np.where(seg == "a", "u", rng.choice(["u", "v"], n)), "x": rng.normal(0, 1, n),
                          "seg": seg})
    fit = SegmentsFit.fit(frame, SegmentSpec(columns=("seg",)), [BinnedColumn(column="f", categories=["u", "v"])])
    assert "f" not in fit.baselines["seg=a"].drift_nulls and "f" in fit.baselines["seg=b"].drift_nulls
    from monitoring.segments import SegmentTally, judge
    day = frame.iloc[:1_000].copy()
    day.loc[day.index[day["seg"] == "a"][0], "f"] = "v"
    tally = SegmentTally(fit, "x", None)
    tally.add(day)
    judged_ = judge(fit, tally, SegmentsConfig(columns=("seg",)), 3.0)
    assert judged_["segment_drift:seg=a|f"].tail is None
    assert all(j.tail is None or j.tail > 0 for j in judged_.values())
