"""The site shows model performance from late labels: day page KPI and sections, model page chart, home page.

Pages are rendered straight from typed objects (no Evidently, no S3), so these tests are fast.
"""

from __future__ import annotations

import datetime as dt
import re

from monitoring import site
from monitoring.history import DayMetrics
from monitoring.verdicts import Degradation
from monitoring.summary import DaySummary, summary_from_json
from tests.summaries import (CLASSIFICATION, DAY, DUE, HOSTILE, classification_performance, history, labels_report, metrics_of,
                             regression_performance, summary)

def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def table_rows(html: str) -> dict[str, str]:
    """Text of each data row of the first table in `html`, by the text of its first cell."""
    table = html.split("<table", 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        cells = [text_of(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        if "<td" in row:
            rows[cells[0]] = " | ".join(cells)
    return rows


def render_day(s: DaySummary, hist: list[DayMetrics] | None = None, **kwargs) -> str:
    return site.render_day_page(s, [], metrics_of(s), hist if hist is not None else [], **kwargs)


# --- the day page ---------------------------------------------------------------------------------------------------
def test_the_day_page_shows_the_headline_metric_against_reference_trailing_days_and_coverage():
    s = summary(performance=classification_performance())
    hist = [d for d in history() if d.day < DAY]
    html = render_day(s, hist)
    kpi = text_of(html.split('id="performance-kpi"')[1].split("</div>")[0])
    trailing = [d.performance["f1"] for d in hist if d.day >= "2026-10-07"]
    assert "Performance (F1)" in kpi and "0.712" in kpi and "degraded" in kpi
    assert "reference 0.815" in kpi
    assert f"previous 7 days {sum(trailing) / len(trailing):.3f}" in kpi
    assert "64% labelled, labels still arriving as of 2026-10-17" in kpi
    assert "Performance n/a" not in text_of(html)


def test_the_day_page_lists_every_metric_with_baseline_change_and_the_degraded_flag():
    html = render_day(summary(performance=classification_performance()))
    section = html.split('id="performance"')[1].split("<h2")[0]
    text = text_of(section)
    assert "640 of 1000 predictions of this day labelled (64.0%) as of 2026-10-17" in text
    assert "labels still arriving" in text
    rows = table_rows(section)
    assert list(rows) == ["accuracy", "precision", "recall", "F1", "ROC AUC", "log loss", "calibration error"]
    assert rows["F1"].startswith("F1 | 0.712 | 0.690 – 0.733 | 0.815 | −0.103, -12.6% (worse) | yes ")
    assert "alert when more than 0.05 worse or more than 10% worse" in rows["F1"]
    assert rows["ROC AUC"] == "ROC AUC | 0.880 | 0.850 – 0.910 | 0.900 | −0.020, -2.2% (worse) | no"
    assert rows["log loss"] == "log loss | 0.440 |  | 0.400 | +0.040, +10.0% (worse) | no"  # higher is worse
    assert 'href="model_performance.html"' in section and 'href="model_performance.json"' in section


def test_a_classification_day_has_the_confusion_matrix_and_the_calibration_chart():
    html = render_day(summary(performance=classification_performance()))
    confusion = text_of(html.split('id="confusion"')[1].split("</table>")[0])
    assert "predicted positive" in confusion and "actually negative" in confusion
    for count, kind in ((301, "TP"), (85, "FP"), (178, "TN"), (76, "FN")):
        assert f"{count} {kind}" in confusion
    svg = re.search(r'<svg class="calibration".*?</svg>', html, re.S).group(0)
    assert svg.count("<circle") == 10 and 'class="diagonal"' in svg and 'class="series"' in svg
    assert "observed rate" in svg and "mean score" in svg
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_regression_day_renders_without_positive_rate_or_confidence_and_shows_errors():
    s = summary(regression=True, performance=regression_performance())
    hist = [d for d in history(regression=True) if d.day < DAY]
    html = render_day(s, hist)
    text = text_of(html)
    kpis = text_of(html.split('class="kpis"')[1].split("<h2")[0])
    assert "Positive rate" not in kpis and "Low-confidence" not in kpis and "Mean prediction" in kpis
    assert "Performance (MAE)" in kpis and "0.731" in kpis and "reference 0.500" in kpis
    assert "95% labelled, labels complete as of 2026-10-17" in kpis
    rows = table_rows(html.split('id="performance"')[1])
    assert list(rows) == ["MAE", "RMSE", "MAPE", "R²"]
    assert rows["MAE"].startswith("MAE | 0.731 |  | 0.500 | +0.231, +46.2% (worse) | yes")  # no interval computed
    assert rows["RMSE"] == "RMSE | 0.954 |  | 0.700 | +0.254, +36.3% (worse) | no"
    assert rows["MAPE"] == "MAPE | 6.25% |  | 4.50% | +1.75 points, +38.9% (worse) | no"  # a change of a percentage
    assert rows["R²"] == "R² | 0.612 |  | 0.740 | −0.128, -17.3% (worse) | no"
    errors = text_of(html.split('id="errors"')[1].split("</table>")[0])
    assert "prediction − actual" in errors
    for name, value in (("mean error", "0.118"), ("P5", "-1.420"), ("median", "0.094"), ("P95", "1.734")):
        assert name in errors and value in errors
    assert 'id="confusion"' not in html and '<svg class="calibration"' not in html
    assert "No model performance report: Evidently could not build the report: too few rows" in text
    assert 'href="model_performance.html"' not in html


def test_a_day_without_labels_is_awaiting_them():
    html = render_day(summary(), [d for d in history() if d.day < DAY])
    kpi = text_of(html.split('id="performance-kpi"')[1].split("</div>")[0])
    assert "awaiting labels" in kpi and "previous 7 days" in kpi
    assert "Awaiting labels: no ground truth has been joined" in text_of(html)
    assert 'id="labels"' not in html  # no label run recorded on this day
    unlabelled = classification_performance(labelled=0, coverage=0.0, metrics=dict.fromkeys(CLASSIFICATION),
                                            degraded=[], confusion=None, calibration=None, report=None,
                                            report_skipped="no labels yet")
    text = text_of(render_day(summary(performance=unlabelled)))
    assert "awaiting labels none of 1000 predictions labelled as of 2026-10-17" in text
    assert "n/a" not in text.split("Performance")[-1].split("Alerts raised")[0]


def test_the_labels_that_landed_today_and_the_verdict_on_the_due_day():
    html = render_day(summary(performance=classification_performance(), labels=labels_report()))
    section = html.split('id="labels"')[1].split("<h2")[0]
    text = text_of(section)
    assert "812 label row(s) in 1 file(s) landed on 2026-10-14; 790 labelled a prediction" in text
    assert "duplicate (3), unknown id (19)" in text and 'href="labels_quarantine.parquet"' in section
    assert "broken.parquet: no column 'repaid'" in text or "broken.parquet: no column &#39;repaid&#39;" in section
    assert f'href="../dt={DUE}/index.html"' in section
    assert "judged: performance degraded against the reference" in text and "(900 labelled, 90.0%)" in text
    assert "roc_auc 0.810 vs 0.900 in the reference" in text and "Past the retraining limit" in text


def test_verdicts_that_were_not_judged_say_why_in_plain_words():
    few = text_of(render_day(summary(labels=labels_report(status="too_few_labels", degraded=False, problems={}))))
    assert "not judged: too few of its predictions are labelled (12 labelled, 1.2%)" in few
    assert "No problem rows" in few and "labels_quarantine" not in few
    nothing = labels_report(status="no_predictions", degraded=False, problems={}).model_copy(
        update={"files": [], "rows": 0, "joined": 0, "file_problems": []})
    html = render_day(summary(labels=nothing))
    text = text_of(html)
    assert "No label file landed on 2026-10-14" in text and "No problem rows" not in text
    assert "nothing to judge: no published predictions on that day" in text
    assert f"../dt={DUE}/index.html" not in html


def test_the_headline_metric_can_be_chosen_by_the_caller():
    html = render_day(summary(performance=classification_performance()), headline="roc_auc")
    kpi = text_of(html.split('id="performance-kpi"')[1].split("</div>")[0])
    assert "Performance (ROC AUC)" in kpi and "0.880" in kpi and "degraded" not in kpi


def test_hostile_metric_names_and_due_days_are_escaped():
    perf = classification_performance(metrics={**CLASSIFICATION, HOSTILE: 0.5}, baseline={HOSTILE: 0.6},
                                       degraded=[Degradation(metric=HOSTILE, value=0.5, baseline=0.6, worse_by=0.1,
                                                             relative=0.17, limit=HOSTILE, retrain=False)])
    report = labels_report(due_day=HOSTILE, problems={HOSTILE: 2})
    html = render_day(summary(performance=perf, labels=report))
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    assert summary_from_json(summary(performance=perf, labels=report).to_json()).labels.due.day == HOSTILE
    hostile_day = [metrics_of(summary(performance=perf), performance={HOSTILE: 0.5}, label_coverage=0.5,
                              labels_complete=False)]
    for page in (site.render_model_page("m", HOSTILE, hostile_day),
                 site.render_home_page([("m", HOSTILE, hostile_day)])):
        assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page


# --- the model page -------------------------------------------------------------------------------------------------
def test_the_model_page_draws_performance_with_label_coverage():
    hist = history()
    html = site.render_model_page("loan_approval", "Approves loans", hist)
    svg = re.search(r'<svg class="chart performance".*?</svg>', html, re.S).group(0)
    assert "Performance (F1) with label coverage" in svg
    assert svg.count('class="series"') == 2 and "reference F1" in svg  # the metric and its baseline
    bars = re.findall(r'<a href="(dt=[^"]+)"><rect class="coverage"[^>]*><title>([^<]+)</title>', svg)
    assert len(bars) == len(hist) - 1  # the newest day has no labels yet
    assert ("dt=2026-10-12/index.html", "2026-10-12: 40% labelled (labels still arriving)") in bars
    assert ("dt=2026-10-05/index.html", "2026-10-05: 100% labelled (labels complete)") in bars
    assert "Performance with label coverage appears here" not in html and "No labels yet" not in html
    table = text_of(html.split("<h2>Days</h2>")[1])
    assert "F1 labelled" in table and "0.850 100%" in table and "0.820 40% arriving" in table
    assert "2026-10-14 warning 82 1000 58.0% 10.0% 2026-10-13" in table  # the newest day: no figure yet
    assert 'class="chart"' in html and ">Positive rate</text>" in html  # no decision column named: no definition


def test_the_model_page_of_a_regression_model_has_no_positive_rate_chart():
    html = site.render_model_page("loan_rate", "APR quotes", history(regression=True))
    assert "positive rate" not in html.lower()
    assert "Performance (MAE) with label coverage" in html and "reference MAE" in html


def test_the_model_page_notes_when_no_day_has_labels_yet():
    hist = [metrics_of(summary(day=d)) for d in ("2026-10-13", "2026-10-14")]
    html = site.render_model_page("loan_approval", "", hist)
    assert "No labels yet" in html and 'class="chart performance"' not in html
    assert html.count("<svg") == 5  # health, drift share, heat map, volume, positive rate


def test_the_home_page_shows_the_latest_labelled_performance_with_its_coverage():
    html = site.render_home_page([("loan_approval", "", history()), ("loan_rate", "", history(regression=True)),
                                  ("new_model", "", [metrics_of(summary())])])
    rows = {m: text_of(r) for r in html.split("<tr")[2:] for m in ("loan_approval", "loan_rate", "new_model")
            if f'href="{m}/index.html"' in r}
    assert "F1 0.810 on 2026-10-13 , 60% labelled (arriving)" in rows["loan_approval"]
    assert "MAE 0.510 on 2026-10-13 , 60% labelled (arriving)" in rows["loan_rate"]
    assert "awaiting labels" in rows["new_model"]
    custom = site.render_home_page([("loan_approval", "", history())], headlines={"loan_approval": "roc_auc"})
    assert "awaiting labels" in text_of(custom)  # the history has no roc_auc


def test_pages_stay_small():
    hist = history(days=90)
    assert len(site.render_model_page("loan_approval", "", hist)) < 300_000
    s = summary(performance=classification_performance(), labels=labels_report())
    assert len(render_day(s, hist)) < 100_000


def test_the_low_confidence_kpi_compares_with_the_reference_and_the_previous_7_days():
    s = summary()
    hist = [metrics_of(summary(day=d.day), low_confidence_share=0.2) for d in history() if d.day < DAY]
    card = text_of(render_day(s, hist).split("Low-confidence predictions")[1].split("</div>")[0])
    assert "12.0%" in card and "reference 10.0%" in card and "previous 7 days 20.0%" in card


# --- words from the model's task and config, not from the demo's loan story ----------------------------------------
LOAN_STORY = ("approv", "loan", "applicant", "repay")


def test_the_positive_rate_is_named_by_the_decision_column_and_no_word_of_the_loan_story_shows():
    s = summary().model_copy(update={"model": "churn"})
    hist = [metrics_of(summary(day=d.day).model_copy(update={"model": "churn"})) for d in history() if d.day < DAY]
    day_page = render_day(s, hist, decision="flagged")
    kpi = text_of(day_page.split('id="positive-rate-kpi"')[1].split("</div>")[0])
    assert kpi.startswith(">Positive rate (flagged = 1) 58.0% reference 57.0%")
    model_page = site.render_model_page("churn", "Flags accounts likely to churn", [*hist, metrics_of(s)],
                                        decision="flagged")
    assert '<text x="52" y="14" class="t">Positive rate (flagged = 1)</text>' in model_page
    for page in (day_page, model_page):
        assert not [word for word in LOAN_STORY if word in page.lower()]


def test_a_regressor_s_pages_use_the_words_of_its_task():
    s = summary(regression=True, performance=regression_performance(), labels=labels_report())
    html = render_day(s, [d for d in history(regression=True) if d.day < DAY], regression=True)
    kpis = text_of(html.split('class="kpis"')[1].split("<h2")[0])
    assert "Mean prediction 11.200" in kpis and "Performance (MAE) 0.731" in kpis  # whatever metrics are about
    assert "score" not in kpis.lower() and "positive" not in kpis.lower() and "confidence" not in kpis.lower()
    assert site.headline_of({"f1", "roc_auc", "mae"}, regression=True) == "mae"
    assert site.headline_of({"f1", "roc_auc", "mae"}, regression=False) == "f1"
    model_page = site.render_model_page("loan_rate", "", history(regression=True))
    assert "positive" not in model_page.lower() and "Mean score" not in model_page


def test_a_metric_the_reference_gives_no_band_says_not_judged_and_why():
    performance = regression_performance().model_copy(update={"unjudged": {"mape": "the labels come near zero"}})
    html = render_day(summary(regression=True, performance=performance))
    rows = table_rows(html.split('id="performance"')[1])
    assert rows["MAPE"].endswith("| not judged") and rows["RMSE"].endswith("| no")
    assert "MAPE is not judged: the labels come near zero." in text_of(html.split('id="unjudged-mape"')[1])
