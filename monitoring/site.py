"""Pages for stakeholders, rendered from `reports_templates/` with jinja2 (autoescape on: data never runs)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import jinja2

from monitoring.rules import Finding
from monitoring.summary import DaySummary

TEMPLATES_ENV_VAR = "MONITORING_TEMPLATES"
DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "reports_templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    folder = Path(os.environ.get(TEMPLATES_ENV_VAR) or DEFAULT_TEMPLATES)
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def status_of(findings: list[Finding]) -> str:
    """healthy, warning or critical: the most severe finding (info findings leave a day healthy)."""
    worst = max((f.severity.rank for f in findings), default=0)
    return {0: "healthy", 1: "warning", 2: "critical"}[worst]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_day_page(summary: DaySummary, findings: list[Finding]) -> str:
    columns = [*summary.data_drift.features.items(), *summary.prediction_drift.columns.items()]
    return _environment().get_template("day.html.j2").render(
        s=summary, findings=findings, status=status_of(findings), columns=columns, fmt=_fmt, pct=_pct)
