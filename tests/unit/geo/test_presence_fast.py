"""The grid shortcut in AreaIndex.probability gives exactly what the exact geometry gives.

The reference below is the straightforward computation (contains and distance for every
row near an area); p and the best area must match it bit for bit, and the distance must
match where computed, else be a lower bound of the same sign.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from scipy.special import ndtr
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from fairban.geo import presence
from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.geo.presence import (
    M_PER_DEG,
    SIGMA_PER_95,
    AreaIndex,
    _disc_share,
    _overlap_share,
    _phi,
    _to_local_xy,
)

Result = tuple[np.ndarray, np.ndarray, np.ndarray]


def reference(
    index: AreaIndex, lat: np.ndarray, lon: np.ndarray, acc: np.ndarray, normal: np.ndarray
) -> Result:
    """Every row near an area gets the exact signed distance (the code before the grid)."""
    n = len(lat)
    best = np.full(n, -1, dtype=np.int64)
    best_p = np.zeros(n)
    best_d = np.full(n, -np.inf)
    for k, a in enumerate(index.areas):
        minx, miny, maxx, maxy = a.bounds
        dlat = acc / M_PER_DEG
        dlon = acc / (M_PER_DEG * a.cos_min)
        near = np.flatnonzero(
            (lat + dlat >= miny)
            & (lat - dlat <= maxy)
            & (lon + dlon >= minx)
            & (lon - dlon <= maxx)
        )
        if len(near) == 0:
            continue
        r, nrm = acc[near], normal[near]
        x, y = _to_local_xy(lon[near], lat[near], a.lon0, a.lat0, a.cos0)
        pts = shapely.points(x, y)
        dist = shapely.distance(a.boundary_m, pts)
        signed = np.where(shapely.contains(a.geometry_m, pts), dist, -dist)
        p = np.where(nrm, _phi(signed / np.maximum(r * SIGMA_PER_95, 1e-6)), _disc_share(signed, r))
        huge = ~nrm & (np.pi * r**2 > 4 * a.area_m2) & (signed > -r)
        if huge.any():
            p[huge] = _overlap_share(a.geometry_m, x[huge], y[huge], r[huge])
        better = p > best_p[near]
        best[near] = np.where(better, k, best[near])
        best_p[near] = np.where(better, p, best_p[near])
        best_d[near] = np.maximum(best_d[near], signed)
    return best, best_p, best_d


def assert_same(got: Result, want: Result) -> float:
    """p and area bit for bit; the distance exact or a same-sign lower bound. Returns the
    share of rows whose distance came from the grid (not exact)."""
    area, p, d = got
    want_area, want_p, want_d = want
    assert np.array_equal(p, want_p), f"p differs on {np.flatnonzero(p != want_p)[:10]}"
    assert np.array_equal(area, want_area)
    assert np.array_equal(np.sign(d), np.sign(want_d))
    assert (d <= want_d).all()
    assert np.array_equal(d == -np.inf, want_d == -np.inf)
    return float(np.mean(d != want_d))


def _offset(
    lat: np.ndarray, lon: np.ndarray, metres: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    angle = rng.uniform(0, 2 * np.pi, len(lat))
    dlat = metres * np.sin(angle) / M_PER_DEG
    dlon = metres * np.cos(angle) / (M_PER_DEG * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def random_rows(
    geoms: list[BaseGeometry], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Rows around the areas: on and near the edges at every scale, inside, outside, with
    GPS-like, cell-like and IP-like radii, IP regions repeated (as the pipeline sees them)."""
    lat, lon = [], []
    for g in geoms:
        edge = shapely.line_interpolate_point(
            g.boundary, rng.uniform(0, 1, n // 2), normalized=True
        )
        ex, ey = shapely.get_x(edge), shapely.get_y(edge)
        scale = 10.0 ** rng.uniform(-1, 4.5, len(ex))  # 0.1 m to 30 km off the edge
        ey, ex = _offset(ey, ex, scale * rng.uniform(0, 1, len(ex)), rng)
        minx, miny, maxx, maxy = g.bounds
        w, h = maxx - minx, maxy - miny
        ux = rng.uniform(minx - 0.3 * w, maxx + 0.3 * w, n // 2)
        uy = rng.uniform(miny - 0.3 * h, maxy + 0.3 * h, n // 2)
        lat += [ey, uy]
        lon += [ex, ux]
    la, lo = np.concatenate(lat), np.concatenate(lon)
    m = len(la)
    kind = rng.integers(0, 4, m)  # gps, wifi, cell, ip
    acc = np.where(
        kind < 2,
        10.0 ** rng.uniform(0, 3, m),  # 1 m to 1 km
        np.where(kind == 2, 10.0 ** rng.uniform(2.5, 4.3, m), 10.0 ** rng.uniform(4, 6.3, m)),
    )
    acc[rng.uniform(0, 1, m) < 0.01] = 0.0
    # IP rows placed at a few regions' centres, repeated, with country-sized radii
    ip = np.flatnonzero(kind == 3)
    centres = rng.choice(ip, size=min(6, len(ip)), replace=False)
    pick = rng.choice(centres, size=len(ip) // 2)
    share = ip[: len(pick)]
    la[share], lo[share], acc[share] = (
        la[pick],
        lo[pick],
        rng.choice([1_111_086.0, 127_072.7, 90_913.7], len(pick)),
    )
    return la, lo, acc, kind < 2


@pytest.fixture(scope="module")
def real() -> tuple[AreaIndex, list[BaseGeometry]]:
    areas = fraud_areas_2019()
    geoms = [a.geometry for a in areas]
    return AreaIndex([a.name for a in areas], geoms), geoms


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_areas_random_rows_match_the_exact_computation(
    real: tuple[AreaIndex, list[BaseGeometry]], seed: int
) -> None:
    index, geoms = real
    lat, lon, acc, normal = random_rows(geoms, 3_000, np.random.default_rng(seed))
    want = reference(index, lat, lon, acc, normal)
    grid_share = assert_same(index.probability(lat, lon, acc, normal=normal), want)
    assert grid_share > 0.2  # the shortcut is really taken
    # and the same rows in small batches (the huge-disc cache is shared across calls)
    parts = [
        index.probability(lat[s], lon[s], acc[s], normal=normal[s])
        for s in (slice(i, i + 997) for i in range(0, len(lat), 997))
    ]
    assert_same(tuple(np.concatenate(c) for c in zip(*parts, strict=True)), want)  # type: ignore[arg-type]


def _at_the_thresholds(
    index: AreaIndex, geoms: list[BaseGeometry], rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Rows whose radius puts them right at the shortcut's limits: z = signed / sigma
    around +9 and -40 for GPS, |signed| around the radius for discs."""
    lat, lon, _, _ = random_rows(geoms, 2_000, rng)
    # the exact signed distance to the nearest edge, from a run with tiny GPS radii
    _, _, d = reference(index, lat, lon, np.full(len(lat), 1.0), np.ones(len(lat), dtype=bool))
    keep = np.isfinite(d) & (np.abs(d) > 1.0)
    lat, lon, d = lat[keep], lon[keep], d[keep]
    m = len(lat)
    normal = rng.uniform(0, 1, m) < 0.5
    z = np.where(d > 0, rng.uniform(7.5, 10.5, m), rng.uniform(-45.0, -30.0, m))
    acc = np.where(normal, d / z / SIGMA_PER_95, np.abs(d) * rng.uniform(0.97, 1.03, m))
    return lat, lon, acc, normal


def test_rows_at_the_shortcuts_limits_match(real: tuple[AreaIndex, list[BaseGeometry]]) -> None:
    index, geoms = real
    lat, lon, acc, normal = _at_the_thresholds(index, geoms, np.random.default_rng(7))
    assert_same(
        index.probability(lat, lon, acc, normal=normal), reference(index, lat, lon, acc, normal)
    )


@pytest.mark.parametrize(("name", "value"), [("Z_ONE", 6.0), ("Z_ZERO", 25.0), ("_TOL_M", -50.0)])
def test_a_wrong_shortcut_would_be_caught(
    real: tuple[AreaIndex, list[BaseGeometry]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: float,
) -> None:
    """Loosened limits change p on these rows: the comparisons above do test the margins."""
    index, geoms = real
    lat, lon, acc, normal = _at_the_thresholds(index, geoms, np.random.default_rng(7))
    want = reference(index, lat, lon, acc, normal)
    monkeypatch.setattr(presence, name, value)
    with pytest.raises(AssertionError):
        assert_same(index.probability(lat, lon, acc, normal=normal), want)


def _square(lon0: float, lat0: float, km: float) -> Polygon:
    deg = km * 1000 / M_PER_DEG
    return box(lon0, lat0, lon0 + deg / math.cos(math.radians(lat0)), lat0 + deg)


@pytest.mark.parametrize("lat0", [0.0, 45.0, -62.0])
def test_holes_multipolygons_and_ties(lat0: float) -> None:
    outer = _square(10.0, lat0, 20)
    hole = _square(10.05, lat0 + 0.05, 5)
    holed = Polygon(outer.exterior.coords, [hole.exterior.coords])
    lon1 = 10.0 + 0.3 / math.cos(math.radians(lat0))
    two = MultiPolygon([_square(lon1, lat0, 3), _square(lon1 + 0.05, lat0 + 0.05, 4)])
    twin = two  # the same area again: p ties everywhere
    neighbour = _square(lon1 + 0.05, lat0 + 0.05 + 4000 / M_PER_DEG, 4)  # shares an edge
    geoms: list[BaseGeometry] = [holed, two, twin, neighbour]
    index = AreaIndex(["holed", "two", "twin", "neighbour"], geoms)
    lat, lon, acc, normal = random_rows(geoms, 2_000, np.random.default_rng(int(lat0) + 100))
    got = index.probability(lat, lon, acc, normal=normal)
    want = reference(index, lat, lon, acc, normal)
    assert_same(got, want)
    assert (got[0] == 1).any()
    assert not (got[0] == 2).any()  # ties go to the first area
    assert (got[0] == 3).any()


def test_source_names_and_a_tiny_area() -> None:
    tiny = _square(100.0, 1.0, 0.05)  # 50 m: every cell and IP disc is huge for it
    index = AreaIndex(["tiny", "square"], [tiny, _square(100.01, 1.0, 10)])
    lat, lon, acc, normal = random_rows(
        [tiny, _square(100.01, 1.0, 10)], 1_000, np.random.default_rng(3)
    )
    source = np.where(normal, "gps", np.where(acc > 20_000, "ip", "cell")).astype(object)
    assert_same(index.probability(lat, lon, acc, source), reference(index, lat, lon, acc, normal))


def test_nothing_near_and_empty() -> None:
    index = AreaIndex(["square"], [_square(100.0, 1.0, 10)])
    area, p, d = index.probability(np.array([30.0]), np.array([10.0]), np.array([15.0]), ["gps"])
    assert (area[0], p[0], d[0]) == (-1, 0.0, -np.inf)
    area, p, d = index.probability(
        np.zeros(0), np.zeros(0), np.zeros(0), normal=np.zeros(0, dtype=bool)
    )
    assert len(area) == len(p) == len(d) == 0


def test_the_normal_limits_round_to_exactly_one_and_zero() -> None:
    # the margins the shortcut relies on: Phi is 1.0 a little before Z_ONE and 0.0 a
    # little before -Z_ZERO (far more than the bounds' slack of ~1e-9)
    assert (ndtr(np.linspace(presence.Z_ONE * 0.93, 1e3, 200_001)) == 1.0).all()
    assert (ndtr(-np.linspace(presence.Z_ZERO * 0.96, 1e4, 200_001)) == 0.0).all()
    # and only just: the limits are not much looser than they need be
    assert ndtr(8.2) < 1.0
    assert ndtr(-37.5) > 0.0


def test_the_grid_bounds_hold_everywhere(real: tuple[AreaIndex, list[BaseGeometry]]) -> None:
    """Each area's grid bounds the exact signed distance, on and off the grid's box."""
    index, _ = real
    rng = np.random.default_rng(11)
    for a in index.areas:
        g = a.grid
        w, h = g.x1 - g.x0, g.y1 - g.y0
        spread = 10.0 ** rng.uniform(-2, 1.5, 50_000)  # from inside a cell to 30 boxes away
        x = (g.x0 + g.x1) / 2 + rng.uniform(-1, 1, 50_000) * w * spread
        y = (g.y0 + g.y1) / 2 + rng.uniform(-1, 1, 50_000) * h * spread
        pts = shapely.points(x, y)
        dist = shapely.distance(a.boundary_m, pts)
        signed = np.where(shapely.contains(a.geometry_m, pts), dist, -dist)
        lo, hi = g.bounds(x, y)
        assert (lo <= signed).all()
        assert (signed <= hi).all()
        near = (np.abs(x - (g.x0 + g.x1) / 2) < w / 2) & (np.abs(y - (g.y0 + g.y1) / 2) < h / 2)
        assert (hi - lo)[near].max() <= 2 * g.cell  # and tight on the grid: a cell's diagonal
