"""Charts and maps as inline SVG, drawn offline with matplotlib.

Each chart is drawn in its page's language (``lang``: ``en`` or ``zh-CN``): the
caller's titles, series and categories, and the charts' own words (:data:`ZH`). Text
stays text in the SVG (``svg.fonttype: none``), so it is small, selectable and drawn in
the page's fonts: no CJK font is needed where the report is made (matplotlib only
measures it, and its warnings about glyphs it lacks are silenced). Each SVG's ids are
prefixed so several can share a page.
"""

from __future__ import annotations

import functools
import io
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import numpy.typing as npt
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator
from matplotlib.typing import RcKeyType
from shapely.geometry.base import BaseGeometry

from fairban.contract import Area
from fairban.geo.china import ChinaAdmin
from fairban.geo.myanmar import outline as myanmar_outline
from fairban.geo.places import BORDER_TOWNS_CN, BORDER_TOWNS_MM, border_town

#: one palette for every chart, table swatch and map
COLOURS: dict[str, str] = {
    "none": "#9e9e9e",
    "monitor": "#7d8fa3",
    "restrict": "#e8a317",
    "suspend": "#c62828",
    "naive": "#6a3d9a",
    "area": "#4a148c",
}
_INK = "#263238"
_MUTED = "#607d8b"
_LAND = "#eef1f4"
_LAND_MM = "#f3f1ea"  # Myanmar: land too, told apart from China's provinces
_BORDER = "#b7c0ca"

#: narrow enough that text stays readable when a phone shrinks the chart to its width
_BAR_WIDTH_IN = 4.8

#: mainland China, Hainan included; the border region the 2019 areas lie in
CHINA_EXTENT = (73.0, 135.5, 17.5, 54.0)
BORDER_EXTENT = (96.0, 102.5, 19.5, 26.0)

#: label offsets (points) that keep the border towns' names apart
_TOWN_OFFSETS: dict[str, tuple[float, float, str]] = {
    "Ruili": (4, 5, "left"),
    "Muse": (-5, -11, "right"),
    "Nansan": (5, 4, "left"),
    "Daluo": (6, 3, "left"),
    "Menglian": (5, 3, "left"),
    "Mengla": (5, -3, "left"),
}

#: the charts' own words in Chinese (the caller says its titles and labels itself)
ZH: dict[str, str] = {
    "accounts": "账号数",
    "designated area": "指定地区",
    "designated areas": "指定地区",
    "dot area grows with the accounts at one place": "圆点面积随同一地点的账号数增大",
    "MYANMAR": "缅甸",
    "CHINA": "中国",
    "LAOS": "老挝",
    "THAILAND": "泰国",
    "border town, China": "边境城镇（中国）",
    "border town, Myanmar": "边境城镇（缅甸）",
    "Myanmar's outline is derived from its village points (MIMU)": (
        "缅甸轮廓由其村庄点位（MIMU）推算"
    ),
    "km": "公里",
    # the border towns and the 2019 areas
    "Ruili": "瑞丽",
    "Nansan": "南伞",
    "Daluo": "打洛",
    "Menglian": "孟连",
    "Mengla": "勐腊",
    "Muse": "木姐",
    "Laukkai": "老街",
    "Mong La": "勐拉",
    "Pangkham": "邦康",
    "Tachileik": "大其力",
}
LANGS = ("en", "zh-CN")


def say(text: str, lang: str) -> str:
    """``text``, one of the charts' own words, in ``lang`` (a name not known stays)."""
    return ZH.get(text, text) if lang == "zh-CN" else text


