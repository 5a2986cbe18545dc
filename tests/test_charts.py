"""The charts' numbers read as numbers: axis labels and tooltips without exponents, with room on the axis."""

from __future__ import annotations

import re

import pytest

from monitoring import charts
from monitoring.text import number


@pytest.mark.parametrize(("value", "text"), [
    (1370, "1,370"), (1234567, "1,234,567"), (-25_400.6, "-25,401"), (0.0123, "0.0123"), (0.5, "0.5"),
    (12.345, "12.3"), (-118.32, "-118"), (100, "100"), (999.7, "1,000"), (0, "0"), (-0.0, "0"),
    (3e-6, "3e-06"), (2.5e13, "2.5e+13")])
def test_numbers_are_plain_with_thousands_separators_and_three_significant_digits(value, text):
    assert number(value) == text


def test_more_digits_when_asked():
    assert number(-118.32, 4) == "-118.3" and number(150_000.4, 7) == "150,000.4"


def y_labels(svg: str) -> list[str]:
    """The y axis' top and bottom labels."""
    return re.findall(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end" class="l">([^<]*)</text>', svg)[:2]


def left_of_plot(svg: str) -> int:
    return int(re.search(r'<line x1="(\d+)"', svg).group(1))


def test_a_volume_axis_in_the_thousands_reads_1_370_not_an_exponent():
    svg = charts.line_chart(["2026-10-13", "2026-10-14"], {"predictions": [1370.0, 980.0]}, title="Prediction volume",
                            y_min=0)
    assert y_labels(svg) == ["1,370", "0"]
    assert "e+0" not in svg and "predictions 1,370" in svg  # the tooltip too


def test_the_axis_makes_room_for_a_long_label():
    svg = charts.line_chart(["2026-10-13", "2026-10-14"], {"predictions": [12_345_678.0, 9_000_000.0]},
                            title="Prediction volume", y_min=0)
    assert y_labels(svg)[0] == "12,345,678"
    assert left_of_plot(svg) - 6 >= 6.5 * len("12,345,678")  # the label, anchored at its end, starts inside the svg
    short = charts.line_chart(["2026-10-13"], {"f1": [0.8]}, title="F1")
    assert left_of_plot(short) == 52  # the usual margin when the labels are short


def test_performance_chart_axis_labels_are_plain():
    svg = charts.performance_chart(["2026-10-13", "2026-10-14"], {"mae": [1370.0, 1512.0]}, [1.0, 0.5],
                                   [True, False], title="Performance (MAE)")
    high, low = y_labels(svg)
    assert re.fullmatch(r"\d,\d{3}", high) and re.fullmatch(r"\d,\d{3}", low)


def test_share_tooltips_keep_a_decimal_and_heatmap_scores_are_plain():
    svg = charts.line_chart(["2026-10-14"], {"positive rate": [0.583]}, title="Positive rate", percent=True,
                            band=[(0.55, 0.61)])
    assert "positive rate 58.3%" in svg and "2026-10-14: 55.0% to 61.0%" in svg
    heat = charts.heatmap(["2026-10-14"], ["income"], {"income": {"2026-10-14": (1370.0, 0.1, True)}}, title="t")
    assert "score 1,370, threshold 0.1" in heat
