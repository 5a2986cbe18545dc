"""Windows of days compared from their mergeable states (monitoring.windows, monitoring.compare): the false-alarm
rate of a no-change comparison, a shift too small for a day found over a week, the weekday baseline, and `compare`
on the command line end to end against the local S3 server."""

import datetime as dt
import json

import boto3
import numpy as np
import pandas as pd
import pytest

from monitoring import compare, window_state, windows
from monitoring.layout import DayLayout
from monitoring.window_state import StateEdges, WindowState
from tests import data
from tests.conftest import BUCKET

COLUMNS = [f"x{i}" for i in range(6)]
MONDAY = dt.date(2026, 11, 2)


def draw(rows: int, rng: np.random.Generator, shift: float = 0.0, weekend_mix: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame({c: rng.normal(size=rows) for c in COLUMNS})
    frame["x0"] += shift
    frame["channel"] = rng.choice(["web", "app", "branch"], rows, p=[0.2, 0.7, 0.1] if weekend_mix else [0.5, 0.3, 0.2])
    frame["score"] = rng.random(rows)
    return frame


def state(frame: pd.DataFrame, edges: StateEdges, day: dt.date | None) -> WindowState:
    return window_state.WindowTally(model="m", day=day, reference_version="v1", edges=edges,
                                    numerical=[*COLUMNS, "score"], categorical=["channel"], score="score",
                                    latency=None).add(frame).state()


def week(rng: np.random.Generator, edges: StateEdges, first: dt.date, rows: int = 300, shift: float = 0.0,
         weekend_mix: bool = False) -> list[WindowState]:
    return [state(draw(rows, rng, shift, weekend_mix and (first + dt.timedelta(days=n)).weekday() >= 5), edges,
                  first + dt.timedelta(days=n)) for n in range(7)]


def judged(current: WindowState, baseline: WindowState) -> windows.WindowComparison:
    return windows.compare(current, baseline, "reference", k=3.0, fdr=0.05, min_mean_shift=0.1, min_distance=0.05)


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(1)
    frame = draw(5_000, rng)
    edges = window_state.fit_edges(frame, [*COLUMNS, "score"], "v1")
    return edges, state(frame, edges, None)


def test_a_no_change_week_rarely_drifts_and_a_small_persistent_shift_is_found(reference):
    edges, baseline = reference
    rng = np.random.default_rng(2)
    quiet = [judged(window_state.merge(week(rng, edges, MONDAY)), baseline) for _ in range(60)]
    assert sum(bool(c.drifted) for c in quiet) <= 1  # the family's gate: ~0.1% of comparisons by design
    # 0.15 sd on 300-row days: a day's mean moves by 0.058 sd by chance, so no single day can tell; a week can.
    shifted = [judged(window_state.merge(week(rng, edges, MONDAY, shift=0.15)), baseline) for _ in range(20)]
    assert sum(c.drifted == ["x0"] for c in shifted) >= 18
    one_day = [judged(week(rng, edges, MONDAY, shift=0.15)[0], baseline) for _ in range(20)]
    assert sum(bool(c.drifted) for c in one_day) <= 4
    found = shifted[0].columns[0]
    assert found.mean_shift.fired and 0.05 < found.mean_shift.value < 0.3 and found.mean_shift.band[1] < 0.1


def test_the_weekday_baseline_takes_a_rhythm_every_weekend_shares_but_not_a_change_of_one_weekend(reference, s3_client,
                                                                                                store, loan_model):
    edges, _ = reference
    rng = np.random.default_rng(3)
    days = [s for n in range(3) for s in week(rng, edges, MONDAY + dt.timedelta(weeks=n), weekend_mix=True)]
    saturday = MONDAY + dt.timedelta(weeks=2, days=5)
    odd = state(draw(300, rng, weekend_mix=True).assign(x1=lambda f: f["x1"] + 0.6), edges, saturday)
    for day in days:
        layout = DayLayout.of(loan_model, day.first_day)
        store.put_bytes(layout.state, (odd if day.first_day == saturday else day).model_copy(
            update={"model": loan_model.name}).to_json(), "application/json")
    sunday = saturday + dt.timedelta(days=1)
    # Sunday's mix is every weekend's: against the weekdays before it (all Mon-Fri) it drifts, against the same
    # weekday of the earlier weeks it does not.
    previous, _ = compare.compare_range(store, loan_model, sunday, sunday, (MONDAY + dt.timedelta(weeks=2),
                                                                             MONDAY + dt.timedelta(weeks=2, days=4)))
    assert previous.drifted == ["channel"]
    same_weekday, missing = compare.compare_range(store, loan_model, sunday, sunday, "weekday")
    assert same_weekday.drifted == [] and same_weekday.baseline_days == [str(sunday - dt.timedelta(weeks=w))
                                                                         for w in (2, 1)]
    assert missing == {"range": [], "baseline": [sunday - dt.timedelta(weeks=w) for w in (4, 3)]}  # not published
    # The odd Saturday (x1 moved by 0.6 sd on that weekend only) still drifts against its own weekday.
    odd_one, _ = compare.compare_range(store, loan_model, saturday, saturday, "weekday")
    assert odd_one.drifted == ["x1"]
    with pytest.raises(compare.CompareError, match="at least two earlier weeks"):
        compare.compare_range(store, loan_model, MONDAY + dt.timedelta(weeks=1), MONDAY + dt.timedelta(weeks=1),
                              "weekday")


def test_with_the_weekday_baseline_a_day_s_drift_its_weekdays_share_is_not_alerted(reference, loan_model):
    """The daily judgement with `windows.baseline: weekday`: Saturday's channel mix, every weekend's, drifts against
    the reference (the day's own verdict) but not against the Saturdays before: seasonal, shown as info and left
    out of the day's drift findings; a feature moved on that one weekend stays a finding."""
    from monitoring import rules, trailing
    from tests.summaries import _drift, summary

    edges, baseline = reference
    rng = np.random.default_rng(12)
    model = loan_model.model_copy(update={"windows": loan_model.windows.model_copy(update={"baseline": "weekday"})})
    saturday = MONDAY + dt.timedelta(weeks=2, days=5)
    states = {s.first_day: s for n in range(3) for s in week(rng, edges, MONDAY + dt.timedelta(weeks=n),
                                                             weekend_mix=True)}
    states[saturday] = state(draw(300, rng, weekend_mix=True).assign(x1=lambda f: f["x1"] + 0.6), edges, saturday)
    judged = trailing.judge(model, saturday, states, lambda _: baseline,
                            lambda d: {"channel", "x1"} if d == saturday else set())
    assert judged.weekday.drifted == ["x1"] and judged.seasonal == ["channel"]
    assert judged.window.baseline.startswith("weekday (")
    day = summary().model_copy(update={"seasonal": judged.seasonal})
    features = {c: _drift(0.2, drifted=c != "x2") for c in ("channel", "x1", "x2")}
    day = day.model_copy(update={"data_drift": day.data_drift.model_copy(update={
        "features": features, "drifted_features": ["channel", "x1"], "drift_share": 2 / 3, "dataset_drift": True,
        "dataset_drift_share_threshold": 0.6})})
    found = {f.rule: f for f in rules.findings(day, model)}
    assert "dataset_drift" not in found and found["feature_drift"].columns == ["x1"]  # a third of them: under 60%
    assert found["weekday_pattern"].columns == ["channel"] and found["weekday_pattern"].severity.rank == 0
    assert trailing.judge(loan_model, saturday, states, lambda _: baseline, lambda d: {"channel"}).seasonal == []


def test_with_the_weekday_baseline_a_positive_rate_its_weekdays_share_pages_nobody(loan_model):
    """Weekends approve twice as often (their mix of applicants): the positive rate moves from the reference every
    Saturday. With `windows.baseline: weekday` the day's decisions are compared with the Saturdays before, do not
    differ from them, and the moved rate is shown as info; a Saturday whose decisions differ from its weekdays, or a
    rate outside its absolute bounds, still warns."""
    from monitoring import rules, trailing
    from tests.summaries import summary

    def day_with(**operations):
        s = summary()
        return s.model_copy(update={"operations": s.operations.model_copy(update=operations)})

    rng = np.random.default_rng(13)
    model = loan_model.model_copy(update={"windows": loan_model.windows.model_copy(update={"baseline": "weekday"})})
    decision = model.scoring.decision
    frame = draw(5_000, rng).assign(**{decision: rng.choice(["0", "1"], 5_000, p=[0.7, 0.3])})
    edges = window_state.fit_edges(frame, [*COLUMNS, "score"], "v1")

    def with_decisions(first: dt.date, n: int, weekend_share: float = 0.6) -> WindowState:
        when = first + dt.timedelta(days=n)
        share = weekend_share if when.weekday() >= 5 else 0.3
        rows = draw(300, rng).assign(**{decision: rng.choice(["0", "1"], 300, p=[1 - share, share])})
        return window_state.WindowTally(model="m", day=when, reference_version="v1", edges=edges,
                                        numerical=[*COLUMNS, "score"], categorical=["channel", decision],
                                        score="score", latency=None).add(rows).state()

    base = window_state.WindowTally(model="m", day=None, reference_version="v1", edges=edges,
                                    numerical=[*COLUMNS, "score"], categorical=["channel", decision], score="score",
                                    latency=None).add(frame).state()
    states = {s.first_day: s for w in range(3) for s in (with_decisions(MONDAY + dt.timedelta(weeks=w), n)
                                                          for n in range(7))}
    saturday = MONDAY + dt.timedelta(weeks=2, days=5)
    judged = trailing.judge(model, saturday, states, lambda _: base, lambda d: {decision})
    assert decision in judged.steady and decision in judged.seasonal
    # the decision is counted for the weekday comparison only: the window's family does not judge it (the day's
    # positive rate is judged every day on its own)
    assert not [name for name in judged.verdicts if name.endswith(f":{decision}")]
    assert decision in {c.column for c in judged.weekday.columns}
    moved = day_with(positive_rate=0.60, reference_positive_rate=0.30).with_trailing(judged)
    found = {f.rule: f for f in rules.findings(moved, model)}
    assert found["positive_rate"].severity.rank == 0 and "same weekday" in found["positive_rate"].message
    assert "prediction_drift" not in found
    # against the reference (the default baseline) the same day warns
    assert rules.findings(day_with(positive_rate=0.60, reference_positive_rate=0.30), loan_model)[0].rule == \
        "positive_rate"
    # a Saturday approving far more than the Saturdays before is no rhythm
    states[saturday] = with_decisions(MONDAY + dt.timedelta(weeks=2), 5, weekend_share=0.9)
    odd = trailing.judge(model, saturday, states, lambda _: base, lambda d: {decision})
    assert decision not in odd.steady
    found = {f.rule: f for f in rules.findings(day_with(positive_rate=0.90, reference_positive_rate=0.30)
                                               .with_trailing(odd), model)}
    assert found["positive_rate"].severity.rank >= 1


def test_a_range_against_days_of_its_own_names_what_it_cannot_compare(s3_client, store, loan_model):
    with pytest.raises(compare.CompareError, match="no day of 2026-11-02..2026-11-03 .* has a published state"):
        compare.compare_range(store, loan_model, MONDAY, MONDAY + dt.timedelta(days=1), "previous")
    with pytest.raises(compare.CompareError, match="none of reference, previous, weekday"):
        compare.parse_against("last-week")
    assert compare.parse_against("2026-11-01..2026-11-07") == (dt.date(2026, 11, 1), dt.date(2026, 11, 7))


def test_compare_on_the_command_line_end_to_end_against_the_local_s3_server(s3_server, trained, capsys, tmp_path):
    from monitoring.cli import main
    from tests.helpers import seed_reference, write_day

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    seed_reference(client, trained)
    first = dt.date(2026, 10, 5)
    days = [first + dt.timedelta(days=n) for n in range(4)]
    for number, day in enumerate(days):
        write_day(client, trained, day, rows=400, drifted=number >= 2)
        assert main(["run", "--model", "loan_approval", "--day", day.isoformat(), "--endpoint-url", s3_server]) == 0
    capsys.readouterr()
    page = tmp_path / "week.html"
    assert main(["compare", "--model", "loan_approval", "--from", str(days[2]), "--to", str(days[3]), "--against",
                 f"{days[0]}..{days[1]}", "--endpoint-url", s3_server, "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "loan_approval: 2026-10-07..2026-10-08 (2 days, 800 rows) against range (2026-10-05..2026-10-06)" in out
    drifted = next(line for line in out.splitlines() if line.strip().startswith("drifted:"))
    assert set(data.DRIFTED) <= {c.strip() for c in drifted.split(" (")[0].removeprefix("  drifted: ").split(", ")}
    html = page.read_text()
    assert "against range (2026-10-05..2026-10-06)" in html and 'class="drifted"' in html
    assert main(["compare", "--model", "loan_approval", "--from", str(days[0]), "--to", str(days[1]), "--against",
                 "reference", "--endpoint-url", s3_server, "--html", str(page)]) == 0
    assert "drifted: none" in capsys.readouterr().out
    assert main(["compare", "--model", "loan_approval", "--from", "2026-09-01", "--to", "2026-09-02",
                 "--endpoint-url", s3_server, "--html", str(page)]) == 2
    assert "no day of 2026-09-01..2026-09-02" in capsys.readouterr().err


def test_the_daily_run_finds_a_shift_over_its_trailing_window_that_the_day_alone_does_not_show(s3_client, store,
                                                                                                  loan_model, trained):
    from monitoring import reference_store, rules, steps
    from monitoring.day_state import DayState
    from monitoring.summary import summary_from_json
    from tests.helpers import day_log, now, put_frame, seed_reference

    seed_reference(s3_client, trained)
    days = [dt.date(2026, 10, 5) + dt.timedelta(days=n) for n in range(7)]
    shift = 0.12 * trained[1]["credit_score"].std()  # 0.12 sd: 2.4 standard errors on a 400-row day, 6.3 on 7 days
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))
    edges = window_state.fixed_edges(store, loan_model, fitted, window_state.monitored_columns(loan_model)[0])
    logs = [day_log(trained, day, rows=400, seed=n).assign(credit_score=lambda f: f["credit_score"] + shift)
            for n, day in enumerate(days)]
    for day, frame in zip(days[:-1], logs):  # the six days before, as their runs published them
        counts = DayState(loan_model.fit_settings, fitted).add(frame)
        counted = window_state.tally_of(loan_model, day, fitted.version, edges, fitted).add(frame).state(
            window_state.expected_state(counts.expected, loan_model.scoring), None,
            window_state.segment_expected(counts.segments))
        store.put_bytes(DayLayout.of(loan_model, day).state, counted.to_json(), "application/json")
    put_frame(s3_client, f"predictions/loan_approval/dt={days[-1]}/part-0.parquet", logs[-1])
    steps.run_day(store, loan_model, days[-1], now=now())  # windows.daily: on by default
    summary = summary_from_json(store.get_bytes(DayLayout.of(loan_model, days[-1]).summary))
    assert not summary.data_drift.features["credit_score"].drifted  # the day alone: inside its band
    assert summary.window.drifted == ["credit_score"] and summary.window.days == [str(d) for d in days]
    assert summary.window.baseline == "reference (v1)" and summary.window.rows == 7 * 400
    shifted = next(c for c in summary.window.columns if c.column == "credit_score")
    assert 0.1 < shifted.mean_shift.value < 0.2 and shifted.mean_shift.significant
    assert set(summary.verdicts.window) >= {"mean_shift:credit_score", "distance:loan_purpose"}
    creep = {c.column: c for c in summary.gradual}  # every numerical column's sums, judged in the window's family
    assert creep["credit_score"].verdict.fired and creep["credit_score"].started == days[0]
    assert [c for c, v in creep.items() if v.verdict.fired] == ["credit_score"]
    assert "gradual:credit_score" in summary.verdicts.window
    estimate = summary.window_estimate  # CBPE over the seven days' summed expected counts, before any label
    assert estimate.method == "CBPE" and estimate.predictions == 7 * 400 and estimate.labelled == 0
    assert estimate.days == [str(d) for d in days] and set(estimate.metrics) == {"accuracy", "precision", "recall", "f1"}
    channels = [s for s in estimate.segments if s.key.startswith("channel=")]  # and inside each segment
    assert channels and sum(s.labelled for s in channels) == 7 * 400 and {s.estimated_by for s in channels} == {"CBPE"}
    crept = [f for f in rules.findings(summary, loan_model) if f.rule == "gradual_drift"]
    assert len(crept) == 1 and crept[0].message.startswith(
        "credit_score crept away from the reference since 2026-10-05: credit_score up by 0.1")
    # A column the day itself, or an earlier day of the window, shows drifted is that day's own finding: neither the
    # window nor the sums repeat it.
    features = dict(summary.data_drift.features)
    features["credit_score"] = features["credit_score"].model_copy(update={"drifted": True})
    loud = summary.model_copy(update={"data_drift": summary.data_drift.model_copy(update={"features": features})})
    assert not {"window_drift", "gradual_drift"} & {f.rule for f in rules.findings(loud, loan_model)}
    shown = summary.model_copy(update={"shown_by_days": {"credit_score": [str(days[2])]}})
    assert not {"window_drift", "gradual_drift"} & {f.rule for f in rules.findings(shown, loan_model)}
    found = [f for f in rules.findings(summary, loan_model) if f.rule == "window_drift"]
    assert len(found) == 1 and found[0].columns == ["credit_score"]
    assert found[0].message.startswith("credit_score drifted over the last 7 days (2026-10-05 to 2026-10-11) against "
                                       "the reference (v1); no single day showed it.")


def test_the_day_page_shows_the_trailing_window_that_drifted():
    from monitoring.site import render_day_page
    from tests.summaries import metrics_of, summary

    rng = np.random.default_rng(8)
    frame = draw(2_000, rng)
    edges = window_state.fit_edges(frame, [*COLUMNS, "score"], "v1")
    current = window_state.merge(week(rng, edges, MONDAY, shift=0.3))
    comparison = judged(current, state(frame, edges, None))
    day = summary().model_copy(update={"window": comparison})
    page = render_day_page(day, [], metrics_of(day), [])
    assert 'id="window"' in page and "The last 7 days together" in page and "x0 drifted" in page


# --- slow drift (monitoring.gradual) ----------------------------------------------------------------------------------
def creeping(days: list[WindowState], baseline: WindowState) -> dict:
    from monitoring import gradual, verdicts

    judged, creeps = gradual.judge(days, baseline, k=3.0, min_mean_shift=0.1, seed="m")
    final = verdicts.control(judged, 3.0, 0.05)
    return {c: creep for c, creep in creeps.items() if final[gradual.statistic(c)].fired}


def test_the_sums_find_a_step_change_and_the_day_it_started(reference):
    edges, baseline = reference
    rng = np.random.default_rng(9)
    start = 14
    days = [state(draw(300, rng, shift=0.25 if n >= start else 0.0), edges, MONDAY + dt.timedelta(days=n))
            for n in range(22)]
    found = creeping(days, baseline)
    assert list(found) == ["x0"] and found["x0"].direction == "up"
    assert abs((found["x0"].started - (MONDAY + dt.timedelta(days=start))).days) <= 1
    assert 0.15 < found["x0"].shift < 0.35
    assert creeping(days[:start], baseline) == {}  # before the change: nothing


def test_the_sums_rarely_fire_on_a_no_change_replay(reference):
    edges, baseline = reference
    rng = np.random.default_rng(10)
    days = [state(draw(300, rng), edges, MONDAY + dt.timedelta(days=n)) for n in range(90)]
    fired = [n for n in range(27, 90) if creeping(days[n - 27:n + 1], baseline)]
    assert len(fired) <= 1  # about 0.1% of the days by the family's gate; a no-change day is one in 63 here


def test_the_days_before_a_promotion_leave_the_window_and_the_sums(reference, loan_model):
    from monitoring import trailing

    edges, _ = reference
    rng = np.random.default_rng(11)
    day = MONDAY + dt.timedelta(days=6)

    def states(version: str) -> dict[dt.date, WindowState]:
        found = {d: state(draw(50, rng), edges, d).model_copy(update={"reference_versions": [version]})
                 for d in windows.days_between(MONDAY, day - dt.timedelta(days=1))}
        return {**found, day: state(draw(50, rng), edges, day)}

    # the days before were monitored against the version the promotion replaced
    assert trailing._history(loan_model, day, states("v0")) is None
    found = trailing._history(loan_model, day, states("v1"))
    assert [s.days[0] for s in found] == [MONDAY + dt.timedelta(days=n) for n in range(7)]


def test_a_backfill_judges_each_window_the_same_whatever_order_its_days_are_published_in(s3_client, store, loan_model,
                                                                                          trained):
    """A day's trailing judgement is made by whichever of its window's days is published last, and made again when
    one of its inputs changes: forward, backward or in a parallel backfill's pairs, every day ends with the same
    judgement and summary, and republishing a day unchanged changes nothing."""
    from monitoring import manifest, reference_store
    from monitoring.layout import ModelLayout
    from monitoring.steps import publish
    from tests.helpers import day_log, now, seed_reference
    from tests.summaries import summary

    seed_reference(s3_client, trained)
    days = windows.days_between(dt.date(2026, 10, 5), dt.date(2026, 10, 13))
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))
    edges = window_state.fixed_edges(store, loan_model, fitted, window_state.monitored_columns(loan_model)[0])
    window_state.reference_state(store, loan_model, fitted)
    shift = 0.15 * trained[1]["credit_score"].std()
    counted = {d: window_state.tally_of(loan_model, d, fitted.version, edges).add(
        day_log(trained, d, rows=400, seed=n).assign(credit_score=lambda f: f["credit_score"] + shift)).state(
        source_sha256=f"day {n}") for n, d in enumerate(days)}

    def published_in(order: list[dt.date]) -> dict[dt.date, tuple[bytes | None, bytes]]:
        for listed in store.list(ModelLayout.of(loan_model).model_reports_dir):
            store.delete(listed.key)
        for day in order:
            layout = DayLayout.of(loan_model, day)
            manifest.publish(store, layout, {}, now(), [
                (layout.summary, summary(day=day.isoformat()).to_json(), "application/json"),
                (layout.state, counted[day].to_json(), "application/json")], reports=[])
            publish.judge_trailing(store, loan_model, day, now())
        return {day: (store.get_bytes(DayLayout.of(loan_model, day).trailing)
                      if store.exists(DayLayout.of(loan_model, day).trailing) else None,
                      store.get_bytes(DayLayout.of(loan_model, day).summary)) for day in days}

    forward = published_in(days)
    assert [d for d, (judged_, _) in forward.items() if judged_] == days[6:]  # once 7 days are published
    last = summary_of(forward[days[-1]][1])
    assert "credit_score" in last.window.drifted and last.window.days[0] == str(days[2])
    assert "mean_shift:credit_score" in json.loads(forward[days[-1]][0])["verdicts"]
    assert "window.json" in store.get_json(DayLayout.of(loan_model, days[-1]).manifest)["artifacts"]
    assert published_in(days[::-1]) == forward
    pairs = [d for i in range(0, len(days), 2) for d in days[i:i + 2][::-1]]  # two runs at a time, the later first
    assert published_in(pairs) == forward
    before = {key.key: store.get_bytes(key.key) for key in store.list(ModelLayout.of(loan_model).model_reports_dir)}
    publish.judge_trailing(store, loan_model, days[4], now())  # a rerun of a day inside the windows, unchanged
    assert {key.key: store.get_bytes(key.key) for key in store.list(ModelLayout.of(loan_model).model_reports_dir)
            } == before


