"""Values quoted to people are bounded (monitoring/text.py)."""

import pandas as pd

from monitoring.text import MAX_CHARS, clip, clip_all, listing


def test_a_long_value_is_clipped_to_the_limit_with_its_length_and_a_digest_and_clipping_again_changes_nothing():
    value = "a" * 100_000
    once = clip(value)
    assert len(once) == MAX_CHARS and once.endswith("(100,000 characters, #" + once[-9:-1] + ")")
    assert clip(once) == once
    assert clip("a" * 99_999 + "b") != once  # two long values that share their start stay distinct
    assert clip("short") == "short"


def test_a_listing_shows_at_most_its_limit_and_says_how_many_more():
    assert listing(["a", "b", "c"], limit=2) == "a, b and 1 more"
    assert listing(["x" * 500], limit=5) == clip("x" * 500)
    assert listing(["already bounded " * 20], each=None) == "already bounded " * 20


def test_clip_all_clips_only_the_long_values_of_a_series():
    values = pd.Series(["ok", "z" * 1_000, None])
    assert clip_all(values).tolist() == ["ok", clip("z" * 1_000), "None"]