_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "fairban-preview",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 11,
    "axes.edgecolor": _BORDER,
    "axes.labelcolor": _INK,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.color": _MUTED,
    "ytick.color": _INK,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Points:
    """Positions to plot, one layer: lon/lat arrays, a colour, a size and a label."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    colour: str
    label: str
    size: float = 10.0
    alpha: float = 0.9


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(_RC), warnings.catch_warnings():
        # Chinese is measured with the Latin font's box; the page's fonts draw it
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _svg(figure: Figure, name: str, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, dpi=150)
    return inline_svg(buffer.getvalue(), name, title)


_ROUNDED = re.compile(r"(\d+\.\d)\d+")


def inline_svg(svg: str, name: str, title: str) -> str:
    """An SVG document made fit to sit inside HTML: no XML prologue, ids prefixed with
    ``name``, scaling to its container, with a title for screen readers."""
    body = svg[svg.index("<svg") :]
    body = re.sub(r"\s*<metadata>.*?</metadata>", "", body, count=1, flags=re.S)
    # a tenth of a point is finer than any screen or printer shows
    body = re.sub(r' d="[^"]*"', lambda m: _ROUNDED.sub(r"\1", m.group(0)), body)
    body = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", body)
    body = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', body)
    body = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", body, count=1)
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return body.replace(
        ">",
        f' class="chart" id="{name}" role="img" aria-labelledby="{name}-title">'
        f'<title id="{name}-title">{escaped}</title>',
        1,
    )


# --------------------------------------------------------------------------- bar charts


def _thousands(value: float, _position: int) -> str:
    return f"{value:,.0f}"


def stacked_bars(
    name: str,
    title: str,
    labels: Sequence[str],
    stacks: Sequence[tuple[str, Sequence[float], str]],
    *,
    unit: str = "accounts",
    lang: str = "en",
) -> str:
    """Horizontal bars, one per label, stacked by series; totals at the bar ends."""
    with _style():
        figure = Figure(
            figsize=(_BAR_WIDTH_IN, 1.1 + 0.36 * max(len(labels), 1)), layout="constrained"
        )
        axes = figure.add_subplot()
        y = np.arange(len(labels))
        left = np.zeros(len(labels))
        for series, values, colour in stacks:
            data = np.asarray(values, dtype=float)
            axes.barh(y, data, left=left, color=colour, label=series, height=0.7)
            left += data
        for row, total in enumerate(left):
            axes.annotate(
                f"{total:,.0f}",
                (total, row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color=_INK,
            )
        _bar_axes(axes, labels, say(unit, lang), left.max() if len(left) else 0.0)
        _title(figure, title)
        if len(stacks) > 1:
            _legend(figure, len(stacks))
        return _svg(figure, name, title)


def grouped_bars(
    name: str,
    title: str,
    labels: Sequence[str],
    groups: Sequence[tuple[str, Sequence[float], str]],
    *,
    unit: str = "accounts",
    percent: bool = False,
    lang: str = "en",
) -> str:
    """Horizontal bars side by side per label, one per group (e.g. naive vs fairban)."""
    with _style():
        rows = max(len(labels), 1)
        figure = Figure(
            figsize=(_BAR_WIDTH_IN, 1.2 + 0.26 * rows * len(groups)), layout="constrained"
        )
        axes = figure.add_subplot()
        height = 0.8 / max(len(groups), 1)
        y = np.arange(len(labels))
        top = 0.0
        for index, (series, values, colour) in enumerate(groups):
            data = np.asarray(values, dtype=float)
            offset = (index - (len(groups) - 1) / 2) * height
            axes.barh(y + offset, data, height=height * 0.92, color=colour, label=series)
            for row, value in enumerate(data):
                text = f"{value:.0%}" if percent else f"{value:,.0f}"
                axes.annotate(
                    text,
                    (value, row + offset),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                    color=_INK,
                )
            top = max(top, float(data.max()) if data.size else 0.0)
        _bar_axes(axes, labels, say(unit, lang), top)
        if percent:
            axes.set_xlim(0, max(1.0, top) * 1.12)
            axes.xaxis.set_major_locator(MultipleLocator(0.25))
            axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
        _title(figure, title)
        _legend(figure, len(groups))
        return _svg(figure, name, title)


def _title(figure: Figure, title: str) -> None:
    # a figure title sits above the legend; an axes title would sit below it
    figure.suptitle(title, x=0.01, ha="left", fontsize=12, fontweight="bold", color=_INK)


def _legend(figure: Figure, entries: int) -> None:
    # centred on the figure, below the axis: long axis labels must not push it off
    figure.legend(loc="outside lower center", ncols=min(entries, 4), fontsize=9)


def _bar_axes(axes: Axes, labels: Sequence[str], unit: str, top: float) -> None:
    axes.set_yticks(np.arange(len(labels)), labels=list(labels))
    axes.invert_yaxis()  # first label on top
    axes.set_xlim(0, max(top, 1.0) * 1.15)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.set_xlabel(unit, color=_MUTED, fontsize=9)
    axes.tick_params(axis="y", length=0)
    axes.grid(axis="x", color="#e3e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)


# --------------------------------------------------------------------------- maps


#: the largest bubble, in accounts: beyond it a bubble would hide its neighbours
_MAX_BUBBLE = 40

#: islands smaller than this (in degrees², per degree of tolerance) are not drawn
_MIN_ISLAND_DEG2 = 0.5


def _rings(
    geometry: BaseGeometry, tolerance: float, extent: tuple[float, float, float, float]
) -> list[npt.NDArray[np.float64]]:
    """``geometry``'s outer rings, simplified to about a point of the drawing and clipped
    to ``extent`` (lon0, lon1, lat0, lat1); islands too small to see left out."""
    lon0, lon1, lat0, lat1 = extent
    shape = shapely.clip_by_rect(
        shapely.simplify(geometry, tolerance, preserve_topology=True),
        lon0 - 1,
        lat0 - 1,
        lon1 + 1,
        lat1 + 1,
    )
    return [
        np.asarray(polygon.exterior.coords)
        for polygon in _polygons(shape)
        if polygon.area >= _MIN_ISLAND_DEG2 * tolerance
    ]


@functools.cache
def _provinces(
    tolerance: float, extent: tuple[float, float, float, float]
) -> list[npt.NDArray[np.float64]]:
    """Province outer rings (``_rings``). Holes are left out: the units inside them
    (Beijing and Tianjin in Hebei) are drawn with their own borders."""
    units = ChinaAdmin.default().units("province")
    return [ring for unit in units for ring in _rings(unit.geometry, tolerance, extent)]


def _polygons(geometry: BaseGeometry) -> list[BaseGeometry]:
    if geometry.is_empty:
        return []
    if geometry.geom_type == "Polygon":
        return [geometry]
    return [g for part in getattr(geometry, "geoms", []) for g in _polygons(part)]


@functools.cache
def _myanmar(
    tolerance: float, extent: tuple[float, float, float, float]
) -> list[npt.NDArray[np.float64]]:
    """Myanmar's outer rings (``geo.myanmar``, ``_rings``)."""
    return _rings(myanmar_outline(), tolerance, extent)


