"""A second demo model: a regressor that quotes the interest rate (APR, percent) underwriting will set for a loan.

The applicants are `loan_data.applicants` plus the loan's term (`term_months`, "36" or "60"). The quote is logged as
`predicted_rate`; the underwriter's final rate (`final_rate`, the label) becomes known 1 to `LABEL_LAG_DAYS` days
later.

Its drift story differs from the approval model's:

- from `RateDrift.campaign_day` (day 8) a subprime marketing campaign brings applicants with lower credit scores
  (`credit_shift` points): feature drift on `credit_score` only, and prediction drift on `predicted_rate` (the
  model quotes higher rates, correctly: its accuracy holds);
- from `RateDrift.hike_day` (day 15) a central-bank rate hike adds `hike` percentage points to every final rate:
  concept drift. No feature moves, but the quotes are too low, so the error grows once the labels arrive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo import loan_data

NAME = "loan_rate"
NUMERICAL = list(loan_data.NUMERICAL)
CATEGORICAL = [*loan_data.CATEGORICAL, "term_months"]
TERMS = ["36", "60"]
SCORE = "predicted_rate"
LABEL_COLUMN = "final_rate"
LABEL_LAG_DAYS = 3
LABEL_LAG_SHARES = {1: 0.30, 2: 0.45, 3: 0.23}  # the remaining 2% is never labelled
INJECTED_DRIFT = ("credit_score",)  # features that drift from the campaign on; the hike moves none
MIN_RATE, MAX_RATE = 5.5, 29.99
_LABEL_STREAM = 1


@dataclass(frozen=True)
class RateDrift:
    """From `campaign_day`: credit scores `credit_shift` points lower. From `hike_day`: final rates `hike` points
    higher than the applicant alone would explain."""

    campaign_day: int = 8
    credit_shift: float = -50.0
    hike_day: int = 15
    hike: float = 1.5

    def campaign(self, day_number: int) -> bool:
        return day_number >= self.campaign_day

    def market_shift(self, day_number: int) -> float:
        return self.hike if day_number >= self.hike_day else 0.0


def rate_applicants(n: int, rng: np.random.Generator, credit_shift: float = 0.0) -> pd.DataFrame:
    """Applicants with the loan's term; larger loans are more often taken over 60 months."""
    frame = loan_data.applicants(n, rng)
    if credit_shift:
        frame["credit_score"] = np.clip(frame["credit_score"] + credit_shift, 300, 850)
    long_term = rng.random(n) < np.clip(0.15 + 0.25 * np.log(frame["loan_amount"] / 8_000), 0.05, 0.85)
    frame["term_months"] = np.where(long_term, TERMS[1], TERMS[0]).astype(object)
    return frame


def true_rate(frame: pd.DataFrame, market_shift: float = 0.0) -> np.ndarray:
    """The rate underwriting sets before its own noise: what the model tries to learn (plus a market shift)."""
    rate = (
        12.0
        - 0.045 * (frame["credit_score"] - 690)
        + 9.0 * (frame["debt_to_income"] - 0.24)
        - 1.1 * np.log(frame["annual_income"] / 62_000)
        + 0.5 * np.log(frame["loan_amount"] / 14_000)
        - 0.05 * frame["employment_years"]
        + (frame["term_months"] == "60") * 1.4
        + frame["home_ownership"].map({"RENT": 0.3, "MORTGAGE": -0.2, "OWN": -0.4}).fillna(0)
        + frame["loan_purpose"].map({"small_business": 1.8, "medical": 0.8, "credit_card": 0.4,
                                     "home_improvement": -0.5, "car": -0.9}).fillna(0)
    )
    return np.asarray(rate + market_shift, dtype=float)


def final_rate(frame: pd.DataFrame, rng: np.random.Generator, market_shift: float = 0.0) -> np.ndarray:
    """The underwriter's final rate: the true rate, the underwriter's own judgement (noise), rounded to 0.01."""
    noisy = true_rate(frame, market_shift) + rng.normal(0, 1.1, len(frame))
    return np.clip(noisy, MIN_RATE, MAX_RATE).round(2)


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    """The raw feature columns the model takes (its pipeline logs the amounts itself)."""
    return frame[NUMERICAL + CATEGORICAL]


def train_model(reference_rows: int = 20_000, seed: int = 17):
    """Train the rate model (ridge regression); returns (fitted pipeline, reference = the scored holdout with its
    `final_rate`)."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(seed)
    train = rate_applicants(reference_rows * 2, rng)
    train[LABEL_COLUMN] = final_rate(train, rng)
    model = loan_data.pipeline(Ridge(alpha=1.0), NUMERICAL, CATEGORICAL)
    fit, holdout = train.iloc[:reference_rows], train.iloc[reference_rows:].reset_index(drop=True)
    model.fit(_features(fit), fit[LABEL_COLUMN])
    reference = score(model, holdout.drop(columns=[LABEL_COLUMN]))
    reference[LABEL_COLUMN] = holdout[LABEL_COLUMN].to_numpy()
    return model, reference


def score(model, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out[SCORE] = model.predict(_features(frame)).round(3)
    return out


def prediction_log(model, day: dt.date, day_number: int, rows: int, seed: int = 23,
                   drift: RateDrift = RateDrift(), bad_rows: int = 0, version: str = "1") -> pd.DataFrame:
    """One day's quote log; day_number is 1-based. Ids are "r-YYYYMMDD-NNNNNNN" (apart from the approval model's)."""
    rng = np.random.default_rng(seed * 1_000 + day_number)
    frame = score(model, rate_applicants(rows, rng, drift.credit_shift if drift.campaign(day_number) else 0.0))
    frame = loan_data.served(frame, day, rng, id_prefix="r-", latency_scale=5.0, version=version)
    if bad_rows:
        frame = loan_data.break_rows(frame, rng, bad_rows, score_column=SCORE, bad_score=-1.0)
    return frame


def labels(log: pd.DataFrame, day: dt.date, day_number: int, seed: int = 23,
           drift: RateDrift = RateDrift()) -> pd.DataFrame:
    """The ground truth of one prediction day's log: (prediction_id, final_rate, label_day), one row per labelled
    id. The final rate includes the rate hike on hike days; it lands 1..LABEL_LAG_DAYS days later, ~2% never."""
    rng = np.random.default_rng([seed, day_number, _LABEL_STREAM])
    rates = pd.Series(final_rate(log, rng, drift.market_shift(day_number)), index=log.index, name=LABEL_COLUMN)
    return loan_data.label_arrivals(log["prediction_id"], rates, day, rng, LABEL_LAG_SHARES)


def day_rows(day_number: int, base: int = 1_500) -> int:
    """Fewer quotes than approval decisions, with the same weekly rhythm."""
    return loan_data.day_rows(day_number, base)
