"""A newcomer's first model: a config entry written from a reference file (`python -m monitoring init`), and a
configured model checked against its reference in the bucket (`python -m monitoring check-config
--against-reference`).

`guess_entry` reads the reference's columns and guesses each one's role, stating every guess: the prediction id (a
text or integer column named like an id, distinct on every row), the time (a datetime column, or one named like a
time), the score (a numerical column named like a score or probability: within [0, 1] makes a classifier; three or
more such columns whose rows sum to 1 make a multiclass classifier, each column a class named by what sets it apart
from the others, e.g. `prob_premium` -> `premium`), the decision (a 0/1 column named like a decision or prediction;
for a multiclass model, one whose values are the classes), the label (named like a label or target), the features
(the other columns: numbers with more than 20 values are numerical, the rest categorical). `render_entry` writes
the entry as YAML with every required key present and a comment on each guess. Nothing is guessed silently: what
could not be guessed is a `TODO` the config check then names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from monitoring import contract, reference_store
from monitoring.config import ModelConfig
from monitoring.layout import ModelLayout
from monitoring.storage import ObjectStore
from monitoring.vocabulary import ModelTask

TODO = "TODO"
ID_NAMES = re.compile(r"(^|_)(id|uuid|key)$|^(prediction|request|event|row)_?id", re.I)
TIME_NAMES = re.compile(r"time|date|timestamp|(^|_)ts$|(^|_)at$", re.I)
SCORE_NAMES = re.compile(r"score|prob|proba|probability|confidence|(^|_)p$|predict(ed|ion)?(_value|_score)?$|y_?pred",
                         re.I)
DECISION_NAMES = re.compile(r"decision|approved|(^|_)pred(icted)?(_label|_class)?$|y_?pred$|(^|_)class$", re.I)
LABEL_NAMES = re.compile(r"label|target|truth|actual|outcome|(^|_)y$|_gt$", re.I)
FEW_VALUES = 20  # a number with at most this many distinct values is taken as a category


@dataclass
class Guess:
    """A model entry guessed from a reference: its settings, and one note per guess (said in the YAML)."""

    settings: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)  # key path -> what was guessed and why


def _is_binary(series: pd.Series) -> bool:
    values = pd.to_numeric(series.dropna(), errors="coerce")
    return len(values) > 0 and values.notna().all() and set(values.unique()) <= {0, 1}


def _pick(frame: pd.DataFrame, names: re.Pattern, test=lambda s: True, taken: set[str] = frozenset()) -> str | None:
    return next((c for c in frame.columns if c not in taken and names.search(c) and test(frame[c])), None)


def guess_entry(frame: pd.DataFrame, bucket: str = TODO, label: str | None = None) -> Guess:
    """The model entry a reference suggests (see the module's doc)."""
    notes: dict[str, str] = {}
    taken: set[str] = set()

    def role(key: str, column: str | None, why: str) -> str:
        if column is None:
            notes[key] = f"no column looked like it: {why}"
            return TODO
        taken.add(column)
        notes[key] = f"guessed: {why}"
        return column

    id_column = role("columns.id", _pick(frame, ID_NAMES, lambda s: s.nunique() == len(s)),
                     "named like an id, distinct on every row (the id labels are joined on)")
    timestamp = role("columns.timestamp", next((c for c in frame.columns if c not in taken and (
        pd.api.types.is_datetime64_any_dtype(frame[c]) or TIME_NAMES.search(c))), None),
        "a time column (the logs' times; a reference may leave it empty)")
    label = label or _pick(frame, LABEL_NAMES, taken=taken)
    if label:
        taken.add(label)
    numeric = [c for c in frame.columns if c not in taken and pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    class_scores = _class_scores(frame, [c for c in numeric if SCORE_NAMES.search(c)])
    if class_scores:
        return _multiclass_guess(frame, class_scores, id_column, timestamp, label, taken, bucket, notes)
    decision = _pick(frame[numeric], DECISION_NAMES, _is_binary)
    score_column = next((c for c in numeric if c != decision and SCORE_NAMES.search(c)), None)
    score = role("columns.score", score_column, "named like a score or prediction")
    probability = score_column is not None and frame[score_column].between(0, 1).all()
    classifier = probability and (decision is not None or (label is not None and _is_binary(frame[label])))
    task = ModelTask.BINARY_CLASSIFICATION if classifier else ModelTask.REGRESSION
    notes["task"] = (f"guessed: {score} lies within [0, 1] beside a 0/1 decision or label" if classifier else
                     f"guessed: {score} is not a probability beside a 0/1 decision or label")
    if decision and classifier:
        decision = role("columns.decision", decision, "a 0/1 column named like a decision")
    else:
        decision = None
    columns: dict[str, Any] = {"id": id_column, "timestamp": timestamp, "score": score}
    if decision:
        columns["decision"] = decision
    return _with_features_and_label(frame, task, columns, label, taken, bucket, notes)


def _class_scores(frame: pd.DataFrame, candidates: list[str]) -> dict[str, str] | None:
    """Three or more probability columns whose rows sum to 1 (within 0.01 on 99% of the rows): class -> column, the
    class named by what sets its column apart (the common prefix and suffix removed), else the column's name."""
    inside = [c for c in candidates if frame[c].dropna().between(0, 1).all()]
    if len(inside) < 3:
        return None
    sums = frame[inside].sum(axis=1, min_count=len(inside))
    if ((sums - 1).abs() <= 0.01).mean() < 0.99:
        return None
    prefix = len(_common([c for c in inside]))
    suffix = len(_common([c[::-1] for c in inside]))
    names = [c[prefix:len(c) - suffix].strip("_- ") for c in inside]
    if any(not n for n in names) or len(set(names)) < len(names):
        names = inside
    return dict(zip(names, inside))


def _common(texts: list[str]) -> str:
    first = texts[0]
    size = next((i for i in range(len(first)) if any(len(t) <= i or t[i] != first[i] for t in texts)), len(first))
    return first[:size]


def _multiclass_guess(frame: pd.DataFrame, scores: dict[str, str], id_column: str, timestamp: str, label: str | None,
                      taken: set[str], bucket: str, notes: dict[str, str]) -> Guess:
    taken.update(scores.values())
    notes["task"] = (f"guessed: {len(scores)} probability columns whose rows sum to 1 ({', '.join(scores.values())}): "
                     "one per class")
    notes["columns.scores"] = "guessed: each class named by what sets its column apart; the labels must use these names"
    classes = set(scores)
    decisions = [c for c in frame.columns if c not in taken and set(contract.as_label(frame[c]).dropna()) <= classes
                 and frame[c].notna().any()]
    decision = next((c for c in decisions if DECISION_NAMES.search(c)), decisions[0] if decisions else None)
    columns: dict[str, Any] = {"id": id_column, "timestamp": timestamp, "scores": scores}
    if decision:
        taken.add(decision)
        columns["decision"] = decision
        notes["columns.decision"] = ("guessed: its values are the classes" + (
            ", and it is named like a decision" if DECISION_NAMES.search(decision) else ""))
    if label and not set(contract.as_label(frame[label]).dropna()) <= classes:
        notes["labels.column"] = (f"TODO: {label}'s values are not the classes {sorted(classes)}: rename the classes "
                                  "under columns.scores to the labels' values")
    return _with_features_and_label(frame, ModelTask.MULTICLASS_CLASSIFICATION, columns, label, taken, bucket, notes)


def _with_features_and_label(frame: pd.DataFrame, task: ModelTask, columns: dict[str, Any], label: str | None,
                             taken: set[str], bucket: str, notes: dict[str, str]) -> Guess:
    """The entry: the columns given, the features (every column not taken), the label and the bucket."""
    features = [c for c in frame.columns if c not in taken]
    numerical = [c for c in features if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
        frame[c]) and frame[c].nunique() > FEW_VALUES]
    categorical = [c for c in features if c not in numerical]
    notes["columns.numerical"] = f"guessed: numbers with more than {FEW_VALUES} distinct values"
    notes["columns.categorical"] = f"guessed: text, booleans and numbers with at most {FEW_VALUES} distinct values"
    columns.update({"numerical": numerical, "categorical": categorical})
    settings: dict[str, Any] = {"task": task.value, "storage": {"bucket": bucket}, "columns": columns}
    if label:
        settings["labels"] = {"column": label, "lag_days": 7}
        notes.setdefault("labels.column", "guessed: named like a label (given with --label: as given)")
        notes["labels.lag_days"] = "TODO: days after a prediction by which its labels are all in (7 is a guess)"
    else:
        notes["labels"] = "no label column found: no performance monitoring until `labels` is set"
    notes["storage.bucket"] = "the bucket of the logs, the reference and the reports" + (
        "" if bucket != TODO else ": TODO")
    return Guess(settings, notes)


def render_entry(name: str, guess: Guess) -> str:
    """The guessed entry as YAML under `models:`, every guess commented (`# ...` after its key)."""
    lines = ["# yaml-language-server: $schema=../docs/config.schema.json",
             "# Written by `python -m monitoring init`: check every guess, then `python -m monitoring check-config "
             "--against-reference`.",
             "models:", f"  {name}:"]

    def emit(node: Any, path: str, indent: int) -> None:
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            note = f"  # {guess.notes[where]}" if where in guess.notes else ""
            pad = "  " * indent
            if isinstance(value, dict):
                lines.append(f"{pad}{key}:{note}")
                emit(value, where, indent + 1)
            else:
                text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
                text = text.removesuffix("\n...").strip()
                lines.append(f"{pad}{key}: {text}{note}")

    emit(guess.settings, "", 2)
    if "labels" not in guess.settings:
        lines.append(f"    # labels: {{column: <label column>, lag_days: <days>}}  # {guess.notes['labels']}")
    lines.append("    # retraining: {dag_id: retrain_" + name + "}  # optional: the DAG that retrains the model; "
                 "without it a request is only recorded")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Check:
    """One check of a configured model against its reference."""

    what: str
    ok: bool
    detail: str


def check_against_reference(store: ObjectStore, model: ModelConfig) -> list[Check]:
    """Every configured column, its kind and the score's range, checked against the model's current reference in
    the bucket (read as the daily runs read it)."""
    layout = ModelLayout.of(model)
    checks: list[Check] = []
    version = reference_store.current_version(store, layout)
    files = reference_store.version_files(store, model, layout, version)
    frame = reference_store.raw_frame(store, layout, version, files)
    checks.append(Check("reference", True, f"version {version}: {len(frame):,} rows in {len(files)} file(s) under "
                                          f"{store.url(layout.reference_version_dir(version))}"))
    cols = model.columns
    wanted = {**{c: "numerical feature" for c in cols.numerical}, **{c: "categorical feature" for c in cols.categorical},
              **dict.fromkeys(cols.score_columns, "score"), **({cols.decision: "decision"} if cols.decision else {}),
              **({model.labels.column: "label"} if model.labels else {})}
    for column, role in wanted.items():
        present = column in frame.columns
        checks.append(Check(f"{role} {column}", present or role == "label",
                            "present" if present else ("missing: no performance baseline (the label is optional in a "
                                                       "reference)" if role == "label" else
                                                       f"missing from the reference (it has {sorted(frame.columns)})")))
    for column in cols.numerical:
        if column in frame.columns:
            numbers, bad = contract.as_number(frame[column])
            distinct = numbers.nunique()
            checks.append(Check(f"kind of {column}", not bad.any(),
                                f"numerical: {distinct:,} distinct values" if not bad.any() else
                                f"{int(bad.sum())} value(s) are not numbers (e.g. {frame[column][bad].iloc[0]!r}): "
                                "list it under columns.categorical"))
    for column in cols.categorical:
        if column in frame.columns:
            distinct = frame[column].nunique()
            many = distinct > model.drift.max_categories
            checks.append(Check(f"kind of {column}", not many,
                                f"categorical: {distinct:,} distinct values" + (
                                    f", above drift.max_categories ({model.drift.max_categories}): numbers? list it "
                                    "under columns.numerical" if many else "")))
    for column in cols.score_columns:
        if column not in frame.columns:
            continue
        scores, _ = contract.as_number(frame[column])
        low, high = float(scores.min()), float(scores.max())
        allowed = model.score_range
        inside = allowed is None or (allowed[0] <= low and high <= allowed[1])
        checks.append(Check(f"range of {column}", inside,
                            f"{low:g} to {high:g}" + ("" if allowed is None else
                                                      f", allowed [{allowed[0]:g}, {allowed[1]:g}]") +
                            ("" if inside else ": a classifier's score is a probability; set task: regression or "
                                               "contract.score_range")))
    if all(c.ok for c in checks):
        try:
            contract.prepare_reference(frame, model, store.url(layout.reference_version_dir(version)))
        except contract.ContractError as error:
            checks.append(Check("contract", False, str(error)))
        else:
            checks.append(Check("contract", True, "the reference passes the data contract the daily runs apply"))
    return checks
