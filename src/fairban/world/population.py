"""People, places, accounts, trips and ties of a simulated world.

Everything here is small (one row per person, account, trip or tie) and lives in
memory; the large tables (observations, interactions) are generated from it in
chunks by ``movement`` and ``social`` and streamed to disk.

People live where the 2020 census says (province weights) in real GeoNames towns
(population weights); border towns and the 2019 areas come from real points and
polygons (``fairban.geo``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from shapely.geometry.base import BaseGeometry

from fairban.geo import census
from fairban.geo import places as gazetteer
from fairban.geo.china import ChinaAdmin
from fairban.geo.fraud_areas import FraudArea
from fairban.world.config import WorldConfig
from fairban.world.roles import Role

PLATFORMS = ("wechat", "qq", "alipay", "pos")
WECHAT, QQ, ALIPAY, POS = range(4)

#: Border zones: CN side 0-4, MM side 10-14; z and z + 10 face each other (spill-over).
ZONE_TOWNS: dict[int, str] = {
    0: "Ruili",
    1: "Nansan",
    2: "Daluo",
    3: "Menglian",
    4: "Mengla",
    10: "Muse",
    11: "Laukkai",
    12: "Mong La",
    13: "Pangkham",
    14: "Tachileik",
}
#: Myanmar towns that are (inside) one of the 2019 areas.
AREA_TOWNS = ("Laukkai", "Pangkham", "Mong La", "Tachileik")
INTERIOR = -1


@dataclass
class Places:
    """Anchor points people live at, travel to or work in (towns, compounds)."""

    name: list[str] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    zone: list[int] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    province: list[str] = field(default_factory=list)  # Chinese province name ('' abroad)
    city: list[str] = field(default_factory=list)  # Chinese prefecture name ('' abroad)
    city_gb: list[str] = field(default_factory=list)
    population: list[int] = field(default_factory=list)
    radius_km: list[float] = field(default_factory=list)  # how far homes spread

    def add(
        self,
        name: str,
        lat: float,
        lon: float,
        *,
        zone: int = INTERIOR,
        country: str = "CN",
        province: str = "",
        city: str = "",
        city_gb: str = "",
        population: int = 0,
        radius_km: float = 2.0,
    ) -> int:
        self.name.append(name)
        self.lat.append(lat)
        self.lon.append(lon)
        self.zone.append(zone)
        self.country.append(country)
        self.province.append(province)
        self.city.append(city)
        self.city_gb.append(city_gb)
        self.population.append(population)
        self.radius_km.append(radius_km)
        return len(self.name) - 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.lat), np.asarray(self.lon), np.asarray(self.zone, dtype=np.int16)


@dataclass
class Persons:
    """One row per person. ``home`` is a place index; coordinates are the actual home."""

    role: np.ndarray  # int16 Role
    home: np.ndarray  # int32 place
    home_lat: np.ndarray
    home_lon: np.ndarray
    work_lat: np.ndarray  # NaN: no separate workplace
    work_lon: np.ndarray
    phone_region: np.ndarray  # object: 6-digit GB code or 'MM'
    device: np.ndarray  # int64 own phone id
    persona: np.ndarray  # object: '' or P1..F2 labels
    new_device: np.ndarray  # int64: a second-hand phone used from new_device_day, or -1
    new_device_day: np.ndarray

    def __len__(self) -> int:
        return len(self.role)


@dataclass
class Accounts:
    """One row per account. ``owner`` is the real-name holder (person_id); ``user``
    holds the phone from ``bought_day`` on (bought accounts), else ``user == owner``."""

    account_id: np.ndarray  # object
    platform: np.ndarray  # int8 index into PLATFORMS
    owner: np.ndarray  # int32 person
    user: np.ndarray  # int32 person
    bought_day: np.ndarray  # int32; days >= it are used by ``user``; big = never
    merchant: np.ndarray  # bool
    role: np.ndarray  # int16
    registered_day: np.ndarray  # int32, may be negative (before the window)
    farm_device: np.ndarray  # int64: shared compound phone from bought_day on, or -1
    farm_until: np.ndarray  # int64: from this day on the compound uses farm_next instead
    farm_next: np.ndarray  # int64
    ip_only: np.ndarray  # bool: only IP observations (a QQ kept on a PC)
    rate: np.ndarray  # float: observations per active day
    persona: np.ndarray  # object

    def __len__(self) -> int:
        return len(self.account_id)


@dataclass
class Trips:
    """Stays away from home: [d0, d1] inclusive at ``place``; day_only: back for the night."""

    person: np.ndarray
    d0: np.ndarray
    d1: np.ndarray
    place: np.ndarray
    day_only: np.ndarray


@dataclass
class Ties:
    """Undirected social ties; ``kind`` from TIE_KINDS; rates per day (messages, calls)
    and per 30 days (transfers)."""

    a: np.ndarray
    b: np.ndarray
    kind: np.ndarray
    start_day: np.ndarray  # the tie forms (a friend_add) on this day if >= 0


TIE_KINDS = ("family", "friend", "colleague", "classmate", "romance")
FAMILY, FRIEND, COLLEAGUE, CLASSMATE, ROMANCE = range(5)
#: per tie and day: messages, calls; per tie and 30 days: transfers
TIE_RATES = {
    FAMILY: (0.12, 0.05, 0.5),
    FRIEND: (0.05, 0.01, 0.05),
    COLLEAGUE: (0.06, 0.01, 0.02),
    CLASSMATE: (0.08, 0.01, 0.05),
    ROMANCE: (0.6, 0.2, 1.0),
}


@dataclass
class FraudOperation:
    """The compounds and money chain of the simulated fraud operation."""

    compounds: list[int]  # place indices
    compound_area: list[str]
    outreach_accounts: np.ndarray  # accounts that contact strangers
    operator_own_accounts: np.ndarray  # operators' own accounts (family, peers)
    mule_accounts: np.ndarray
    collector_accounts: np.ndarray
    cashout_pos: np.ndarray
    area_merchant_accounts: np.ndarray  # legit shops in the areas that operators pay
    police_accounts: np.ndarray
    sales_accounts: np.ndarray
    confirmed: dict[int, tuple[str, int]]  # account -> (case_id, day confirmed)
    account_compound: dict[int, int]  # fraud account -> compound place


@dataclass
class World:
    config: WorldConfig
    places: Places
    persons: Persons
    accounts: Accounts
    trips: Trips
    ties: Ties
    fraud: FraudOperation
    areas: tuple[FraudArea, ...]
    #: account index of each (person, platform), -1 where none; personal accounts only
    person_account: np.ndarray
    #: what happens after the directive was issued (``simulate --after``)
    after: Continuation = field(default_factory=lambda: Continuation())


@dataclass
class WorldEvent:
    """Something that happens in the days after the directive (``world.after``)."""

    kind: str  # one of EVENT_KINDS
    day: int  # simulated day it happens on
    accounts: list[int]
    what: str  # one line for the summary and truth


#: see ``world.after``
EVENT_KINDS = ("new_operator", "account_bought", "compound_moved", "mule_stopped", "moved_away")


@dataclass
class Continuation:
    """The days after the directive: the events, and what truth day by day needs."""

    events: list[WorldEvent] = field(default_factory=list)
    #: account -> first day it is established fraud (new operators), before it: no
    #: expectation
    fraud_from: dict[int, int] = field(default_factory=dict)
    #: mule account -> day it stops taking victims' money
    mule_stops: dict[int, int] = field(default_factory=dict)
    #: stopped mule account -> (victim account, paid at, forwarded at: UTC seconds) of
    #: each victim's payment; filled as the interactions are drawn
    mule_log: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    #: the stopped mule account that takes every victim of his last three weeks
    busy_mule: int = -1
    #: person -> day they leave an area town for good
    moved_away: dict[int, int] = field(default_factory=dict)


# -- building -------------------------------------------------------------------------


class _Builder:
    """Accumulates persons, accounts, trips and ties while the world is assembled."""

    def __init__(self, config: WorldConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.days = config.days
        #: trips may run past the window into the days after (``simulate --after``)
        self.horizon = config.horizon
        self.places = Places()
        self.p_role: list[int] = []
        self.p_home: list[int] = []
        self.p_home_ll: list[tuple[float, float]] = []
        self.p_work_ll: list[tuple[float, float]] = []
        self.p_phone: list[str] = []
        self.p_persona: list[str] = []
        self.acc: dict[str, list[object]] = {
            k: []
            for k in (
                "account_id",
                "platform",
                "owner",
                "user",
                "bought_day",
                "merchant",
                "role",
                "registered_day",
                "farm_device",
                "ip_only",
                "rate",
                "persona",
            )
        }
        self.trips: list[tuple[int, int, int, int, bool]] = []
        self.ties: list[tuple[int, int, int, int]] = []
        self.person_accounts: dict[int, dict[int, int]] = {}
        self._ids: set[str] = set()

    # places ---------------------------------------------------------------------------
    def add_china_places(self) -> tuple[dict[str, list[int]], dict[str, int]]:
        """All GeoNames towns of China (population >= 15,000), grouped by province."""
        admin = ChinaAdmin.default()
        by_province: dict[str, list[int]] = {}
        by_city_gb: dict[str, int] = {}
        for pl in gazetteer.china_places():
            province = admin.unit(pl.province_gb).name
            city = _city_name(admin, pl.city_gb)
            radius = float(np.clip(np.sqrt(max(pl.population, 1)) / 400.0, 1.0, 12.0))
            idx = self.places.add(
                pl.name,
                pl.lat,
                pl.lon,
                province=province,
                city=city,
                city_gb=pl.city_gb,
                population=pl.population,
                radius_km=radius,
            )
            by_province.setdefault(pl.province_gb, []).append(idx)
            # the biggest town of a prefecture stands for it
            best = by_city_gb.get(pl.city_gb)
            if best is None or self.places.population[best] < pl.population:
                by_city_gb[pl.city_gb] = idx
        return by_province, by_city_gb

    def add_border_towns(self) -> dict[str, int]:
        admin = ChinaAdmin.default()
        out: dict[str, int] = {}
        for zone, name in ZONE_TOWNS.items():
            pl = gazetteer.border_town(name)
            if pl.country == "CN":
                province = admin.unit(pl.province_gb).name
                city = _city_name(admin, pl.city_gb)
            else:
                province = city = ""
            out[name] = self.places.add(
                name,
                pl.lat,
                pl.lon,
                zone=zone,
                country=pl.country,
                province=province,
                city=city,
                city_gb=pl.city_gb,
                population=pl.population,
                radius_km=2.0,
            )
        return out

    # persons --------------------------------------------------------------------------
    def add_person(
        self,
        role: Role,
        home: int,
        *,
        phone: str | None = None,
        works: bool = True,
        persona: str = "",
        home_spread_km: float | None = None,
    ) -> int:
        rng = self.rng
        lat0, lon0 = self.places.lat[home], self.places.lon[home]
        spread = self.places.radius_km[home] if home_spread_km is None else home_spread_km
        hlat, hlon = _jitter(rng, lat0, lon0, spread)
        if works:
            wlat, wlon = _jitter(rng, lat0, lon0, spread)
        else:
            wlat = wlon = float("nan")
        self.p_role.append(int(role))
        self.p_home.append(home)
        self.p_home_ll.append((hlat, hlon))
        self.p_work_ll.append((wlat, wlon))
        if phone is None:
            phone = "MM" if self.places.country[home] == "MM" else self.places.city_gb[home]
        self.p_phone.append(phone)
        self.p_persona.append(persona)
        return len(self.p_role) - 1

    def add_account(
        self,
        owner: int,
        platform: int,
        role: Role,
        *,
        name: str | None = None,
        merchant: bool = False,
        user: int | None = None,
        bought_day: int | None = None,
        farm_device: int = -1,
        ip_only: bool = False,
        rate: float | None = None,
        persona: str = "",
    ) -> int:
        rng = self.rng
        account_id = _account_id(rng, platform, name)
        while account_id in self._ids:
            account_id = _account_id(rng, platform, None)
        self._ids.add(account_id)
        base_rate = {WECHAT: 3.0, QQ: 1.2, ALIPAY: 1.0, POS: 2.0}[platform]
        a = self.acc
        a["account_id"].append(account_id)
        a["platform"].append(platform)
        a["owner"].append(owner)
        a["user"].append(owner if user is None else user)
        a["bought_day"].append(1 << 30 if bought_day is None else bought_day)
        a["merchant"].append(merchant)
        a["role"].append(int(role))
        a["registered_day"].append(int(-rng.integers(30, 3000)))
        a["farm_device"].append(farm_device)
        a["ip_only"].append(ip_only)
        a["rate"].append(base_rate * float(rng.uniform(0.6, 1.4)) if rate is None else rate)
        a["persona"].append(persona)
        idx = len(a["account_id"]) - 1
        if not merchant:
            self.person_accounts.setdefault(owner, {}).setdefault(platform, idx)
        return idx

    def add_personal_accounts(
        self, person: int, role: Role, persona: str = "", name: str | None = None
    ) -> list[int]:
        """WeChat almost always, QQ and Alipay often: about 2.2 accounts a person."""
        rng = self.rng
        out = []
        for platform, share in ((WECHAT, 0.97), (QQ, 0.6), (ALIPAY, 0.65)):
            if rng.random() < share or (platform == WECHAT):
                acct_name = f"{name}" if name else None
                out.append(
                    self.add_account(person, platform, role, name=acct_name, persona=persona)
                )
        return out

    def tie(self, a: int, b: int, kind: int, start_day: int = -1) -> None:
        if a != b:
            self.ties.append((a, b, kind, start_day))

    def trip(self, person: int, d0: int, d1: int, place: int, day_only: bool = False) -> None:
        d0, d1 = max(d0, 0), min(d1, self.horizon - 1)
        if d0 <= d1:
            self.trips.append((person, d0, d1, place, day_only))

    # tables -----------------------------------------------------------------------------
    def persons(self, resold: list[tuple[int, int, int]]) -> Persons:
        """The persons' table; ``resold`` are (person, phone, from day) of resold phones."""
        home_ll = np.asarray(self.p_home_ll)
        work_ll = np.asarray(self.p_work_ll)
        device = np.arange(len(self.p_role), dtype=np.int64) + 10**10
        persons = Persons(
            role=np.asarray(self.p_role, dtype=np.int16),
            home=np.asarray(self.p_home, dtype=np.int32),
            home_lat=home_ll[:, 0],
            home_lon=home_ll[:, 1],
            work_lat=work_ll[:, 0],
            work_lon=work_ll[:, 1],
            phone_region=np.asarray(self.p_phone, dtype=object),
            device=device,
            persona=np.asarray(self.p_persona, dtype=object),
            new_device=np.full(len(self.p_role), -1, dtype=np.int64),
            new_device_day=np.full(len(self.p_role), 1 << 30, dtype=np.int64),
        )
        for person, device_id, day in resold:
            persons.new_device[person] = device_id
            persons.new_device_day[person] = day
        return persons

    def accounts(self) -> Accounts:
        """The accounts' table (no phone retired yet: ``farm_until``, ``farm_next``)."""
        a = self.acc
        return Accounts(
            account_id=np.asarray(a["account_id"], dtype=object),
            platform=np.asarray(a["platform"], dtype=np.int8),
            owner=np.asarray(a["owner"], dtype=np.int32),
            user=np.asarray(a["user"], dtype=np.int32),
            bought_day=np.asarray(a["bought_day"], dtype=np.int64),
            merchant=np.asarray(a["merchant"], dtype=bool),
            role=np.asarray(a["role"], dtype=np.int16),
            registered_day=np.asarray(a["registered_day"], dtype=np.int64),
            farm_device=np.asarray(a["farm_device"], dtype=np.int64),
            farm_until=np.full(len(a["farm_device"]), 1 << 30, dtype=np.int64),
            farm_next=np.full(len(a["farm_device"]), -1, dtype=np.int64),
            ip_only=np.asarray(a["ip_only"], dtype=bool),
            rate=np.asarray(a["rate"], dtype=float),
            persona=np.asarray(a["persona"], dtype=object),
        )


