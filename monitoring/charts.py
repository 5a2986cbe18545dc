"""Small inline SVG charts for the pages: no script, no font or file from the internet, a few KB each.

Every text that comes from data is escaped; the functions return `Markup` so templates embed them as they are.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from monitoring.text import number

# the first four are the charts' usual lines; the others for a chart of many (each class of a multiclass model)
SERIES_COLOURS = ("#2c6fbb", "#c0392b", "#1f8a4c", "#8e44ad", "#c27c0e", "#16a2b8", "#7f5539", "#d6336c")
LEGEND_ROW = 14  # px between two rows of a legend


def _fmt(value: float, percent: bool) -> str:
    """An axis label."""
    return f"{value:.0%}" if percent else number(value)


def _tip(value: float, percent: bool) -> str:
    """A value in a tooltip: a share to a tenth of a percent."""
    return f"{value:.1%}" if percent else number(value)


def _left_margin(low: float, high: float, percent: bool, least: int = 52) -> int:
    """Room left of the plot for the y axis' labels (about 6.5 px a character at 11 px), at least `least`."""
    longest = max(len(_fmt(low, percent)), len(_fmt(high, percent)))
    return max(least, math.ceil(10 + 6.5 * longest))


def _frame(title: str, css: str, width: int, height: int, left: int, top: int, plot_w: int, plot_h: int,
           low: float, high: float, percent: bool) -> list[str]:
    """The opening of a chart: its svg element, title, x axis and the y axis' two labels."""
    return [f'<svg class="{css}" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="100%" xmlns="http://www.w3.org/2000/svg">',
            f'<text x="{left}" y="14" class="t">{escape(title)}</text>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
            f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="l">{escape(_fmt(high, percent))}</text>',
            f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="l">{escape(_fmt(low, percent))}</text>']


def _first_and_last_day(days: list[str], left: int, plot_w: int, height: int) -> list[str]:
    if not days:
        return []
    return [f'<text x="{left}" y="{height - 6}" class="l">{escape(days[0])}</text>',
            f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" class="l">{escape(days[-1])}</text>']


Band = list[tuple[float, float] | None]
BAND_COLOUR = "#dfe7f1"
ESTIMATE_BAND_COLOUR = "#d9efe0"  # the estimate: the third series colour, light


def line_chart(days: list[str], series: dict[str, list[float | None]], *, title: str, percent: bool = False,
               y_min: float | None = None, y_max: float | None = None, width: int = 900, height: int = 180,
               links: list[str] | None = None, band: Band | None = None,
               band_label: str = "expected when nothing changes") -> Markup:
    """One line per series over the days; gaps where a value is missing; each point links to its day if given.
    `band`: a shaded range per day (its no-change band at that day's size), drawn under the lines."""
    values = [v for line in series.values() for v in line if v is not None]
    values += [v for pair in band or [] if pair for v in pair]
    low = y_min if y_min is not None else (min(values) if values else 0.0)
    high = y_max if y_max is not None else (max(values) if values else 1.0)
    if high <= low:
        high = low + (abs(low) or 1.0)
    left, right, bottom = _left_margin(low, high, percent), 12, 24
    plot_w = width - left - right
    per_row, extra = _legend_rows(series, plot_w, title)
    top, height = 22 + extra, height + extra
    plot_h = height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / max(len(days) - 1, 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = _frame(title, "chart", width, height, left, top, plot_w, plot_h, low, high, percent)
    parts += _first_and_last_day(days, left, plot_w, height)
    if band:
        parts.extend(_band(days, band, x, y, band_label, percent))
    parts.extend(_series(days, series, x, y, percent=percent, links=links, legend_right=left + plot_w,
                         per_row=per_row))
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend_item(series: dict[str, list[float | None]]) -> float:
    """The width of one legend entry: 160 px, more when a name is longer than about 20 characters."""
    return max(160.0, 24 + 6.5 * max((len(name) for name in series), default=0))


def _legend_rows(series: dict[str, list[float | None]], plot_w: float, title: str) -> tuple[int, int]:
    """How many legend entries share a row (all of them when they fit right of the title, else as many as fit),
    and the height the further rows take above the plot."""
    room = plot_w - 7 * len(title) - 16
    fit = len(series) * _legend_item(series) <= room
    per_row = max(len(series), 1) if fit else max(1, int(room // _legend_item(series)))
    return per_row, LEGEND_ROW * max(math.ceil(len(series) / per_row) - 1, 0)


def _band(days: list[str], band: Band, x, y, label: str, percent: bool, colour: str = BAND_COLOUR,
          css: str = "band") -> list[str]:
    """A shaded polygon per run of days that have a band, and each day's range as a tooltip."""
    parts, run = [], []
    for i, pair in enumerate([*band, None]):
        if pair is not None:
            run.append(i)
            continue
        if run:
            upper = [f"{x(j):.1f},{y(band[j][1]):.1f}" for j in run]
            lower = [f"{x(j):.1f},{y(band[j][0]):.1f}" for j in reversed(run)]
            if len(run) == 1:  # a single day: a short bar
                j = run[0]
                upper = [f"{x(j) - 3:.1f},{y(band[j][1]):.1f}", f"{x(j) + 3:.1f},{y(band[j][1]):.1f}"]
                lower = [f"{x(j) + 3:.1f},{y(band[j][0]):.1f}", f"{x(j) - 3:.1f},{y(band[j][0]):.1f}"]
            tooltip = "; ".join(f"{days[j]}: {_tip(band[j][0], percent)} to {_tip(band[j][1], percent)}" for j in run)
            parts.append(f'<polygon class="{css}" fill="{colour}" stroke="none" points="{" ".join(upper + lower)}">'
                         f'<title>{escape(label)}: {escape(tooltip)}</title></polygon>')
        run = []
    return parts


def _series(days: list[str], series: dict[str, list[float | None]], x, y, *, percent: bool,
            links: list[str] | None, legend_right: float, per_row: int | None = None) -> list[str]:
    """Polylines (broken where a value is missing), a dot per value linking to its day, and a legend top right
    (`per_row` entries a row, right-aligned; all on one row by default)."""
    parts, item = [], _legend_item(series)
    per_row = per_row or max(len(series), 1)
    for n, (name, line) in enumerate(series.items()):
        colour = SERIES_COLOURS[n % len(SERIES_COLOURS)]
        segment: list[str] = []
        segments = []
        for i, v in enumerate(line):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
            else:
                segment.append(f"{x(i):.1f},{y(v):.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) < 2:
                continue  # a lone value is its dot
            parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(points)}"/>')
        for i, v in enumerate(line):
            if v is None:
                continue
            dot = (f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                   f'<title>{escape(days[i])}: {escape(name)} {escape(_tip(v, percent))}</title></circle>')
            parts.append(f'<a href="{escape(links[i])}">{dot}</a>' if links else dot)
        row, place = divmod(n, per_row)
        in_row = min(per_row, len(series) - row * per_row)
        parts.append(f'<text x="{legend_right - item * (in_row - place):g}" y="{14 + LEGEND_ROW * row}" class="l" '
                     f'style="fill:{colour}">&#9632; {escape(name)}</text>')
    return parts


def heatmap(days: list[str], features: list[str], cells: dict[str, dict[str, tuple[float | None, float, bool]]],
            *, title: str, links: list[str] | None = None) -> Markup:
    """Days across, features down; blue-grey below the drift threshold, red at or above it, red border when drifted."""
    cell_w = max(6, min(28, 820 // max(len(days), 1)))
    longest = max((len(f) for f in features), default=0)
    cell_h, left, top = 18, min(max(150, int(6.5 * longest) + 12), 300), 22  # room for the names (segments' are long)
    width = max(left + cell_w * len(days) + 10, 7 * len(title) + 10)  # room for the title
    height = top + cell_h * len(features) + 24
    parts = [f'<svg class="chart heatmap" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="14" class="t">{escape(title)}</text>']
    for r, feature in enumerate(features):
        name = feature if 6.5 * len(feature) + 12 <= left else feature[:int((left - 12) / 6.5) - 1] + "…"
        parts.append(f'<text x="{left - 6}" y="{top + r * cell_h + 13}" text-anchor="end" class="l">'
                     f'{escape(name)}</text>')
        for c, day in enumerate(days):
            score, threshold, drifted = cells.get(feature, {}).get(day, (None, 1.0, False))
            if score is None:
                fill = "#eef0f3"
            else:  # below the threshold: pale to mid blue-grey; at or above it: red, darker with the score
                ratio = score / threshold if threshold else 0.0
                if ratio < 1:
                    fill = f"rgb({int(236 - 90 * ratio)},{int(241 - 70 * ratio)},{int(246 - 40 * ratio)})"
                else:
                    level = min(ratio - 1, 2.0) / 2.0
                    fill = f"rgb({int(231 - 60 * level)},{int(110 - 60 * level)},{int(95 - 50 * level)})"
            stroke = ' stroke="#7b1d12" stroke-width="2"' if drifted else ""
            figures = "no score" if score is None else f"score {number(score)}, threshold {number(threshold)}"
            text = f"{day} · {feature}: {figures}"
            rect = (f'<rect class="cell" x="{left + c * cell_w}" y="{top + r * cell_h}" width="{cell_w - 1}" '
                    f'height="{cell_h - 1}" fill="{fill}"{stroke}><title>{escape(text)}</title></rect>')
            parts.append(f'<a href="{escape(links[c])}">{rect}</a>' if links else rect)
    if days and cell_w * len(days) < 150:  # too narrow for two dates side by side
        parts.append(f'<text x="{left}" y="{height - 6}" class="l">{escape(days[0])}'
                     f'{escape(" – " + days[-1]) if len(days) > 1 else ""}</text>')
    elif days:
        parts.append(f'<text x="{left}" y="{height - 6}" class="l">{escape(days[0])}</text>')
        parts.append(f'<text x="{left + cell_w * len(days)}" y="{height - 6}" text-anchor="end" class="l">'
                     f'{escape(days[-1])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: list[float | None], *, colour: str = "#2c6fbb", width: int = 160, height: int = 32,
              y_min: float = 0.0, y_max: float = 100.0, label: str = "") -> Markup:
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    span = (y_max - y_min) or 1.0
    step = (width - 4) / max(len(values) - 1, 1)
    points = " ".join(f"{2 + i * step:.1f},{height - 2 - (height - 4) * (v - y_min) / span:.1f}" for i, v in present)
    return Markup(f'<svg class="spark" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
                  f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/></svg>')


def distribution_bars(bins: list[str], reference: list[float], current: list[float], *, title: str,
                      width: int = 220, height: int = 54) -> Markup:
    """Reference (grey) and day (blue) shares side by side per bin."""
    top = max(reference + current + [1e-9])
    slot = width / max(len(bins), 1)
    bar = max(1.0, slot / 2 - 1)
    parts = [f'<svg class="dist" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (name, ref, cur) in enumerate(zip(bins, reference, current)):
        for offset, share, colour, who in ((0, ref, "#b8c0ca", "reference"), (bar, cur, "#2c6fbb", "this day")):
            h = (height - 2) * share / top
            parts.append(f'<rect x="{i * slot + offset:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{escape(name)}: {who} {share:.1%}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def impact_bars(labels: list[str], values: list[float], *, title: str, width: int = 360, bar: int = 14) -> Markup:
    """One horizontal bar per label, longest first as given (a day's segments by impact); the label left of it."""
    top = max(values + [1e-9])
    label_w, gap = 200, 4
    height = max(len(labels), 1) * (bar + gap)
    parts = [f'<svg class="impact" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (name, value) in enumerate(zip(labels, values)):
        y = i * (bar + gap)
        w = (width - label_w - 50) * value / top
        short = name if len(name) <= 30 else name[:29] + "…"
        parts.append(f'<text x="{label_w - 4}" y="{y + bar - 3}" text-anchor="end" font-size="11">{escape(short)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="#c0392b">'
                     f'<title>{escape(name)}: {value:.3f}</title></rect>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 3}" font-size="11">{value:.3f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def performance_chart(days: list[str], series: dict[str, list[float | None]], coverage: list[float | None],
                      complete: list[bool | None], *, title: str, width: int = 900, height: int = 260,
                      links: list[str] | None = None, band: Band | None = None,
                      band_label: str = "95% confidence interval", estimate_band: Band | None = None,
                      estimate_label: str = "the estimate's sampling-error band") -> Markup:
    """A metric per day (and its reference baseline) over light bars of the day's label coverage on a 0-100% scale
    aligned under it: a value on a day with few labels is visibly less certain. Darker bars: labels complete.
    `band`: each day's confidence interval, shaded under the lines; `estimate_band`: the band of the performance
    estimated before the labels, shaded under that."""
    values = [v for line in series.values() for v in line if v is not None]
    values += [v for pair in [*(band or []), *(estimate_band or [])] if pair for v in pair]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or (abs(high) * 0.05 or 0.05)
    low, high = low - pad, high + pad
    left, right = _left_margin(low, high, False), 12
    band_h, gap, bottom = 46, 18, 22
    per_row, extra = _legend_rows(series, width - left - right, title)
    top, height = 22 + extra, height + extra
    plot_w, plot_h = width - left - right, height - top - gap - band_h - bottom
    band_top = top + plot_h + gap
    slot = plot_w / max(len(days), 1)

    def x(i: int) -> float:
        return left + slot * (i + 0.5)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = _frame(title, "chart performance", width, height, left, top, plot_w, plot_h, low, high, False)
    parts += [f'<text x="{left}" y="{band_top - 4}" class="l">label coverage (darker: labels complete)</text>',
             f'<line x1="{left}" y1="{band_top + band_h}" x2="{left + plot_w}" y2="{band_top + band_h}" class="axis"/>',
             f'<line x1="{left}" y1="{band_top}" x2="{left + plot_w}" y2="{band_top}" class="axis" '
             f'stroke-dasharray="2 3"/>',
             f'<text x="{left - 6}" y="{band_top + 4}" text-anchor="end" class="l">100%</text>',
             f'<text x="{left - 6}" y="{band_top + band_h}" text-anchor="end" class="l">0%</text>']
    bar = max(1.0, slot * 0.8)
    for i, share in enumerate(coverage):
        if share is None:
            continue
        h = max(band_h * min(max(share, 0.0), 1.0), 1.0)  # a hairline for 0%: its day stays visible
        done = bool(complete[i]) if i < len(complete) else False
        text = f"{days[i]}: {share:.0%} labelled ({'labels complete' if done else 'labels still arriving'})"
        rect = (f'<rect class="coverage" x="{x(i) - bar / 2:.1f}" y="{band_top + band_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{"#9db8dc" if done else "#d3e0f0"}"><title>{escape(text)}</title></rect>')
        parts.append(f'<a href="{escape(links[i])}">{rect}</a>' if links else rect)
    parts += _first_and_last_day(days, left, plot_w, height)
    if estimate_band:
        parts.extend(_band(days, estimate_band, x, y, estimate_label, False, ESTIMATE_BAND_COLOUR, "band estimate"))
    if band:
        parts.extend(_band(days, band, x, y, band_label, False))
    parts.extend(_series(days, series, x, y, percent=False, links=links, legend_right=left + plot_w,
                         per_row=per_row))
    parts.append("</svg>")
    return Markup("".join(parts))


def reliability_chart(points: list[tuple[float, float, int, str]], *, title: str, size: int = 230) -> Markup:
    """Observed positive rate against mean predicted score per score bin (x, y, rows, bin label), over the
    diagonal of perfect calibration; a dot's area grows with its rows."""
    left, top, bottom, right = 40, 22, 30, 10
    plot = size - left - right
    height = top + plot + bottom

    def x(v: float) -> float:
        return left + plot * min(max(v, 0.0), 1.0)

    def y(v: float) -> float:
        return top + plot * (1 - min(max(v, 0.0), 1.0))

    most = max((n for _, _, n, _ in points), default=1) or 1
    parts = [f'<svg class="calibration" role="img" aria-label="{escape(title)}" viewBox="0 0 {size} {height}" '
             f'width="{size}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="0" y="14" class="t">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="none" class="axis"/>',
             f'<line class="diagonal" x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#b8c0ca" '
             f'stroke-dasharray="4 3"><title>perfect calibration</title></line>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="l">1</text>',
             f'<text x="{left - 4}" y="{top + plot}" text-anchor="end" class="l">0</text>',
             f'<text x="{left + plot}" y="{top + plot + 12}" text-anchor="end" class="l">1</text>',
             f'<text x="{left + plot / 2}" y="{height - 4}" text-anchor="middle" class="l">mean score</text>',
             f'<text x="10" y="{top + plot / 2}" text-anchor="middle" class="l" '
             f'transform="rotate(-90 10 {top + plot / 2})">observed rate</text>']
    ordered = sorted(points)
    if len(ordered) > 1:
        parts.append('<polyline class="series" fill="none" stroke="#2c6fbb" stroke-width="1.5" points="'
                     + " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py, _, _ in ordered) + '"/>')
    for px, py, n, label in ordered:
        r = 2.5 + 3.5 * (n / most) ** 0.5
        text = f"scores {label}: {n} rows, mean score {px:.3f}, observed rate {py:.3f}"
        parts.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="{r:.1f}" fill="#2c6fbb">'
                     f'<title>{escape(text)}</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))
