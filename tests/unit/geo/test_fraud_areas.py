import json

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape
from shapely.ops import nearest_points

from fairban.geo.china import ChinaAdmin
from fairban.geo.fraud_areas import FraudArea, areas_geojson, fraud_areas_2019
from fairban.geo.places import border_town, places_near

_GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def areas() -> tuple[FraudArea, ...]:
    return fraud_areas_2019()


def _km2(geometry: shapely.Geometry) -> float:
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    return abs(_GEOD.geometry_area_perimeter(oriented)[0]) / 1e6


def test_the_four_towns(areas: tuple[FraudArea, ...]) -> None:
    assert [(a.name, a.township_pcode) for a in areas] == [
        ("Laukkai", "MMR015022"),
        ("Pangkham", "MMR015317"),
        ("Mong La", "MMR016005"),
        ("Tachileik", "MMR016009"),
    ]


def test_areas_are_valid_polygons_of_plausible_size(areas: tuple[FraudArea, ...]) -> None:
    for area in areas:
        assert area.geometry.geom_type in ("Polygon", "MultiPolygon")
        assert area.geometry.is_valid
        assert not area.geometry.is_empty
        assert 20 <= area.km2 <= 400, area
        assert area.km2 == pytest.approx(_km2(area.geometry))
        assert area.points_used >= 4


def test_no_area_reaches_into_china(areas: tuple[FraudArea, ...]) -> None:
    china = ChinaAdmin.default().outline()
    for area in areas:
        overlap = area.geometry.intersection(china)
        assert overlap.is_empty or _km2(overlap) < 0.01, area.name


def test_each_area_holds_its_town(areas: tuple[FraudArea, ...]) -> None:
    for area in areas:
        town = border_town(area.name)
        point = shapely.Point(town.lon, town.lat)
        if ChinaAdmin.default().locate(town.lon, town.lat).item():
            nearest = nearest_points(area.geometry, point)[0]
            assert _GEOD.inv(town.lon, town.lat, nearest.x, nearest.y)[2] < 2000
        else:
            assert area.geometry.contains(point), area.name


def test_areas_keep_out_of_thai_and_lao_towns(areas: tuple[FraudArea, ...]) -> None:
    tachileik = border_town("Tachileik")
    assert places_near(tachileik.lon, tachileik.lat, 5, ("TH",))[0].name == "Mae Sai"
    for area in areas:
        town = border_town(area.name)
        for foreign in places_near(town.lon, town.lat, 30, ("TH", "LA")):
            assert not area.geometry.intersects(shapely.Point(foreign.lon, foreign.lat))


def test_areas_are_apart(areas: tuple[FraudArea, ...]) -> None:
    for i, a in enumerate(areas):
        for b in areas[i + 1 :]:
            assert not a.geometry.intersects(b.geometry)


def test_geojson(areas: tuple[FraudArea, ...]) -> None:
    collection = json.loads(json.dumps(areas_geojson(areas)))
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [f["properties"]["name"] for f in features] == [a.name for a in areas]
    for feature, area in zip(features, areas, strict=True):
        assert set(feature["properties"]) >= {"name", "township_pcode", "source"}
        geometry = shape(feature["geometry"])
        assert geometry.is_valid
        assert _km2(geometry) == pytest.approx(area.km2, rel=1e-3)
        polygons = (
            [feature["geometry"]["coordinates"]]
            if feature["geometry"]["type"] == "Polygon"
            else feature["geometry"]["coordinates"]
        )
        for polygon in polygons:
            for ring in polygon:
                assert ring[0] == ring[-1]
                assert len(ring) >= 4
                assert all(round(c, 6) == c for point in ring for c in point)
