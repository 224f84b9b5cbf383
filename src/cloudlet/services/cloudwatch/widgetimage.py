"""Draws a metric widget as a PNG line chart with Pillow: title, y axis
with ticks and labels (left, and right when a series uses it), x axis with
UTC time labels, one line per series in CloudWatch's default palette,
horizontal and vertical annotations, a legend, and "No data available."
when there is nothing to draw."""

from __future__ import annotations

import io
import math
from datetime import datetime, timezone

from PIL import Image, ImageColor, ImageDraw, ImageFont

DEFAULT_WIDTH = 600
DEFAULT_HEIGHT = 400
# CloudWatch's graph palette (d3 category10).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
BACKGROUND = (255, 255, 255)
TEXT = (22, 25, 31)
MUTED = (84, 91, 100)
GRID = (233, 235, 237)
AXIS = (170, 183, 184)
_TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
               1209600, 2592000)

_fonts: dict = {}


def _font(size: int):
    font = _fonts.get(size)
    if font is None:
        font = _fonts[size] = ImageFont.load_default(size=size)
    return font


def _text_width(draw, text: str, font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k)."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, n = [], 0
    while True:
        v = round(first + n * step, 10)
        ticks.append(v)
        if v >= hi - step * 1e-9:
            return ticks
        n += 1


def format_value(v: float) -> str:
    a = abs(v)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{v / limit:.3g}{suffix}"
    if v == int(v):
        return str(int(v))
    return f"{v:.3g}"


def _color(value, fallback):
    if isinstance(value, str):
        try:
            return ImageColor.getrgb(value)[:3]
        except ValueError:
            pass
    return ImageColor.getrgb(fallback)[:3] if fallback else None


