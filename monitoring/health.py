"""A model-day's status and its health score, from the day's findings and drift.

Status: `critical` when any finding is critical, `warning` when any is a warning, else `healthy`.

Health score, 0-100 (100 is a day where nothing fired and no feature drifted):
    100 - 30 per critical finding - 10 per warning finding - 30 x (share of features that drifted)
clamped to [0, 100]. Drift share counts even below the dataset-drift threshold, so a day with one drifted
feature scores below a spotless one.
"""

from __future__ import annotations

from monitoring.rules import Finding, Severity
from monitoring.summary import DaySummary

PENALTY = {Severity.CRITICAL: 30.0, Severity.WARNING: 10.0, Severity.INFO: 0.0}
DRIFT_SHARE_WEIGHT = 30.0


def status_of(findings: list[Finding]) -> str:
    worst = max((f.severity.rank for f in findings), default=0)
    return {0: "healthy", 1: "warning", 2: "critical"}[worst]


def health_score(summary: DaySummary, findings: list[Finding]) -> float:
    score = 100.0 - sum(PENALTY[f.severity] for f in findings) - DRIFT_SHARE_WEIGHT * summary.data_drift.drift_share
    return round(min(100.0, max(0.0, score)), 1)