#: scale bar lengths to choose from, km
_SCALES_KM = (10, 20, 50, 100, 200, 500, 1000)


def _scale_bar(axes: Axes, extent: tuple[float, float, float, float], lang: str) -> None:
    """A bar of a round number of km, about a fifth of the map's width, lower left."""
    lon0, lon1, lat0, lat1 = extent
    km_per_deg = 111.32 * math.cos(math.radians((lat0 + lat1) / 2))  # east-west, mid-map
    width_km = (lon1 - lon0) * km_per_deg
    km = max((k for k in _SCALES_KM if k <= width_km / 5), default=_SCALES_KM[0])
    x0 = lon0 + 0.04 * (lon1 - lon0)
    y0 = lat0 + 0.04 * (lat1 - lat0)
    x1 = x0 + km / km_per_deg
    axes.plot([x0, x1], [y0, y0], color=_INK, linewidth=2.0, solid_capstyle="butt", zorder=6)
    tick = 0.008 * (lat1 - lat0)
    for x in (x0, x1):
        axes.plot([x, x], [y0 - tick, y0 + tick], color=_INK, linewidth=1.0, zorder=6)
    axes.annotate(
        f"{km:,} {say('km', lang)}",
        ((x0 + x1) / 2, y0),
        xytext=(0, 3),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=8,
        color=_INK,
        zorder=6,
        # a pale box, not a stroke: a stroked label is drawn as outlines, no longer text
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
    )


