"""The site shows model performance from late labels: day page KPI and sections, model page chart, home page.

Pages are rendered straight from typed objects (no Evidently, no S3), so these tests are fast.
"""

from __future__ import annotations

import datetime as dt
import re

from monitoring import site
from monitoring.history import DayMetrics, FeatureDriftPoint
from monitoring.operations import Operations
from monitoring.performance import CalibrationBin, Degradation, LabelsReport, Performance, Verdict
from monitoring.quality import ColumnQuality
from monitoring.summary import (ColumnDrift, DataDrift, DataQuality, DaySummary, PredictionDrift, RowCounts,
                                summary_from_json)

DAY = "2026-10-14"
DUE = "2026-10-09"
HOSTILE = '<script>window.__xss = 1</script>"\'><img src=x onerror="window.__xss=2">'
CLASSIFICATION = {"accuracy": 0.81, "precision": 0.78, "recall": 0.74, "f1": 0.712, "roc_auc": 0.88,
                  "log_loss": 0.44, "calibration_error": 0.031}
CLASSIFICATION_BASELINE = {"accuracy": 0.84, "precision": 0.8, "recall": 0.82, "f1": 0.815, "roc_auc": 0.9,
                           "log_loss": 0.4, "calibration_error": 0.02}
REGRESSION = {"mae": 0.731, "rmse": 0.954, "mape": 6.25, "r2": 0.612}
REGRESSION_BASELINE = {"mae": 0.5, "rmse": 0.7, "mape": 4.5, "r2": 0.74}


def _drift(score: float, drifted: bool = False) -> ColumnDrift:
    return ColumnDrift(kind="numerical", method="wasserstein", threshold=0.1, score=score, drifted=drifted)


def _operations(regression: bool) -> Operations:
    return Operations(
        volume=1000, mean_score=11.2 if regression else 0.61, reference_mean_score=10.9 if regression else 0.6,
        positive_rate=None if regression else 0.58, reference_positive_rate=None if regression else 0.57,
        mean_confidence=None if regression else 0.8, reference_mean_confidence=None if regression else 0.8,
        low_confidence_share=None if regression else 0.12, reference_low_confidence_share=None if regression else 0.1,
        low_confidence_threshold=0.6, score_quantiles={"p10": 0.2, "p50": 0.6, "p90": 0.9}, latency_ms=None)


def summary(*, regression: bool = False, performance: Performance | None = None,
            labels: LabelsReport | None = None, day: str = DAY) -> DaySummary:
    ops = _operations(regression)
    return DaySummary(
        model="loan_rate" if regression else "loan_approval", day=day, reference_version="v1", reference_rows=5000,
        files=[{"key": "part-0.parquet", "rows": 1000}],
        rows=RowCounts(read=1000, valid=1000, quarantined=0, quarantined_share=0.0, quarantine_reasons={},
                       sampled_for_reports=1000, extra_columns=[]),
        data_drift=DataDrift(dataset_drift=False, drift_share=0.0, dataset_drift_share_threshold=0.2,
                             drifted_features=[], features={"credit_score": _drift(0.02)}),
        prediction_drift=PredictionDrift(drifted=False, columns={"score": _drift(0.03)}, mean_score=ops.mean_score,
                                         reference_mean_score=ops.reference_mean_score,
                                         positive_rate=ops.positive_rate,
                                         reference_positive_rate=ops.reference_positive_rate),
        data_quality=DataQuality(max_missing_share=0.0, columns={
            "credit_score": ColumnQuality(kind="numerical", missing_share=0.0, mean=700.0, reference_mean=698.0)}),
        operations=ops, reports={"data_drift": "data_drift.html"}, performance=performance, labels=labels)


def classification_performance(**update) -> Performance:
    found = Performance(
        day=DAY, labels_as_of="2026-10-17", complete=False, predictions=1000, labelled=640, coverage=0.64,
        label_digest="abc", metrics=CLASSIFICATION, baseline=CLASSIFICATION_BASELINE,
        degraded=[Degradation(metric="f1", value=0.712, baseline=0.815, worse_by=0.103, relative=0.126,
                              limit="more than 0.05 worse or more than 10% worse", retrain=False)],
        confusion={"tp": 301, "fp": 85, "tn": 178, "fn": 76},
        calibration=[CalibrationBin(low=i / 10, high=(i + 1) / 10, count=40 + 7 * i, mean_score=i / 10 + 0.05,
                                    observed_rate=min(1.0, i / 10 + 0.08)) for i in range(10)],
        report="model_performance.html")
    return found.model_copy(update=update)


