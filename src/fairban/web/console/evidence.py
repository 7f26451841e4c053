"""The evidence a reviewer sees for one account: where it was observed against the
directive's areas (an SVG map, no script) and a summary of its interactions.

Read from the evidence folder the re-check uses, filtered to the one account by DuckDB;
without an evidence folder the page says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from typing import Any

import duckdb
from shapely.geometry import mapping, shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.recheck import DecisionCache
from fairban.cases.models import Case
from fairban.contract.evidence import discover
from fairban.directives.models import DirectiveRecord, DirectiveVersion

MAX_POINTS = 1500
SOURCE_COLOURS = {"gps": "#0b4f9c", "wifi": "#135e1f", "cell": "#a35d00", "ip": "#6b2c91"}


@dataclass
class EvidenceView:
    available: bool
    note: str = ""
    svg: str = ""
    observations: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    interactions: list[dict[str, Any]] = field(default_factory=list)


def _source(table: Any) -> str:
    paths = [str(p) for p in table.paths]
    if table.format == "csv":
        return f"read_csv({paths!r}, header=true, auto_detect=true)"
    return f"read_parquet({paths!r}, hive_partitioning=true, union_by_name=true)"


def evidence_view(session: Session, case: Case, cache: DecisionCache | None) -> EvidenceView:
    if cache is None:
        return EvidenceView(False, "No evidence folder is configured (fairban serve --data).")
    try:
        tables = discover(cache.data_dir)
    except Exception as e:
        return EvidenceView(False, f"The evidence folder cannot be read: {e}")
    con = duckdb.connect()
    try:
        obs = con.execute(
            f"SELECT lon, lat, accuracy_m, source FROM {_source(tables['observations'])} "
            "WHERE account_id = ? AND lat IS NOT NULL",
            [case.account_id],
        ).fetchall()
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
    by_source: dict[str, int] = {}
    for _lon, _lat, _acc, src in obs:
        by_source[src] = by_source.get(src, 0) + 1
    return EvidenceView(
        True,
        svg=_map(_areas(session, case), obs[:: max(1, len(obs) // MAX_POINTS)]),
        observations=len(obs),
        by_source=by_source,
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


def _map(areas: list[tuple[str, Any]], points: list[tuple[float, float, float, str]]) -> str:
    """An equirectangular SVG of the areas (outlined) and the observations (dots), framed
    on the areas and 1.5 degrees around them (about 150 km); observations farther away
    are counted under the map, not drawn (a far-off IP placement would shrink the rest
    to a dot)."""
    pad = 1.5
    if areas:
        x0 = min(g.bounds[0] for _, g in areas) - pad
        y0 = min(g.bounds[1] for _, g in areas) - pad
        x1 = max(g.bounds[2] for _, g in areas) + pad
        y1 = max(g.bounds[3] for _, g in areas) + pad
    elif points:
        x0, x1 = min(p[0] for p in points) - pad, max(p[0] for p in points) + pad
        y0, y1 = min(p[1] for p in points) - pad, max(p[1] for p in points) + pad
    else:
        return ""
    inside = [p for p in points if x0 <= p[0] <= x1 and y0 <= p[1] <= y1]
    width = 600.0
    height = max(200.0, min(900.0, width * (y1 - y0) / max(x1 - x0, 1e-6)))

    def px(lon: float, lat: float) -> str:
        return f"{(lon - x0) / (x1 - x0) * width:.1f},{(y1 - lat) / (y1 - y0) * height:.1f}"

    parts = [
        f'<svg class="map" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="Observations of the account (dots) against the areas (outlines)">'
    ]
    for name, geometry in areas:
        geo = mapping(geometry)
        polygons = geo["coordinates"] if geo["type"] == "MultiPolygon" else [geo["coordinates"]]
        for polygon in polygons:
            ring = " ".join(px(x, y) for x, y in polygon[0])
            parts.append(
                f'<polygon points="{ring}" fill="#f5a40033" stroke="#8a1c1c" stroke-width="2">'
                f"<title>{escape(name)}</title></polygon>"
            )
    for lon, lat, _acc, src in inside:
        x, y = px(lon, lat).split(",")
        colour = SOURCE_COLOURS.get(src, "#333")
        parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}" fill-opacity="0.6"/>')
    parts.append("</svg>")
    outside = len(points) - len(inside)
    if outside:
        parts.append(f"<p>{outside} observations lie farther away and are not drawn.</p>")
    return "".join(parts)
