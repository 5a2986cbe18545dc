"""Synthetic loan applicants, a scikit-learn approval model trained on them, daily prediction logs and their labels.

Drift is injected from `DemoDrift.start_day` (1-based) on: applicants' income shifts upwards and a loan purpose the
model never saw ("crypto_investment") appears. Every other feature keeps its training distribution, so a correct
monitor flags exactly `annual_income` and `loan_purpose`.

The drift also costs real performance. The income shift is nominal (a reporting change: applicants now state an
inflated income), so the model sees the inflated figure while the true repayment probability still follows the real
one (`income / income_factor`); and crypto-investment loans are repaid far less often, which the model cannot know.
Two days before everyone (`DemoDrift.channel_start_day`), the income reporting change arrives through one
acquisition channel, the mobile app (6% of applicants): `channel` is logged beside the features (the model does not
use it), the model monitors it as a segment, and on those two days only that segment's `annual_income` moves, too
little to show in the whole day's.
The ground truth (`repaid`) of every logged prediction is drawn from the true probability and becomes known 1 to
`LABEL_LAG_DAYS` days after the prediction (`labels`); see `label_arrivals` and `break_labels` for how it lands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMERICAL = ["credit_score", "annual_income", "loan_amount", "debt_to_income", "employment_years", "open_credit_lines"]
CATEGORICAL = ["loan_purpose", "home_ownership", "state"]
PURPOSES = ["debt_consolidation", "credit_card", "home_improvement", "car", "medical", "small_business"]
PURPOSE_WEIGHTS = [0.38, 0.22, 0.14, 0.12, 0.08, 0.06]
NEW_PURPOSE = "crypto_investment"
HOME = ["RENT", "MORTGAGE", "OWN"]
HOME_WEIGHTS = [0.45, 0.42, 0.13]
STATES = ["CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "WA", "AZ"]
STATE_WEIGHTS = np.array([14, 10, 8, 8, 5, 5, 4, 4, 4, 3, 3, 3], dtype=float) / 71
INJECTED_DRIFT = ("annual_income", "loan_purpose")
CHANNELS = ["web", "branch", "partner", "mobile_app"]  # how the application arrived (logged, not a feature)
CHANNEL_WEIGHTS = [0.58, 0.20, 0.16, 0.06]
EARLY_CHANNEL = "mobile_app"  # where the income reporting change starts
LOGGED = ("annual_income", "loan_amount")  # features the models see as logarithms (inside their pipeline)
LABEL_COLUMN = "repaid"
LABEL_LAG_DAYS = 5
# Share of a day's predictions whose label lands k days later; the rest (2%) is never labelled.
LABEL_LAG_SHARES = {1: 0.10, 2: 0.20, 3: 0.30, 4: 0.25, 5: 0.13}
_LABEL_STREAM = 1  # keeps the labels' random draws apart from the log's, for the same day
_CHANNEL_STREAM = 2  # the channels' draws, apart from the features' (which stay as they were without channels)


@dataclass(frozen=True)
class DemoDrift:
    """From `start_day` on: stated incomes are `income_factor` times the real ones, `new_purpose_share` of the
    applicants borrow for crypto investment."""

    start_day: int = 12
    income_factor: float = 1.45
    new_purpose_share: float = 0.30
    channel_start_day: int = 10  # from this day, the stated incomes of EARLY_CHANNEL's applicants are inflated

    def applies(self, day_number: int) -> bool:
        return day_number >= self.start_day

    def channel_only(self, day_number: int) -> bool:
        """The change has reached EARLY_CHANNEL's applicants, not yet everyone's."""
        return self.channel_start_day <= day_number < self.start_day

    def income_factors(self, frame: pd.DataFrame, day_number: int) -> np.ndarray | float:
        """How much each row's stated income overstates the real one on that day."""
        if self.applies(day_number):
            return self.income_factor
        if self.channel_only(day_number):
            return np.where(frame["channel"] == EARLY_CHANNEL, self.income_factor, 1.0)
        return 1.0


