"""A third demo model: a multiclass classifier that picks which loan product to offer an applicant.

The applicants are `loan_data.applicants`. The model (multinomial logistic regression) scores four products, one
column each (`score_standard`, `score_premium`, `score_secured`, `score_student`), and logs the product offered
(`offered_product`, the class of the highest score). The product the applicant actually takes up (`taken_product`,
the label) becomes known 1 to `LABEL_LAG_DAYS` days later.

Its story:

- from `OfferDrift.launch_day` (day 9) a premium-card launch campaign brings wealthier applicants (`annual_income`
  x `income_factor`): feature drift on `annual_income`, and the premium class's traffic grows (prediction drift on
  `score_premium` and on the offered product); the model stays right (no concept drift);
- from `OfferDrift.student_day` (day 15) the student loan is opened to young applicants already in work: many of
  them, whom the model still offers the standard loan, take the student loan instead. Nothing in the inputs moves;
  once the labels land, the student class's recall collapses while the macro figures, carried by the other three
  classes, move less.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo import loan_data

NAME = "loan_offer"
NUMERICAL = ["credit_score", "annual_income", "loan_amount", "debt_to_income", "employment_years"]
CATEGORICAL = ["loan_purpose", "home_ownership"]
CLASSES = ("standard", "premium", "secured", "student")
SCORES = {c: f"score_{c}" for c in CLASSES}
DECISION = "offered_product"
LABEL_COLUMN = "taken_product"
LABEL_LAG_DAYS = 2
LABEL_LAG_SHARES = {1: 0.6, 2: 0.38}  # the remaining 2% is never labelled
INJECTED_DRIFT = ("annual_income",)
_LABEL_STREAM = 2


@dataclass(frozen=True)
class OfferDrift:
    """From `launch_day`: incomes `income_factor` times higher. From `student_day`: `moved_share` of the young
    applicants in work (2 to 6 years) who would take the standard loan take the student loan."""

    launch_day: int = 9
    income_factor: float = 1.2
    student_day: int = 15
    moved_share: float = 0.8

    def launched(self, day_number: int) -> bool:
        return day_number >= self.launch_day

    def moved(self, day_number: int) -> float:
        return self.moved_share if day_number >= self.student_day else 0.0


def offer_applicants(n: int, rng: np.random.Generator, income_factor: float = 1.0) -> pd.DataFrame:
    frame = loan_data.applicants(n, rng)
    if income_factor != 1.0:
        frame["annual_income"] = (frame["annual_income"] * income_factor).round(2)
    return frame[NUMERICAL + CATEGORICAL]


def product_probabilities(frame: pd.DataFrame) -> np.ndarray:
    """The ground truth: each applicant's chance of taking each product (rows sum to 1, columns in CLASSES' order)."""
    income = np.log(frame["annual_income"].to_numpy(dtype=float) / 62_000)
    credit = (frame["credit_score"].to_numpy(dtype=float) - 690) / 65
    years = frame["employment_years"].to_numpy(dtype=float)
    logits = np.column_stack([
        np.zeros(len(frame)),  # standard
        -1.0 + 5.0 * income + 1.8 * credit,  # premium
        -0.8 - 2.8 * credit + 6.0 * (frame["debt_to_income"].to_numpy(dtype=float) - 0.24),  # secured
        1.5 - 1.6 * years - 1.5 * income,  # student
    ])
    logits -= logits.max(axis=1, keepdims=True)
    chance = np.exp(logits)
    return chance / chance.sum(axis=1, keepdims=True)


def take_up(frame: pd.DataFrame, rng: np.random.Generator, moved: float = 0.0) -> np.ndarray:
    """The product each applicant takes, drawn from its probabilities; `moved` of the young applicants in work who
    would take the standard loan take the student loan instead."""
    chance = product_probabilities(frame)
    drawn = (rng.random(len(frame))[:, None] > np.cumsum(chance, axis=1)).sum(axis=1)
    taken = np.asarray(CLASSES, dtype=object)[np.minimum(drawn, len(CLASSES) - 1)]
    if moved:
        young = frame["employment_years"].between(2, 6).to_numpy()
        switch = (taken == "standard") & young & (rng.random(len(frame)) < moved)
        taken[switch] = "student"
    return taken


def train_model(reference_rows: int = 12_000, seed: int = 29):
    """Train the offer model; returns (fitted pipeline, reference = the scored holdout with its `taken_product`)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    train = offer_applicants(reference_rows * 2, rng)
    train[LABEL_COLUMN] = take_up(train, rng)
    model = loan_data.pipeline(LogisticRegression(max_iter=1_000), NUMERICAL, CATEGORICAL)
    fit, holdout = train.iloc[:reference_rows], train.iloc[reference_rows:].reset_index(drop=True)
    model.fit(fit[NUMERICAL + CATEGORICAL], fit[LABEL_COLUMN])
    reference = score(model, holdout.drop(columns=[LABEL_COLUMN]))
    reference[LABEL_COLUMN] = holdout[LABEL_COLUMN].to_numpy()
    return model, reference


def score(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with one score column per product (rounded, rows still summing to 1 within 1e-5) and the offered
    product (the highest score's)."""
    out = frame.copy()
    chance = model.predict_proba(frame[NUMERICAL + CATEGORICAL])
    order = [list(model.classes_).index(c) for c in CLASSES]
    chance = chance[:, order].round(6)
    for i, name in enumerate(CLASSES):
        out[SCORES[name]] = chance[:, i]
    out[DECISION] = np.asarray(CLASSES, dtype=object)[chance.argmax(axis=1)]
    return out


def prediction_log(model, day: dt.date, day_number: int, rows: int, seed: int = 31,
                   drift: OfferDrift = OfferDrift(), bad_rows: int = 0, version: str = "1") -> pd.DataFrame:
    """One day's offer log; day_number is 1-based. Ids are "o-YYYYMMDD-NNNNNNN"."""
    rng = np.random.default_rng(seed * 1_000 + day_number)
    applicants = offer_applicants(rows, rng, drift.income_factor if drift.launched(day_number) else 1.0)
    frame = loan_data.served(score(model, applicants), day, rng, id_prefix="o-", latency_scale=4.0, version=version)
    if bad_rows:
        frame = loan_data.break_rows(frame, rng, bad_rows, score_column=SCORES["premium"], bad_score=1.4)
    return frame


def labels(log: pd.DataFrame, day: dt.date, day_number: int, seed: int = 31,
           drift: OfferDrift = OfferDrift()) -> pd.DataFrame:
    """The ground truth of one prediction day's log: (prediction_id, taken_product, label_day), one row per labelled
    id, landing 1..LABEL_LAG_DAYS days later (about 2% never). Deterministic per day."""
    rng = np.random.default_rng([seed, day_number, _LABEL_STREAM])
    taken = pd.Series(take_up(log, rng, drift.moved(day_number)), index=log.index, name=LABEL_COLUMN)
    return loan_data.label_arrivals(log["prediction_id"], taken, day, rng, LABEL_LAG_SHARES)


def day_rows(day_number: int, base: int = 1_200) -> int:
    """Fewer offers than approval decisions, with the same weekly rhythm."""
    return loan_data.day_rows(day_number, base)