def render(widget: dict, series: list[dict], start: float, end: float, width: int, height: int) -> bytes:
    """series: [{label, color, yAxis, points: [(ts, value)] ascending}]."""
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    small, normal, big = _font(11), _font(12), _font(14)
    for n, s in enumerate(series):
        s["rgb"] = _color(s.get("color"), PALETTE[n % len(PALETTE)])
    annotations = widget.get("annotations") if isinstance(widget.get("annotations"), dict) else {}
    horizontal = [a for a in _flat(annotations.get("horizontal")) if a.get("visible", True) is not False
                  and isinstance(a.get("value"), (int, float))]
    vertical = [a for a in _flat(annotations.get("vertical")) if a.get("visible", True) is not False]
    y_axes = widget.get("yAxis") if isinstance(widget.get("yAxis"), dict) else {}
    legend = widget.get("legend") if isinstance(widget.get("legend"), dict) else {}
    legend_pos = legend.get("position", "bottom")
    has_data = any(s["points"] for s in series)

    # Vertical layout: title, plot, x labels, legend.
    top = 8
    title = widget.get("title")
    if isinstance(title, str) and title:
        draw.text((10, top), title, fill=TEXT, font=big)
        top += 24
    else:
        top += 6
    legend_rows: list[list[tuple[str, tuple]]] = []
    legend_width = 0
    entries = [(s["label"] or "", s["rgb"]) for s in series]
    if legend_pos == "bottom" and entries:
        row: list = []
        used = 10
        for label, rgb in entries:
            w = 16 + _text_width(draw, label, small) + 14
            if row and used + w > width - 10:
                legend_rows.append(row)
                row, used = [], 10
            row.append((label, rgb))
            used += w
        legend_rows.append(row)
    elif legend_pos == "right" and entries:
        legend_width = min(width // 3, max(_text_width(draw, e[0], small) for e in entries) + 30)
    bottom = height - 22 - 18 * len(legend_rows) - 4

    # Value ranges per axis.
    def axis_range(side: str):
        values = [v for s in series if s.get("yAxis", "left") == side for _, v in s["points"]]
        values += [a["value"] for a in horizontal if a.get("yAxis", "left") == side]
        conf = y_axes.get(side) if isinstance(y_axes.get(side), dict) else {}
        lo = min(values) if values else 0.0
        hi = max(values) if values else 1.0
        if isinstance(conf.get("min"), (int, float)):
            lo = conf["min"]
        elif lo > 0 and values:
            lo = 0.0 if lo < (hi - lo) * 2 else lo
        if isinstance(conf.get("max"), (int, float)):
            hi = conf["max"]
        if hi <= lo:
            pad = abs(lo) * 0.5 or 1.0
            if not isinstance(conf.get("min"), (int, float)):
                lo -= pad
            hi = lo + 2 * pad if isinstance(conf.get("min"), (int, float)) else hi + pad
        ticks = nice_ticks(lo, hi)
        if not isinstance(conf.get("min"), (int, float)):
            lo = min(lo, ticks[0])
        if not isinstance(conf.get("max"), (int, float)):
            hi = max(hi, ticks[-1])
        ticks = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
        return lo, hi, ticks, conf.get("label") if isinstance(conf.get("label"), str) else None

    left_range = axis_range("left")
    has_right = any(s.get("yAxis") == "right" for s in series)
    right_range = axis_range("right") if has_right else None

    label_w = max((_text_width(draw, format_value(t), small) for t in left_range[2]), default=10)
    plot_left = 10 + label_w + 8 + (16 if left_range[3] else 0)
    plot_right = width - 12 - legend_width
    if right_range:
        plot_right -= max((_text_width(draw, format_value(t), small) for t in right_range[2]), default=10) + 8
        plot_right -= 16 if right_range[3] else 0
    plot_top = top + 6
    plot_bottom = bottom
    if plot_right - plot_left < 10 or plot_bottom - plot_top < 10:
        return _png(img)

    def ymap(v: float, rng) -> float:
        lo, hi = rng[0], rng[1]
        return plot_bottom - (v - lo) / (hi - lo) * (plot_bottom - plot_top)

    def xmap(t: float) -> float:
        return plot_left + (t - start) / (end - start) * (plot_right - plot_left)

    # Grid and y labels.
    for t in left_range[2]:
        y = round(ymap(t, left_range))
        draw.line([(plot_left, y), (plot_right, y)], fill=GRID)
        text = format_value(t)
        draw.text((plot_left - 6 - _text_width(draw, text, small), y - 7), text, fill=MUTED, font=small)
    if left_range[3]:
        _vertical_text(img, left_range[3], (10, (plot_top + plot_bottom) // 2), small)
    if right_range:
        for t in right_range[2]:
            y = round(ymap(t, right_range))
            draw.text((plot_right + 6, y - 7), format_value(t), fill=MUTED, font=small)
        if right_range[3]:
            _vertical_text(img, right_range[3], (width - 14 - legend_width, (plot_top + plot_bottom) // 2), small)

    # X axis: time labels (UTC).
    span = end - start
    step = next((s for s in _TIME_STEPS if span / s <= max(2, (plot_right - plot_left) // 90)), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    daily = step >= 86400 or span > 2 * 86400
    t = first
    while t <= end:
        x = round(xmap(t))
        draw.line([(x, plot_bottom), (x, plot_bottom + 4)], fill=AXIS)
        when = datetime.fromtimestamp(t, timezone.utc)
        text = when.strftime("%m/%d" if daily else "%H:%M")
        if daily and step < 86400:
            text = when.strftime("%m/%d %H:%M")
        w = _text_width(draw, text, small)
        if plot_left - 4 <= x - w / 2 and x + w / 2 <= plot_right + 12:
            draw.text((x - w / 2, plot_bottom + 6), text, fill=MUTED, font=small)
        t += step
    draw.line([(plot_left, plot_bottom), (plot_right, plot_bottom)], fill=AXIS)

    # Annotation fills go under the lines.
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    shade = ImageDraw.Draw(overlay)
    colors = iter(PALETTE[(len(series) + n) % len(PALETTE)] for n in range(1000))
    for a in horizontal:
        a["rgb"] = _color(a.get("color"), None) if isinstance(a.get("color"), str) else None
        a["rgb"] = a["rgb"] or _color(None, next(colors))
        rng = right_range if (a.get("yAxis") == "right" and right_range) else left_range
        y = min(max(ymap(a["value"], rng), plot_top), plot_bottom)
        if a.get("fill") == "above":
            shade.rectangle([plot_left, plot_top, plot_right, y], fill=(*a["rgb"], 40))
        elif a.get("fill") == "below":
            shade.rectangle([plot_left, y, plot_right, plot_bottom], fill=(*a["rgb"], 40))
    img.paste(Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB"))
    draw = ImageDraw.Draw(img)

    # Series.
    if has_data:
        for s in series:
            rng = right_range if (s.get("yAxis") == "right" and right_range) else left_range
            pts = [(xmap(t), ymap(v, rng)) for t, v in s["points"] if start <= t <= end]
            if len(pts) == 1:
                x, y = pts[0]
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=s["rgb"])
            elif pts:
                draw.line(pts, fill=s["rgb"], width=2, joint="curve")
    else:
        msg = "No data available."
        w = _text_width(draw, msg, normal)
        draw.text(((plot_left + plot_right - w) / 2, (plot_top + plot_bottom) / 2 - 8), msg, fill=MUTED,
                  font=normal)

    # Annotation lines and labels.
    for a in horizontal:
        rng = right_range if (a.get("yAxis") == "right" and right_range) else left_range
        y = round(ymap(a["value"], rng))
        if plot_top <= y <= plot_bottom:
            _dashed(draw, (plot_left, y), (plot_right, y), a["rgb"])
            label = a.get("label")
            if isinstance(label, str) and label:
                draw.text((plot_left + 4, y - 15), label, fill=a["rgb"], font=small)
    for a in vertical:
        when = _when(a.get("value"), end)
        if when is None:
            continue
        if not start <= when <= end:
            continue
        rgb = (_color(a.get("color"), None) if isinstance(a.get("color"), str) else None) or _color(None, next(colors))
        x = round(xmap(when))
        _dashed(draw, (x, plot_top), (x, plot_bottom), rgb)
        label = a.get("label")
        if isinstance(label, str) and label:
            draw.text((x + 3, plot_top + 2), label, fill=rgb, font=small)

    # Legend.
    if legend_pos == "bottom":
        y = plot_bottom + 24
        for row in legend_rows:
            x = 10
            for label, rgb in row:
                draw.rectangle([x, y + 3, x + 10, y + 13], fill=rgb)
                draw.text((x + 15, y + 1), label, fill=TEXT, font=small)
                x += 16 + _text_width(draw, label, small) + 14
            y += 18
    elif legend_pos == "right":
        x = width - legend_width + 4
        y = plot_top
        for label, rgb in entries:
            draw.rectangle([x, y + 3, x + 10, y + 13], fill=rgb)
            draw.text((x + 15, y + 1), label, fill=TEXT, font=small)
            y += 18
    return _png(img)


def _when(value, now: float) -> float | None:
    from cloudlet.errors import AwsError
    from cloudlet.services.cloudwatch.dashboards import parse_time

    try:
        return parse_time(value, now, "value")
    except AwsError:
        return None


def _flat(items) -> list[dict]:
    """Annotations, a band (a pair) contributing both edges."""
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, list):
            out.extend(i for i in item if isinstance(i, dict))
        elif isinstance(item, dict):
            out.append(item)
    return out


def _dashed(draw, a, b, rgb, dash: int = 6, gap: int = 4) -> None:
    (x0, y0), (x1, y1) = a, b
    length = math.hypot(x1 - x0, y1 - y0)
    if length == 0:
        return
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    pos = 0.0
    while pos < length:
        end = min(pos + dash, length)
        draw.line([(x0 + dx * pos, y0 + dy * pos), (x0 + dx * end, y0 + dy * end)], fill=rgb, width=2)
        pos = end + gap


def _vertical_text(img, text: str, center, font) -> None:
    probe = ImageDraw.Draw(img)
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    tile = Image.new("RGBA", (right - left + 2, bottom - top + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-left + 1, -top + 1), text, fill=(*MUTED, 255), font=font)
    tile = tile.rotate(90, expand=True)
    x = int(center[0])
    y = int(center[1] - tile.height / 2)
    img.paste(tile, (x, max(y, 0)), tile)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
