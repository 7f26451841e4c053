"""Where accounts are seen: daily routines, trips and compounds, measured the way
platforms measure them (GPS, Wi-Fi, cell towers, IP geolocation), with each source's
real kind of error.

Observations are generated for a chunk of accounts at a time, fully vectorised, so
memory is bounded by the chunk and not by the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa

from fairban.geo.iplocate import IpLocator, IpRanges
from fairban.world.population import ALIPAY, POS, QQ, WECHAT, ZONE_TOWNS, World

#: share of each source per platform before ``gps_rate``: gps, wifi, cell, ip
SOURCE_SHARES = {
    WECHAT: (0.50, 0.25, 0.15, 0.10),
    QQ: (0.25, 0.20, 0.15, 0.40),
    ALIPAY: (0.50, 0.20, 0.20, 0.10),
    POS: (0.30, 0.00, 0.60, 0.10),
}
SOURCES = ("gps", "wifi", "cell", "ip")
GPS, WIFI, CELL, IP = range(4)
#: app use over the local day (relative weights, hour 0..23)
DIURNAL = np.array(
    [2, 1, 0.5, 0.3, 0.3, 0.5, 2, 5, 7, 7, 6, 6, 8, 7, 6, 6, 6, 7, 9, 10, 10, 9, 7, 4], dtype=float
)
DIURNAL /= DIURNAL.sum()
#: 95% radius = 2.448 sigma for a circular normal error
SIGMA_PER_95 = 1 / 2.448
M_PER_DEG = 111_320.0
#: base chance that a phone within a border pair's reach uses a tower across the border
SPILL = 0.12
#: base chances that an IP is placed by its carrier's gateway, or in Myanmar
GATEWAY = 0.15
ODD_IP_USERS = 0.01  # share of inland people whose addresses are sometimes placed in Myanmar
MYANMAR_IP_BORDER = 0.12
#: Chinese prefectures whose lines serve the facing Myanmar towns (cross-border fibre)
YUNNAN_BORDER_CITY = {
    10: "德宏傣族景颇族自治州",
    11: "临沧市",
    12: "西双版纳傣族自治州",
    13: "普洱市",
}
CHINA_MNC = ("00", "01", "11")
MYANMAR_MNC = ("01", "05", "06", "09")


@dataclass
class IpPools:
    """Real addresses, drawn per region so that ip2region places them there."""

    ips: list[str]
    lat: np.ndarray
    lon: np.ndarray
    acc: np.ndarray
    start: dict[tuple[str, ...], int]
    size: int


def build_ip_pools(world: World, size: int = 16) -> IpPools:
    rng = np.random.default_rng([world.config.seed, 7])
    ranges = IpRanges.default()
    locator = IpLocator.default()
    keys: list[tuple[str, ...]] = [("缅甸",)]
    pl = world.places
    provinces = sorted({p for p in pl.province if p})
    for prov in provinces:
        keys.append(("中国", prov))
    for prov, city in sorted({(p, c) for p, c in zip(pl.province, pl.city, strict=True) if p}):
        keys.append(("中国", prov, city))
        keys.append(("中国", prov, city, "移动"))
    for city in YUNNAN_BORDER_CITY.values():
        keys.append(("中国", "云南省", city))
    ips: list[str] = []
    start: dict[tuple[str, ...], int] = {}
    for key in dict.fromkeys(keys):
        drawn = _draw(ranges, rng, size, key)
        start[key] = len(ips)
        ips.extend(drawn)
    placed = [locator.lookup(ip) for ip in ips]
    lat = np.array([p.lat if p else np.nan for p in placed])
    lon = np.array([p.lon if p else np.nan for p in placed])
    acc = np.array([p.accuracy_m if p else np.nan for p in placed])
    return IpPools(ips, lat, lon, acc, start, size)


def _draw(ranges: IpRanges, rng: np.random.Generator, n: int, key: tuple[str, ...]) -> list[str]:
    """Addresses for a region, falling back to coarser levels where ip2region has none."""
    tries: list[dict[str, str]] = []
    if len(key) == 1:
        tries.append({"country": key[0]})
    else:
        names = _variants(key[1])
        if len(key) >= 3:
            for prov in names:
                for city in _variants(key[2]):
                    if len(key) == 4:
                        tries.append({"province": prov, "city": city, "isp": key[3]})
                    tries.append({"province": prov, "city": city})
        tries.extend({"province": prov} for prov in names)
        tries.append({"country": "中国"})
    for kwargs in tries:
        try:
            return list(ranges.draw(rng, n, **kwargs))
        except KeyError:
            continue
    raise KeyError(key)


def _variants(name: str) -> list[str]:
    out = [name]
    for suffix in ("省", "市", "壮族自治区", "回族自治区", "维吾尔自治区", "自治区"):
        if name.endswith(suffix):
            out.append(name[: -len(suffix)])
    return out


@dataclass(frozen=True)
class Block:
    """A piece of the observations table: some accounts over some local days."""

    accounts: np.ndarray
    first_day: int
    last_day: int  # exclusive


def observation_blocks(world: World, max_rows: int = 1_500_000) -> list[Block]:
    """Blocks of about ``max_rows`` rows, day-major, so that each day's observations
    land in one file (a day partition holds one or two files, not one per chunk)."""
    acc = world.accounts
    days = world.config.horizon
    per_day = np.where(acc.bought_day < days, acc.rate * 1.5, acc.rate)
    total_per_day = float(per_day.sum())
    if total_per_day <= max_rows:
        span = max(1, int(max_rows // max(total_per_day, 1.0)))
        return [Block(np.arange(len(acc)), d, min(d + span, days)) for d in range(0, days, span)]
    # a single day is too big: split the accounts as well
    bounds = np.searchsorted(np.cumsum(per_day), np.arange(max_rows, total_per_day, max_rows))
    parts = np.split(np.arange(len(acc)), bounds)
    return [Block(part, d, d + 1) for d in range(days) for part in parts]


def observations(world: World, block: Block, pools: IpPools, block_no: int) -> pa.Table:
    """Every observation of the block's accounts on its days, as an Arrow table."""
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 11, block_no])
    acc = world.accounts
    per = world.persons
    pl_lat, pl_lon, pl_zone = world.places.arrays()
    pl_radius = np.asarray(world.places.radius_km)
    chunk = block.accounts
    span = block.last_day - block.first_day

    # how many observations each account has each day
    d_idx = np.arange(block.first_day, block.last_day)
    bought = acc.bought_day[chunk][:, None] <= d_idx[None, :]
    rate = np.where(bought, acc.rate[chunk][:, None], np.minimum(acc.rate[chunk], 3.0)[:, None])
    rate = np.where(acc.registered_day[chunk][:, None] <= d_idx[None, :], rate, 0.0)
    counts = rng.poisson(rate)
    flat = counts.ravel()
    obs_cell = np.repeat(np.arange(flat.size), flat)
    a = chunk[obs_cell // span]
    d = block.first_day + obs_cell % span
    n = len(a)

    is_bought = d >= acc.bought_day[a]
    holder = np.where(is_bought, acc.user[a], acc.owner[a])
    in_compound = is_bought & (acc.farm_device[a] >= 0)
    hour = np.where(in_compound, rng.integers(0, 24, n), rng.choice(24, size=n, p=DIURNAL)).astype(
        np.int64
    )
    ts_s = cfg.day0_utc_s + d * 86_400 + hour * 3600 + rng.integers(0, 3600, n)

    # where the holder is: a trip or compound, else home by night and work by day
    trip_place, trip_day_only = _trip_lookup(world, holder, d)
    night = (hour < 7) | (hour >= 22)
    daytime = (hour >= 8) & (hour < 19)
    on_trip = (trip_place >= 0) & np.where(trip_day_only, daytime, True)
    weekday = ((np.asarray(cfg.first_day.weekday()) + d) % 7) < 5
    at_work = (
        ~on_trip
        & ~night
        & weekday
        & (hour >= 9)
        & (hour < 18)
        & ~np.isnan(per.work_lat[holder])
        & (rng.random(n) < 0.85)
    )
    place = np.where(on_trip, trip_place, per.home[holder])
    lat = np.where(on_trip, pl_lat[np.maximum(trip_place, 0)], per.home_lat[holder])
    lon = np.where(on_trip, pl_lon[np.maximum(trip_place, 0)], per.home_lon[holder])
    lat = np.where(at_work, per.work_lat[holder], lat)
    lon = np.where(at_work, per.work_lon[holder], lon)
    # moving about: a few hundred metres at home or work, the town on a trip
    spread_m = np.where(on_trip, np.minimum(pl_radius[place] * 1000, 3000), 150.0)
    errand = ~night & ~on_trip & (rng.random(n) < 0.2)
    spread_m = np.where(errand, 2500.0, spread_m)
    lat, lon = _offset(lat, lon, rng.normal(0, 1, n) * spread_m, rng.normal(0, 1, n) * spread_m)
    zone = pl_zone[place].astype(np.int64)
    in_myanmar = zone >= 10

    # which source reports the position
    platform = acc.platform[a]
    shares = np.array([SOURCE_SHARES[p] for p in range(4)])
    shares[:, GPS] *= cfg.gps_rate
    shares /= shares.sum(axis=1, keepdims=True)
    cum = np.cumsum(shares[platform], axis=1)
    source = (rng.random(n)[:, None] > cum).sum(axis=1)
    source = np.minimum(source, IP)
    source = np.where(acc.ip_only[a], IP, source)
    gps_wifi_only = acc.persona[a] == "P1"
    source = np.where(gps_wifi_only & (source >= CELL), WIFI, source)

    out_lat = np.empty(n)
    out_lon = np.empty(n)
    out_acc = np.empty(n)
    for src, lo, hi in ((GPS, 5.0, 50.0), (WIFI, 30.0, 500.0)):
        m = source == src
        k = int(m.sum())
        accuracy = np.exp(rng.uniform(np.log(lo), np.log(hi), k))
        sigma = accuracy * SIGMA_PER_95
        out_lat[m], out_lon[m] = _offset(
            lat[m], lon[m], rng.normal(0, 1, k) * sigma, rng.normal(0, 1, k) * sigma
        )
        out_acc[m] = accuracy

    cell_id = np.full(n, None, dtype=object)
    m = source == CELL
    if m.any():
        c_lat, c_lon, c_acc, c_id = _cells(rng, lat[m], lon[m], zone[m], cfg.border_spill, world)
        out_lat[m], out_lon[m], out_acc[m] = c_lat, c_lon, c_acc
        cell_id[m] = c_id

    # IP: on every IP observation and on some others (the client address of the request)
    has_ip = (source == IP) | (rng.random(n) < 0.3)
    ip_idx = _ip_choice(
        rng, world, pools, holder, d, place, zone, on_trip, in_myanmar, a, cfg.ip_error
    )
    ip = np.asarray(pools.ips, dtype=object)[ip_idx]
    ip[~has_ip] = None
    m = source == IP
    out_lat[m], out_lon[m], out_acc[m] = (
        pools.lat[ip_idx[m]],
        pools.lon[ip_idx[m]],
        pools.acc[ip_idx[m]],
    )

    # devices: own phone; compound phones for bought accounts, sometimes the operator's own
    device = per.device[holder]
    farm = in_compound & (rng.random(n) > 0.15)
    # a compound retires a phone (later resold): its accounts move to another one
    farm_now = np.where(d >= acc.farm_until[a], acc.farm_next[a], acc.farm_device[a])
    device = np.where(farm, farm_now, device)
    second_hand = d >= per.new_device_day[holder]
    device = np.where(second_hand, per.new_device[holder], device)
    device_ids = np.char.add("dev-", np.char.mod("%x", device)).astype(object)
    device_ids[~((rng.random(n) < 0.9) | farm)] = None

    order = np.argsort(ts_s, kind="stable")
    day_str = _day_strings(cfg.day0_utc_s, ts_s)
    return pa.table(
        {
            "account_id": pa.array(acc.account_id[a][order], pa.string()),
            "ts": pa.array(ts_s[order] * 1_000_000, pa.timestamp("us", tz="UTC")),
            "lat": pa.array(np.round(out_lat[order], 6)),
            "lon": pa.array(np.round(out_lon[order], 6)),
            "accuracy_m": pa.array(np.round(out_acc[order], 1)),
            "source": pa.DictionaryArray.from_arrays(
                pa.array(source[order].astype(np.int8), pa.int8()), pa.array(SOURCES)
            ).cast(pa.string()),
            "ip": pa.array(ip[order], pa.string()),
            "cell_id": pa.array(cell_id[order], pa.string()),
            "device_id": pa.array(device_ids[order], pa.string()),
            "day": pa.array(day_str[order], pa.string()),
        }
    )


def _day_strings(day0_utc_s: int, ts_s: np.ndarray) -> np.ndarray:
    """UTC date of each timestamp as 'YYYY-MM-DD' (the partition key)."""
    from datetime import UTC, datetime

    first = datetime.fromtimestamp(day0_utc_s - day0_utc_s % 86_400, tz=UTC).date()
    day_no = (ts_s - (day0_utc_s - day0_utc_s % 86_400)) // 86_400
    labels = (
        np.array(
            [(first + timedelta(days=int(i))).isoformat() for i in range(int(day_no.max()) + 1)],
            dtype=object,
        )
        if len(day_no)
        else np.array([], dtype=object)
    )
    return labels[day_no] if len(day_no) else np.array([], dtype=object)


def _trip_lookup(
    world: World, person: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Trip place (or -1) and day-only flag for each (person, day)."""
    trips = world.trips
    days = world.config.horizon
    relevant = np.isin(trips.person, np.unique(person))
    tp, d0, d1 = trips.person[relevant], trips.d0[relevant], trips.d1[relevant]
    place, day_only = trips.place[relevant], trips.day_only[relevant]
    lengths = (d1 - d0 + 1).astype(np.int64)
    rows = np.repeat(np.arange(len(tp)), lengths)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    keys = tp[rows].astype(np.int64) * days + d0[rows] + offsets
    # later trips win over earlier ones on the same day (a compound over a holiday)
    keys_sorted, first = np.unique(keys[::-1], return_index=True)
    src = len(keys) - 1 - first
    q = person.astype(np.int64) * days + day
    pos = np.searchsorted(keys_sorted, q)
    pos = np.minimum(pos, max(len(keys_sorted) - 1, 0))
    hit = (keys_sorted[pos] == q) if len(keys_sorted) else np.zeros(len(q), dtype=bool)
    out_place = np.where(hit, place[rows[src[pos]]] if len(src) else -1, -1)
    out_day_only = np.where(hit, day_only[rows[src[pos]]] if len(src) else False, False)
    return out_place.astype(np.int64), out_day_only.astype(bool)


def _offset(
    lat: np.ndarray, lon: np.ndarray, north_m: np.ndarray, east_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    new_lat = lat + north_m / M_PER_DEG
    new_lon = lon + east_m / (M_PER_DEG * np.cos(np.radians(lat)))
    return new_lat, new_lon


def _cells(
    rng: np.random.Generator,
    lat: np.ndarray,
    lon: np.ndarray,
    zone: np.ndarray,
    spill_factor: float,
    world: World,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The serving tower's position, coverage radius and cell id for each fix.

    Towers sit on a grid (denser in towns); near a border pair a phone is sometimes
    served by a tower of the other country, whose position is then reported.
    """
    n = len(lat)
    border = zone >= 0
    spacing_m = np.where(border, 4000.0, 1500.0) * np.exp(rng.uniform(-0.4, 0.4, n))
    g_lat = spacing_m / M_PER_DEG
    g_lon = spacing_m / (M_PER_DEG * np.cos(np.radians(lat)))
    i = np.round(lat / g_lat)
    j = np.round(lon / g_lon)
    t_lat, t_lon = i * g_lat, j * g_lon
    radius = spacing_m * rng.uniform(1.0, 1.6, n)
    myanmar = zone >= 10

    # across the border: the facing town's towers, big cells reaching over the line
    pair = zone % 10
    spill = (zone >= 0) & (pair <= 3) & (rng.random(n) < SPILL * spill_factor)
    pl_lat, pl_lon, pl_zone = world.places.arrays()
    town_of_zone = {
        int(z): k for k, z in enumerate(pl_zone) if z >= 0 and world.places.name[k] in _TOWN_NAMES
    }
    facing = np.where(myanmar, pair, pair + 10)
    facing_idx = np.array([town_of_zone.get(int(z), 0) for z in facing]) if n else np.array([], int)
    s_lat, s_lon = _offset(
        pl_lat[facing_idx], pl_lon[facing_idx], rng.normal(0, 1500, n), rng.normal(0, 1500, n)
    )
    t_lat = np.where(spill, s_lat, t_lat)
    t_lon = np.where(spill, s_lon, t_lon)
    radius = np.where(spill, rng.uniform(3000, 10_000, n), radius)
    tower_in_myanmar = np.where(spill, ~myanmar, myanmar)

    mcc = np.where(tower_in_myanmar, "414", "460")
    mnc = np.where(
        tower_in_myanmar,
        np.asarray(MYANMAR_MNC)[rng.integers(0, 4, n)],
        np.asarray(CHINA_MNC)[rng.integers(0, 3, n)],
    )
    lac = (
        np.floor(t_lat * 10).astype(np.int64) * 7919 + np.floor(t_lon * 10).astype(np.int64)
    ) % 65_000 + 1
    ci = (
        np.round(t_lat * 1e4).astype(np.int64) * 31 + np.round(t_lon * 1e4).astype(np.int64)
    ) % 268_000_000 + 1
    cell = np.char.add(
        np.char.add(np.char.add(mcc, "-"), np.char.add(mnc, "-")),
        np.char.add(np.char.add(lac.astype(str), "-"), ci.astype(str)),
    ).astype(object)
    return t_lat, t_lon, np.round(radius, 0), cell


_TOWN_NAMES = frozenset(ZONE_TOWNS.values())


def _ip_choice(
    rng: np.random.Generator,
    world: World,
    pools: IpPools,
    holder: np.ndarray,
    day: np.ndarray,
    place: np.ndarray,
    zone: np.ndarray,
    on_trip: np.ndarray,
    in_myanmar: np.ndarray,
    account: np.ndarray,
    ip_error: float,
) -> np.ndarray:
    """Index into the pools of the address each observation came from."""
    n = len(holder)
    pl = world.places
    per = world.persons

    def pool_of(keys: list[tuple[str, ...]]) -> np.ndarray:
        return np.array([pools.start.get(k, pools.start[("缅甸",)]) for k in keys], dtype=np.int64)

    n_places = len(pl.name)
    broadband = pool_of(
        [
            ("中国", pl.province[k], pl.city[k]) if pl.province[k] else ("缅甸",)
            for k in range(n_places)
        ]
    )
    mobile = pool_of(
        [
            ("中国", pl.province[k], pl.city[k], "移动") if pl.province[k] else ("缅甸",)
            for k in range(n_places)
        ]
    )
    gateway = pool_of(
        [("中国", pl.province[k]) if pl.province[k] else ("缅甸",) for k in range(n_places)]
    )
    myanmar = pools.start[("缅甸",)]
    yunnan = {
        z: pools.start.get(("中国", "云南省", c), myanmar) for z, c in YUNNAN_BORDER_CITY.items()
    }
    yunnan_border = np.array([yunnan.get(int(z) % 10 + 10, yunnan[11]) for z in range(20)])

    home = per.home[holder]
    u = rng.random(n)
    base = np.where(u < 0.55, broadband[home], mobile[home])
    # carrier gateways: a mobile address placed in the province's hub
    base = np.where((u >= 0.55) & (rng.random(n) < GATEWAY * ip_error), gateway[home], base)
    # on a trip: hotel Wi-Fi of the place visited, or still the home carrier (roaming)
    base = np.where(on_trip & (rng.random(n) < 0.5), broadband[place], base)
    # ranges ip2region places in Myanmar: rare inland, common on the border
    border_home = world.places.arrays()[2][home] >= 0
    # inland only a few people ever get such addresses (VPNs, roaming SIMs), and then often
    odd_user = (
        holder.astype(np.int64) * 2_654_435_761 % 100_000
    ) < ODD_IP_USERS * 100_000 * ip_error
    p_mm = np.where(border_home, MYANMAR_IP_BORDER * ip_error, np.where(odd_user, 0.03, 0.0))
    base = np.where(rng.random(n) < p_mm, myanmar, base)
    # in Myanmar: Myanmar ranges or Chinese lines from across the border
    zone_idx = np.clip(zone, 0, 19)
    there = np.where(rng.random(n) < 0.6, myanmar, yunnan_border[zone_idx])
    base = np.where(in_myanmar, there, base)
    # P4: on a few days a carrier gateway puts her in Yunnan or Myanmar
    p4 = world.accounts.persona[account] == "P4"
    if p4.any():
        odd_days = np.array([23, 40, 58, 77, 101, 118, 133, 151, 160, 171]) % world.config.days
        odd = p4 & np.isin(day, odd_days)
        base = np.where(odd & (day % 2 == 0), yunnan[11], base)
        base = np.where(odd & (day % 2 == 1), myanmar, base)
    # the same address for a person over a week
    offset = (holder.astype(np.int64) * 2_654_435_761 + (day // 7) * 97) % pools.size
    chosen: np.ndarray = base + offset
    return chosen
