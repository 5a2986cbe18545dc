"""The stakeholder site, rendered from `reports_templates/` with jinja2 (autoescape on: data never runs).

    reports/index.html                  home: every model, its latest status and a sparkline
    reports/<model>/index.html          model: the last 90 days as charts, a table of days, CSV/JSON downloads
    reports/<model>/dt=<day>/index.html day: status and health, findings in plain words, KPIs, drift, quality

Links are relative, so the site works from any prefix, a bucket website or presigned access. Pages are built from
the metric history (`monitoring.history`) and each day's summary, never from raw logs.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import mean

import jinja2
from markupsafe import Markup

from monitoring import charts
from monitoring.history import DayMetrics
from monitoring.rules import Finding
from monitoring.summary import DaySummary

TEMPLATES_ENV_VAR = "MONITORING_TEMPLATES"
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "reports_templates"
MODEL_PAGE_DAYS = 90
SPARKLINE_DAYS = 30
TRAILING_DAYS = 7


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    folder = Path(os.environ.get(TEMPLATES_ENV_VAR) or DEFAULT_TEMPLATES)
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                                      undefined=jinja2.StrictUndefined)
    environment.globals.update(num=_num, pct=_pct)
    return environment


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


@dataclass(frozen=True)
class Trailing:
    """Averages of the days before a day (at most TRAILING_DAYS back); None where there were none."""

    rows: float | None
    positive_rate: float | None
    mean_score: float | None
    drift_share: float | None


def _avg(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def trailing(history: list[DayMetrics], day: str) -> Trailing:
    end = dt.date.fromisoformat(day)
    window = [d for d in history if end - dt.timedelta(days=TRAILING_DAYS) <= dt.date.fromisoformat(d.day) < end]
    return Trailing(rows=_avg([d.rows for d in window]), positive_rate=_avg([d.positive_rate for d in window]),
                    mean_score=_avg([d.mean_score for d in window]), drift_share=_avg([d.drift_share for d in window]))


def render_day_page(summary: DaySummary, findings: list[Finding], metrics: DayMetrics,
                    history: list[DayMetrics]) -> str:
    columns = [*summary.data_drift.features.items(), *summary.prediction_drift.columns.items()]
    pictures = {}
    for name, quality in summary.data_quality.columns.items():
        if quality.distribution:
            d = quality.distribution
            pictures[name] = charts.distribution_bars(d.bins, d.reference, d.current, title=f"distribution of {name}")
    return _environment().get_template("day.html.j2").render(
        s=summary, m=metrics, findings=findings, columns=columns, pictures=pictures,
        trailing=trailing(history, summary.day))


def render_model_page(model: str, description: str, history: list[DayMetrics]) -> str:
    days = history[-MODEL_PAGE_DAYS:]
    labels = [d.day for d in days]
    links = [f"dt={d.day}/index.html" for d in days]
    features = sorted({f for d in days for f in d.features})
    cells = {f: {d.day: (p.score, p.threshold, p.drifted) for d in days if (p := d.features.get(f))} for f in features}
    figures: dict[str, Markup] = {}
    if days:
        figures = {
            "health": charts.line_chart(labels, {"health score": [d.health_score for d in days]}, title="Health score",
                                        y_min=0, y_max=100, links=links),
            "drift_share": charts.line_chart(labels, {"drifted features": [d.drift_share for d in days]},
                                             title="Share of drifted features", percent=True, y_min=0, y_max=1,
                                             links=links),
            "heatmap": charts.heatmap(labels, features, cells, title="Drift score by feature (red border: drifted)",
                                      links=links),
            "volume": charts.line_chart(labels, {"predictions": [float(d.rows) for d in days]},
                                        title="Prediction volume", y_min=0, links=links),
            "positive_rate": charts.line_chart(
                labels, {"positive rate": [d.positive_rate for d in days],
                         "reference": [d.reference_positive_rate for d in days]},
                title="Positive (approval) rate", percent=True, links=links),
        }
    return _environment().get_template("model.html.j2").render(
        model=model, description=description, days=days, latest=days[-1] if days else None, charts=figures)


@dataclass(frozen=True)
class HomeEntry:
    name: str
    description: str
    latest: DayMetrics | None
    spark: Markup


def render_home_page(models: list[tuple[str, str, list[DayMetrics]]]) -> str:
    entries = []
    for name, description, history in sorted(models):
        recent = history[-SPARKLINE_DAYS:]
        entries.append(HomeEntry(name, description, history[-1] if history else None,
                                 charts.sparkline([d.health_score for d in recent], label=f"{name} health")))
    return _environment().get_template("home.html.j2").render(entries=entries)
