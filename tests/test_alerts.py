"""Alerts people trust: one message per run, deduplicated across reruns and races, hysteresis, cooldown, resolved
messages, and quiet runs (backfills, old days) that record without paging and end in one digest."""

import datetime as dt

import pytest

from monitoring import alerts, episodes, history
from monitoring.config import ModelConfig
from monitoring.history import DayMetrics
from monitoring.layout import DayLayout, ModelLayout
from monitoring.rules import Finding, Severity
from monitoring.steps import decide
from monitoring.steps import notify as notify_step
from tests.summaries import metrics_of, summary

START = dt.date(2026, 10, 1)
LATER = dt.datetime(2096, 1, 1, tzinfo=dt.timezone.utc)  # long after the last quiet run: its digest is due
DRIFT = Finding(rule="dataset_drift", severity=Severity.CRITICAL, message="2 of 9 features drifted.",
                action="Open the drift report.")
QUALITY = Finding(rule="missing_values", severity=Severity.WARNING, message="income is 40% missing.",
                  action="Check the source.")


class Inbox:
    """Stands in for the channels: records each message sent."""

    def __init__(self, fail: bool = False):
        self.messages, self.fail = [], fail

    def __call__(self, message):
        if self.fail:
            raise ConnectionError("the webhook is down")
        self.messages.append(message)
        return ["sent to test inbox"]


def configured(base: ModelConfig, **settings) -> ModelConfig:
    document = base.model_dump(mode="json")
    document["alerts"] = {**document["alerts"], **settings}
    return ModelConfig.model_validate(document)


class Days:
    """Runs the decision step of consecutive days of one model, keeping the metric history as publish would."""

    def __init__(self, store, model):
        self.store, self.model, self.history = store, model, []

    def run(self, day: dt.date, findings: list[Finding], inbox, *, today=None, backfill=False, notify=True):
        layout = DayLayout.of(self.model, day)
        decide.persist(self.store, layout, decide.Decision(
            model=self.model.name, day=day.isoformat(), findings=findings, retrain=None,
            links={"day_page": self.store.url(layout.day_page)}))
        branch = notify_step.alert_day if findings else notify_step.healthy_day
        when = dt.datetime.combine(today or day, dt.time(1), tzinfo=dt.timezone.utc)
        record = branch(self.store, self.model, day, now=when, backfill=backfill, notify=notify, send=inbox)
        self.history = [d for d in self.history if d.day != day.isoformat()]
        self.history.append(metrics_of(summary(day=day.isoformat()), alerting_rules=[f.rule for f in findings]))
        self.store.put_json(layout.history(), {"model": self.model.name,
                                               "days": [d.model_dump(mode="json") for d in
                                                        sorted(self.history, key=lambda d: d.day)]})
        return record


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n - 1)


@pytest.fixture
def days(store, loan_model):
    return Days(store, loan_model)


def test_a_drifted_week_sends_one_alert_not_seven(days):
    inbox = Inbox()
    records = [days.run(day(n), [DRIFT], inbox) for n in range(1, 8)]
    assert len(inbox.messages) == 1
    first = inbox.messages[0]
    assert [(n.kind, n.rule, n.episode_start) for n in first.notices] == [("alert", "dataset_drift", "2026-10-01")]
    assert first.title == "[critical] loan_approval 2026-10-01: 1 alert(s): dataset_drift"
    assert "Day page: " in first.text() and first.payload()["links"]["day_page"].endswith("dt=2026-10-01/index.html")
    assert records[3]["notification"]["skipped"] == ["dataset_drift: already alerted for its episode since 2026-10-01"]


def test_a_rerun_or_a_racing_run_never_sends_the_same_alert_twice(days, store, loan_model):
    inbox = Inbox()
    days.run(day(1), [DRIFT], inbox)
    days.run(day(1), [DRIFT], inbox)  # rerun of the day
    assert len(inbox.messages) == 1
    # Two runs that planned the same message before either sent it: the conditional write lets one through.
    layout = DayLayout.of(loan_model, day(9))
    recent = history.rules_by_day(store, layout)
    sent = alerts.sent_episodes(store, layout)
    plan = episodes.plan_notices(loan_model.alerts, loan_model.name, layout.day, [DRIFT], {}, None, recent, sent)
    other = episodes.plan_notices(loan_model.alerts, loan_model.name, layout.day, [DRIFT], {}, None, recent, sent)
    assert alerts.deliver(store, layout, plan, inbox, "now") == ["sent to test inbox"]
    assert alerts.deliver(store, layout, other, inbox, "now") == ["every notice was already sent by another run"]
    assert len(inbox.messages) == 2