def summary_of(data: bytes):
    from monitoring.summary import summary_from_json

    return summary_from_json(data)


def test_a_small_drop_of_f1_is_found_over_a_week_of_labels(s3_client, store, loan_model, trained):
    """Seven 300-row days whose labels are 10% flipped (F1 about 4 points down): the days' label counts merged and
    judged at the week's labelled size find F1 worse, which the days judged alone rarely do; unflipped labels find
    nothing; the rule speaks only of metrics no single day was judged worse on."""
    from monitoring import judging, reference_store, rules
    from monitoring.vocabulary import LABEL
    from tests.helpers import day_log, seed_reference
    from tests.summaries import labels_report, summary

    seed_reference(s3_client, trained)
    days = windows.days_between(dt.date(2026, 10, 5), dt.date(2026, 10, 11))
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))

    def week(flip: float):
        states, performances = {}, {}
        for n, day in enumerate(days):
            frame = day_log(trained, day, rows=300, seed=70 + n)
            joined = frame.merge(data.labels(frame, flip, seed=70 + n), on="prediction_id").rename(
                columns={"repaid": LABEL})
            performances[day] = judging.labelled_day(
                joined=joined, predictions=len(frame), scoring=loan_model.scoring, judging=loan_model.metric_judging,
                lag_days=5, day=day, as_of=day + dt.timedelta(days=5), fitted=fitted, label_digest=str(n))
            states[day] = window_state.label_state(joined, len(frame), loan_model.scoring)
            assert states[day].metrics()["f1"] == pytest.approx(performances[day].metrics["f1"])  # counts = rows
        return judging.window_performance(days, states, performances, loan_model.metric_judging, fitted, 0.5), \
            performances

    window, performances = week(0.10)
    assert window.labelled == 7 * 300 and window.days[0] == str(days[0])
    assert "f1" in {d.metric for d in window.degraded}
    assert sum("f1" in {d.metric for d in p.degraded} for p in performances.values()) <= 2
    report = labels_report().model_copy(update={"window": window.model_copy(update={"shown_by_days": {}})})
    found = [f for f in rules.findings(summary().with_labels(None, report), loan_model)
             if f.rule == "window_performance"]
    assert len(found) == 1 and "f1" in found[0].columns and found[0].message.startswith(
        "The predictions made on the 7 days 2026-10-05 to 2026-10-11, judged together (2,100 labelled of 2,100)")
    from monitoring.site import render_day_page
    from tests.summaries import metrics_of

    day = summary().with_labels(None, report)
    page = render_day_page(day, [], metrics_of(day), [])
    assert 'id="window-performance"' in page and "judged together" in page and "worse: " in page
    shown = report.model_copy(update={"window": window.model_copy(update={
        "shown_by_days": {d.metric: [str(days[3])] for d in window.degraded}})})
    assert not [f for f in rules.findings(summary().with_labels(None, shown), loan_model)
                if f.rule == "window_performance"]
    unchanged, _ = week(0.0)
    assert unchanged.degraded == []
    performances[days[2]] = performances[days[2]].model_copy(update={"complete": False})
    assert judging.window_performance(days, {}, performances, loan_model.metric_judging, fitted, 0.5) is None