def _map_axes(
    figure: Figure, extent: tuple[float, float, float, float], tolerance: float, lang: str
) -> Axes:
    axes = figure.add_subplot()
    lon0, lon1, lat0, lat1 = extent
    provinces = _provinces(tolerance, extent)
    axes.add_collection(
        PolyCollection(
            _myanmar(tolerance, extent),
            facecolors=_LAND_MM,
            edgecolors=_BORDER,
            linewidths=0.6,
            zorder=0,
        )
    )
    axes.add_collection(
        PolyCollection(provinces, facecolors=_LAND, edgecolors=_BORDER, linewidths=0.5, zorder=0)
    )
    _scale_bar(axes, extent, lang)
    axes.set_xlim(lon0, lon1)
    axes.set_ylim(lat0, lat1)
    # plate carree, stretched so that a km east equals a km north at the middle latitude
    axes.set_aspect(1 / math.cos(math.radians((lat0 + lat1) / 2)))
    axes.set_facecolor("#fbfcfd")
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_color("#d5dbe1")
    return axes


def _draw_points(axes: Axes, layers: Sequence[Points], grid: float, scale: float = 1.0) -> None:
    """Each layer as bubbles: accounts within ``grid`` degrees of each other make one
    dot whose area grows with their number (a compound's 30 phones are not one dot)."""
    for layer in layers:
        keep = np.isfinite(layer.lon) & np.isfinite(layer.lat)
        count = int(keep.sum())
        cells = np.round(np.column_stack([layer.lon[keep], layer.lat[keep]]) / grid)
        spots, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
        lon = np.bincount(inverse.reshape(-1), weights=layer.lon[keep]) / counts
        lat = np.bincount(inverse.reshape(-1), weights=layer.lat[keep]) / counts
        axes.scatter(
            lon,
            lat,
            s=layer.size * scale * np.minimum(counts, _MAX_BUBBLE),
            c=layer.colour,
            alpha=layer.alpha,
            linewidths=0.4,
            edgecolors="white",
            zorder=4.5,
            # thousands of markers would make a heavy SVG: embed them as one image
            rasterized=len(spots) > 3000,
        )
        # the legend shows one account's dot, whatever the bubbles hold
        axes.scatter(
            [], [], s=layer.size * scale, c=layer.colour, label=f"{layer.label} ({count:,})"
        )


def _halo(lang: str) -> dict[str, Any]:
    """What keeps a label readable over the dots: a white stroke around the letters in
    English; a pale box in Chinese, because a stroked label is drawn as glyph outlines of
    the chart's Latin font, which has no Chinese (a box keeps it text)."""
    if lang == "zh-CN":
        return {"bbox": {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}}
    return {"path_effects": [patheffects.withStroke(linewidth=3, foreground="white")]}


def _draw_areas(axes: Axes, areas: Sequence[Area], *, labels: bool, lang: str) -> None:
    polygons = [np.asarray(p.exterior.coords) for a in areas for p in _polygons(a.geometry)]
    axes.add_collection(
        PolyCollection(
            polygons,
            facecolors=COLOURS["area"],
            edgecolors=COLOURS["area"],
            alpha=0.45,
            linewidths=1.0,
            zorder=2,
            label=say("designated area", lang),
        )
    )
    if not labels:
        return
    halo = _halo(lang)
    for area in areas:
        minx, _miny, _maxx, _maxy = area.geometry.bounds
        centre = area.geometry.centroid
        axes.annotate(
            say(area.name, lang),
            (minx, centre.y),
            xytext=(-5, 0),
            textcoords="offset points",
            ha="right",
            va="center",
            fontsize=10,
            fontweight="bold",
            color=COLOURS["area"],
            zorder=5,
            **halo,
        )


