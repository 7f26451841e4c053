"""The naive presence rule: exact on made-up points, and on a simulated world equal to
a brute-force computation that shares none of its code (haversine distances to the
densified area boundaries, every observation, no bounding-box filter)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import shapely
from pyproj import Geod
from shapely.geometry import Polygon

from fairban.contract import Area
from fairban.preview.naive import PresenceRule

from .conftest import PreviewCase
from .test_report import read

_GEOD = Geod(ellps="WGS84")
_EARTH_M = 6_371_008.8


def square(name: str = "box") -> Area:
    geometry = Polygon([(98.70, 23.65), (98.80, 23.65), (98.80, 23.75), (98.70, 23.75)])
    return Area(name, geometry, 100.0)


def east_of_edge(metres: float, lat: float = 23.70) -> tuple[float, float]:
    lon, lat2, _ = _GEOD.fwd(98.80, lat, 90.0, metres)
    return lon, lat2


def touching(rule: PresenceRule, points: list[tuple[float, float, float]]) -> list[bool]:
    lon, lat, accuracy = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    return rule.touching(lon, lat, accuracy).tolist()


def test_accuracy_circle_touching_the_edge() -> None:
    rule = PresenceRule([square()])
    lon, lat = east_of_edge(1000.0)
    assert touching(rule, [(98.75, 23.70, 5.0), (lon, lat, 990.0), (lon, lat, 1010.0)]) == [
        True,
        False,
        True,
    ]


def test_far_and_odd_points() -> None:
    rule = PresenceRule([square()])
    naypyidaw = (96.13, 19.75)
    points = [
        (*naypyidaw, 1_111_000.0),  # ip2region's "Myanmar": touches
        (*naypyidaw, 100_000.0),
        (-100.0, 40.0, 7_802_000.0),  # the other side of the world
        (179.9, 23.7, 50.0),
        (float("nan"), 23.7, 50.0),
        (98.75, 23.70, float("nan")),
    ]
    assert touching(rule, points) == [True, False, False, False, False, False]


def test_box_filter_never_drops_a_hit() -> None:
    rng = np.random.default_rng(11)
    n = 4000
    lon = rng.uniform(60, 150, n)
    lat = rng.uniform(-5, 60, n)
    accuracy = np.exp(rng.uniform(np.log(10), np.log(4_000_000), n))
    area = square()
    rule = PresenceRule([area])
    measured = rule.areas[0]
    x, y = measured.to_metres.transform(lon, lat)
    exact = np.asarray(shapely.distance(measured.projected, shapely.points(x, y))) <= accuracy
    assert exact.sum() > 50
    assert rule.touching(lon, lat, accuracy).tolist() == exact.tolist()


def _haversine(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * _EARTH_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _to_boundary(area: Area, lon: np.ndarray, lat: np.ndarray, step_deg: float) -> np.ndarray:
    vertices = shapely.get_coordinates(shapely.segmentize(area.geometry.boundary, step_deg))
    best = np.full(lon.shape, np.inf)
    for start in range(0, lon.size, 2000):
        chunk = slice(start, start + 2000)
        d = _haversine(
            lon[chunk, None], lat[chunk, None], vertices[None, :, 0], vertices[None, :, 1]
        )
        best[chunk] = d.min(axis=1)
    return best


def _distance(
    areas: tuple[Area, ...], lon: np.ndarray, lat: np.ndarray, accuracy: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Metres from each point to the nearest area (a lower bound where that is surely
    beyond the accuracy: the triangle inequality through the area's centroid), and
    whether the point is inside an area."""
    best = np.full(lon.shape, np.inf)
    inside = np.zeros(lon.shape, dtype=bool)
    for area in areas:
        centre = area.geometry.centroid
        ring = shapely.get_coordinates(area.geometry.boundary)
        radius = _haversine(centre.x, centre.y, ring[:, 0], ring[:, 1]).max()
        bound = _haversine(centre.x, centre.y, lon, lat) - radius
        near = np.flatnonzero(bound <= 1.01 * accuracy + 100)
        d = bound.copy()
        d[near] = _to_boundary(area, lon[near], lat[near], step)
        within = shapely.contains_xy(area.geometry, lon, lat)
        d[within] = 0.0
        inside |= within
        best = np.minimum(best, d)
    return best, inside


def test_naive_hits_agree_with_brute_force(preview_case: PreviewCase) -> None:
    directive = preview_case.directive
    accounts = pq.read_table(preview_case.evidence / "accounts.parquet")
    scoped = accounts.filter(
        pc.is_in(accounts["platform"], value_set=pa.array(directive.platforms))
    )
    obs = ds.dataset(preview_case.evidence / "observations", format="parquet").to_table(
        columns=["account_id", "ts", "lat", "lon", "accuracy_m"]
    )
    ts = obs["ts"]
    in_window = pc.and_(
        pc.greater(ts, pa.scalar(directive.window_start, pa.timestamp("us", "UTC"))),
        pc.less_equal(ts, pa.scalar(directive.window_end, pa.timestamp("us", "UTC"))),
    )
    obs = obs.filter(
        pc.and_(in_window, pc.is_in(obs["account_id"], value_set=scoped["account_id"]))
    )
    lon, lat = obs["lon"].to_numpy(), obs["lat"].to_numpy()
    accuracy = obs["accuracy_m"].to_numpy()

    distance, inside = _distance(directive.areas, lon, lat, accuracy, 0.005)  # ~500 m steps
    close = np.flatnonzero(np.abs(distance - accuracy) < 2000 + 0.01 * accuracy)
    distance[close], _ = _distance(
        directive.areas, lon[close], lat[close], accuracy[close], 0.0001
    )  # ~10 m steps
    # a sphere is not the ellipsoid: within 0.5% (+ densification) a row may go either way
    doubt = ~inside & (np.abs(distance - accuracy) <= 0.005 * accuracy + 10)
    hit = distance <= accuracy

    ids = np.asarray(obs["account_id"].to_pylist(), dtype=object)
    sure = Counter(ids[hit & ~doubt].tolist())
    maybe = Counter(ids[doubt].tolist())
    report = {
        r["account_id"]: r["naive_touches"]
        for r in read(preview_case.report, "naive_hits.csv").to_pylist()
        if r["naive_hit"]
    }
    assert sum(sure.values()) > 100
    assert int(doubt.sum()) <= 0.01 * int(hit.sum())
    for account in set(sure) | set(report):
        touches = report.get(account, 0)
        assert sure[account] <= touches <= sure[account] + maybe[account], account
    assert preview_case.summary.naive_accounts == len(report)