def test_a_drop_cbpe_expects_of_a_week_is_found_before_its_labels_where_no_day_s_estimate_shows_it(
        s3_client, store, loan_model, trained):
    """Seven 300-row days whose scores are 20% less confident (CBPE expects F1 about 4 points down): the days'
    expected confusion counts summed and judged at the week's rows find it; no day's own estimate does; the same days
    unchanged find nothing; the rule speaks only of metrics no day's estimate was judged worse on."""
    from monitoring import estimators, judging, reference_store, rules
    from monitoring.site import render_day_page
    from tests.helpers import day_log, seed_reference
    from tests.summaries import metrics_of, summary

    seed_reference(s3_client, trained)
    days = windows.days_between(dt.date(2026, 10, 5), dt.date(2026, 10, 11))
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))

    def week(confidence: float):
        merged, fired = None, 0
        for n, day in enumerate(days):
            frame = day_log(trained, day, rows=300, seed=90 + n)
            expected = estimators.ExpectedConfusion(fitted.cbpe)
            expected.add(0.5 + (frame["approval_probability"].to_numpy(dtype=float) - 0.5) * confidence,
                         frame["approved"].to_numpy())
            counts = window_state.expected_state(expected, loan_model.scoring)
            merged = counts if merged is None else merged.merge(counts)
            fired += bool(judging.judge_metrics(expected.metrics(), fitted.performance, loan_model.metric_judging,
                                                300, fitted))
        return judging.window_estimate(days, merged, fitted, loan_model.metric_judging), fired

    window, fired = week(0.8)
    assert window.predictions == 7 * 300 and window.method == "CBPE" and fired == 0
    assert "f1" in {d.metric for d in window.degraded}
    assert window.metrics["f1"] == pytest.approx(0.79, abs=0.02) and window.baseline["f1"] == pytest.approx(0.835, abs=0.001)
    day = summary().model_copy(update={"window_estimate": window})
    found = [f for f in rules.findings(day, loan_model) if f.rule == "window_estimated_performance"]
    assert len(found) == 1 and "f1" in found[0].columns and found[0].message.startswith(
        "Estimated performance (CBPE, before the labels land) of the 2,100 predictions of the last 7 days "
        "(2026-10-05 to 2026-10-11), judged together: ")
    page = render_day_page(day, [], metrics_of(day), [])
    assert 'id="window-estimate"' in page and "before their labels" in page and "worse: " in page
    shown = summary().model_copy(update={"window_estimate": window.model_copy(update={
        "shown_by_days": {d.metric: [str(days[3])] for d in window.degraded}})})
    assert not [f for f in rules.findings(shown, loan_model) if f.rule == "window_estimated_performance"]
    unchanged, _ = week(1.0)
    assert unchanged.degraded == []


