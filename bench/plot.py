"""``docs/perf.png``: wall time vs N for us and the peers, log-log, one panel per CRM.

The chart is an Altair (Vega-Lite) spec, saved beside the results (``perf.vl.json``). Altair needs
``vl-convert-python`` to write PNG, which is not one of our dependencies; when it is missing (as here) the
same series are drawn by the small Pillow renderer below (Pillow ships with Streamlit). Matplotlib is not
used.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

Point = tuple[float, float]


@dataclass(frozen=True)
class Series:
    crm: str  # panel: "HubSpot" | "Salesforce"
    name: str
    kind: str  # ours | peer | bound
    color: str
    points: tuple[Point, ...]


COLORS = {
    "ours-pro": "#1f77b4", "ours-starter": "#17becf", "peer-pro": "#d62728", "peer-starter": "#ff7f0e",
    "peer-a": "#9467bd", "collections": "#1f77b4", "bulk": "#2ca02c", "peer-c": "#d62728", "bound": "#888888",
}  # fmt: skip


def _points(measurements: list[dict[str, Any]], key: str = "wall_s", **where: Any) -> tuple[Point, ...]:
    found = []
    for m in measurements:
        if m.get("error") or not all(m.get(k) == v for k, v in where.items()):
            continue
        value = m["bound"]["bound_s"] if key == "bound" else m["median"].get(key)
        if isinstance(value, int | float) and value > 0:
            found.append((float(m["n"]), float(value)))
    return tuple(sorted(found))


def series_of(doc: dict[str, Any]) -> list[Series]:
    ms = doc["measurements"]
    tiers = doc["profile"]["tiers"]

    def tier_label(tier: str) -> str:
        t = tiers.get(tier, {})
        return f"{tier} ({t.get('limit')}/{t.get('window_s', 0):g} s)"

    out = []
    for tier, ours_color, peer_color in (
        ("professional", "ours-pro", "peer-pro"),
        ("starter", "ours-starter", "peer-starter"),
    ):
        out += [
            Series("HubSpot", f"ours, {tier_label(tier)}", "ours", COLORS[ours_color],
                   _points(ms, workload="H1", tier=tier, seed_half=False)),
            Series("HubSpot", f"bound, {tier}", "bound", COLORS["bound"],
                   _points(ms, "bound", workload="H1", tier=tier, seed_half=False)),
            Series("HubSpot", f"(b) hubspot-api-client loop, {tier}", "peer", COLORS[peer_color],
                   _points(ms, workload="Pb", tier=tier)),
        ]  # fmt: skip
    out += [
        Series("HubSpot", "(a) per-contact search + create/update", "peer", COLORS["peer-a"],
               _points(ms, workload="Pa")),
        Series("Salesforce", "ours, sObject Collections", "ours", COLORS["collections"],
               _points(ms, workload="S1", path="collections")),
        Series("Salesforce", "ours, Bulk API 2.0", "ours", COLORS["bulk"],
               _points(ms, workload="S1", path="bulk")),
        Series("Salesforce", "(c) simple-salesforce bulk2 upsert", "peer", COLORS["peer-c"],
               _points(ms, workload="Pc")),
    ]  # fmt: skip
    return [s for s in out if s.points]


def altair_chart(series: Sequence[Series]) -> Any:
    import altair as alt
    import pandas as pd

    rows = [
        {"crm": s.crm, "series": s.name, "kind": s.kind, "n": n, "wall_s": w}
        for s in series
        for n, w in s.points
    ]
    frame = pd.DataFrame(rows)
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("n:Q", scale=alt.Scale(type="log"), title="N leads"),
            y=alt.Y("wall_s:Q", scale=alt.Scale(type="log"), title="wall time (s)"),
            color=alt.Color("series:N", scale=alt.Scale(domain=[s.name for s in series],
                                                        range=[s.color for s in series])),
            strokeDash=alt.StrokeDash("kind:N"),
        )
        .properties(width=420, height=320)
        .facet(column=alt.Column("crm:N", title=None))
        .resolve_scale(y="independent")
    )  # fmt: skip


# ----- the Pillow renderer -----------------------------------------------------------------------------
WIDTH, HEIGHT = 1500, 760
PANEL_W, PANEL_H = 600, 420
MARGIN_L, MARGIN_T = 90, 90


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):
        return ImageFont.load_default()


def _decades(values: Sequence[float]) -> tuple[float, float]:
    return math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))


def _dashed(draw: ImageDraw.ImageDraw, a: Point, b: Point, color: str, dash: float, width: int) -> None:
    length = math.dist(a, b)
    steps = max(int(length // dash), 1)
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min((i + 1) / steps, 1.0)
        p0 = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
        p1 = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
        draw.line([p0, p1], fill=color, width=width)


def _tick_label(value: float, unit: str = "") -> str:
    if value >= 1000:
        return f"{value / 1000:g}k{unit}"
    return f"{value:g}{unit}"


def _panel(draw: ImageDraw.ImageDraw, origin: Point, title: str, series: Sequence[Series]) -> None:
    ox, oy = origin
    font, small = _font(15), _font(13)
    xs = [n for s in series for n, _ in s.points]
    ys = [w for s in series for _, w in s.points]
    x0, x1 = _decades(xs)
    y0, y1 = _decades(ys)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def at(n: float, w: float) -> Point:
        px = ox + (math.log10(n) - x0) / (x1 - x0) * PANEL_W
        py = oy + PANEL_H - (math.log10(w) - y0) / (y1 - y0) * PANEL_H
        return px, py

    draw.text((ox, oy - 30), title, fill="black", font=_font(18))
    for d in range(x0, x1 + 1):
        for m in (1, 2, 5) if d < x1 else (1,):
            px = at(m * 10**d, 10**y0)[0]
            draw.line([(px, oy), (px, oy + PANEL_H)], fill="#e6e6e6" if m > 1 else "#c8c8c8")
            if m == 1:
                draw.text((px - 12, oy + PANEL_H + 6), _tick_label(10**d), fill="black", font=small)
    for d in range(y0, y1 + 1):
        for m in (1, 2, 5) if d < y1 else (1,):
            py = at(10**x0, m * 10**d)[1]
            draw.line([(ox, py), (ox + PANEL_W, py)], fill="#e6e6e6" if m > 1 else "#c8c8c8")
            if m == 1:
                draw.text((ox - 48, py - 8), _tick_label(10.0**d, " s"), fill="black", font=small)
    draw.rectangle([ox, oy, ox + PANEL_W, oy + PANEL_H], outline="black")
    draw.text((ox + PANEL_W / 2 - 60, oy + PANEL_H + 26), "N leads (log scale)", fill="black", font=font)
    for s in series:
        pts = [at(n, w) for n, w in s.points]
        for a, b in itertools.pairwise(pts):
            if s.kind == "ours":
                draw.line([a, b], fill=s.color, width=3)
            else:
                _dashed(draw, a, b, s.color, 9 if s.kind == "peer" else 4, 2 if s.kind == "bound" else 3)
        for px, py in pts:
            r = 5
            if s.kind == "ours":
                draw.ellipse([px - r, py - r, px + r, py + r], fill=s.color)
            elif s.kind == "peer":
                draw.rectangle([px - r, py - r, px + r, py + r], fill=s.color)
            else:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], outline=s.color)
    ly = oy + PANEL_H + 56
    for s in series:
        if s.kind == "ours":
            draw.line([(ox, ly + 8), (ox + 36, ly + 8)], fill=s.color, width=3)
        else:
            _dashed(draw, (ox, ly + 8), (ox + 36, ly + 8), s.color, 9 if s.kind == "peer" else 4, 2)
        draw.text((ox + 44, ly), s.name, fill="black", font=small)
        ly += 20


def render_png(series: Sequence[Series], path: Path, subtitle: str) -> None:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN_L, 16), "CRM Push: wall time vs N, us and the peers", fill="black", font=_font(24))
    draw.text((MARGIN_L, 48), subtitle, fill="#444444", font=_font(14))
    for index, crm in enumerate(("HubSpot", "Salesforce")):
        panel = [s for s in series if s.crm == crm]
        if panel:
            _panel(draw, (MARGIN_L + index * (PANEL_W + 130), MARGIN_T + 20), crm, panel)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG", optimize=True)


def draw(doc: dict[str, Any], path: Path, spec_path: Path) -> dict[str, Any]:
    """Draw the figure for ``doc`` to ``path`` (the Vega-Lite spec to ``spec_path``); say how."""
    series = series_of(doc)
    profile = doc["profile"]
    subtitle = (
        f"median of {profile['repeat']} runs (N=100,000: {profile['repeat_large']}); sandbox latency "
        f"{profile['latency_ms']:g} ms; solid = CRM Push, dashed = peers, dotted grey = bound; "
        f"{doc['generated_at'][:10]}"
    )
    info: dict[str, Any] = {"path": str(path), "series": len(series)}
    if not series:
        info["renderer"] = "none (no data)"
        return info
    chart = altair_chart(series)
    try:
        import vl_convert  # noqa: F401 - only to learn whether Altair can write PNG itself

        chart.save(str(path), format="png", scale_factor=2)
        info["renderer"] = "altair + vl-convert"
    except ImportError:
        render_png(series, path, subtitle)
        info["renderer"] = "pillow (vl-convert-python is not installed; the Altair spec is saved beside it)"
    spec_path.write_text(json.dumps(chart.to_dict(), indent=1) + "\n", encoding="utf-8")
    info["vega_lite_spec"] = str(spec_path)
    return info
