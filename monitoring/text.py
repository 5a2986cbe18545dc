"""Values quoted to people, bounded: a finding, a message, a summary or a page quotes at most `MAX_CHARS` characters
of any one value and at most `MAX_LISTED` values of a list ("and N more"). A logged category can be any size (five
100 KB values made a 500 KB alert message, which Slack and webhooks reject); the full data stays where it belongs
(the quarantine, the logs), and a clipped value keeps a short digest of the whole so two long values stay distinct.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import pandas as pd

MAX_CHARS = 120
MAX_LISTED = 10
ELLIPSIS = "…"


def clip(value: object, limit: int = MAX_CHARS) -> str:
    """`value` as text of at most `limit` characters: a longer one is cut, ending with its length and a digest of the
    whole (so clipping a clipped value changes nothing)."""
    text = str(value)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    suffix = f"{ELLIPSIS} ({len(text):,} characters, #{digest})"
    return text[:max(limit - len(suffix), 0)] + suffix


def clip_all(values: pd.Series, limit: int = MAX_CHARS) -> pd.Series:
    """`clip` of every value of a text Series: vectorized where nothing is long (the usual case)."""
    values = values.astype(str)
    long = values.str.len() > limit
    if not long.any():
        return values
    return values.where(~long, values[long].map(lambda v: clip(v, limit)))


def listing(values: Iterable[object], limit: int = MAX_LISTED, sep: str = ", ", each: int | None = MAX_CHARS) -> str:
    """At most `limit` values, each clipped to `each` characters (None: already bounded), and how many more."""
    values = list(values)
    shown = sep.join(str(v) if each is None else clip(v, each) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


PLAIN_RANGE = (1e-4, 1e12)  # outside it (zero aside), a number is written with an exponent


def number(value: float, digits: int = 3) -> str:
    """A number as people read it: `digits` significant digits, but every digit of the whole part, with thousands
    separators ("1,370", "0.0123", "-118.3"), no trailing zeros, and an exponent only when it is really tiny or
    huge (outside `PLAIN_RANGE`). `f"{1370:.3g}"` gave "1.37e+03", which an axis clipped to ".37e+03"."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if not PLAIN_RANGE[0] <= size < PLAIN_RANGE[1]:
        return f"{value:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    text = f"{value:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "0") else text
