"""How sure an observation is of being inside an area (geo/presence.py)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from shapely.geometry import box

from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.geo.presence import AreaIndex

# a 10 km x 10 km square near the equator, so metres are easy to reason about
SQUARE = box(100.0, 0.0, 100.0 + 10_000 / 111_320, 10_000 / 111_320)
INDEX = AreaIndex(["square"], [SQUARE])
CENTRE = (5_000 / 111_320, 100.0 + 5_000 / 111_320)  # lat, lon


def prob(lat: float, lon: float, acc: float, source: str) -> float:
    area, p, _ = INDEX.probability(np.array([lat]), np.array([lon]), np.array([acc]), [source])
    return float(p[0]) if area[0] >= 0 else 0.0


def test_gps_deep_inside_is_sure_and_far_outside_is_nothing() -> None:
    assert prob(*CENTRE, 20, "gps") > 0.999
    assert prob(CENTRE[0], 100.0 - 0.01, 20, "gps") == 0.0  # 1.1 km west of the edge


def test_on_the_edge_is_a_coin_toss_for_gps_and_cells() -> None:
    lat = CENTRE[0]
    assert prob(lat, 100.0, 30, "gps") == pytest.approx(0.5, abs=0.01)
    assert prob(lat, 100.0, 3_000, "cell") == pytest.approx(0.5, abs=0.01)


def test_a_cell_disc_straddling_the_edge_counts_its_share() -> None:
    # tower 1 km outside, 3 km radius: the cap beyond a chord at a third of the radius
    lat, lon = CENTRE[0], 100.0 - 1_000 / 111_320
    t = 1 / 3
    cap = (np.arccos(t) - t * np.sqrt(1 - t * t)) / np.pi
    assert prob(lat, lon, 3_000, "cell") == pytest.approx(cap, rel=0.02)


def test_an_ip_placed_at_the_level_of_a_country_puts_almost_nothing_inside() -> None:
    # a 1,111 km disc around the square: share = 100 km2 / (pi * 1111^2 km2)
    expected = 100 / (np.pi * 1_111**2)
    assert prob(*CENTRE, 1_111_000, "ip") == pytest.approx(expected, rel=0.05)


def test_signed_distance_and_best_area() -> None:
    areas = fraud_areas_2019()
    index = AreaIndex([a.name for a in areas], [a.geometry for a in areas])
    laukkai = next(a for a in areas if a.name == "Laukkai").geometry.representative_point()
    area, p, d = index.probability(
        np.array([laukkai.y, 30.0]),
        np.array([laukkai.x, 104.0]),
        np.array([15.0, 15.0]),
        normal=np.array([True, True]),
    )
    assert index.names[area[0]] == "Laukkai"
    assert p[0] > 0.99
    assert d[0] > 0
    assert area[1] == -1
    assert p[1] == 0.0
    assert d[1] == -np.inf


def test_sql_prefilter_keeps_exactly_what_candidates_keeps() -> None:
    areas = fraud_areas_2019()
    index = AreaIndex([a.name for a in areas], [a.geometry for a in areas])
    rng = np.random.default_rng(1)
    lat = rng.uniform(19, 26, 20_000)
    lon = rng.uniform(96, 103, 20_000)
    acc = np.exp(rng.uniform(np.log(5), np.log(200_000), 20_000))
    mask = index.candidates(lat, lon, acc)
    con = duckdb.connect()
    con.execute("CREATE TABLE o (i INTEGER, lat DOUBLE, lon DOUBLE, accuracy_m DOUBLE)")
    con.executemany(
        "INSERT INTO o VALUES (?, ?, ?, ?)",
        [
            (i, float(a), float(b), float(c))
            for i, (a, b, c) in enumerate(zip(lat, lon, acc, strict=False))
        ],
    )
    rows = con.execute(f"SELECT i FROM o WHERE {index.sql_prefilter()} ORDER BY i").fetchall()
    assert [r[0] for r in rows] == list(np.flatnonzero(mask))
    # and nothing the exact test finds is lost by the pre-filter
    _area, p, _ = index.probability(lat, lon, acc, normal=np.ones(len(lat), dtype=bool))
    assert not (p[~mask] > 0).any()