def test_a_rise_of_the_error_dle_expects_of_a_week_is_found_before_its_labels_where_no_day_s_estimate_shows_it():
    """A regressor whose errors double on kind "b": seven 300-row days where "b" is half the rows instead of 30% (DLE
    expects MAE about 12% up): the days' expected losses summed (exact sums: the window's estimate equals the
    estimate of the week's rows together) and judged at the week's rows find MAE and RMSE worse, which no day's own
    estimate does here; an unchanged week finds nothing; the state carries the sums and merges them."""
    from monitoring import estimators, judging
    from monitoring.config import Scoring
    from monitoring.reference import ReferenceProfile
    from monitoring.vocabulary import ModelTask
    from tests.test_estimators import heteroscedastic
    from tests.world import judging as metric_judging
    from tests.world import settings

    scoring = Scoring(task=ModelTask.REGRESSION, score="prediction")
    fit = settings(scoring=scoring, specs={}, numerical=("x", "spread"), categorical=("kind",), label="actual",
                   estimate=True)
    rng = np.random.default_rng(21)
    profile = ReferenceProfile.fit(heteroscedastic(12_000, rng), "m", fit, "v1", "00000000000000b4")
    loaded = estimators.load_nannies(profile._artifacts)
    nannies = {metric: loaded[name] for metric, name in profile.dle.artifacts.items()}
    rules_of = metric_judging(ModelTask.REGRESSION)
    days = windows.days_between(dt.date(2026, 10, 5), dt.date(2026, 10, 11))

    def week(share_b: float):
        losses, frames, alone = [], [], 0
        for _ in days:
            frame = heteroscedastic(300, rng, share_b).drop(columns="actual")
            estimate = estimators.dle_estimate(profile.dle, nannies, frame, ("x", "spread"), "prediction")
            alone += bool(judging.judge_metrics(estimate.metrics, profile.performance, rules_of, 300, profile))
            losses.append(window_state.loss_state(estimate))
            frames.append(frame)
        together = estimators.dle_estimate(profile.dle, nannies, pd.concat(frames, ignore_index=True), ("x", "spread"),
                                           "prediction")
        merged = window_state.merge(losses)
        assert merged.metrics() == pytest.approx(together.metrics)  # the sums are exact
        return judging.window_loss_estimate(days, merged, profile, rules_of), alone

    window, alone = week(0.5)
    assert window.method == "DLE" and window.predictions == 7 * 300 and alone == 0
    assert {d.metric for d in window.degraded} == {"mae", "rmse"} and window.metrics["mae"] > window.baseline["mae"]
    unchanged, _ = week(0.3)
    assert unchanged.degraded == []
    assert window_state.loss_state(None) is None


