import pytest
from pyproj import Geod

from fairban.geo.china import ChinaAdmin
from fairban.geo.places import (
    BORDER_TOWNS_CN,
    BORDER_TOWNS_MM,
    Place,
    border_town,
    china_places,
    place,
    places_near,
)

# Prefecture of each Chinese border town.
_CN_PREFECTURES = {
    "Ruili": "533100",  # 德宏
    "Nansan": "530900",  # 临沧
    "Daluo": "532800",  # 西双版纳
    "Menglian": "530800",  # 普洱
    "Mengla": "532800",  # 西双版纳
}


@pytest.fixture(scope="module")
def places_15k() -> tuple[Place, ...]:
    return china_places()


@pytest.mark.parametrize("name", BORDER_TOWNS_CN)
def test_chinese_border_towns(name: str) -> None:
    town = border_town(name)
    assert town.country == "CN"
    assert town.province_gb == "530000"
    assert town.city_gb == _CN_PREFECTURES[name]


@pytest.mark.parametrize("name", BORDER_TOWNS_MM)
def test_myanmar_border_towns(name: str) -> None:
    town = border_town(name)
    assert town.country == "MM"
    assert (town.province_gb, town.city_gb) == ("", "")
    assert town.geonameid > 0
    assert ChinaAdmin.default().locate(town.lon, town.lat).item() == ""


def test_geonames_spellings() -> None:
    assert border_town("Ruili").name == "Mengmao"
    assert border_town("muse").name == "Mu-se"
    assert border_town("Mong La").name == "Möng La"
    assert border_town("Tachileik").name == "Tachilek"
    with pytest.raises(KeyError):
        border_town("Kunming")


def test_fallback_towns_lie_in_their_counties() -> None:
    admin = ChinaAdmin.default()
    for name, county in (("Daluo", "532822"), ("Menglian", "530827")):
        town = border_town(name)
        assert town.geonameid == 0
        assert admin.locate(town.lon, town.lat, "district").item() == county


def test_pairs_across_the_border_are_close() -> None:
    geod = Geod(ellps="WGS84")
    for cn, mm, km in (("Ruili", "Muse", 6), ("Daluo", "Mong La", 8), ("Nansan", "Laukkai", 15)):
        a, b = border_town(cn), border_town(mm)
        assert geod.inv(a.lon, a.lat, b.lon, b.lat)[2] < km * 1000


def test_china_places_are_located(places_15k: tuple[Place, ...]) -> None:
    assert len(places_15k) > 1000
    assert all(p.country == "CN" and p.population >= 15000 for p in places_15k)
    assert all(len(p.province_gb) == 6 and len(p.city_gb) == 6 for p in places_15k)
    assert [p.population for p in places_15k] == sorted(
        (p.population for p in places_15k), reverse=True
    )
    by_name = {p.name: p for p in places_15k}
    assert by_name["Kunming"].city_gb == "530100"
    assert by_name["Qujing"].city_gb == "530300"
    assert by_name["Chongqing"].city_gb == "500000"


def test_bigger_threshold_gives_a_subset(places_15k: tuple[Place, ...]) -> None:
    big = china_places(1_000_000)
    assert 0 < len(big) < len(places_15k)
    assert set(big) <= set(places_15k)


def test_place_by_name() -> None:
    assert place("Kunming").city_gb == "530100"
    assert place("ruili") == border_town("Ruili")
    assert place("Yangon").country == "MM"
    for unknown in ("Atlantis", "Paris"):
        with pytest.raises(KeyError):
            place(unknown)


def test_places_near() -> None:
    muse = border_town("Muse")
    nearby = places_near(muse.lon, muse.lat, 10, ("CN", "MM"))
    assert nearby[0] == muse
    assert border_town("Ruili") in nearby
    assert {p.country for p in nearby} == {"CN", "MM"}
    assert places_near(muse.lon, muse.lat, 10, ("TH",)) == ()
