"""How sure it is that an observation was inside an area.

An observation is a reported position with a 95% accuracy radius. Whether the person
was really inside an area depends on the source's error model and on the signed
distance from the position to the area's edge:

- GPS and Wi-Fi: circular normal error, sigma = radius / 2.448; near an edge the area
  is a half-plane, so p = Phi(signed distance / sigma).
- Cell and IP: anywhere in the disc (the tower's coverage, the placed region); p is
  the share of the disc on the inside, from the chord formula near an edge, or the
  exact overlap area when the disc dwarfs the area (an IP placed at the level of a
  country touches every area but puts almost nothing inside any).

A cheap pre-filter (each area's bounding box grown by the row's own radius) keeps the
exact geometry to the few rows near an area; the same test is available as SQL so a
backend can push it down to the scan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from scipy.special import ndtr
from shapely.geometry.base import BaseGeometry

M_PER_DEG = 111_320.0
SIGMA_PER_95 = 1 / 2.448
#: sources whose error is a normal distribution around the reported point
NORMAL_SOURCES = ("gps", "wifi")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _LocalArea:
    name: str
    lon0: float
    lat0: float
    cos0: float
    geometry_m: BaseGeometry  # in a local equirectangular frame, metres
    boundary_m: BaseGeometry
    area_m2: float
    bounds: tuple[float, float, float, float]  # lon/lat degrees
    cos_min: float  # smallest cos(lat) over the box, for conservative growth


class AreaIndex:
    """The directive's areas, ready for fast containment tests."""

    def __init__(self, names: Sequence[str], geometries: Sequence[BaseGeometry]) -> None:
        self.areas: list[_LocalArea] = []
        for name, geom in zip(names, geometries, strict=True):
            minx, miny, maxx, maxy = geom.bounds
            lon0, lat0 = (minx + maxx) / 2, (miny + maxy) / 2
            cos0 = math.cos(math.radians(lat0))
            local = shapely.transform(
                geom, lambda xy, lon0=lon0, lat0=lat0, cos0=cos0: _to_local(xy, lon0, lat0, cos0)
            )
            shapely.prepare(local)
            boundary = local.boundary
            shapely.prepare(boundary)
            cos_min = math.cos(math.radians(max(abs(miny), abs(maxy))))
            self.areas.append(
                _LocalArea(
                    name, lon0, lat0, cos0, local, boundary, local.area, geom.bounds, cos_min
                )
            )

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.areas]

    def candidates(self, lat: FloatArray, lon: FloatArray, accuracy_m: FloatArray) -> np.ndarray:
        """Rows whose accuracy circle may touch an area (bounding boxes grown by radius)."""
        keep = np.zeros(len(lat), dtype=bool)
        for a in self.areas:
            minx, miny, maxx, maxy = a.bounds
            dlat = accuracy_m / M_PER_DEG
            dlon = accuracy_m / (M_PER_DEG * a.cos_min)
            keep |= (
                (lat + dlat >= miny)
                & (lat - dlat <= maxy)
                & (lon + dlon >= minx)
                & (lon - dlon <= maxx)
            )
        return keep

    def sql_prefilter(self, lat: str = "lat", lon: str = "lon", acc: str = "accuracy_m") -> str:
        """The same pre-filter as a SQL predicate (portable: arithmetic and AND/OR only)."""
        parts = []
        for a in self.areas:
            minx, miny, maxx, maxy = a.bounds
            dlat = f"({acc} / {M_PER_DEG})"
            dlon = f"({acc} / {M_PER_DEG * a.cos_min:.3f})"
            parts.append(
                f"({lat} + {dlat} >= {miny:.6f} AND {lat} - {dlat} <= {maxy:.6f} AND "
                f"{lon} + {dlon} >= {minx:.6f} AND {lon} - {dlon} <= {maxx:.6f})"
            )
        return "(" + " OR ".join(parts) + ")"

    def probability(
        self,
        lat: FloatArray,
        lon: FloatArray,
        accuracy_m: FloatArray,
        source: npt.NDArray[np.object_] | Sequence[str] | None = None,
        *,
        normal: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
        """For each row: the most likely area (-1 if none), the probability of being in
        it, and the signed distance in metres to the nearest area's edge (positive
        inside; -inf where no area is within reach).

        Give ``source`` (names) or ``normal`` (True where the source is GPS or Wi-Fi).
        Exact geometry runs only on the rows within an area's box grown by their radius.
        """
        n = len(lat)
        best = np.full(n, -1, dtype=np.int64)
        best_p = np.zeros(n)
        best_d = np.full(n, -np.inf)
        if normal is None:
            normal = np.isin(np.asarray(source, dtype=object), NORMAL_SOURCES)
        for k, a in enumerate(self.areas):
            minx, miny, maxx, maxy = a.bounds
            dlat = accuracy_m / M_PER_DEG
            dlon = accuracy_m / (M_PER_DEG * a.cos_min)
            near = np.flatnonzero(
                (lat + dlat >= miny)
                & (lat - dlat <= maxy)
                & (lon + dlon >= minx)
                & (lon - dlon <= maxx)
            )
            if len(near) == 0:
                continue
            acc, nrm = accuracy_m[near], normal[near]
            x, y = _to_local_xy(lon[near], lat[near], a.lon0, a.lat0, a.cos0)
            pts = shapely.points(x, y)
            inside = shapely.contains(a.geometry_m, pts)
            dist = shapely.distance(a.boundary_m, pts)
            signed = np.where(inside, dist, -dist)
            p = np.where(
                nrm,
                _phi(signed / np.maximum(acc * SIGMA_PER_95, 1e-6)),
                _disc_share(signed, acc),
            )
            # a disc far bigger than the area: the exact overlap, cached per distinct disc
            huge = ~nrm & (np.pi * acc**2 > 4 * a.area_m2) & (signed > -acc)
            if huge.any():
                p[huge] = _overlap_share(a.geometry_m, x[huge], y[huge], acc[huge])
            better = p > best_p[near]
            best[near] = np.where(better, k, best[near])
            best_p[near] = np.where(better, p, best_p[near])
            best_d[near] = np.maximum(best_d[near], signed)
        return best, best_p, best_d


def _to_local(xy: np.ndarray, lon0: float, lat0: float, cos0: float) -> np.ndarray:
    out = np.empty_like(xy)
    out[:, 0] = (xy[:, 0] - lon0) * M_PER_DEG * cos0
    out[:, 1] = (xy[:, 1] - lat0) * M_PER_DEG
    return out


def _to_local_xy(
    lon: FloatArray, lat: FloatArray, lon0: float, lat0: float, cos0: float
) -> tuple[FloatArray, FloatArray]:
    return (lon - lon0) * M_PER_DEG * cos0, (lat - lat0) * M_PER_DEG


def _phi(z: FloatArray) -> FloatArray:
    """Standard normal CDF."""
    out: FloatArray = ndtr(z)
    return out


def _disc_share(signed: FloatArray, radius: FloatArray) -> FloatArray:
    """Share of a disc of ``radius`` on the inside of a straight edge at ``signed``
    distance from its centre (positive: centre inside)."""
    t = np.clip(np.abs(signed) / np.maximum(radius, 1e-6), 0.0, 1.0)
    beyond = (np.arccos(t) - t * np.sqrt(1 - t * t)) / np.pi  # the smaller cap
    return np.where(signed >= 0, 1 - beyond, beyond)


def _overlap_share(area: BaseGeometry, x: FloatArray, y: FloatArray, r: FloatArray) -> FloatArray:
    keys = np.round(np.stack([x, y, r], axis=1), 0)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    shares = np.empty(len(uniq))
    for i, (cx, cy, cr) in enumerate(uniq):
        disc = shapely.Point(cx, cy).buffer(cr, quad_segs=32)
        shares[i] = shapely.intersection(area, disc).area / (math.pi * cr * cr)
    result: FloatArray = shares[inverse.ravel()]
    return result