def china_map(
    name: str, title: str, areas: Sequence[Area], layers: Sequence[Points], lang: str = "en"
) -> str:
    """China's provinces, the areas (marked: they are small at this scale) and points."""
    with _style():
        figure = Figure(figsize=(5.2, 4.3), layout="constrained")
        axes = _map_axes(figure, CHINA_EXTENT, 0.08, lang)
        _draw_points(axes, layers, grid=0.1)
        _draw_areas(axes, areas, labels=False, lang=lang)
        union = shapely.union_all([a.geometry for a in areas])
        centre = union.centroid
        axes.scatter(
            [centre.x],
            [centre.y],
            s=260,
            facecolors="none",
            edgecolors=COLOURS["area"],
            linewidths=1.4,
            zorder=4,
        )
        axes.annotate(
            say("designated areas", lang),
            (centre.x, centre.y),
            xytext=(-8, -16),
            textcoords="offset points",
            ha="right",
            fontsize=9,
            color=COLOURS["area"],
            **_halo(lang),
        )
        axes.set_title(title)
        if layers:
            # below the map: inside it would hide the coast, where many people live
            figure.legend(
                loc="outside lower center",
                ncols=3,
                fontsize=9,
                markerscale=1.5,
                title=say("dot area grows with the accounts at one place", lang),
                title_fontsize=8,
            )
        return _svg(figure, name, title)


def border_map(
    name: str, title: str, areas: Sequence[Area], layers: Sequence[Points], lang: str = "en"
) -> str:
    """The China-Myanmar border region: areas labelled, border towns, points."""
    with _style():
        figure = Figure(figsize=(5.0, 5.4), layout="constrained")
        axes = _map_axes(figure, BORDER_EXTENT, 0.008, lang)
        halo = _halo(lang)
        for label, (lon, lat) in {
            "MYANMAR": (97.2, 21.6),
            "CHINA": (101.2, 25.3),
            "LAOS": (101.9, 20.15),
            "THAILAND": (98.9, 19.75),
        }.items():
            axes.text(
                lon,
                lat,
                say(label, lang),
                fontsize=10,
                color="#90a4ae",
                ha="center",
                zorder=1,
                fontweight="bold",
            )
        _draw_points(axes, layers, grid=0.02, scale=1.5)
        _draw_areas(axes, areas, labels=True, lang=lang)
        area_names = {a.name.casefold() for a in areas}
        for town in (*BORDER_TOWNS_CN, *BORDER_TOWNS_MM):
            place = border_town(town)
            chinese = town in BORDER_TOWNS_CN
            axes.scatter(
                [place.lon],
                [place.lat],
                s=22,
                marker="o" if chinese else "s",
                c=_INK if chinese else "white",
                edgecolors=_INK,
                linewidths=1.0,
                zorder=4,
            )
            if town.casefold() in area_names:
                continue  # the area's own label names it
            dx, dy, align = _TOWN_OFFSETS.get(town, (5, 3, "left"))
            axes.annotate(
                say(town, lang),
                (place.lon, place.lat),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=align,
                fontsize=9,
                color=_INK,
                zorder=5,
                **halo,
            )
        axes.scatter([], [], s=22, c=_INK, label=say("border town, China", lang))
        axes.scatter(
            [],
            [],
            s=22,
            marker="s",
            c="white",
            edgecolors=_INK,
            label=say("border town, Myanmar", lang),
        )
        axes.set_title(title)
        figure.legend(loc="outside lower center", ncols=3, fontsize=9, markerscale=1.2)
        axes.text(
            0.99,
            0.01,
            say("Myanmar's outline is derived from its village points (MIMU)", lang),
            transform=axes.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color=_MUTED,
        )
        return _svg(figure, name, title)
