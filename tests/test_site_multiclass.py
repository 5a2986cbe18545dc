"""The site for a multiclass model: its metrics by their names and macro F1 as the headline, each class's figures and
the confusion matrix on the day page in the classes' order, a collapsed class marked, each class's recall charted on
the model page from what the history keeps, the model on the home page; and none of it for a binary model.

Pages are rendered from typed objects (no Evidently); one test goes through `steps.update_site` on moto S3.
"""

from __future__ import annotations

import datetime as dt
import html as markup
import re

import pytest

from monitoring import charts, history, site, steps
from monitoring.classes import ClassRecall
from monitoring.config import ModelConfig
from monitoring.history import DayMetrics
from monitoring.layout import DayLayout
from monitoring.metrics import ClassFigures
from monitoring.records import DueDay, LabelsReport, Performance
from monitoring.storage import JSON
from monitoring.summary import DaySummary, summary_from_json
from monitoring.verdicts import Degradation
from tests.summaries import (DAY, DUE, HOSTILE, classification_performance, labels_report, metrics_of,
                             summary)

# Not in alphabetical order: performance.json's keys come back sorted, the pages must follow the model's order.
CLASSES = ("standard", "premium", "secured", "student")
MATRIX = [[30, 51, 17, 11], [29, 536, 29, 12], [20, 29, 269, 8], [27, 47, 21, 39]]  # [labelled][predicted]
METRICS = {"accuracy": 0.744, "macro_precision": 0.612, "macro_recall": 0.569, "macro_f1": 0.58,
           "weighted_precision": 0.729, "weighted_recall": 0.744, "weighted_f1": 0.731, "roc_auc": 0.876,
           "log_loss": 0.79}
BASELINE = {"accuracy": 0.732, "macro_precision": 0.713, "macro_recall": 0.723, "macro_f1": 0.716,
            "weighted_precision": 0.727, "weighted_recall": 0.732, "weighted_f1": 0.728, "roc_auc": 0.919,
            "log_loss": 0.636}
REFERENCE_RECALL = {"standard": (0.54, 3151), "premium": (0.821, 3677), "student": (0.725, 1286)}  # secured: unjudged


def per_class(matrix: list[list[int]], classes: tuple[str, ...]) -> dict[str, ClassFigures]:
    found = {}
    for i, label in enumerate(classes):
        hits, support, predicted = matrix[i][i], sum(matrix[i]), sum(row[i] for row in matrix)
        found[label] = ClassFigures(support=support, predicted=predicted,
                                    precision=hits / predicted if predicted else 0,
                                    recall=hits / support if support else 0,
                                    f1=2 * hits / (support + predicted) if support + predicted else 0)
    return found


def recalls(figures: dict[str, ClassFigures], collapsed: tuple[str, ...] = ("student",)) -> list[ClassRecall]:
    return [ClassRecall(label=c, support=f.support, recall=f.recall, reference_recall=REFERENCE_RECALL[c][0],
                        reference_support=REFERENCE_RECALL[c][1], tail=0.0 if c in collapsed else 0.4,
                        collapsed=c in collapsed)
            for c, f in figures.items() if c in REFERENCE_RECALL]


def multiclass_performance(**update) -> Performance:
    figures = per_class(MATRIX, CLASSES)
    found = Performance(
        day=DAY, labels_as_of="2026-10-17", complete=True, predictions=1200, labelled=1175, coverage=0.979,
        label_digest="mc", metrics=METRICS, baseline=BASELINE,
        degraded=[Degradation(metric="macro_f1", value=0.58, baseline=0.716, worse_by=0.136, relative=0.19,
                              limit="more than 0.05 worse", retrain=False)],
        per_class=figures, confusion_matrix=MATRIX, class_recalls=recalls(figures),
        intervals={"macro_f1": (0.54, 0.616)}, report="model_performance.html")
    return found.model_copy(update=update)


def multiclass_summary(performance: Performance | None = None, labels: LabelsReport | None = None,
                       day: str = DAY) -> DaySummary:
    """A multiclass model's day as the pages read it: through its JSON (per-class keys sorted), no positive rate."""
    s = summary(performance=performance, labels=labels, day=day)
    no_rate = {"positive_rate": None, "reference_positive_rate": None}
    s = s.model_copy(update={"model": "loan_offer", "prediction_drift": s.prediction_drift.model_copy(update=no_rate),
                             "operations": s.operations.model_copy(update=no_rate)})
    return summary_from_json(s.to_json())


def due_with_a_collapse() -> LabelsReport:
    perf = multiclass_performance(day=DUE)
    due = DueDay(day=DUE, status="judged", labelled=1185, coverage=0.988, metrics=METRICS, baseline=BASELINE,
                 degraded=[], classes_collapsed=[c for c in perf.class_recalls if c.collapsed])
    return labels_report().model_copy(update={"due": due})


