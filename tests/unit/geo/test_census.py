from fairban.geo.census import ACTIVE_SERVICEMEN_2020, MAINLAND_TOTAL_2020, provinces
from fairban.geo.china import ChinaAdmin


def test_thirty_one_units_sorted_by_code() -> None:
    units = provinces()
    assert len(units) == 31
    assert [p.gb for p in units] == sorted(p.gb for p in units)
    assert all(len(p.gb) == 6 and p.gb.endswith("0000") for p in units)


def test_units_add_up_to_the_national_total_without_servicemen() -> None:
    total = sum(p.population for p in provinces())
    assert total == 1_409_778_724
    assert total + ACTIVE_SERVICEMEN_2020 == MAINLAND_TOTAL_2020 == 1_411_778_724


def test_published_figures() -> None:
    by_name = {p.name_en: p for p in provinces()}
    assert by_name["Guangdong"].population == 126_012_510
    assert by_name["Yunnan"].population == 47_209_277
    assert by_name["Sichuan"].population == 83_674_866
    assert by_name["Chongqing"].population == 32_054_159
    assert by_name["Guizhou"].population == 38_562_148
    assert by_name["Yunnan"].gb == "530000"
    assert by_name["Yunnan"].name_zh == "云南省"


def test_names_match_the_polygons() -> None:
    admin = ChinaAdmin.default()
    for province in provinces():
        assert admin.unit(province.gb).name == province.name_zh