def with_channels(frame: pd.DataFrame, seed: int, day_number: int) -> pd.DataFrame:
    """The frame with each applicant's `channel`, drawn from a stream of its own."""
    rng = np.random.default_rng([seed, day_number, _CHANNEL_STREAM])
    return frame.assign(channel=rng.choice(CHANNELS, size=len(frame), p=CHANNEL_WEIGHTS))


def applicants(n: int, rng: np.random.Generator, drifted: DemoDrift | None = None) -> pd.DataFrame:
    """Applicants' features; `drifted` shifts income and adds a new loan purpose."""
    income = rng.lognormal(mean=np.log(62_000), sigma=0.45, size=n)
    purpose = rng.choice(PURPOSES, size=n, p=PURPOSE_WEIGHTS).astype(object)
    if drifted:
        income = income * drifted.income_factor
        purpose[rng.random(n) < drifted.new_purpose_share] = NEW_PURPOSE
    return pd.DataFrame({
        "credit_score": np.clip(rng.normal(690, 65, n), 300, 850).round(),
        "annual_income": income.round(2),
        "loan_amount": np.clip(rng.lognormal(np.log(14_000), 0.6, n), 1_000, 100_000).round(-2),
        "debt_to_income": np.clip(rng.beta(2.2, 6.0, n) * 0.9, 0, 0.9).round(4),
        "employment_years": np.minimum(rng.geometric(0.14, n) - 1, 40),
        "open_credit_lines": rng.poisson(7, n),
        "loan_purpose": purpose,
        "home_ownership": rng.choice(HOME, size=n, p=HOME_WEIGHTS),
        "state": rng.choice(STATES, size=n, p=STATE_WEIGHTS),
    })


def repaid_probability(frame: pd.DataFrame, income_factor: float | np.ndarray = 1.0) -> np.ndarray:
    """The ground truth: how likely each applicant repays (what the model tries to learn). `income_factor` is how
    much the stated `annual_income` overstates the real one."""
    z = (
        0.9
        + 0.012 * (frame["credit_score"] - 690)
        + 0.9 * np.log(frame["annual_income"] / income_factor / 62_000)
        - 0.55 * np.log(frame["loan_amount"] / 14_000)
        - 5.0 * (frame["debt_to_income"] - 0.24)
        + 0.03 * frame["employment_years"]
        + frame["home_ownership"].map({"RENT": -0.2, "MORTGAGE": 0.15, "OWN": 0.3}).fillna(0)
        + frame["loan_purpose"].map({"small_business": -0.5, "medical": -0.2, "crypto_investment": -3.2}).fillna(0)
    )
    return 1 / (1 + np.exp(-z))


def log_columns(frame: pd.DataFrame, columns: Sequence[str] = LOGGED) -> pd.DataFrame:
    """The frame with `columns` replaced by their natural log (amounts that span orders of magnitude).

    A module-level function, so a pipeline that uses it pickles and loads in any process that can import `demo`."""
    out = frame.copy()
    for column in columns:
        out[column] = np.log(out[column])
    return out


def pipeline(estimator, numerical: list[str], categorical: list[str], logged: Sequence[str] = LOGGED):
    """Logged amounts, scaled numbers and one-hot categories into `estimator` (unseen categories are ignored, as in
    production). It takes the raw feature columns, so `sklearn.base.clone` gives an untrained copy that retrains on
    logged rows as they are."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    return Pipeline([
        ("logs", FunctionTransformer(log_columns, kw_args={"columns": list(logged)})),
        ("columns", ColumnTransformer([
            ("numbers", StandardScaler(), numerical),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
        ])),
        ("estimator", estimator),
    ])


def train_model(reference_rows: int = 20_000, seed: int = 7):
    """Train the approval model; returns (fitted pipeline, reference frame with predictions and labels)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    train = applicants(reference_rows * 2, rng)
    train["repaid"] = (rng.random(len(train)) < repaid_probability(train)).astype(int)
    model = pipeline(LogisticRegression(max_iter=1_000), NUMERICAL, CATEGORICAL)
    fit, holdout = train.iloc[:reference_rows], train.iloc[reference_rows:].reset_index(drop=True)
    model.fit(fit[NUMERICAL + CATEGORICAL], fit["repaid"])
    reference = score(model, with_channels(holdout.drop(columns=["repaid"]), seed, 0))
    reference["repaid"] = holdout["repaid"].to_numpy()
    return model, reference