def render_day(s: DaySummary, **kwargs) -> str:
    return site.render_day_page(s, [], metrics_of(s), [], **kwargs)


def text_of(html: str) -> str:
    return markup.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


def rows_of(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each row of the table `table_id`."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [[text_of(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


# --- the day page ---------------------------------------------------------------------------------------------------
def test_the_day_page_names_the_multiclass_metrics_and_leads_with_macro_f1():
    html = render_day(multiclass_summary(multiclass_performance()), classes=CLASSES, regression=False)
    kpis = text_of(html.split('class="kpis"')[1].split("<h2")[0])
    assert "Performance (macro F1) 0.580 degraded reference 0.716" in kpis
    assert "Mean top score 0.610" in kpis and "top score below 0.6" in kpis
    assert "Positive rate" not in kpis and "Mean prediction" not in kpis and "max(p, 1-p)" not in kpis
    section = html.split('id="performance"')[1].split('id="per-class"')[0]
    names = [text_of(c) for c in re.findall(r"<tr[^>]*><td>(.*?)</td>", section, re.S)]  # the metrics table's rows
    assert names == ["accuracy", "macro precision", "macro recall", "macro F1", "weighted precision",
                     "weighted recall", "weighted F1", "ROC AUC", "log loss"]
    assert "<b>macro F1</b>" in section  # the headline, in bold
    # without being told, the page finds the headline among the multiclass metrics
    guessed = render_day(multiclass_summary(multiclass_performance()))
    assert "Performance (macro F1)" in text_of(guessed) and "Mean top score" in text_of(guessed)


def test_the_day_page_shows_each_class_in_the_model_s_order_with_the_reference_s_recall():
    s = multiclass_summary(multiclass_performance())
    assert list(s.performance.per_class) == sorted(CLASSES)  # as read back from performance.json
    rows = rows_of(render_day(s, classes=CLASSES), "per-class")
    assert rows[0] == ["class", "labelled", "predicted", "precision", "recall", "F1", "reference recall",
                       "recall collapsed"]
    assert [r[0] for r in rows[1:]] == list(CLASSES)
    by_class = {r[0]: r[1:] for r in rows[1:]}
    assert by_class["student"][:6] == ["134", "70", "0.557", "0.291", "0.382", "0.725 (1,286 rows)"]
    assert by_class["premium"] == ["606", "663", "0.808", "0.884", "0.845", "0.821 (3,677 rows)", "no"]
    assert by_class["secured"][5:] == ["not judged", ""]  # too few labelled rows: no verdict to show


def test_the_confusion_matrix_has_labelled_rows_by_predicted_columns_with_each_row_s_share():
    html = render_day(multiclass_summary(multiclass_performance()), classes=CLASSES)
    rows = rows_of(html, "confusion-matrix")
    assert rows[0] == ["", "predicted as", ""]
    assert rows[1] == ["labelled as", *CLASSES, "labelled rows"]
    assert rows[2] == ["standard", "30 27.5%", "51 46.8%", "17 15.6%", "11 10.1%", "109"]
    assert rows[5] == ["student", "27 20.1%", "47 35.1%", "21 15.7%", "39 29.1%", "134"]
    table = html.split('id="confusion-matrix"')[1].split("</table>")[0]
    assert '<th scope="row">premium</th>' in table and table.count('scope="col"') == len(CLASSES) + 2
    assert 'title="labelled student, predicted premium: 47 of 134"' in table
    assert table.count('class="num hit"') == len(CLASSES)  # the diagonal, where the prediction was right
    assert "rgba(31,138,76,0.49)" in table  # premium's 88.4% right: the darkest green
    assert 'id="confusion"' not in html  # the binary matrix is a binary model's


def test_a_collapsed_class_is_marked_in_the_table_and_in_the_verdict_on_the_due_day():
    html = render_day(multiclass_summary(multiclass_performance(), due_with_a_collapse()), classes=CLASSES)
    table = html.split('id="per-class"')[1].split("</table>")[0]
    student = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", table, re.S) if ">student<" in r)
    assert student.startswith('<tr class="drifted">') and '<b class="bad">yes</b>' in student
    assert "chance under no change: below one in a million" in text_of(student)
    assert table.count('class="drifted"') == 1
    due = text_of(html.split('id="due"')[1].split("<h2")[0])
    assert "judged: the recall of student collapsed" in due
    assert "Recall collapsed: class 'student': recall 29.1% of 134 labelled rows vs 72.5% in the reference" in due


def test_without_the_classes_order_the_matrix_is_left_out_unless_the_judged_recalls_name_every_class():
    perf = multiclass_performance()
    html = render_day(multiclass_summary(perf))
    assert 'id="per-class"' in html and 'id="confusion-matrix"' not in html
    assert "the model's order of the classes is not known" in html
    every = perf.model_copy(update={"class_recalls": [*perf.class_recalls[:2], ClassRecall(
        label="secured", support=326, recall=0.825, reference_recall=0.806, reference_support=3886, tail=0.8,
        collapsed=False), perf.class_recalls[2]]})
    rows = rows_of(render_day(multiclass_summary(every)), "confusion-matrix")
    assert rows[1] == ["labelled as", *CLASSES, "labelled rows"]


def test_class_names_are_escaped():
    classes = ("standard", HOSTILE)
    matrix = [[5, 1], [2, 7]]
    figures = per_class(matrix, classes)
    perf = multiclass_performance(per_class=figures, confusion_matrix=matrix, class_recalls=[])
    html = render_day(multiclass_summary(perf), classes=classes)
    days = [metrics_of(multiclass_summary(perf), class_recall={c: f.recall for c, f in figures.items()},
                       classes_collapsed=[HOSTILE])]
    for page in (html, site.render_model_page("m", "", days, classes=classes)):
        assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page


# --- the model page and the history ---------------------------------------------------------------------------------
def days_of_a_collapse(count: int = 6) -> list[DayMetrics]:
    """Days labelled but the last; the student class's recall collapses on the last two labelled days."""
    end, out = dt.date.fromisoformat(DAY), []
    for back in range(count - 1, -1, -1):
        day = (end - dt.timedelta(days=back)).isoformat()
        student = 0.72 if back > 2 else 0.3
        perf = None if back == 0 else multiclass_performance(day=day, metrics={**METRICS, "macro_f1": 0.7 - back / 100})
        out.append(metrics_of(multiclass_summary(perf, day=day), **({} if perf is None else dict(
            class_recall={"premium": 0.82, "secured": 0.8, "standard": 0.55, "student": student},
            reference_class_recall={c: r for c, (r, _) in REFERENCE_RECALL.items()},
            classes_collapsed=["student"] if student < 0.5 else [],
            performance_intervals={"macro_f1": (0.66 - back / 100, 0.74 - back / 100)}))))
    return out


def test_the_model_page_charts_each_class_s_recall_one_line_per_class_in_the_model_s_order():
    days = days_of_a_collapse()
    html = site.render_model_page("loan_offer", "offers", days, headline="macro_f1", classes=CLASSES)
    svg = re.search(r'<svg class="chart" role="img" aria-label="Recall of each class".*?</svg>', html, re.S).group(0)
    assert re.findall(r"&#9632; ([^<]+)</text>", svg) == list(CLASSES)
    assert svg.count('class="series"') == len(CLASSES)  # one line each, over the five labelled days
    assert "2026-10-13: student 30.0%" in svg and "2026-10-10: student 72.0%" in svg
    table = {r[0]: r[1:] for r in rows_of(html, "class-recall-table")[1:]}
    assert list(table) == list(CLASSES)
    assert table["student"] == ["72.5%", "30.0% on 2026-10-13", "on 2 of these 6 days , last on 2026-10-13"]
    assert table["secured"] == ["not judged", "80.0% on 2026-10-13", "no"]
    days_table = text_of(html.split("<h2>Days</h2>")[1])
    assert "classes collapsed" in days_table
    assert "2026-10-13 warning 82 1000 10.0% 0.690 (degraded) 98% student" in days_table


def test_the_model_page_draws_macro_f1_with_its_band():
    html = site.render_model_page("loan_offer", "", days_of_a_collapse(), headline="macro_f1", classes=CLASSES)
    svg = re.search(r'<svg class="chart performance".*?</svg>', html, re.S).group(0)
    assert "Performance (macro F1) with label coverage" in svg and "reference macro F1" in svg
    assert svg.count('<polygon class="band"') == 1 and "2026-10-13: 0.65 to 0.73" in svg
    guessed = site.render_model_page("loan_offer", "", days_of_a_collapse())  # the headline found from the history
    assert "Performance (macro F1) with label coverage" in guessed and "Recall of each class" in guessed


def test_the_history_keeps_each_class_s_recall_and_reads_histories_written_before_it():
    perf = multiclass_performance(per_class={**per_class(MATRIX, CLASSES), "student": ClassFigures(
        support=0, predicted=3, precision=0.0, recall=0.0, f1=0.0)})
    kept = history.day_metrics(multiclass_summary(perf), [])
    recall = {"premium": 536 / 606, "secured": 269 / 326, "standard": 30 / 109}  # student: none labelled, no recall
    assert kept.class_recall == pytest.approx(recall, abs=1e-6)  # summary.json keeps six decimals
    assert kept.reference_class_recall == {"standard": 0.54, "premium": 0.821, "student": 0.725}
    assert kept.classes_collapsed == ["student"]
    old = kept.model_dump(mode="json")
    for name in ("class_recall", "reference_class_recall", "classes_collapsed"):
        del old[name]
    assert DayMetrics.model_validate(old).class_recall == {}
    header, row = history.to_csv([kept]).decode().splitlines()
    assert header.endswith(",recall_premium,recall_secured,recall_standard")
    assert row.endswith(",0.884488,0.825153,0.275229")


def test_a_chart_of_many_series_puts_its_legend_on_rows_of_its_own():
    names = [f"class {n}" for n in range(8)]
    svg = charts.line_chart(["2026-10-13", "2026-10-14"], {n: [0.5, 0.6] for n in names}, title="Recall of each class",
                            percent=True, y_min=0, y_max=1)
    legend = re.findall(r'<text x="([\d.]+)" y="(\d+)" class="l" style="fill:([^"]+)">&#9632; ([^<]+)</text>', svg)
    assert [n for *_, n in legend] == names and len({c for _, _, c, _ in legend}) == 8  # a colour each
    assert sorted({int(y) for _, y, _, _ in legend}) == [14, 28]
    assert all(float(x) > 7 * len("Recall of each class") for x, *_ in legend)  # clear of the title
    few = charts.line_chart(["2026-10-14"], {"f1": [0.8], "reference f1": [0.8]}, title="F1")
    assert 'viewBox="0 0 900 180"' in few and "y=\"28\"" not in few  # two series: one row, as ever


# --- the home page, the steps, and a binary model ------------------------------------------------------------------
def test_the_home_page_lists_the_multiclass_model_with_its_macro_f1():
    binary = [metrics_of(summary(performance=classification_performance()))]
    html = site.render_home_page([("loan_offer", "offers", days_of_a_collapse()), ("loan_approval", "", binary)])
    rows = {m: text_of(r) for r in html.split("<tr")[2:] for m in ("loan_offer", "loan_approval")
            if f'href="{m}/index.html"' in r}
    assert "macro F1 0.690 on 2026-10-13 , 98% labelled" in rows["loan_offer"]
    assert "F1 0.712" in rows["loan_approval"]


def test_update_site_draws_a_multiclass_model_s_pages_in_its_classes_order(store):
    model = ModelConfig.model_validate({
        "name": "loan_offer", "task": "multiclass_classification", "storage": {"bucket": "ml-monitoring"},
        "columns": {"id": "prediction_id", "timestamp": "event_time", "scores": {c: f"score_{c}" for c in CLASSES},
                    "decision": "offered_product", "numerical": ["credit_score"]},
        "labels": {"column": "taken_product", "lag_days": 2}})
    assert model.headline_metric == "macro_f1"
    for day, perf in (("2026-10-13", multiclass_performance(day="2026-10-13")), (DAY, None)):
        layout, s = DayLayout.of(model, day), multiclass_summary(perf, due_with_a_collapse() if perf else None, day)
        store.put_bytes(layout.summary, s.to_json(), JSON)
        store.put_bytes(layout.day_metrics, history.day_metrics(s, []).model_dump_json().encode(), JSON)
        store.put_json(layout.manifest, {"files": {}})
    steps.update_site(store, model, dt.date(2026, 10, 13))
    day_page = store.get_bytes("reports/loan_offer/dt=2026-10-13/index.html").decode()
    assert [r[0] for r in rows_of(day_page, "per-class")[1:]] == list(CLASSES)
    assert rows_of(day_page, "confusion-matrix")[1] == ["labelled as", *CLASSES, "labelled rows"]
    assert "Mean top score" in day_page and "Performance (macro F1) 0.580" in text_of(day_page)
    model_page = store.get_bytes("reports/loan_offer/index.html").decode()
    svg = re.search(r'aria-label="Recall of each class".*?</svg>', model_page, re.S).group(0)
    assert re.findall(r"&#9632; ([^<]+)</text>", svg) == list(CLASSES)
    assert "macro F1 0.580" in text_of(store.get_bytes("reports/index.html").decode())
    assert "recall_student" in store.get_bytes("reports/loan_offer/history.csv").decode()


def test_a_binary_model_s_pages_show_no_class_table_matrix_or_class_recall():
    s = summary(performance=classification_performance(), labels=labels_report())
    day_page = render_day(s, regression=False)
    model_page = site.render_model_page("loan_approval", "", [metrics_of(s)])
    for page in (day_page, model_page):
        assert 'id="per-class"' not in page and 'id="confusion-matrix"' not in page
        assert "Recall of each class" not in page and "classes collapsed" not in page
        assert "Recall collapsed" not in page and "macro" not in page
    assert 'id="confusion"' in day_page and "Mean score" in day_page and "max(p, 1-p)" in day_page