def _city_name(admin: ChinaAdmin, city_gb: str) -> str:
    try:
        return str(admin.unit(city_gb).name)
    except KeyError:
        return ""


def _jitter(
    rng: np.random.Generator, lat: float, lon: float, radius_km: float
) -> tuple[float, float]:
    """A point within about ``radius_km`` of (lat, lon), denser near the centre."""
    r = radius_km * 1000.0 * np.sqrt(rng.random()) * 0.8
    theta = rng.random() * 2 * np.pi
    dlat = r * np.cos(theta) / 111_320.0
    dlon = r * np.sin(theta) / (111_320.0 * np.cos(np.radians(lat)))
    return float(lat + dlat), float(lon + dlon)


_PREFIX = {WECHAT: "wechat:wxid_", QQ: "qq:", ALIPAY: "alipay:2088", POS: "pos:T"}


def _account_id(rng: np.random.Generator, platform: int, name: str | None) -> str:
    if name:
        return f"{PLATFORMS[platform]}:{name}"
    if platform == WECHAT:
        return _PREFIX[platform] + "".join(
            rng.choice(list("0123456789abcdefghijklmnopqrstuvwxyz"), 12)
        )
    if platform == QQ:
        return _PREFIX[platform] + str(int(rng.integers(10_000_000, 3_999_999_999)))
    if platform == ALIPAY:
        return _PREFIX[platform] + str(int(rng.integers(10**11, 10**12)))
    return _PREFIX[platform] + str(int(rng.integers(10**9, 10**10)))


def _sample_point_in(
    rng: np.random.Generator, geom: BaseGeometry, near: tuple[float, float], within_km: float
) -> tuple[float, float]:
    """A random point inside ``geom`` within ``within_km`` of ``near`` (lat, lon)."""
    from shapely import contains_xy

    lat0, lon0 = near
    for _ in range(10_000):
        lat, lon = _jitter(rng, lat0, lon0, within_km)
        if contains_xy(geom, lon, lat):
            return lat, lon
    point = geom.representative_point()
    return float(point.y), float(point.x)


def provinces_weights() -> tuple[list[str], np.ndarray]:
    provs = census.provinces()
    weights = np.array([p.population for p in provs], dtype=float)
    return [p.gb for p in provs], weights / weights.sum()