def score(model, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the model's `approval_probability` and `approved` (at 0.5); the model takes raw features."""
    out = frame.copy()
    out["approval_probability"] = model.predict_proba(frame[NUMERICAL + CATEGORICAL])[:, 1].round(6)
    out["approved"] = (out["approval_probability"] >= 0.5).astype(int)
    return out


def served(frame: pd.DataFrame, day: dt.date, rng: np.random.Generator, id_prefix: str = "",
           latency_scale: float = 9.0, version: str = "1") -> pd.DataFrame:
    """What the serving stack adds to scored rows: a time within the day, an id, the model version, the latency.
    The ids and times do not depend on the model: another version serving the same day logs the same ids."""
    rows = len(frame)
    seconds = np.sort(rng.integers(0, 86_400, rows))
    frame.insert(0, "event_time", pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s"))
    frame.insert(0, "prediction_id", [f"{id_prefix}{day:%Y%m%d}-{i:07d}" for i in range(rows)])
    frame["model_version"] = version
    frame["latency_ms"] = rng.gamma(2.0, latency_scale, rows).round(2)
    return frame


def prediction_log(model, day: dt.date, day_number: int, rows: int, seed: int = 11,
                   drift: DemoDrift = DemoDrift(), bad_rows: int = 0, version: str = "1") -> pd.DataFrame:
    """One day's prediction log, scored by `model` (logged as `version`); day_number is 1-based, drift applies from
    drift.start_day on."""
    rng = np.random.default_rng(seed * 1_000 + day_number)
    frame = with_channels(applicants(rows, rng, drift if drift.applies(day_number) else None), seed, day_number)
    if drift.channel_only(day_number):
        early = frame["channel"] == EARLY_CHANNEL
        frame.loc[early, "annual_income"] = (frame.loc[early, "annual_income"] * drift.income_factor).round(2)
    frame = served(score(model, frame), day, rng, version=version)
    if bad_rows:
        frame = break_rows(frame, rng, bad_rows)
    return frame


def break_rows(frame: pd.DataFrame, rng: np.random.Generator, count: int, score_column: str = "approval_probability",
                bad_score: float = 1.7) -> pd.DataFrame:
    """Rows a real log has: a bad score (`bad_score`), a missing id, a duplicated id, a time from the next day."""
    frame = frame.copy()
    rows = rng.choice(len(frame), size=count, replace=False)
    kinds = ["score", "id", "duplicate", "time"]
    frame["prediction_id"] = frame["prediction_id"].astype(object)
    for i, row in enumerate(rows):
        kind = kinds[i % len(kinds)]
        if kind == "score":
            frame.loc[row, score_column] = bad_score
        elif kind == "id":
            frame.loc[row, "prediction_id"] = None
        elif kind == "duplicate":
            frame.loc[row, "prediction_id"] = frame.loc[(row + 1) % len(frame), "prediction_id"]
        else:
            frame.loc[row, "event_time"] = frame.loc[row, "event_time"] + pd.Timedelta(days=1)
    return frame


def day_rows(day_number: int, base: int = 3_000) -> int:
    """Volume with a weekly rhythm: weekends are quieter."""
    weekday_factor = [1.0, 1.05, 1.1, 1.05, 1.0, 0.7, 0.6][(day_number - 1) % 7]
    return int(base * weekday_factor)


def labels(log: pd.DataFrame, day: dt.date, day_number: int, seed: int = 11,
           drift: DemoDrift = DemoDrift()) -> pd.DataFrame:
    """The ground truth of one prediction day's log: (prediction_id, repaid, label_day), one row per labelled id.

    `repaid` is drawn from the true repayment probability (real income on drifted days); the label lands on
    `label_day` = day + 1..LABEL_LAG_DAYS days (LABEL_LAG_SHARES), about 2% never. Deterministic per day.
    """
    rng = np.random.default_rng([seed, day_number, _LABEL_STREAM])
    factor = drift.income_factors(log, day_number)
    repaid = (rng.random(len(log)) < repaid_probability(log, factor)).astype("int64")
    return label_arrivals(log["prediction_id"], pd.Series(repaid, index=log.index, name=LABEL_COLUMN), day, rng,
                          LABEL_LAG_SHARES)


def label_arrivals(ids: pd.Series, values: pd.Series, day: dt.date, rng: np.random.Generator,
                   lag_shares: dict[int, float]) -> pd.DataFrame:
    """(id, label, label_day) for the predictions of `day`: each label lands `k` days later with probability
    `lag_shares[k]`; the remaining share is never labelled. Ids that are missing or repeated in the log (broken
    rows) are labelled once, for their first row, as the data contract keeps that one."""
    lags = np.array(list(lag_shares), dtype=int)
    shares = np.array(list(lag_shares.values()), dtype=float)
    choice = rng.choice(len(lags) + 1, size=len(ids), p=[*shares, 1.0 - shares.sum()])
    frame = pd.DataFrame({ids.name: ids.to_numpy(), values.name: values.to_numpy()})
    frame["label_day"] = [day + dt.timedelta(days=int(lags[c])) if c < len(lags) else None for c in choice]
    keep = frame[ids.name].notna() & ~frame[ids.name].duplicated(keep="first") & frame["label_day"].notna()
    return frame.loc[keep].reset_index(drop=True)


LABEL_FAULTS = ("unknown_id", "conflict", "not_a_label")


def break_labels(frame: pd.DataFrame, rng: np.random.Generator, faults: Sequence[str], id_column: str,
                 label_column: str, conflicting: Callable[[object], object], unknown_id: str,
                 not_a_label: str = "maybe") -> pd.DataFrame:
    """One label file (id and label columns) with rows a real label feed has, one per entry of `faults`:

    - "unknown_id": an extra label for an id no prediction has (`unknown_id`-<i>);
    - "conflict": an extra label for an id already in the file, with a conflicting value (`conflicting(value)`);
    - "not_a_label": a label whose value is not a label (`not_a_label`, e.g. "maybe"); the label column is then text
      for the whole file, as from an exporter that wrote it as strings.
    """
    unknown = sorted(set(faults) - set(LABEL_FAULTS))
    if unknown:
        raise ValueError(f"unknown label fault(s) {unknown}; known: {LABEL_FAULTS}")
    if not faults or frame.empty:
        return frame
    frame = frame.copy()
    rows = rng.choice(len(frame), size=min(len(faults), len(frame)), replace=False)
    extra, not_labels = [], []
    for i, (fault, row) in enumerate(zip(faults, rows)):
        value = frame.iloc[row][label_column]
        if fault == "unknown_id":
            extra.append({id_column: f"{unknown_id}-{i}", label_column: value})
        elif fault == "conflict":
            extra.append({id_column: frame.iloc[row][id_column], label_column: conflicting(value)})
        else:
            not_labels.append(row)
    if not_labels:
        frame[label_column] = frame[label_column].astype(str).astype(object)
        frame.iloc[not_labels, frame.columns.get_loc(label_column)] = not_a_label
    broken = pd.DataFrame(extra, columns=[id_column, label_column])
    broken[label_column] = broken[label_column].astype(str if not_labels else frame[label_column].dtype)
    return pd.concat([frame, broken], ignore_index=True)
