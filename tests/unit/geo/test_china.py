import numpy as np
import pytest
import shapely

from fairban.geo.china import AdminUnit, ChinaAdmin


@pytest.fixture(scope="module")
def admin() -> ChinaAdmin:
    return ChinaAdmin.default()


@pytest.mark.parametrize(
    ("lon", "lat", "province", "city"),
    [
        (102.71833, 25.03889, "530000", "530100"),  # Kunming
        (103.78333, 25.48333, "530000", "530300"),  # Qujing
        (97.86499, 24.00139, "530000", "533100"),  # Ruili (GeoNames 'Mengmao'), Dehong
        (106.55771, 29.56026, "500000", "500000"),  # Chongqing: a municipality
        (104.06667, 30.66667, "510000", "510100"),  # Chengdu
        (109.49, 19.52, "460000", "460400"),  # Danzhou, a city without districts
    ],
)
def test_locate_known_places(
    admin: ChinaAdmin, lon: float, lat: float, province: str, city: str
) -> None:
    assert admin.locate(lon, lat, "province").item() == province
    assert admin.locate(lon, lat).item() == city


def test_ruili_county_and_prefecture_names(admin: ChinaAdmin) -> None:
    district = admin.locate(97.86499, 24.00139, "district").item()
    assert admin.unit(district).name == "瑞丽市"
    assert admin.unit("533100").name == "德宏傣族景颇族自治州"


def test_points_outside_china_get_empty_codes(admin: ChinaAdmin) -> None:
    # Muse (Myanmar), across the river from Ruili; Yangon; the Atlantic; NaN.
    lon = np.array([97.90109, 96.15611, -30.0, np.nan])
    lat = np.array([23.99742, 16.80528, 40.0, np.nan])
    for level in ("province", "city", "district"):
        assert admin.locate(lon, lat, level).tolist() == ["", "", "", ""]


def test_vectorised_equals_scalar(admin: ChinaAdmin) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(97.0, 106.5, 300)  # Yunnan and its neighbours, both sides of the border
    lat = rng.uniform(21.0, 29.5, 300)
    for level in ("province", "city", "district"):
        together = admin.locate(lon, lat, level)
        one_by_one = [admin.locate(x, y, level).item() for x, y in zip(lon, lat, strict=True)]
        assert together.tolist() == one_by_one
        assert (together == "").any()
        assert (together != "").any()


def test_locate_keeps_the_shape(admin: ChinaAdmin) -> None:
    lon = np.full((2, 3), 102.71833)
    lat = np.full((2, 3), 25.03889)
    assert admin.locate(lon, lat).shape == (2, 3)
    assert admin.locate(np.array([]), np.array([])).shape == (0,)


def test_levels_nest(admin: ChinaAdmin) -> None:
    # A point inside each prefecture lies in the province its code names.
    cities = admin.units("city")
    points = shapely.point_on_surface([unit.geometry for unit in cities])
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    assert admin.locate(lon, lat, "province").tolist() == [u.province_gb for u in cities]
    assert admin.locate(lon, lat, "city").tolist() == [u.gb for u in cities]


def test_unit_lookup(admin: ChinaAdmin) -> None:
    qujing = admin.unit("530300")
    assert (qujing.name, qujing.level, qujing.province_gb) == ("曲靖市", "city", "530000")
    assert admin.unit("500000").level == "province"
    assert admin.unit("500000", "city").level == "city"
    with pytest.raises(KeyError):
        admin.unit("999999")
    assert len(admin.units("province")) == 34


def test_by_name(admin: ChinaAdmin) -> None:
    def gb(unit: AdminUnit | None) -> str | None:
        return None if unit is None else unit.gb

    assert gb(admin.by_name("云南省")) == "530000"
    assert gb(admin.by_name("云南")) == "530000"
    assert gb(admin.by_name("昆明市", "city")) == "530100"
    assert gb(admin.by_name("德宏", "city")) == "533100"
    assert gb(admin.by_name("大理", "city")) == "532900"
    assert gb(admin.by_name("广东")) == "440000"
    assert gb(admin.by_name("吉林")) == "220000"
    assert gb(admin.by_name("吉林", "city")) == "220200"
    assert gb(admin.by_name("重庆", "city")) == "500000"
    assert admin.by_name("朝阳区", "district") is None  # in Beijing and in Changchun
    assert gb(admin.by_name("朝阳区", "district", province_gb="110000")) == "110105"
    assert admin.by_name("亚特兰蒂斯") is None


def test_outline(admin: ChinaAdmin) -> None:
    outline = admin.outline()
    assert outline.is_valid
    assert outline.contains(shapely.Point(102.71833, 25.03889))
    assert not outline.contains(shapely.Point(97.90109, 23.99742))
