"""Server-rendered SVG charts for the leads' dashboard (no JavaScript, no CDN, no network).

Why hand-written SVG: the app's Content-Security-Policy allows no inline scripts or styles and nothing
from other origins, so charting libraries are out; a few lines and bars are easy to draw directly.
Colours and fonts come from CSS classes (``pipeline/web/static/dashboard.css``), never ``style``
attributes, which the policy would block. Every chart has a ``<title>``/``<desc>`` for screen readers, and
every label is escaped (codes and coder names are user-supplied).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

N_SERIES_CLASSES = 8


@dataclass(frozen=True)
class SeriesPoint:
    at: dt.datetime
    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""
    css: str = ""


def _num(x: float) -> str:
    return f"{x:.1f}"


def _svg_open(width: int, height: int, title: str, desc: str, css: str) -> list[str]:
    return [
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
    ]


def line_chart(
    series: Mapping[str, Sequence[SeriesPoint]],
    *,
    title: str,
    thresholds: Mapping[str, float] | None = None,
    y_min: float = 0.0,
    y_max: float = 1.0,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """One line per series over time, with its interval as a band and horizontal threshold lines.

    Points with no value (not computable) break the line rather than drop to 0.
    """
    left, right, top, bottom = 44, 150, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for pts in series.values() for p in pts]
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None]
    if values:
        y_min = min(y_min, min(values))
        y_max = max(y_max, max(values))
    times = sorted({p.at for p in points})
    out = _svg_open(width, height, title, _describe_lines(series), "chart-line")
    if not times:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" class="chart-empty" text-anchor="middle">'
            "No snapshots yet</text></svg>"
        )
        return _markup(out)
    t0, t1 = times[0], times[-1]
    span = (t1 - t0).total_seconds() or 1.0

    def x(at: dt.datetime) -> float:
        if len(times) == 1:
            return left + plot_w / 2
        return left + (at - t0).total_seconds() / span * plot_w

    def y(v: float) -> float:
        return top + (y_max - v) / ((y_max - y_min) or 1.0) * plot_h

    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="chart-frame"/>')
    for tick in _ticks(y_min, y_max):
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{_num(y(tick))}" y2="{_num(y(tick))}" class="chart-gridline"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end" class="chart-tick">{tick:.1f}</text>'
        )
    for name, value in (thresholds or {}).items():
        if y_min <= value <= y_max:
            out.append(
                f'<line x1="{left}" x2="{left + plot_w}" y1="{_num(y(value))}" y2="{_num(y(value))}" '
                f'class="chart-threshold threshold-{escape(name)}"/>'
            )
            out.append(
                f'<text x="{left + plot_w - 4}" y="{_num(y(value) - 4)}" text-anchor="end" '
                f'class="chart-threshold-label">{escape(name)} {value:.3f}</text>'
            )
    out.append(f'<text x="{left}" y="{height - 8}" class="chart-tick">{t0:%d %b %H:%M}</text>')
    if len(times) > 1:
        out.append(
            f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" class="chart-tick">{t1:%d %b %H:%M}</text>'
        )
    for i, (name, pts) in enumerate(series.items()):
        css = f"series-{i % N_SERIES_CLASSES}"
        band = [p for p in pts if p.low is not None and p.high is not None]
        if len(band) > 1:
            upper = " ".join(f"{_num(x(p.at))},{_num(y(p.high))}" for p in band)  # type: ignore[arg-type]
            lower = " ".join(f"{_num(x(p.at))},{_num(y(p.low))}" for p in reversed(band))  # type: ignore[arg-type]
            out.append(f'<polygon points="{upper} {lower}" class="chart-band {css}"/>')
        for run in _runs(pts):
            if len(run) > 1:
                coords = " ".join(f"{_num(x(p.at))},{_num(y(p.value))}" for p in run)  # type: ignore[arg-type]
                out.append(f'<polyline points="{coords}" class="chart-series {css}"/>')
            for p in run:
                label = f"{name}: {p.value:.3f} ({p.at:%Y-%m-%d %H:%M})"  # type: ignore[str-format]
                out.append(
                    f'<circle cx="{_num(x(p.at))}" cy="{_num(y(p.value))}" r="3" '  # type: ignore[arg-type]
                    f'class="chart-dot {css}"><title>{escape(label)}</title></circle>'
                )
        ly = top + 14 + i * 18
        out.append(f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="12" height="4" class="chart-key {css}"/>')
        out.append(f'<text x="{left + plot_w + 30}" y="{ly}" class="chart-legend">{escape(_short(name))}</text>')
    out.append("</svg>")
    return _markup(out)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    max_value: float | None = None,
    value_format: str = "{:.0f}",
    width: int = 520,
    bar_height: int = 18,
    marker: float | None = None,
) -> Markup:
    """Horizontal bars with a label and a value (and an optional vertical marker, e.g. a threshold)."""
    label_w, value_w, gap = 170, 90, 6
    height = max(40, len(bars) * (bar_height + gap) + 16)
    plot_w = width - label_w - value_w
    top_value = max_value if max_value is not None else max((b.value for b in bars), default=0.0)
    top_value = top_value or 1.0
    desc = "; ".join(f"{b.label}: {value_format.format(b.value)}{(' ' + b.note) if b.note else ''}" for b in bars)
    out = _svg_open(width, height, title, desc or "no data", "chart-bars")
    if not bars:
        out.append(f'<text x="{width / 2}" y="24" class="chart-empty" text-anchor="middle">No data yet</text></svg>')
        return _markup(out)
    for i, bar in enumerate(bars):
        y = 8 + i * (bar_height + gap)
        w = max(0.0, min(1.0, bar.value / top_value)) * plot_w
        out.append(
            f'<text x="{label_w - 8}" y="{y + bar_height - 5}" text-anchor="end" class="chart-label">'
            f"{escape(_short(bar.label, 24))}</text>"
        )
        out.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_height}" class="chart-track"/>')
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{_num(w)}" height="{bar_height}" '
            f'class="chart-bar {escape(bar.css)}"><title>{escape(bar.label)}: '
            f"{escape(value_format.format(bar.value))}</title></rect>"
        )
        text = value_format.format(bar.value) + (f" {bar.note}" if bar.note else "")
        out.append(
            f'<text x="{label_w + plot_w + 6}" y="{y + bar_height - 5}" class="chart-value">{escape(text)}</text>'
        )
    if marker is not None and 0 <= marker <= top_value:
        mx = label_w + marker / top_value * plot_w
        out.append(f'<line x1="{_num(mx)}" x2="{_num(mx)}" y1="4" y2="{height - 4}" class="chart-marker"/>')
    out.append("</svg>")
    return _markup(out)


def _markup(parts: list[str]) -> Markup:
    """Join chart parts into markup. Safe because every label and note was passed through ``escape``
    when its part was built, and every other interpolation is a number or a constant class name."""
    return Markup("".join(parts))  # noqa: S704


def _runs(points: Sequence[SeriesPoint]) -> list[list[SeriesPoint]]:
    """Consecutive points with values (a not-computable snapshot breaks the line)."""
    runs: list[list[SeriesPoint]] = [[]]
    for p in points:
        if p.value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(p)
    return [r for r in runs if r]


def _ticks(lo: float, hi: float) -> list[float]:
    step = 0.2 if hi - lo <= 1.5 else 0.5
    start = step * round(lo / step)
    ticks = []
    t = start
    while t <= hi + 1e-9:
        if t >= lo - 1e-9:
            ticks.append(round(t, 6))
        t += step
    return ticks


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_lines(series: Mapping[str, Sequence[SeriesPoint]]) -> str:
    parts = []
    for name, pts in series.items():
        last = next((p for p in reversed(pts) if p.value is not None), None)
        parts.append(f"{name}: latest {last.value:.3f}" if last and last.value is not None else f"{name}: none")
    return "; ".join(parts) or "no snapshots"