def test_the_weekly_report_is_built_after_the_week_s_sunday_and_again_when_a_day_inside_changes(
        s3_client, store, loan_model, trained):
    from monitoring import manifest, reference_store, weekly
    from monitoring.layout import ModelLayout
    from monitoring.site import render_model_page
    from monitoring.steps.weekly import recent_weeks, update_weeks
    from tests.helpers import day_log, now, seed_reference
    from tests.summaries import metrics_of, summary

    seed_reference(s3_client, trained)
    days = windows.days_between(dt.date(2026, 11, 2), dt.date(2026, 11, 15))  # two ISO weeks, Monday first
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))
    edges = window_state.fixed_edges(store, loan_model, fitted, window_state.monitored_columns(loan_model)[0])
    shift = 0.3 * trained[1]["credit_score"].std()

    def publish(day: dt.date, n: int, shifted: bool) -> None:
        frame = day_log(trained, day, rows=200, seed=n)
        if shifted:
            frame["credit_score"] += shift
        layout = DayLayout.of(loan_model, day)
        counted = window_state.tally_of(loan_model, day, fitted.version, edges).add(frame).state(
            source_sha256=f"{day} {shifted}")
        manifest.publish(store, layout, {}, now(), [
            (layout.summary, summary(day=day.isoformat()).to_json(), "application/json"),
            (layout.state, counted.to_json(), "application/json")], reports=[])
        update_weeks(store, loan_model, [day], day)

    layout = ModelLayout.of(loan_model)
    for n, day in enumerate(days[:6]):
        publish(day, n, False)
    assert recent_weeks(store, loan_model) == []  # the first week's Sunday is not published yet
    for n, day in enumerate(days[6:], start=6):
        publish(day, n, n >= 7)  # the second week shifted
    first, second = (weekly.week_of(d) for d in (days[0], days[7]))
    assert (first, second) == ("2026-W45", "2026-W46")
    built = {w.week: w for w in recent_weeks(store, loan_model)}
    assert list(built) == [first, second] and built[first].published == [str(d) for d in days[:7]]
    assert built[first].drifted == [] and built[first].rows == 7 * 200
    assert "credit_score" in built[second].drifted and "credit_score" in built[second].previous.drifted
    page = store.get_bytes(layout.week_page(second)).decode()
    assert "week 2026-W46" in page and "drifted against the reference: " in page and '../dt=2026-11-09/index.html' in page
    model_page = render_model_page(loan_model.name, "", [metrics_of(summary())], weeks=list(built.values()))
    assert 'id="weeks-table"' in model_page and 'href="week=2026-W46/index.html"' in model_page
    unchanged = store.get_bytes(layout.week_report(second))
    update_weeks(store, loan_model, [days[9]], days[-1])  # nothing changed: nothing rewritten
    assert store.get_bytes(layout.week_report(second)) == unchanged
    publish(days[9], 9, False)  # a day inside republished with other rows: its week is built again
    assert store.get_bytes(layout.week_report(second)) != unchanged
    from monitoring import judging
    from monitoring.storage import canonical
    from monitoring.vocabulary import LABEL

    for n, day in enumerate(days[:7]):  # the first week's labels land, complete
        frame = day_log(trained, day, rows=200, seed=n)
        joined = frame.merge(data.labels(frame, 0.0, seed=n), on="prediction_id").rename(columns={"repaid": LABEL})
        found = judging.labelled_day(joined=joined, predictions=200, scoring=loan_model.scoring,
                                     judging=loan_model.metric_judging, lag_days=5, day=day,
                                     as_of=day + dt.timedelta(days=5), fitted=fitted, label_digest=str(n))
        store.put_bytes(DayLayout.of(loan_model, day).performance, canonical(found), "application/json")
        store.put_bytes(DayLayout.of(loan_model, day).label_state, window_state.label_state(
            joined, frame, loan_model.scoring, window_state.segmenter(loan_model, fitted)).model_dump_json().encode(),
            "application/json")
    update_weeks(store, loan_model, days[:7], days[-1])
    labelled = next(w for w in recent_weeks(store, loan_model) if w.week == first)
    assert labelled.labelled == labelled.predictions == 1400 and labelled.performance is not None
    assert labelled.performance.degraded == [] and labelled.metrics["f1"] == labelled.performance.metrics["f1"]
    inside = labelled.performance.segments  # the week's segments judged from the days' counts per segment
    assert inside and not any(s.degraded for s in inside)
    import html

    from monitoring.site import render_week_page

    fallen = labelled.performance.model_copy(update={"segments": [inside[0].model_copy(update={"degraded": True})]})
    page = render_week_page(labelled.model_copy(update={"performance": fallen}))
    assert 'id="week-segments"' in page and "Over the week, f1 " in page and html.escape(inside[0].key) in page
    assert 'id="week-segments"' not in render_week_page(labelled)


