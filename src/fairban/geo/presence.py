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

Past the pre-filter most rows are still far from every edge, where p is exactly 1.0 or
0.0 in float64 (Phi(z) rounds to 1.0 from z ~ 8.3 and to 0.0 below z ~ -38; the disc
share is 1 or 0 once the edge is a radius away). A grid over each area holds the signed
distance at the cells' centres; as the signed distance moves by at most the distance
moved, it bounds every point's signed distance from its cell's centre. Only the rows
those bounds leave undecided (near an edge) get the exact ``contains`` and ``distance``;
p and the best area are bit for bit what the exact computation gives everywhere. For a
row decided by the bounds the signed distance returned is the lower bound, never the
exact value: of the right sign, and at most the exact distance (a point 3 km inside may
read 2.9 km). Rows with the same position and radius (an IP's placed region) are
computed once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

M_PER_DEG = 111_320.0
SIGMA_PER_95 = 1 / 2.448
#: sources whose error is a normal distribution around the reported point
NORMAL_SOURCES = ("gps", "wifi")

FloatArray = npt.NDArray[np.float64]

#: Phi(z) is exactly 1.0 from z ~ 8.3 and exactly 0.0 below z ~ -38 (scipy's ndtr, float64)
Z_ONE = 9.0
Z_ZERO = 40.0
#: grid cells along the longer side of an area's (grown) box
GRID_CELLS = 128
#: the grid's box is the area's grown by this share of its longer side on every side
GRID_GROW = 0.1
#: slack on every bound, metres plus a share of the lengths involved: GEOS's distances and
#: the grid's arithmetic round at ~1e-16 of the coordinates, so this is very safe
_TOL_M = 1e-3
_TOL_REL = 1e-9
#: overlap shares kept per area before the cache starts again
_SHARES_KEPT = 4096


@dataclass(frozen=True, eq=False)
class _Grid:
    """Signed distance to the edge (positive inside) at the centres of square cells over
    an area's box grown by a margin, local metres."""

    x0: float
    y0: float
    x1: float
    y1: float
    cell: float
    nx: int
    ny: int
    sd: FloatArray  # (ny, nx)

    @classmethod
    def build(cls, geometry: BaseGeometry, boundary: BaseGeometry) -> _Grid:
        minx, miny, maxx, maxy = geometry.bounds
        # grown so the rows just outside the box still find a nearby centre
        grow = GRID_GROW * max(maxx - minx, maxy - miny)
        x0, y0, x1, y1 = minx - grow, miny - grow, maxx + grow, maxy + grow
        cell = max(x1 - x0, y1 - y0, 1e-6) / GRID_CELLS
        nx = max(1, math.ceil((x1 - x0) / cell))
        ny = max(1, math.ceil((y1 - y0) / cell))
        x1, y1 = x0 + nx * cell, y0 + ny * cell
        cx, cy = np.meshgrid(x0 + (np.arange(nx) + 0.5) * cell, y0 + (np.arange(ny) + 0.5) * cell)
        pts = shapely.points(cx.ravel(), cy.ravel())
        dist = shapely.distance(boundary, pts)
        sd = np.where(shapely.contains(geometry, pts), dist, -dist).reshape(ny, nx)
        return cls(x0, y0, x1, y1, cell, nx, ny, sd)

    def bounds(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of each point's signed distance to the edge."""
        ix = np.clip(np.floor((x - self.x0) / self.cell), 0, self.nx - 1).astype(np.intp)
        iy = np.clip(np.floor((y - self.y0) / self.cell), 0, self.ny - 1).astype(np.intp)
        s = self.sd[iy, ix]
        cx = self.x0 + (ix + 0.5) * self.cell
        cy = self.y0 + (iy + 0.5) * self.cell
        # 1-Lipschitz: |sd(p) - sd(centre)| <= |p - centre|, whichever cell p fell in
        r = np.hypot(x - cx, y - cy)
        lo = s - r
        hi = s + r
        # outside the grid's box, hence outside the area: with q the nearest point of
        # the box, every point of the area is at least hypot(|p - q|, d(q, area)) away
        qx, qy = np.clip(x, self.x0, self.x1), np.clip(y, self.y0, self.y1)
        off = np.hypot(x - qx, y - qy)
        out = off > 0
        if out.any():
            rq = np.hypot(qx[out] - cx[out], qy[out] - cy[out])
            far = np.hypot(off[out], np.maximum(-s[out] - rq, 0.0))
            hi[out] = np.minimum(hi[out], -far)
        tol = _TOL_M + _TOL_REL * (np.abs(s) + r + off)
        return lo - tol, hi + tol


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
    grid: _Grid


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
            grid = _Grid.build(local, boundary)
            self.areas.append(
                _LocalArea(
                    name,
                    lon0,
                    lat0,
                    cos0,
                    local,
                    boundary,
                    local.area,
                    geom.bounds,
                    cos_min,
                    grid,
                )
            )
        # a disc may be huge (the overlap share, see probability) only beside the smallest
        self._smallest_m2 = min((a.area_m2 for a in self.areas), default=np.inf)
        # each area's overlap share by rounded disc, kept across batches (an IP's region
        # recurs in every batch; small batches would otherwise rebuild it each time)
        self._shares: list[dict[tuple[float, float, float], float]] = [{} for _ in self.areas]

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

        The distance is exact only for rows near an edge: where p is decided by the
        grid's bounds (exactly 1 deep inside, exactly 0 far outside, the overlap of a huge
        disc) it is a lower bound of the same sign (module docstring).

        Give ``source`` (names) or ``normal`` (True where the source is GPS or Wi-Fi).
        Exact geometry runs only on the rows within an area's box grown by their radius.
        """
        if normal is None:
            normal = np.isin(np.asarray(source, dtype=object), NORMAL_SOURCES)
        normal = np.asarray(normal)
        n = len(lat)
        rep = self._repeats(lat, lon, accuracy_m, normal)
        if rep is None:
            return self._probability(lat, lon, accuracy_m, normal)
        todo = np.flatnonzero(rep == np.arange(n))
        best, best_p, best_d = self._probability(
            lat[todo], lon[todo], accuracy_m[todo], normal[todo]
        )
        at = np.empty(n, dtype=np.intp)
        at[todo] = np.arange(len(todo))
        at = at[rep]
        return best[at], best_p[at], best_d[at]

    def _repeats(
        self, lat: FloatArray, lon: FloatArray, acc: FloatArray, normal: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.intp] | None:
        """For each row the first row with the same inputs bit for bit, among the discs
        that may be huge (an IP's region repeats across many rows); None if none repeat.
        Every step of ``_probability`` is a function of the row's own inputs alone."""
        arrays = (lat, lon, acc)
        if not all(isinstance(v, np.ndarray) and v.dtype == np.float64 for v in arrays):
            return None
        big = np.flatnonzero(~normal & (np.pi * acc**2 > 4 * self._smallest_m2))
        if len(big) < 2:
            return None
        bits = [np.ascontiguousarray(v[big]).view(np.uint64) for v in arrays]
        key = (
            bits[0] * np.uint64(0x9E3779B97F4A7C15)
            ^ bits[1] * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ bits[2] * np.uint64(0x165667B19E3779F9)
        )
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        same = first[inverse.ravel()]
        # a hash collision between different rows leaves each row its own
        equal = (bits[0][same] == bits[0]) & (bits[1][same] == bits[1]) & (bits[2][same] == bits[2])
        same = np.where(equal, same, np.arange(len(big)))
        if (same == np.arange(len(big))).all():
            return None
        rep = np.arange(len(lat))
        rep[big] = big[same]
        return rep

    def _probability(
        self,
        lat: FloatArray,
        lon: FloatArray,
        accuracy_m: FloatArray,
        normal: npt.NDArray[np.bool_],
    ) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
        n = len(lat)
        best = np.full(n, -1, dtype=np.int64)
        best_p = np.zeros(n)
        best_d = np.full(n, -np.inf)
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
            lo, hi = a.grid.bounds(x, y)
            sigma = np.maximum(acc * SIGMA_PER_95, 1e-6)
            radius = np.maximum(acc, 1e-6)  # as _disc_share divides
            big = ~nrm & (np.pi * acc**2 > 4 * a.area_m2)
            # p exactly 1: Phi(signed / sigma) at z >= Z_ONE, or a disc wholly inside
            one = np.where(nrm, lo >= Z_ONE * sigma, ~big & (lo >= radius))
            # p exactly 0: Phi at z <= -Z_ZERO, or a disc wholly outside (also not huge:
            # signed <= -radius <= -acc)
            zero = hi <= -np.where(nrm, Z_ZERO * sigma, radius)
            # a disc far bigger than the area, reaching it: the exact overlap, whatever the
            # signed distance; only where the bounds settle the sign (dist_m's sign exact)
            huge = big & (lo > -acc) & ((lo > 0) | (hi < 0))
            p = np.where(one, 1.0, 0.0)
            signed = lo
            exact = np.flatnonzero(~(one | zero | huge))
            if len(exact):
                ex, ey, eacc, enrm = x[exact], y[exact], acc[exact], nrm[exact]
                pts = shapely.points(ex, ey)
                inside = shapely.contains(a.geometry_m, pts)
                dist = shapely.distance(a.boundary_m, pts)
                esigned = np.where(inside, dist, -dist)
                p[exact] = np.where(
                    enrm,
                    _phi(esigned / np.maximum(eacc * SIGMA_PER_95, 1e-6)),
                    _disc_share(esigned, eacc),
                )
                signed[exact] = esigned
                huge[exact] = big[exact] & (esigned > -eacc)
            if huge.any():
                p[huge] = _overlap_share(a.geometry_m, x[huge], y[huge], acc[huge], self._shares[k])
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
    # scipy (0.5 s to import) only where positions are judged: a re-score needs none
    from scipy.special import ndtr

    out: FloatArray = ndtr(z)
    return out


def _disc_share(signed: FloatArray, radius: FloatArray) -> FloatArray:
    """Share of a disc of ``radius`` on the inside of a straight edge at ``signed``
    distance from its centre (positive: centre inside)."""
    t = np.clip(np.abs(signed) / np.maximum(radius, 1e-6), 0.0, 1.0)
    beyond = (np.arccos(t) - t * np.sqrt(1 - t * t)) / np.pi  # the smaller cap
    return np.where(signed >= 0, 1 - beyond, beyond)


def _overlap_share(
    area: BaseGeometry,
    x: FloatArray,
    y: FloatArray,
    r: FloatArray,
    cache: dict[tuple[float, float, float], float] | None = None,
) -> FloatArray:
    keys = np.round(np.stack([x, y, r], axis=1), 0)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    shares = np.empty(len(uniq))
    for i, (cx, cy, cr) in enumerate(uniq):
        key = (float(cx), float(cy), float(cr))
        share = None if cache is None else cache.get(key)
        if share is None:
            disc = shapely.Point(cx, cy).buffer(cr, quad_segs=32)
            share = shapely.intersection(area, disc).area / (math.pi * cr * cr)
            if cache is not None:
                if len(cache) >= _SHARES_KEPT:
                    cache.clear()
                cache[key] = share
        shares[i] = share
    result: FloatArray = shares[inverse.ravel()]
    return result
