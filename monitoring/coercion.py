"""Values as the library types them, the same whichever format wrote them: numbers, 0/1 columns (a decision, a binary
label), times in UTC, category labels and prediction ids as text. Used by the data contract on the logs, by the
reference's preparation and by the labels, so a value reads the same in each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_number(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values, and a mask of values that were present but are not numbers."""
    if series.dtype == bool:
        series = series.astype("Int64")
    numeric = pd.to_numeric(series, errors="coerce")
    if series.dtype == object:
        blank = series.map(lambda v: isinstance(v, str) and not v.strip())
        numeric = numeric.where(~blank)
        not_number = series.notna() & ~blank & numeric.isna()
    else:
        not_number = pd.Series(False, index=series.index)
    return numeric.astype("float64"), not_number


ZERO_ONE_WORDS = {"true": 1.0, "false": 0.0}


def as_zero_one(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A 0/1 column (a decision, a binary label) as numbers: booleans and the words "true"/"false" (any case,
    surrounding spaces) count as 1/0, like the numbers themselves; and a mask of present values that are not numbers.
    Whether a number is 0 or 1 is the caller's rule."""
    if series.dtype == object:
        words = series.map(lambda v: ZERO_ONE_WORDS.get(v.strip().lower(), v) if isinstance(v, str) else v)
        series = words.map(lambda v: float(v) if isinstance(v, bool) else v)
    return as_number(series)


def as_timestamp(series: pd.Series, unit: str | None = None) -> pd.Series:
    """Times in UTC (naive ones taken as UTC); numbers are epoch times in `unit` (columns.timestamp_unit) when the
    model gives one."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    if unit:
        numbers, _ = as_number(series)
        return pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed")


EPOCH_UNITS = (("s", "seconds", 1e8), ("ms", "milliseconds", 1e11), ("us", "microseconds", 1e14))


def epoch_hint(series: pd.Series) -> str:
    """A hint for timestamps that are numbers (which would otherwise be read as nanoseconds since 1970): the epoch
    unit their size suggests, or "" when they are not numbers or already look like nanoseconds."""
    if pd.api.types.infer_dtype(series, skipna=True) not in ("integer", "floating", "mixed-integer-float", "string"):
        return ""
    numbers, _ = as_number(series)
    numbers = numbers.dropna()
    if len(numbers) < 0.5 * series.notna().sum() or not len(numbers):
        return ""
    size = float(numbers.abs().median())
    for unit, word, low in EPOCH_UNITS:
        if low <= size < 1000 * low:
            return f" (the column holds numbers that look like epoch {word}: set columns.timestamp_unit: {unit})"
    return ""


def as_label(series: pd.Series) -> pd.Series:
    """Categorical values as text (missing stays NaN); integer codes stay '3', not '3.0'. Vectorised for the common
    column types; values of mixed types are converted one by one."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    present = series.notna()
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty"):
        return series.astype(object).where(present, np.nan)
    if kind in ("integer", "boolean"):
        return series.astype(object).where(present, np.nan).map(str, na_action="ignore").astype(object)
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        whole = np.isfinite(values) & (np.abs(values) < 2**63)
        whole[whole] = values[whole] == np.round(values[whole])
        text = series.astype(str).astype(object)
        text[whole] = values[whole].astype("int64").astype(str)
        return text.where(present, np.nan)

    def text(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return series.map(text).astype(object)


def as_id(series: pd.Series) -> pd.Series:
    """Prediction ids as text, the same whichever format wrote them: as `as_label`, without surrounding spaces, and
    an integer written with decimals ("50005.0", as a text export of a float column has it) as the integer
    ("50005", as a float column itself gives). Empty ids are missing (NaN)."""
    text = as_label(series)
    present = text.notna()
    if present.any():
        text = text.astype(object)
        text[present] = _clean_ids(text[present].astype(str))
        text[present & (text == "")] = np.nan
    return text


_WHOLE_NUMBER = r"^([+-]?\d+)\.0*$"


def _clean_ids(text: pd.Series) -> pd.Series:
    """Ids stripped of surrounding spaces, "50005.0" as "50005": in Arrow's kernels when every id is ASCII (where
    they agree with Python's str.strip and re exactly), in Python's otherwise (Unicode spaces and digits)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(text.to_numpy(dtype=object), type=pa.string())
    if not pc.all(pc.string_is_ascii(values)).as_py():
        return text.str.strip().str.replace(_WHOLE_NUMBER, r"\1", regex=True)
    stripped = pc.utf8_trim(values, characters=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")  # str.isspace, ASCII
    cleaned = pc.replace_substring_regex(stripped, pattern=_WHOLE_NUMBER, replacement=r"\1")
    return pd.Series(cleaned.to_numpy(zero_copy_only=False), index=text.index, dtype=object)