def test_a_shift_inside_one_segment_is_found_over_a_week_where_the_whole_window_does_not_show_it(
        s3_client, store, loan_model, trained):
    """The days' states carry each configured segment's counts; the trailing judgement compares each segment's week
    with the reference's same segment in the same family: credit_score moved by 0.35 sd in the `branch` channel
    (a fifth of the rows) is 0.07 sd over the whole window, under the minimum shift, and plain inside the segment."""
    from monitoring import reference_store, rules, trailing
    from tests.helpers import day_log, seed_reference
    from tests.summaries import summary

    seed_reference(s3_client, trained)
    days = windows.days_between(dt.date(2026, 10, 5), dt.date(2026, 10, 11))
    fitted = reference_store.load_or_fit(store, loan_model, DayLayout.of(loan_model, days[0]))
    edges = window_state.fixed_edges(store, loan_model, fitted, window_state.monitored_columns(loan_model)[0])
    reference = window_state.reference_state(store, loan_model, fitted)
    assert "channel=branch" in reference.segments and reference.segments["channel=branch"].rows > 500
    shift = 0.35 * trained[1]["credit_score"].std()
    logs = {d: day_log(trained, d, rows=600, seed=n) for n, d in enumerate(days)}
    for frame in logs.values():
        frame.loc[frame["channel"] == "branch", "credit_score"] += shift
    states = {d: window_state.tally_of(loan_model, d, fitted.version, edges, fitted).add(frame).state(
        source_sha256=str(d)) for d, frame in logs.items()}
    whole = window_state.merge(states.values())  # the segments merge as the days' rows together
    rows = pd.concat(logs.values())
    assert whole.segments["channel=branch"].rows == (rows["channel"] == "branch").sum()
    assert whole.segments["channel=branch"].numerical["credit_score"].total == pytest.approx(
        rows.loc[rows["channel"] == "branch", "credit_score"].sum())
    judged = trailing.judge(loan_model, days[-1], states, lambda _: reference, lambda _: set())
    assert "credit_score" not in judged.window.drifted
    assert list(judged.segments) == ["channel=branch"] and judged.segments["channel=branch"].drifted == ["credit_score"]
    day = summary().with_trailing(judged)
    found = [f for f in rules.findings(day, loan_model) if f.rule == "segment_window_drift"]
    assert len(found) == 1 and found[0].segment == "channel=branch" and found[0].columns == ["credit_score"]
    assert found[0].message.startswith("In channel=branch (")
    shown = trailing.judge(loan_model, days[-1], states, lambda _: reference,
                           lambda d: {"channel=branch|credit_score"} if d == days[3] else set())
    assert shown.shown_by_days == {"channel=branch|credit_score": [str(days[3])]}
    assert not [f for f in rules.findings(summary().with_trailing(shown), loan_model)
                if f.rule == "segment_window_drift"]  # a single day showed it there: that day's finding
    whole_day = trailing.judge(loan_model, days[-1], states, lambda _: reference,
                               lambda d: {"credit_score"} if d == days[5] else set())
    assert whole_day.shown_by_days == {"channel=branch|credit_score": [str(days[5])]}  # or over its whole day
