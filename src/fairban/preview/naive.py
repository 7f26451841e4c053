"""The naive presence rule of 2019, replayed on the evidence.

The rule: an account is hit when any of its observations in the directive's window
has an accuracy circle that touches a designated area, that is when the distance from
the reported point to the area is at most ``accuracy_m``. Nothing else is looked at,
which is how people all over China were suspended in October 2019.

Distances are in metres on an azimuthal equidistant projection centred on each area:
it keeps distances from its centre exact, so the distance from any point on Earth to
an area a few tens of km across is right to well under a metre per 100 km. Only
observations that a conservative bounding-box test cannot rule out are measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from fairban.contract import Area

SOURCE_BITS: dict[str, int] = {"gps": 1, "wifi": 2, "cell": 4, "ip": 8}

#: a degree of latitude is at least 110,574 m and a degree of longitude at least
#: 111,320 m x cos(lat) on WGS-84; rounded down so the box test never drops a hit
_M_PER_DEG_LAT = 110_500.0
_M_PER_DEG_LON = 111_000.0
#: no observation count can overflow this, and it sorts after every real time
NEVER = np.iinfo(np.int64).max

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _MeasuredArea:
    name: str
    bounds: tuple[float, float, float, float]  # lon/lat box: minx, miny, maxx, maxy
    projected: BaseGeometry  # metres, centred on the area
    to_metres: Transformer


def _measured(area: Area) -> _MeasuredArea:
    centre = area.geometry.centroid
    to_metres = Transformer.from_crs(
        "EPSG:4326",
        f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m",
        always_xy=True,
    )

    def project(coords: Floats) -> Floats:
        x, y = to_metres.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    projected = shapely.transform(area.geometry, project)
    bounds = tuple(float(v) for v in area.geometry.bounds)
    return _MeasuredArea(
        area.name, (bounds[0], bounds[1], bounds[2], bounds[3]), projected, to_metres
    )


class PresenceRule:
    """Which observations touch any of the areas, measured as the 2019 rule would."""

    def __init__(self, areas: Sequence[Area]) -> None:
        self.areas = tuple(_measured(area) for area in areas)

    def touching(self, lon: Floats, lat: Floats, accuracy_m: Floats) -> Bools:
        """For each observation, whether its accuracy circle touches an area.

        NaN positions or accuracies touch nothing.
        """
        hit = np.zeros(lon.shape, dtype=np.bool_)
        for area in self.areas:
            candidates = np.flatnonzero(_may_touch(area.bounds, lon, lat, accuracy_m) & ~hit)
            if candidates.size == 0:
                continue
            distance = self._metres(area, lon[candidates], lat[candidates])
            hit[candidates[distance <= accuracy_m[candidates]]] = True
        return hit

    @staticmethod
    def _metres(area: _MeasuredArea, lon: Floats, lat: Floats) -> Floats:
        # IP rows share a few placement points: measure each distinct point once
        points, inverse = np.unique(np.column_stack([lon, lat]), axis=0, return_inverse=True)
        x, y = area.to_metres.transform(points[:, 0], points[:, 1])
        distance: Floats = np.asarray(
            shapely.distance(area.projected, shapely.points(x, y)), dtype=np.float64
        )
        return distance[inverse.reshape(-1)]


def _may_touch(
    bounds: tuple[float, float, float, float], lon: Floats, lat: Floats, accuracy_m: Floats
) -> Bools:
    """False only where the accuracy circle surely misses the box (a lower bound on
    the distance, from latitude alone and from longitude at the highest latitude the
    shortest path could reach)."""
    minx, miny, maxx, maxy = bounds
    with np.errstate(invalid="ignore"):
        dlat = np.maximum(np.maximum(miny - lat, lat - maxy), 0.0)
        dlon = np.maximum(np.maximum(minx - lon, lon - maxx), 0.0)
        dlon = np.maximum(
            np.minimum(dlon, 360.0 - (maxx - minx) - dlon), 0.0
        )  # the other way round
        reach_deg = accuracy_m / _M_PER_DEG_LAT
        top = np.minimum(np.abs(lat) + reach_deg, 90.0)
        lon_metres = dlon * _M_PER_DEG_LON * np.cos(np.radians(top))
        result: Bools = (dlat * _M_PER_DEG_LAT <= accuracy_m) & (lon_metres <= accuracy_m)
    return result


class NaiveHits:
    """Per account (by index): how many observations touched, through which sources,
    and when first; memory is a few bytes per account, not per observation."""

    def __init__(self, accounts: int) -> None:
        self.touches = np.zeros(accounts, dtype=np.int64)
        self.sources = np.zeros(accounts, dtype=np.uint8)
        self.first_us = np.full(accounts, NEVER, dtype=np.int64)

    def add(self, account: npt.NDArray[np.int64], source_bits: Any, ts_us: Any) -> None:
        if account.size == 0:
            return
        self.touches += np.bincount(account, minlength=self.touches.size)
        np.bitwise_or.at(self.sources, account, np.asarray(source_bits, dtype=np.uint8))
        np.minimum.at(self.first_us, account, np.asarray(ts_us, dtype=np.int64))

    @property
    def hit(self) -> Bools:
        result: Bools = self.touches > 0
        return result