def regression_performance(**update) -> Performance:
    found = Performance(
        day=DAY, labels_as_of="2026-10-17", complete=True, predictions=1000, labelled=950, coverage=0.95,
        label_digest="def", metrics=REGRESSION, baseline=REGRESSION_BASELINE,
        degraded=[Degradation(metric="mae", value=0.731, baseline=0.5, worse_by=0.231, relative=0.462,
                              limit="more than 20% worse", retrain=False)],
        errors={"mean_error": 0.118, "p5": -1.42, "p25": -0.377, "p50": 0.094, "p75": 0.611, "p95": 1.734},
        report=None, report_skipped="Evidently could not build the report: too few rows")
    return found.model_copy(update=update)


def labels_report(*, due_day: str = DUE, status: str = "judged", degraded: bool = True,
                  problems: dict[str, int] | None = None) -> LabelsReport:
    flagged = [Degradation(metric="roc_auc", value=0.81, baseline=0.9, worse_by=0.09, relative=0.1,
                           limit="more than 0.05 worse", retrain=True)] if degraded else []
    return LabelsReport(
        day=DAY, files=[{"key": "labels/loan_approval/dt=2026-10-14/part-0.parquet", "rows": 812}], rows=812,
        joined=790, problems=problems if problems is not None else {"duplicate": 3, "unknown_id": 19},
        file_problems=["labels/loan_approval/dt=2026-10-14/broken.parquet: no column 'repaid'"],
        due=Verdict(day=due_day, status=status, labelled=900 if status == "judged" else 12,
                    coverage=0.9 if status == "judged" else 0.012,
                    metrics={**CLASSIFICATION, "roc_auc": 0.81} if status == "judged" else {},
                    baseline=CLASSIFICATION_BASELINE if status == "judged" else None, degraded=flagged))


def metrics_of(s: DaySummary, **update) -> DayMetrics:
    perf = s.performance
    labelled = {} if perf is None else {
        "labelled": perf.labelled, "label_coverage": perf.coverage, "labels_complete": perf.complete,
        "performance": perf.metrics, "baseline_performance": perf.baseline or {},
        "performance_degraded": [d.metric for d in perf.degraded]}
    values = dict(
        model=s.model, day=s.day, status="warning", health_score=82.0, rows=s.rows.read, quarantined_share=0.0,
        mean_score=s.prediction_drift.mean_score, positive_rate=s.prediction_drift.positive_rate,
        reference_mean_score=s.prediction_drift.reference_mean_score,
        reference_positive_rate=s.prediction_drift.reference_positive_rate, drift_share=0.1, dataset_drift=False,
        drifted_features=[], prediction_drift=False, max_missing_share=0.0, findings=[],
        features={"credit_score": FeatureDriftPoint(score=0.02, threshold=0.1, drifted=False)}, **labelled)
    return DayMetrics(**{**values, **update})


def history(regression: bool = False, days: int = 10) -> list[DayMetrics]:
    """`days` days ending on DAY; the older ones labelled (complete), the last three still arriving, the newest none."""
    end = dt.date.fromisoformat(DAY)
    metric, base, baseline = ("mae", 0.5, REGRESSION_BASELINE) if regression else ("f1", 0.8, CLASSIFICATION_BASELINE)
    out = []
    for back in range(days - 1, -1, -1):
        day = (end - dt.timedelta(days=back)).isoformat()
        perf = None if back == 0 else (regression_performance if regression else classification_performance)(
            day=day, complete=back > 3, coverage=1.0 if back > 3 else 0.2 * (4 - back),
            metrics={metric: base + back / 100}, baseline=baseline, degraded=[])
        out.append(metrics_of(summary(regression=regression, performance=perf, day=day)))
    return out


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
    assert rows["F1"].startswith("F1 | 0.712 | 0.815 | −0.103, -12.6% (worse) | yes ")
    assert "alert when more than 0.05 worse or more than 10% worse" in rows["F1"]
    assert rows["ROC AUC"] == "ROC AUC | 0.880 | 0.900 | −0.020, -2.2% (worse) | no"
    assert rows["log loss"] == "log loss | 0.440 | 0.400 | +0.040, +10.0% (worse) | no"  # higher is worse
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
    assert rows["MAE"].startswith("MAE | 0.731 | 0.500 | +0.231, +46.2% (worse) | yes")
    assert rows["RMSE"] == "RMSE | 0.954 | 0.700 | +0.254, +36.3% (worse) | no"
    assert rows["MAPE"] == "MAPE | 6.25% | 4.50% | +1.75%, +38.9% (worse) | no"
    assert rows["R²"] == "R² | 0.612 | 0.740 | −0.128, -17.3% (worse) | no"
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
    assert 'class="chart"' in html and "Positive (approval) rate" in html


def test_the_model_page_of_a_regression_model_has_no_positive_rate_chart():
    html = site.render_model_page("loan_rate", "APR quotes", history(regression=True))
    assert "Positive (approval) rate" not in html and "positive rate" not in html
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
