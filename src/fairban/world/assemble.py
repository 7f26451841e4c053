"""Who lives in a simulated world: the ordinary population, the border, the fraud
operation, the hard cases around it, and the seed personas of 2019.

Counts scale with the world's size, with minimums so that even a small world holds
every kind of person the engine must get right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.world.config import HOLIDAYS, WorldConfig
from fairban.world.population import (
    ALIPAY,
    AREA_TOWNS,
    CLASSMATE,
    COLLEAGUE,
    FAMILY,
    FRIEND,
    POS,
    QQ,
    ROMANCE,
    WECHAT,
    Accounts,
    FraudOperation,
    Persons,
    Ties,
    Trips,
    World,
    _Builder,
    _sample_point_in,
    provinces_weights,
)
from fairban.world.roles import Role

#: provinces where money mules are most often recruited (2019 case reports)
MULE_PROVINCES = ("440000", "450000", "350000", "430000", "410000", "360000")
#: casinos and markets draw tourists to these towns
TOURIST_TOWNS = ("Mong La", "Tachileik", "Laukkai", "Muse")


def build_world(config: WorldConfig) -> World:
    """Assemble the people, accounts, trips and ties of a world (deterministic per seed)."""
    rng = np.random.default_rng([config.seed, 20191014])
    b = _Builder(config, rng)
    by_province, by_city = b.add_china_places()
    towns = b.add_border_towns()
    areas = fraud_areas_2019()
    area_geom = {a.name: a.geometry for a in areas}
    days = config.days
    n = max(40, round(config.accounts / 2.55))  # the others come with the special roles

    all_codes, all_weights = provinces_weights()
    keep = [i for i, p in enumerate(all_codes) if p in by_province]
    prov_codes = [all_codes[i] for i in keep]
    w = all_weights[keep] / all_weights[keep].sum()

    def random_town(province: str | None = None) -> int:
        prov = province or prov_codes[int(rng.choice(len(prov_codes), p=w))]
        idx = by_province[prov]
        pop = np.array([b.places.population[i] for i in idx], dtype=float)
        return idx[int(rng.choice(len(idx), p=pop / pop.sum()))]

    def city_town(city_gb: str) -> int:
        return by_city[city_gb]

    def count(share: float, minimum: int) -> int:
        return max(minimum, round(share * n))

    # -- the ordinary population ------------------------------------------------------
    ordinary: list[int] = []
    students: list[int] = []
    capitals = {p: max(idx, key=lambda i: b.places.population[i]) for p, idx in by_province.items()}
    for _ in range(n):
        home = random_town()
        role = Role.ORDINARY
        if rng.random() < 0.10:
            role = Role.STUDENT
            home = capitals[b.places.city_gb[home][:2] + "0000"] if rng.random() < 0.7 else home
        phone = None
        if rng.random() < 0.15:  # a migrant keeps the phone number of the home town
            phone = b.places.city_gb[random_town()]
        p = b.add_person(role, home, phone=phone, works=role != Role.STUDENT)
        (students if role == Role.STUDENT else ordinary).append(p)
        b.add_personal_accounts(p, role)

    # merchants: a shop account (QR payments) and often a POS terminal
    merchants: list[int] = []
    for p in rng.choice(ordinary, size=count(0.04, 6), replace=False):
        p = int(p)
        b.p_role[p] = Role.MERCHANT
        for acc in b.person_accounts.get(p, {}).values():
            b.acc["role"][acc] = int(Role.MERCHANT)
        b.add_account(p, WECHAT if rng.random() < 0.6 else ALIPAY, Role.MERCHANT, merchant=True)
        if rng.random() < 0.4:
            b.add_account(p, POS, Role.MERCHANT, merchant=True)
        merchants.append(p)
    taken = set(merchants)

    def pick(pool: list[int], k: int) -> list[int]:
        free = [p for p in pool if p not in taken]
        chosen = [int(x) for x in rng.choice(free, size=min(k, len(free)), replace=False)]
        taken.update(chosen)
        return chosen

    def set_role(p: int, role: Role) -> None:
        b.p_role[p] = int(role)
        for acc in b.person_accounts.get(p, {}).values():
            b.acc["role"][acc] = int(role)

    # -- the border: residents on both sides, traders, tourists -----------------------
    border_people: dict[str, list[int]] = {}
    town_shares = {
        "Ruili": 0.32,
        "Nansan": 0.14,
        "Daluo": 0.1,
        "Menglian": 0.1,
        "Mengla": 0.1,
        "Muse": 0.24,
    }
    for town, share in town_shares.items():
        for _ in range(max(2, round(count(0.025, 12) * share))):
            p = b.add_person(Role.BORDER_RESIDENT, towns[town])
            b.add_personal_accounts(p, Role.BORDER_RESIDENT)
            border_people.setdefault(town, []).append(p)
            if rng.random() < 0.3:  # shops on the border take QR payments
                b.add_account(p, WECHAT, Role.BORDER_RESIDENT, merchant=True)
    area_residents: dict[str, list[int]] = {}
    area_merchants: list[int] = []
    for town in AREA_TOWNS:
        for _ in range(max(3, round(count(0.006, 12) / len(AREA_TOWNS)))):
            chinese = rng.random() < 0.3  # Chinese shopkeepers keep their Chinese numbers
            phone = b.places.city_gb[random_town("530000")] if chinese else "MM"
            p = b.add_person(Role.AREA_RESIDENT, towns[town], phone=phone)
            b.add_personal_accounts(p, Role.AREA_RESIDENT)
            area_residents.setdefault(town, []).append(p)
            if rng.random() < 0.45:
                area_merchants.append(b.add_account(p, WECHAT, Role.AREA_RESIDENT, merchant=True))
    traders: list[int] = []
    trade_routes = (("Nansan", "Laukkai"), ("Daluo", "Mong La"), ("Ruili", "Muse"))
    for i in range(count(0.004, 4)):
        home_town, crossing = trade_routes[i % len(trade_routes)]
        p = b.add_person(Role.TRADER, towns[home_town])
        b.add_personal_accounts(p, Role.TRADER)
        traders.append(p)
        for d in range(days):
            if (
                rng.random() < 0.35
                and date.fromordinal(config.first_day.toordinal() + d).weekday() < 6
            ):
                b.trip(p, d, d, towns[crossing], day_only=True)
    for p in pick(ordinary, count(0.01, 4)):
        set_role(p, Role.TOURIST)
        start = int(rng.integers(0, days - 4))
        if rng.random() < 0.5:  # most go on a holiday
            h0, h1 = HOLIDAYS[int(rng.integers(len(HOLIDAYS)))]
            start = (h0 - config.first_day).days
        b.trip(p, start, start + int(rng.integers(1, 4)), towns[str(rng.choice(TOURIST_TOWNS))])

    # -- ordinary trips: holidays, business, family visits ----------------------------
    for p in range(len(b.p_role)):
        if b.p_role[p] in (Role.AREA_RESIDENT,):
            continue
        for _ in range(int(rng.poisson(1.2))):
            dest = random_town()
            if rng.random() < 0.45:
                h0, h1 = HOLIDAYS[int(rng.integers(len(HOLIDAYS)))]
                d0 = (h0 - config.first_day).days
                d1 = (h1 - config.first_day).days
            else:
                d0 = int(rng.integers(0, days))
                d1 = d0 + int(rng.integers(1, 5))
            b.trip(p, d0, d1, dest)

    # -- the fraud operation ------------------------------------------------------------
    compounds: list[int] = []
    compound_area: list[str] = []
    for town, k in (("Laukkai", 2), ("Pangkham", 1), ("Mong La", 1), ("Tachileik", 1)):
        for j in range(k):
            lat, lon = _sample_point_in(
                rng,
                area_geom[town],
                (b.places.lat[towns[town]], b.places.lon[towns[town]]),
                4.0,
            )
            compounds.append(
                b.places.add(
                    f"{town} compound {j + 1}",
                    lat,
                    lon,
                    zone=b.places.zone[towns[town]],
                    country="MM",
                    radius_km=0.05,
                )
            )
            compound_area.append(town)
    device_seq = iter(range(10**12, 10**12 + 10**7))
    farm: dict[int, list[int]] = {c: [next(device_seq) for _ in range(6)] for c in compounds}

    outreach: list[int] = []
    operator_own: list[int] = []
    collectors: list[int] = []
    account_compound: dict[int, int] = {}
    operators: list[int] = []
    operator_compound: dict[int, int] = {}
    relatives: list[int] = []

    def add_operator(
        compound: int,
        arrive: int,
        persona: str = "",
        origin: int | None = None,
        bought: tuple[tuple[str | None, int | None], ...] = ((None, None), (None, None)),
        role: Role = Role.OPERATOR,
    ) -> int:
        origin = random_town() if origin is None else origin
        op = b.add_person(role, origin, persona=persona)
        operators.append(op)
        operator_compound[op] = compound
        own = b.add_account(op, WECHAT, role, persona=persona)
        operator_own.append(own)
        account_compound[own] = compound
        b.trip(op, arrive, days - 1, compound)
        # family at home: a mother, a sibling; the operator sends money home
        for _ in range(int(rng.integers(1, 4))):
            rel = b.add_person(Role.RELATIVE, origin)
            b.add_personal_accounts(rel, Role.RELATIVE)
            relatives.append(rel)
            b.tie(op, rel, FAMILY)
        # accounts bought from real-name owners elsewhere, used on the compound's phones
        for name, fixed_platform in bought:
            seller = b.add_person(Role.SELLER, random_town())
            b.add_personal_accounts(seller, Role.SELLER)
            platform = fixed_platform
            if platform is None:
                platform = WECHAT if rng.random() < 0.7 else QQ
            acc = b.add_account(
                seller,
                platform,
                role,
                name=name,
                user=op,
                bought_day=max(arrive, 0) + int(rng.integers(0, 10)),
                farm_device=int(rng.choice(farm[compound])),
                rate=8.0,
                persona=persona,
            )
            account_compound[acc] = compound
            if role == Role.OPERATOR:
                outreach.append(acc)
            else:
                collectors.append(acc)
        return op

    n_ops = count(0.008, 8)
    for i in range(n_ops):
        c = compounds[i % len(compounds)]
        add_operator(c, int(rng.integers(-200, days - 42)))
    for i in range(count(0.0015, 2)):
        c = compounds[i % len(compounds)]
        add_operator(
            c, int(rng.integers(-200, days - 60)), role=Role.COLLECTOR, bought=((None, None),)
        )
    # complicit POS terminals in the area towns cash the money out
    cashout: list[int] = []
    for c, town in zip(compounds, compound_area, strict=True):
        owner = b.add_person(Role.SELLER, towns[town], phone="MM")
        pos = b.add_account(owner, POS, Role.CASHOUT_POS, merchant=True)
        cashout.append(pos)
        account_compound[pos] = c

    # money mules at home in the south-east, never near the border
    mules: list[int] = []
    for _ in range(count(0.004, 4)):
        prov = str(rng.choice(MULE_PROVINCES))
        p = b.add_person(Role.MULE, random_town(prov))
        mules.append(b.add_account(p, WECHAT, Role.MULE))
        if rng.random() < 0.5:
            mules.append(b.add_account(p, ALIPAY, Role.MULE))

    # -- hard cases around the operation ------------------------------------------------
    police: list[int] = []
    for i in range(count(0.0005, 2)):
        home = towns["Ruili"] if i % 2 else city_town("530100")
        p = b.add_person(Role.POLICE, home)
        police.extend(b.add_personal_accounts(p, Role.POLICE))
        d0 = int(rng.integers(days // 2, days - 10))
        b.trip(p, d0, d0 + int(rng.integers(3, 7)), towns["Laukkai"])
    sales: list[int] = []
    for p in pick(ordinary, count(0.01, 3)):
        set_role(p, Role.SALES)
        sales.extend(b.person_accounts.get(p, {}).values())
    for p in pick(ordinary + students, count(0.03, 12)):
        set_role(p, Role.VICTIM)
    # phones a compound used early on and retired; resold to ordinary people later
    resold: list[tuple[int, int, int]] = []  # (person, device, from_day)
    retired: dict[int, tuple[int, int, int]] = {}  # account -> (device, until, next)
    farm_accounts = [a for a, fd in enumerate(b.acc["farm_device"]) if int(fd) >= 0]  # type: ignore[call-overload]
    for p in pick(ordinary, count(0.002, 2)):
        free = [a for a in farm_accounts if a not in retired]
        if not free:
            break
        acc = free[int(rng.integers(len(free)))]
        sold_on = int(rng.integers(days - 70, days - 20))
        device = next(device_seq)
        retired[acc] = (device, sold_on - 60, int(b.acc["farm_device"][acc]))  # type: ignore[call-overload]
        set_role(p, Role.RESOLD_DEVICE)
        resold.append((p, device, sold_on))

    # -- the seed personas of 2019 ------------------------------------------------------
    personas = _add_personas(b, towns, city_town, compounds, add_operator, days, config)
    mules.extend(personas.mule_accounts)

    # -- ties: family, friends, colleagues, classmates ----------------------------------
    _general_ties(b, rng)
    for town_people in list(area_residents.values()) + list(border_people.values()):
        for i, p in enumerate(town_people):
            for q in rng.choice(town_people, size=min(3, len(town_people)), replace=False):
                b.tie(p, int(q), FRIEND if i % 3 else FAMILY)
    for c in compounds:  # peers in a compound talk all day
        crew = [op for op in operators if operator_compound[op] == c]
        for i, p in enumerate(crew):
            for q in crew[i + 1 : i + 4]:
                b.tie(p, q, COLLEAGUE)

    # -- police cases: some fraud accounts are confirmed ------------------------------
    confirmed: dict[int, tuple[str, int]] = {}
    case_no = iter(range(1, 10**6))

    def confirm(acc: int, prefix: str) -> None:
        day = int(rng.integers(max(1, days - 100), days - 1))
        confirmed[acc] = (f"{prefix}-2019-{next(case_no):05d}", day)

    for acc in outreach:
        if b.acc["persona"][acc] == "" and rng.random() < 0.2:
            confirm(acc, "YN")
    for acc in mules:
        if b.acc["persona"][acc] == "" and rng.random() < 0.25:
            confirm(acc, "GD")
    if collectors:
        confirm(collectors[0], "YN")
    confirm(personas.classmate_account, "YN")
    account_compound[personas.classmate_account] = compounds[0]

    persons = _persons(b, resold)
    accounts = _accounts(b)
    for acc, (device, until, following) in retired.items():
        accounts.farm_device[acc], accounts.farm_until[acc] = device, until
        accounts.farm_next[acc] = following
    person_account = np.full((len(persons), 4), -1, dtype=np.int64)
    for p, by_platform in b.person_accounts.items():
        for platform, acc in by_platform.items():
            person_account[p, platform] = acc
    trips = Trips(*[np.asarray(col) for col in zip(*b.trips, strict=True)]) if b.trips else None
    assert trips is not None
    ties = Ties(*[np.asarray(col, dtype=np.int64) for col in zip(*b.ties, strict=True)])
    fraud = FraudOperation(
        compounds=compounds,
        compound_area=compound_area,
        outreach_accounts=np.asarray([*outreach, personas.classmate_account]),
        operator_own_accounts=np.asarray(operator_own),
        mule_accounts=np.asarray(mules),
        collector_accounts=np.asarray(collectors),
        cashout_pos=np.asarray(cashout),
        area_merchant_accounts=np.asarray(area_merchants),
        police_accounts=np.asarray(police),
        sales_accounts=np.asarray(sales),
        confirmed=confirmed,
        account_compound=account_compound,
    )
    return World(config, b.places, persons, accounts, trips, ties, fraud, areas, person_account)


class _AddOperator(Protocol):
    def __call__(
        self,
        compound: int,
        arrive: int,
        persona: str = "",
        origin: int | None = None,
        bought: tuple[tuple[str | None, int | None], ...] = ((None, None), (None, None)),
        role: Role = Role.OPERATOR,
    ) -> int: ...


@dataclass
class _PersonaRefs:
    classmate_account: int  # P6's classmate C, confirmed by police
    mule_accounts: list[int]  # F2's


def _add_personas(
    b: _Builder,
    towns: dict[str, int],
    town: Callable[[str], int],
    compounds: list[int],
    op: _AddOperator,
    days: int,
    config: WorldConfig,
) -> _PersonaRefs:
    """P1-P6, F1 and F2 of ``shared/cases/seed-personas.md`` as named accounts."""

    # P1 Ms Li, Qujing: GPS and Wi-Fi only, ordinary family, no transfers lately
    p1 = b.add_person(Role.ORDINARY, town("530300"), persona="P1")
    b.add_account(p1, WECHAT, Role.ORDINARY, name="wxid_p1_msli_qujing", persona="P1")
    b.add_account(p1, QQ, Role.ORDINARY, name="p1_msli_qujing", persona="P1")
    for _ in range(4):
        rel = b.add_person(Role.ORDINARY, town("530300"))
        b.add_personal_accounts(rel, Role.ORDINARY)
        b.tie(p1, rel, FAMILY)

    # P2 lives in Guiyang, a week in Kunming with her boyfriend at the end of September
    p2 = b.add_person(Role.ORDINARY, town("520100"), persona="P2")
    b.add_account(p2, QQ, Role.ORDINARY, name="p2_guiyang_visitor", persona="P2")
    b.add_account(p2, WECHAT, Role.ORDINARY, name="wxid_p2_guiyang", persona="P2")
    friend = b.add_person(Role.ORDINARY, town("530100"))
    b.add_personal_accounts(friend, Role.ORDINARY)
    b.tie(p2, friend, ROMANCE)
    kunming_d0 = (date(2019, 9, 23) - config.first_day).days
    b.trip(p2, kunming_d0, kunming_d0 + 6, town("530100"))

    # P3 Mr Duan, Ruili: lives and works on the border, takes QR payments at work
    p3 = b.add_person(Role.BORDER_RESIDENT, towns["Ruili"], persona="P3")
    b.add_account(p3, WECHAT, Role.BORDER_RESIDENT, name="wxid_p3_duan_ruili", persona="P3")
    b.add_account(
        p3, WECHAT, Role.BORDER_RESIDENT, name="wxid_p3_duan_shop", merchant=True, persona="P3"
    )

    # P4 Chongqing, keeps photos on QQ: IP observations only, few interactions
    p4 = b.add_person(
        Role.ORDINARY,
        town("500100") if "500100" in b.places.city_gb else town("500000"),
        persona="P4",
    )
    b.add_account(
        p4, QQ, Role.ORDINARY, name="p4_chongqing_photos", ip_only=True, rate=1.0, persona="P4"
    )
    sister = b.add_person(Role.ORDINARY, b.p_home[p4])
    b.add_personal_accounts(sister, Role.ORDINARY)
    b.tie(p4, sister, FAMILY)

    # P5 Mr Xia from Chengdu, works in Zhaotong, Sichuan number, calls home
    p5 = b.add_person(Role.ORDINARY, town("530600"), phone="510100", persona="P5")
    b.add_account(p5, WECHAT, Role.ORDINARY, name="wxid_p5_xia_zhaotong", persona="P5")
    for _ in range(3):
        rel = b.add_person(Role.ORDINARY, town("510100"))
        b.add_personal_accounts(rel, Role.ORDINARY)
        b.tie(p5, rel, FAMILY)

    # P6 student from Chuxiong at university in Kunming, a dozen friends; classmate C
    # goes to Laukkai and his account is confirmed as fraud
    kunming = town("530100")
    p6 = b.add_person(Role.STUDENT, kunming, phone="532300", works=False, persona="P6")
    b.add_account(p6, WECHAT, Role.STUDENT, name="wxid_p6_student_chuxiong", persona="P6")
    b.add_account(p6, QQ, Role.STUDENT, name="p6_student_chuxiong", persona="P6")
    friends = []
    for i in range(12):
        label = "P6-police-cadet" if i == 0 else "P6-friend"
        f = b.add_person(Role.CLASSMATE, kunming, works=False, persona=label)
        name = "wxid_p6_police_cadet" if i == 0 else f"wxid_p6_friend_{i:02d}"
        b.add_account(f, WECHAT, Role.CLASSMATE, name=name, persona=label)
        friends.append(f)
    laukkai1 = compounds[0]
    c_arrive = days - 70
    c = b.add_person(Role.OPERATOR, kunming, works=False, persona="P6-classmate-C")
    c_acc = b.add_account(
        c, WECHAT, Role.OPERATOR, name="wxid_p6_classmate_c", persona="P6-classmate-C", rate=6.0
    )
    b.trip(c, c_arrive, days - 1, laukkai1)
    for f in [p6, *friends]:
        b.tie(c, f, CLASSMATE)
        for g in friends[:6]:
            b.tie(f, g, CLASSMATE)

    # F1 operator in a Laukkai compound, arrived eight weeks ago, not known to police
    op(
        laukkai1,
        days - 56,
        persona="F1",
        bought=(("wxid_f1_laukkai_operator", WECHAT), ("f1_laukkai_qq", QQ)),
    )

    # F2 money mule in Guangdong (Dongguan), never near the border
    f2 = b.add_person(
        Role.MULE, town("441900") if "441900" in b.places.city_gb else town("440100"), persona="F2"
    )
    f2_accounts = [
        b.add_account(f2, WECHAT, Role.MULE, name="wxid_f2_mule_dongguan", persona="F2"),
        b.add_account(f2, ALIPAY, Role.MULE, name="2088f2muledongguan", persona="F2"),
    ]
    return _PersonaRefs(classmate_account=c_acc, mule_accounts=f2_accounts)


def _general_ties(b: _Builder, rng: np.random.Generator) -> None:
    """Family, colleagues, classmates and friends: mostly local, a few far away."""
    roles = np.asarray(b.p_role)
    homes = np.asarray(b.p_home)
    ordinaryish = {
        int(Role.ORDINARY),
        int(Role.STUDENT),
        int(Role.MERCHANT),
        int(Role.TOURIST),
        int(Role.SALES),
        int(Role.VICTIM),
        int(Role.RESOLD_DEVICE),
        int(Role.SELLER),
        int(Role.BORDER_RESIDENT),
        int(Role.TRADER),
    }
    eligible = np.array(
        [i for i in range(len(roles)) if int(roles[i]) in ordinaryish and not b.p_persona[i]]
    )
    order = eligible[np.argsort(homes[eligible], kind="stable")]
    by_place: dict[int, np.ndarray] = {}
    if len(order):
        splits = np.flatnonzero(np.diff(homes[order])) + 1
        for group in np.split(order, splits):
            by_place[int(homes[group[0]])] = group
    all_people = eligible
    for group in by_place.values():
        g = rng.permutation(group)
        # families of 2-5
        i = 0
        while i < len(g):
            size = int(rng.integers(2, 6))
            fam = g[i : i + size]
            for x in range(len(fam)):
                for y in range(x + 1, len(fam)):
                    b.tie(int(fam[x]), int(fam[y]), FAMILY)
            i += size
        students = [p for p in g if roles[p] == Role.STUDENT]
        workers = [p for p in g if roles[p] != Role.STUDENT]
        for pool, kind, k in ((workers, COLLEAGUE, 3), (students, CLASSMATE, 5)):
            if len(pool) < 2:
                continue
            for p in pool:
                for q in rng.choice(pool, size=min(k, len(pool)), replace=False):
                    b.tie(int(p), int(q), kind)
        for p in g:
            for q in rng.choice(g, size=min(3, len(g)), replace=False):
                b.tie(int(p), int(q), FRIEND)
            if rng.random() < 0.5 and len(all_people):
                b.tie(int(p), int(rng.choice(all_people)), FRIEND)
    # new friendships during the window start with a friend_add
    for i in range(len(b.ties)):
        if rng.random() < 0.05:
            a, c, kind, _ = b.ties[i]
            b.ties[i] = (a, c, kind, int(rng.integers(0, b.days)))


def _persons(b: _Builder, resold: list[tuple[int, int, int]]) -> Persons:
    home_ll = np.asarray(b.p_home_ll)
    work_ll = np.asarray(b.p_work_ll)
    device = np.arange(len(b.p_role), dtype=np.int64) + 10**10
    persons = Persons(
        role=np.asarray(b.p_role, dtype=np.int16),
        home=np.asarray(b.p_home, dtype=np.int32),
        home_lat=home_ll[:, 0],
        home_lon=home_ll[:, 1],
        work_lat=work_ll[:, 0],
        work_lon=work_ll[:, 1],
        phone_region=np.asarray(b.p_phone, dtype=object),
        device=device,
        persona=np.asarray(b.p_persona, dtype=object),
        new_device=np.full(len(b.p_role), -1, dtype=np.int64),
        new_device_day=np.full(len(b.p_role), 1 << 30, dtype=np.int64),
    )
    for p, dev, day in resold:
        persons.new_device[p] = dev
        persons.new_device_day[p] = day
    return persons


def _accounts(b: _Builder) -> Accounts:
    a = b.acc
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