def test_a_failed_send_releases_its_claim_so_the_retry_sends_it(days):
    with pytest.raises(ConnectionError):
        days.run(day(1), [DRIFT], Inbox(fail=True))
    inbox = Inbox()
    days.run(day(1), [DRIFT], inbox)
    assert len(inbox.messages) == 1


def test_hysteresis_fires_after_n_bad_days_and_resolves_after_m_good_days(store, loan_model):
    runs, inbox = Days(store, configured(loan_model, fire_after=2, resolve_after=2)), Inbox()
    runs.run(day(1), [DRIFT], inbox)
    assert inbox.messages == []  # one bad day is not enough
    runs.run(day(2), [DRIFT], inbox)
    assert [n.episode_start for n in inbox.messages[0].notices] == ["2026-10-01"]
    runs.run(day(3), [], inbox)
    assert len(inbox.messages) == 1  # one good day is not a recovery
    runs.run(day(4), [], inbox)
    resolved = inbox.messages[1]
    assert [(n.kind, n.rule, n.episode_start) for n in resolved.notices] == [("resolved", "dataset_drift",
                                                                              "2026-10-01")]
    assert resolved.title == "[resolved] loan_approval 2026-10-04: resolved: dataset_drift"
    runs.run(day(5), [], inbox)
    assert len(inbox.messages) == 2  # resolved once


def test_a_new_episode_within_the_cooldown_waits_then_is_sent_if_it_lasts(store, loan_model):
    runs, inbox = Days(store, configured(loan_model, resolve_after=1, cooldown_days=4)), Inbox()
    runs.run(day(1), [DRIFT], inbox)
    runs.run(day(2), [], inbox)  # resolved
    record = runs.run(day(3), [DRIFT], inbox)
    assert [m.notices[0].kind for m in inbox.messages] == ["alert", "resolved"]
    assert "cooling down" in record["notification"]["skipped"][0]
    assert "resolved on 2026-10-02" in record["notification"]["skipped"][0]
    for n in (4, 5):
        runs.run(day(n), [DRIFT], inbox)
    assert len(inbox.messages) == 2  # within 4 days of the resolution
    runs.run(day(6), [DRIFT], inbox)
    assert [(m.notices[0].kind, m.day) for m in inbox.messages][-1] == ("alert", "2026-10-06")
    assert inbox.messages[-1].notices[0].episode_start == "2026-10-03"


def test_a_rule_hovering_at_its_line_is_one_episode_not_a_page_per_crossing(store, loan_model):
    runs, inbox = Days(store, configured(loan_model, resolve_after=2, cooldown_days=3)), Inbox()
    for n, findings in enumerate([[DRIFT], [], [DRIFT], [], [DRIFT], [DRIFT]], start=1):  # never 2 quiet days
        record = runs.run(day(n), findings, inbox)
    assert [(m.notices[0].kind, m.day) for m in inbox.messages] == [("alert", "2026-10-01")]
    assert "already alerted for its episode since 2026-10-01" in record["notification"]["skipped"][0]
    runs.run(day(7), [], inbox)
    runs.run(day(8), [], inbox)  # two quiet days: resolved
    assert [(m.notices[0].kind, m.day) for m in inbox.messages][-1] == ("resolved", "2026-10-08")
    for n in (9, 10):  # back at once: a new episode, cooling down from the resolution
        runs.run(day(n), [DRIFT], inbox)
    assert len(inbox.messages) == 2
    runs.run(day(11), [DRIFT], inbox)
    assert [(m.notices[0].kind, m.notices[0].episode_start) for m in inbox.messages][-1] == ("alert", "2026-10-09")


