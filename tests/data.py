"""The tests' own data: loan applicants, an approval model trained on them, a day's prediction log and its labels.

Independent of the demo (`demo/`), so the demo's story can change without changing what the tests check. The columns
are those of the shipped config's `loan_approval` model. A drifted day (`Drift`) changes exactly two features:
applicants state a higher income, and a loan purpose the model never saw appears; the other seven keep the
distribution they were trained on, so a correct monitor flags exactly `DRIFTED`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMERICAL = ["credit_score", "annual_income", "loan_amount", "debt_to_income", "employment_years", "open_credit_lines"]
CATEGORICAL = ["loan_purpose", "home_ownership", "state"]
FEATURES = NUMERICAL + CATEGORICAL
DRIFTED = ("annual_income", "loan_purpose")
CHANNELS = {"web": 0.58, "branch": 0.20, "partner": 0.16, "mobile_app": 0.06}
NEW_PURPOSE = "crypto_investment"
PURPOSES = {"debt_consolidation": 0.38, "credit_card": 0.22, "home_improvement": 0.14, "car": 0.12, "medical": 0.08,
            "small_business": 0.06}
HOMES = {"RENT": 0.45, "MORTGAGE": 0.42, "OWN": 0.13}
STATES = dict(zip(["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ"],
                  np.array([14, 10, 8, 8, 5, 5, 4, 4, 4, 3, 3, 3]) / 71))


@dataclass(frozen=True)
class Drift:
    """A drifted day: stated incomes `income_factor` times the real ones, `new_purpose_share` crypto loans."""

    income_factor: float = 1.45
    new_purpose_share: float = 0.30


def _pick(rng: np.random.Generator, weights: dict, n: int) -> np.ndarray:
    return rng.choice(list(weights), size=n, p=np.array(list(weights.values())) / sum(weights.values()))


def applicants(n: int, rng: np.random.Generator, drift: Drift | None = None) -> pd.DataFrame:
    income = rng.lognormal(np.log(62_000), 0.45, n)
    purpose = _pick(rng, PURPOSES, n).astype(object)
    if drift:
        income = income * drift.income_factor
        purpose[rng.random(n) < drift.new_purpose_share] = NEW_PURPOSE
    return pd.DataFrame({
        "credit_score": np.clip(rng.normal(690, 65, n), 300, 850).round(),
        "annual_income": income.round(2),
        "loan_amount": np.clip(rng.lognormal(np.log(14_000), 0.6, n), 1_000, 100_000).round(-2),
        "debt_to_income": (np.clip(rng.beta(2.2, 6.0, n), 0, 1) * 0.9).round(4),
        "employment_years": np.minimum(rng.geometric(0.14, n) - 1, 40),
        "open_credit_lines": rng.poisson(7, n),
        "loan_purpose": purpose, "home_ownership": _pick(rng, HOMES, n), "state": _pick(rng, STATES, n),
        # the config's segment column, logged beside the features; from a stream of its own (the features' draws
        # stay as they were before it)
        "channel": _pick(np.random.default_rng([n, 2]), CHANNELS, n),
    })


def repays(frame: pd.DataFrame, income_factor: float = 1.0) -> np.ndarray:
    """The true chance each applicant repays (the real income is the stated one over `income_factor`)."""
    z = (0.9 + 0.012 * (frame["credit_score"] - 690) + 0.9 * np.log(frame["annual_income"] / income_factor / 62_000)
         - 0.55 * np.log(frame["loan_amount"] / 14_000) - 5.0 * (frame["debt_to_income"] - 0.24)
         + 0.03 * frame["employment_years"]
         + frame["home_ownership"].map({"RENT": -0.2, "MORTGAGE": 0.15, "OWN": 0.3}).fillna(0)
         + frame["loan_purpose"].map({"small_business": -0.5, "medical": -0.2, NEW_PURPOSE: -3.2}).fillna(0))
    return 1 / (1 + np.exp(-z))


def train(rows: int = 20_000, seed: int = 7):
    """An approval model (logistic regression; amounts as logarithms, scaled numbers, one-hot categories; unseen
    categories ignored) and its reference: a held-out set scored by it, with the label `repaid`."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    rng = np.random.default_rng(seed)
    frame = applicants(2 * rows, rng)
    frame["repaid"] = (rng.random(len(frame)) < repays(frame)).astype(int)
    amounts = ["annual_income", "loan_amount"]
    model = make_pipeline(ColumnTransformer([
        ("amounts", make_pipeline(FunctionTransformer(np.log), StandardScaler()), amounts),
        ("numbers", StandardScaler(), [c for c in NUMERICAL if c not in amounts]),
        ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ]), LogisticRegression(max_iter=1_000))
    model.fit(frame[FEATURES].iloc[:rows], frame["repaid"].iloc[:rows])
    reference = score(model, frame.iloc[rows:].drop(columns="repaid").reset_index(drop=True))
    reference["repaid"] = frame["repaid"].iloc[rows:].to_numpy()
    return model, reference


def score(model, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["approval_probability"] = model.predict_proba(frame[FEATURES])[:, 1].round(6)
    out["approved"] = (out["approval_probability"] >= 0.5).astype(int)
    return out


def prediction_log(model, day: dt.date, rows: int, seed: int = 0, drift: Drift | None = None,
                   bad_rows: int = 0) -> pd.DataFrame:
    """One day's log as a serving stack writes it: a time within the day, an id, the model version, the latency; with
    `bad_rows` broken rows (a bad score, a missing id, a repeated id, a time from the next day, in turn)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    frame = score(model, applicants(rows, rng, drift))
    frame.insert(0, "event_time", pd.Timestamp(day, tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 86_400, rows)),
                                                                                unit="s"))
    frame.insert(0, "prediction_id", [f"{day:%Y%m%d}-{i:07d}" for i in range(rows)])
    frame["model_version"] = "1"
    frame["latency_ms"] = rng.gamma(2.0, 9.0, rows).round(2)
    frame["prediction_id"] = frame["prediction_id"].astype(object)
    for i, row in enumerate(rng.choice(rows, size=min(bad_rows, rows), replace=False)):
        kind = i % 4
        if kind == 0:
            frame.loc[row, "approval_probability"] = 1.7
        elif kind == 1:
            frame.loc[row, "prediction_id"] = None
        elif kind == 2:
            frame.loc[row, "prediction_id"] = frame.loc[(row + 1) % rows, "prediction_id"]
        else:
            frame.loc[row, "event_time"] += pd.Timedelta(days=1)
    return frame


def labels(frame: pd.DataFrame, flip: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Labels drawn from the model's own probability (it performs as on its reference), a share of them flipped."""
    rng = np.random.default_rng(seed)
    repaid = (rng.random(len(frame)) < frame["approval_probability"].clip(0, 1)).astype(int)
    flipped = rng.random(len(frame)) < flip
    return pd.DataFrame({"prediction_id": frame["prediction_id"].to_numpy(), "repaid": np.where(flipped, 1 - repaid,
                                                                                                repaid)})
