"""Findings from a day's summary: which drift and data-quality rules fire, how severe, and what to do."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict

from monitoring.config import ModelConfig
from monitoring.summary import DaySummary


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ["info", "warning", "critical"].index(self.value)


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    severity: Severity
    message: str
    action: str
    columns: list[str] = []


def evaluate(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    """Every rule that fires on this day, most severe first, in a stable order."""
    findings: list[Finding] = []
    drift = summary.data_drift
    if drift.dataset_drift:
        findings.append(Finding(
            rule="dataset_drift", severity=Severity.CRITICAL, columns=drift.drifted_features,
            message=(f"{len(drift.drifted_features)} of {len(drift.features)} features drifted "
                     f"({drift.drift_share:.0%}, threshold {drift.dataset_drift_share_threshold:.0%}): "
                     f"{', '.join(drift.drifted_features)}."),
            action="Open the data drift report, check the upstream sources of these features, and consider retraining.",
        ))
    elif drift.drifted_features:
        findings.append(Finding(
            rule="feature_drift", severity=Severity.WARNING, columns=drift.drifted_features,
            message=f"Feature(s) drifted: {', '.join(drift.drifted_features)} (dataset drift not reached).",
            action="Check whether the change in these features is expected.",
        ))
    prediction = summary.prediction_drift
    if prediction.drifted:
        drifted = sorted(c for c, r in prediction.columns.items() if r.drifted)
        findings.append(Finding(
            rule="prediction_drift", severity=Severity.WARNING, columns=drifted,
            message=(f"Prediction drift on {', '.join(drifted)}: mean {'score' if model.is_classification else 'prediction'}"
                     f" {_fmt(prediction.mean_score)} vs {_fmt(prediction.reference_mean_score)} in the reference"
                     + (f", positive rate {_fmt(prediction.positive_rate)} vs "
                        f"{_fmt(prediction.reference_positive_rate)}" if prediction.positive_rate is not None else "")
                     + "."),
            action="The model's output distribution changed; check the inputs and the business impact.",
        ))
    findings.extend(_quality_findings(summary, model))
    findings.extend(_label_findings(summary, model))
    return sorted(findings, key=lambda f: (-f.severity.rank, f.rule))


def _label_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    report = summary.labels
    if report is None or model.labels is None:
        return []
    findings = []
    due = report.due
    if due.status == "judged" and due.degraded:
        retrain = due.retrain
        findings.append(Finding(
            rule="performance_degradation", severity=Severity.CRITICAL if retrain else Severity.WARNING,
            columns=[d.metric for d in due.degraded],
            message=(f"The predictions made on {due.day} ({due.coverage:.0%} labelled) performed worse than the "
                     f"reference: {'; '.join(d.describe() for d in due.degraded)}."),
            action=(f"Open the model performance report of {due.day}; compare with the drift of that day. "
                    + ("The drop passes the retraining limit: retraining is requested." if retrain else
                       "Retrain if the drop persists.")),
        ))
    elif due.status == "too_few_labels":
        perf = model.performance
        findings.append(Finding(
            rule="labels_missing", severity=Severity.WARNING,
            message=(f"Only {due.coverage:.0%} ({due.labelled}) of the predictions made on {due.day} have labels "
                     f"{model.labels.lag_days} day(s) later (labels.lag_days), so their performance is not judged "
                     f"(it needs {perf.min_coverage:.0%} and {perf.min_labelled_rows} labelled rows)."),
            action="Check the label feed under labels/<model>/: labels may be late, or keyed by other ids.",
        ))
    rejected = {k: v for k, v in sorted(report.problems.items()) if k != "unknown_id"}
    share = sum(rejected.values()) / report.rows if report.rows else 0.0
    if rejected or report.file_problems:
        serious = bool(report.file_problems) or share > model.performance.max_label_problem_share
        parts = [f"{sum(rejected.values())} label row(s) rejected ({', '.join(f'{k}: {v}' for k, v in rejected.items())})"
                 if rejected else "", f"{len(report.file_problems)} label file(s) unusable" if report.file_problems else ""]
        findings.append(Finding(
            rule="label_problems", severity=Severity.WARNING if serious else Severity.INFO,
            message=(f"Of the {report.rows} labels that landed on {report.day}: {' and '.join(p for p in parts if p)}"
                     f" ({share:.1%}; a warning above {model.performance.max_label_problem_share:.0%} or when a file "
                     "is unusable)."),
            action="Inspect labels_quarantine.parquet and labels.json beside this summary; each row carries its reason.",
        ))
    if report.problems.get("unknown_id"):
        findings.append(Finding(
            rule="unknown_label_ids", severity=Severity.INFO,
            message=(f"{report.problems['unknown_id']} label(s) that landed on {report.day} match no prediction of "
                     f"the last {model.labels.window} days."),
            action="Normal for labels of older predictions; otherwise check the ids the label feed uses.",
        ))
    return findings


def _quality_findings(summary: DaySummary, model: ModelConfig) -> list[Finding]:
    limits = model.quality
    findings = []
    columns = summary.data_quality.columns
    missing = sorted(c for c, q in columns.items() if q.missing_share > limits.max_missing_share)
    if missing:
        worst = max(columns[c].missing_share for c in missing)
        findings.append(Finding(
            rule="missing_values", severity=Severity.CRITICAL if worst >= 1.0 else Severity.WARNING, columns=missing,
            message=(f"Missing values above {limits.max_missing_share:.0%} in {', '.join(missing)} "
                     f"(worst {worst:.1%})."),
            action="Check the feature pipeline that fills these columns.",
        ))
    new = sorted(c for c, q in columns.items() if (q.new_category_share or 0.0) > limits.max_new_category_share)
    if new:
        examples = "; ".join(f"{c}: {', '.join(columns[c].new_categories or [])}" for c in new)
        findings.append(Finding(
            rule="new_categories", severity=Severity.WARNING, columns=new,
            message=f"Categories unseen in the reference above {limits.max_new_category_share:.0%} of rows ({examples}).",
            action="Confirm the new values are legitimate; the model has never seen them.",
        ))
    out = sorted(c for c, q in columns.items() if (q.out_of_range_share or 0.0) > limits.max_out_of_range_share)
    if out:
        findings.append(Finding(
            rule="out_of_range", severity=Severity.WARNING, columns=out,
            message=(f"Values outside the reference's range above {limits.max_out_of_range_share:.0%} of rows in "
                     f"{', '.join(out)}."),
            action="Check for unit changes or upstream bugs in these columns.",
        ))
    if summary.rows.quarantined_share > limits.max_quarantined_share:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.rows.quarantine_reasons.items()))
        findings.append(Finding(
            rule="quarantined_rows", severity=Severity.WARNING,
            message=(f"{summary.rows.quarantined} of {summary.rows.read} rows ({summary.rows.quarantined_share:.1%}) "
                     f"broke the data contract ({reasons})."),
            action="Inspect quarantine.parquet beside this summary; each row carries its reason.",
        ))
    return findings


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
