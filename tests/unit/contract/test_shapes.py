"""Geodesic areas and GeoJSON polygons (fairban.geo.shapes)."""

from __future__ import annotations

import pytest
from shapely.geometry import MultiPolygon, Polygon

from fairban.errors import InputError
from fairban.geo.shapes import geodesic_km2, polygonal_from_geojson

EQUATOR_DEGREE = Polygon([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)])


def test_a_square_degree_at_the_equator() -> None:
    # 111.32 km x 110.57 km on WGS-84
    assert geodesic_km2(EQUATOR_DEGREE) == pytest.approx(12_308.8, rel=1e-3)


def test_area_shrinks_towards_the_poles_and_ignores_winding() -> None:
    north = Polygon([(0, 60), (0, 61), (1, 61), (1, 60), (0, 60)])  # clockwise
    assert geodesic_km2(north) == pytest.approx(geodesic_km2(EQUATOR_DEGREE) * 0.49, rel=0.02)


def test_a_multipolygon_is_the_sum_of_its_parts() -> None:
    other = Polygon([(10, 0), (11, 0), (11, 1), (10, 1), (10, 0)])
    both = MultiPolygon([EQUATOR_DEGREE, other])
    assert geodesic_km2(both) == pytest.approx(2 * geodesic_km2(EQUATOR_DEGREE))


def test_geojson_polygon_to_shapely() -> None:
    shape = polygonal_from_geojson(
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}, "x"
    )
    assert shape.equals(EQUATOR_DEGREE)


def test_errors_carry_the_callers_place() -> None:
    with pytest.raises(InputError) as caught:
        polygonal_from_geojson({"type": "LineString", "coordinates": []}, "zones.geojson feature 3")
    assert str(caught.value) == (
        "zones.geojson feature 3: geometry type 'LineString' is not Polygon or MultiPolygon"
    )