def test_a_backfill_never_pages_and_ends_with_one_digest(days, store, loan_model):
    inbox = Inbox()
    for n in range(1, 22):
        findings = [DRIFT] if n >= 12 else []
        record = days.run(day(n), findings, inbox, today=day(21) + dt.timedelta(days=1), backfill=True)
        assert record["notification"]["quiet"].startswith("a backfill run never pages")
    assert inbox.messages == []
    quiet = configured(loan_model, digest_quiet_minutes=0)
    digest = alerts.send_digest(store, quiet, inbox, now=LATER)
    assert digest is not None and len(inbox.messages) == 1
    assert digest.notices[0].message == "on 10 day(s) from 2026-10-12 to 2026-10-21"
    assert alerts.send_digest(store, quiet, inbox, now=LATER) is None  # sent once
    assert len(inbox.messages) == 1

    # A second backfill over days already reported ("all runs") adds nothing to digest; a day whose alerts changed does.
    for n in range(13, 20):
        findings = [DRIFT, QUALITY] if n == 19 else [DRIFT]
        days.run(day(n), findings, inbox, today=day(21) + dt.timedelta(days=1), backfill=True)
    again = alerts.send_digest(store, quiet, inbox, now=LATER)
    assert len(inbox.messages) == 2 and again.day == "2026-10-19..2026-10-19 (digest of quiet runs)"
    for n in range(13, 20):
        days.run(day(n), [DRIFT, QUALITY] if n == 19 else [DRIFT], inbox, today=day(22), backfill=True)
    assert alerts.send_digest(store, quiet, inbox, now=LATER) is None and len(inbox.messages) == 2


def test_a_digest_waits_while_quiet_runs_keep_coming(days, store, loan_model):
    days.run(day(1), [DRIFT], Inbox(), today=day(30))  # an old day: a quiet run, its alert pending for the digest
    pending = store.list(ModelLayout.of(loan_model).pending_digest_dir)
    assert len(pending) == 1
    added = dt.datetime.fromtimestamp(pending[0].last_modified, tz=dt.timezone.utc)
    quiet_for = dt.timedelta(minutes=loan_model.alerts.digest_quiet_minutes)
    assert alerts.digest(store, loan_model, now=added + quiet_for / 2) is None  # a quiet run may still come
    found = alerts.digest(store, loan_model, now=added + quiet_for + dt.timedelta(minutes=1))
    assert found is not None and (found.first, found.last) == ("2026-10-01", "2026-10-01")
    assert [n.rule for n in found.message.notices] == ["dataset_drift"]


def test_old_days_and_runs_told_not_to_notify_are_quiet(days):
    inbox = Inbox()
    old = days.run(day(1), [DRIFT], inbox, today=day(4))
    assert "3 days old" in old["notification"]["quiet"]
    muted = days.run(day(2), [DRIFT], inbox, notify=False)
    assert muted["notification"]["quiet"] == "the run was told not to notify"
    assert inbox.messages == []
    fresh = days.run(day(3), [DRIFT], inbox, today=day(5))  # 2 days old: recent enough
    assert fresh["notification"]["quiet"] is None and len(inbox.messages) == 1
    assert inbox.messages[0].notices[0].episode_start == "2026-10-01"  # the episode began in quiet runs


def test_decisions_json_records_the_branch_the_reasons_and_the_notification(days, store, loan_model):
    info = Finding(rule="unknown_label_ids", severity=Severity.INFO, message="3 labels.", action="-")
    days.run(day(1), [DRIFT, info], Inbox())
    decisions = store.get_json(DayLayout.of(loan_model, day(1)).decisions)
    assert decisions["branches"] == ["alert"] and "dataset_drift (critical)" in decisions["why"]
    assert {f["rule"] for f in decisions["findings"]} == {"dataset_drift", "unknown_label_ids"}
    assert decisions["notification"]["delivered"] == ["sent to test inbox"]
    assert [n["rule"] for n in decisions["notification"]["message"]["notices"]] == ["dataset_drift"]
    assert isinstance(DayMetrics.model_fields["alerting_rules"].default, list)
