"""Who lives in a simulated world: the ordinary population, the border, the fraud
operation, the hard cases around it, and the seed personas of 2019.

Counts scale with the world's size, with minimums so that even a small world holds
every kind of person the engine must get right.

``build_world`` runs the parts of a ``WorldAssembly`` in a fixed order. Every part
draws from the one random generator of the world: the order of the draws is part of
what a seed means, so reordering two parts (or the draws inside one) changes every
world after them.
"""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np

from fairban.geo.fraud_areas import fraud_areas_2019
from fairban.world.after import add_days_after
from fairban.world.config import HOLIDAYS, WorldConfig
from fairban.world.personas import add_seed_personas
from fairban.world.population import (
    ALIPAY,
    AREA_TOWNS,
    COLLEAGUE,
    FAMILY,
    FRIEND,
    POS,
    QQ,
    WECHAT,
    Continuation,
    FraudOperation,
    Ties,
    Trips,
    World,
    _Builder,
    _sample_point_in,
    provinces_weights,
)
from fairban.world.roles import Role
from fairban.world.ties import add_general_ties

#: provinces where money mules are most often recruited (2019 case reports)
MULE_PROVINCES = ("440000", "450000", "350000", "430000", "410000", "360000")
#: casinos and markets draw tourists to these towns
TOURIST_TOWNS = ("Mong La", "Tachileik", "Laukkai", "Muse")
#: border residents: each Chinese and Myanmar border town's share of them
BORDER_TOWN_SHARES = {
    "Ruili": 0.32,
    "Nansan": 0.14,
    "Daluo": 0.1,
    "Menglian": 0.1,
    "Mengla": 0.1,
    "Muse": 0.24,
}
#: where traders sleep and where they cross to by day
TRADE_ROUTES = (("Nansan", "Laukkai"), ("Daluo", "Mong La"), ("Ruili", "Muse"))
#: compounds of the fraud operation in each area
COMPOUNDS_PER_AREA = (("Laukkai", 2), ("Pangkham", 1), ("Mong La", 1), ("Tachileik", 1))
#: shared phones in each compound, on which bought accounts are used
PHONES_PER_COMPOUND = 6
#: money mules per person of the world: one per about 1,000
MULES_PER_PERSON = 0.001
#: victims drawn for each mule account at least: each pays it 1-3 times, so a mule
#: account handles at least 12 victims' transfers whatever the world's size
VICTIMS_PER_MULE = 12
#: F2's mule accounts (WeChat, Alipay), added with the personas after the victims
PERSONA_MULE_ACCOUNTS = 2
#: share of the WeChat accounts bought from sellers whose QQ the operator keeps as a spare
SPARE_SHARE = 0.5
#: what an operator buys unless told: two accounts (name, platform), both drawn
OPERATOR_BOUGHT: tuple[tuple[str | None, int | None], ...] = ((None, None), (None, None))


def build_world(config: WorldConfig) -> World:
    """Assemble the people, accounts, trips and ties of a world (deterministic per seed)."""
    assembly = WorldAssembly(config)
    assembly.add_ordinary_population()
    assembly.add_merchants()
    assembly.add_border_residents()
    assembly.add_area_residents()
    assembly.add_traders()
    assembly.add_tourists()
    assembly.add_ordinary_trips()
    assembly.add_compounds()
    assembly.add_operators_and_collectors()
    assembly.add_cashout_terminals()
    assembly.add_mules()
    assembly.add_police()
    assembly.add_sales()
    assembly.add_victims()
    assembly.add_resold_devices()
    personas = add_seed_personas(assembly)
    assembly.mule_accounts.extend(personas.mule_accounts)
    assembly.add_ties()
    assembly.add_police_cases(personas.classmate_account)
    # drawn after the police cases: the people and accounts before are those of a world
    # without spares (only the generators of traffic and positions see them)
    assembly.add_spare_accounts()
    if config.after:
        # drawn last, so that the people of the window are those of a world without them
        add_days_after(assembly)
    return assembly.finish(personas.classmate_account)


class WorldAssembly:
    """The world while it is assembled: the builder that registers places, persons,
    accounts, trips and ties, and who plays which part, as the parts add them."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng([config.seed, 20191014])
        self.builder = _Builder(config, self.rng)
        #: place indices of China's towns by province (GB code); the biggest town of
        #: each prefecture by its GB code
        self.towns_by_province, self.town_of_city = self.builder.add_china_places()
        #: place index of each border town, both sides (the area towns among them)
        self.border_towns = self.builder.add_border_towns()
        self.areas = fraud_areas_2019()
        self.area_geometry = {a.name: a.geometry for a in self.areas}
        self.days = config.days
        #: the window's days and the days after it: what goes on goes on to here
        self.horizon = config.horizon
        #: people drawn from the ordinary population; the others come with the special
        #: roles, whose counts scale with this
        self.ordinary_count = max(40, round(config.accounts / 2.55))

        codes, weights = provinces_weights()
        kept = [i for i, p in enumerate(codes) if p in self.towns_by_province]
        self.provinces = [codes[i] for i in kept]
        self.province_weights = weights[kept] / weights[kept].sum()

        # who plays which part, filled in by the parts below
        self.ordinary: list[int] = []
        self.students: list[int] = []
        self.assigned: set[int] = set()  # ordinary people given another part
        self.border_residents: dict[str, list[int]] = {}
        self.area_residents: dict[str, list[int]] = {}
        self.area_merchant_accounts: list[int] = []
        self.compounds: list[int] = []  # place indices
        #: operators' spare QQ accounts (``add_spare_accounts``)
        self.spare_accounts: list[int] = []
        self.compound_areas: list[str] = []
        #: ids of the phones the operation buys (compound phones, phones retired early)
        self.new_device_ids = iter(range(10**12, 10**12 + 10**7))
        self.compound_phones: dict[int, list[int]] = {}
        self.operators: list[int] = []
        self.operator_compound: dict[int, int] = {}
        self.operator_own_accounts: list[int] = []
        self.outreach_accounts: list[int] = []
        self.collector_accounts: list[int] = []
        self.account_compound: dict[int, int] = {}
        self.cashout_pos: list[int] = []
        self.mule_accounts: list[int] = []
        self.police_accounts: list[int] = []
        self.sales_accounts: list[int] = []
        self.resold_phones: list[tuple[int, int, int]] = []  # (person, device, from day)
        #: bought account -> (a phone it used early on, later resold; its last day on
        #: that phone; the compound phone it used after)
        self.retired_phones: dict[int, tuple[int, int, int]] = {}
        self.confirmed: dict[int, tuple[str, int]] = {}  # account -> (case id, day)
        self.traders: list[tuple[int, int]] = []  # (person, the town they cross to)
        #: what happens after the directive (``simulate --after``; see ``world.after``)
        self.after = Continuation()
        self.case_numbers = itertools.count(1)

    # -- drawing people and places --------------------------------------------------
    def random_town(self, province: str | None = None) -> int:
        """A town drawn by population, in ``province`` or in a province drawn by the
        census's weights."""
        rng = self.rng
        chosen = (
            province
            or self.provinces[int(rng.choice(len(self.provinces), p=self.province_weights))]
        )
        towns = self.towns_by_province[chosen]
        population = np.array([self.builder.places.population[i] for i in towns], dtype=float)
        return towns[int(rng.choice(len(towns), p=population / population.sum()))]

    def city_town(self, city_gb: str) -> int:
        """The biggest town of the prefecture ``city_gb``."""
        return self.town_of_city[city_gb]

    def how_many(self, share: float, minimum: int) -> int:
        """People of a part: ``share`` of the ordinary population, at least ``minimum``."""
        return max(minimum, round(share * self.ordinary_count))

    def pick_unassigned(self, pool: list[int], k: int) -> list[int]:
        """Up to ``k`` people of ``pool`` drawn among those given no other part yet."""
        free = [p for p in pool if p not in self.assigned]
        chosen = [int(x) for x in self.rng.choice(free, size=min(k, len(free)), replace=False)]
        self.assigned.update(chosen)
        return chosen

    def set_role(self, person: int, role: Role) -> None:
        """Give ``person`` and their accounts ``role``."""
        self.builder.p_role[person] = int(role)
        for account in self.builder.person_accounts.get(person, {}).values():
            self.builder.acc["role"][account] = int(role)

    # -- the ordinary population ------------------------------------------------------
    def add_ordinary_population(self) -> None:
        """Ordinary people and students (10%, most at their provincial capital); 15% keep
        the phone number of another town (migrants)."""
        builder, rng, places = self.builder, self.rng, self.builder.places
        capitals = {
            province: max(towns, key=lambda i: places.population[i])
            for province, towns in self.towns_by_province.items()
        }
        for _ in range(self.ordinary_count):
            home = self.random_town()
            role = Role.ORDINARY
            if rng.random() < 0.10:
                role = Role.STUDENT
                if rng.random() < 0.7:
                    home = capitals[places.city_gb[home][:2] + "0000"]
            phone = None
            if rng.random() < 0.15:  # a migrant keeps the phone number of the home town
                phone = places.city_gb[self.random_town()]
            person = builder.add_person(role, home, phone=phone, works=role != Role.STUDENT)
            (self.students if role == Role.STUDENT else self.ordinary).append(person)
            builder.add_personal_accounts(person, role)

    def add_merchants(self) -> None:
        """Ordinary people with a shop account (QR payments) and often a POS terminal."""
        builder, rng = self.builder, self.rng
        merchants: list[int] = []
        for drawn in rng.choice(self.ordinary, size=self.how_many(0.04, 6), replace=False):
            person = int(drawn)
            self.set_role(person, Role.MERCHANT)
            platform = WECHAT if rng.random() < 0.6 else ALIPAY
            builder.add_account(person, platform, Role.MERCHANT, merchant=True)
            if rng.random() < 0.4:
                builder.add_account(person, POS, Role.MERCHANT, merchant=True)
            merchants.append(person)
        self.assigned = set(merchants)

    # -- the border: residents on both sides, traders, tourists -----------------------
    def add_border_residents(self) -> None:
        builder, rng = self.builder, self.rng
        for town, share in BORDER_TOWN_SHARES.items():
            for _ in range(max(2, round(self.how_many(0.025, 12) * share))):
                person = builder.add_person(Role.BORDER_RESIDENT, self.border_towns[town])
                builder.add_personal_accounts(person, Role.BORDER_RESIDENT)
                self.border_residents.setdefault(town, []).append(person)
                if rng.random() < 0.3:  # shops on the border take QR payments
                    builder.add_account(person, WECHAT, Role.BORDER_RESIDENT, merchant=True)

    def add_area_residents(self) -> None:
        """People who live and work in the area towns; many shops that operators pay."""
        builder, rng = self.builder, self.rng
        for town in AREA_TOWNS:
            for _ in range(max(3, round(self.how_many(0.006, 12) / len(AREA_TOWNS)))):
                chinese = rng.random() < 0.3  # Chinese shopkeepers keep their Chinese numbers
                phone = builder.places.city_gb[self.random_town("530000")] if chinese else "MM"
                person = builder.add_person(
                    Role.AREA_RESIDENT, self.border_towns[town], phone=phone
                )
                builder.add_personal_accounts(person, Role.AREA_RESIDENT)
                self.area_residents.setdefault(town, []).append(person)
                if rng.random() < 0.45:
                    shop = builder.add_account(person, WECHAT, Role.AREA_RESIDENT, merchant=True)
                    self.area_merchant_accounts.append(shop)

    def add_traders(self) -> None:
        """Traders sleep on the Chinese side and cross on 35% of the days but Sundays."""
        builder, rng = self.builder, self.rng
        first_day = self.config.first_day.toordinal()
        for i in range(self.how_many(0.004, 4)):
            home_town, crossing = TRADE_ROUTES[i % len(TRADE_ROUTES)]
            person = builder.add_person(Role.TRADER, self.border_towns[home_town])
            builder.add_personal_accounts(person, Role.TRADER)
            self.traders.append((person, self.border_towns[crossing]))
            for day in range(self.days):
                if rng.random() < 0.35 and date.fromordinal(first_day + day).weekday() < 6:
                    builder.trip(person, day, day, self.border_towns[crossing], day_only=True)

    def add_tourists(self) -> None:
        """One to three nights in a casino town, most on a holiday."""
        rng = self.rng
        for person in self.pick_unassigned(self.ordinary, self.how_many(0.01, 4)):
            self.set_role(person, Role.TOURIST)
            start = int(rng.integers(0, self.days - 4))
            if rng.random() < 0.5:  # most go on a holiday
                holiday_start, _ = HOLIDAYS[int(rng.integers(len(HOLIDAYS)))]
                start = (holiday_start - self.config.first_day).days
            end = start + int(rng.integers(1, 4))
            self.builder.trip(person, start, end, self.border_towns[str(rng.choice(TOURIST_TOWNS))])

    # -- ordinary trips: holidays, business, family visits ----------------------------
    def add_ordinary_trips(self) -> None:
        """About 1.2 trips a person (not the area residents), 45% on a holiday."""
        builder, rng = self.builder, self.rng
        first_day = self.config.first_day
        for person in range(len(builder.p_role)):
            if builder.p_role[person] in (Role.AREA_RESIDENT,):
                continue
            for _ in range(int(rng.poisson(1.2))):
                destination = self.random_town()
                if rng.random() < 0.45:
                    holiday_start, holiday_end = HOLIDAYS[int(rng.integers(len(HOLIDAYS)))]
                    start = (holiday_start - first_day).days
                    end = (holiday_end - first_day).days
                else:
                    start = int(rng.integers(0, self.days))
                    end = start + int(rng.integers(1, 5))
                builder.trip(person, start, end, destination)

    # -- the fraud operation ------------------------------------------------------------
    def add_compounds(self) -> None:
        """The compounds (within 4 km of their area's town) and their shared phones."""
        places = self.builder.places
        for town, k in COMPOUNDS_PER_AREA:
            town_place = self.border_towns[town]
            for j in range(k):
                lat, lon = _sample_point_in(
                    self.rng,
                    self.area_geometry[town],
                    (places.lat[town_place], places.lon[town_place]),
                    4.0,
                )
                compound = places.add(
                    f"{town} compound {j + 1}",
                    lat,
                    lon,
                    zone=places.zone[town_place],
                    country="MM",
                    radius_km=0.05,
                )
                self.compounds.append(compound)
                self.compound_areas.append(town)
        self.compound_phones = {
            compound: [next(self.new_device_ids) for _ in range(PHONES_PER_COMPOUND)]
            for compound in self.compounds
        }

    def add_operator(
        self,
        compound: int,
        arrive: int,
        persona: str = "",
        origin: int | None = None,
        bought: tuple[tuple[str | None, int | None], ...] = OPERATOR_BOUGHT,
        role: Role = Role.OPERATOR,
        bought_on: int | None = None,
    ) -> int:
        """An operator (or collector) living in ``compound`` from day ``arrive``: their
        own WeChat, family at home, and accounts ``bought`` (name, platform; None to
        draw) from sellers elsewhere, used on the compound's phones (from ``bought_on``,
        else within ten days of arriving)."""
        builder, rng = self.builder, self.rng
        origin = self.random_town() if origin is None else origin
        operator = builder.add_person(role, origin, persona=persona)
        self.operators.append(operator)
        self.operator_compound[operator] = compound
        own = builder.add_account(operator, WECHAT, role, persona=persona)
        self.operator_own_accounts.append(own)
        self.account_compound[own] = compound
        builder.trip(operator, arrive, self.horizon - 1, compound)
        # family at home: a mother, a sibling; the operator sends money home
        for _ in range(int(rng.integers(1, 4))):
            relative = builder.add_person(Role.RELATIVE, origin)
            builder.add_personal_accounts(relative, Role.RELATIVE)
            builder.tie(operator, relative, FAMILY)
        # accounts bought from real-name owners elsewhere, used on the compound's phones
        for name, fixed_platform in bought:
            seller = builder.add_person(Role.SELLER, self.random_town())
            builder.add_personal_accounts(seller, Role.SELLER)
            platform = fixed_platform
            if platform is None:
                platform = WECHAT if rng.random() < 0.7 else QQ
            account = builder.add_account(
                seller,
                platform,
                role,
                name=name,
                user=operator,
                bought_day=(
                    max(arrive, 0) + int(rng.integers(0, 10)) if bought_on is None else bought_on
                ),
                farm_device=int(rng.choice(self.compound_phones[compound])),
                rate=8.0,
                persona=persona,
            )
            self.account_compound[account] = compound
            if role == Role.OPERATOR:
                self.outreach_accounts.append(account)
            else:
                self.collector_accounts.append(account)
        return operator

    def add_operators_and_collectors(self) -> None:
        """Operators spread over the compounds, arrived up to 200 days before the window;
        collectors, each with one bought account."""
        rng, days = self.rng, self.days
        for i in range(self.how_many(0.008, 8)):
            compound = self.compounds[i % len(self.compounds)]
            self.add_operator(compound, int(rng.integers(-200, days - 42)))
        for i in range(self.how_many(0.0015, 2)):
            compound = self.compounds[i % len(self.compounds)]
            arrive = int(rng.integers(-200, days - 60))
            self.add_operator(compound, arrive, role=Role.COLLECTOR, bought=((None, None),))

    def add_cashout_terminals(self) -> None:
        """A complicit POS terminal in each compound's area town cashes the money out."""
        builder = self.builder
        for compound, town in zip(self.compounds, self.compound_areas, strict=True):
            owner = builder.add_person(Role.SELLER, self.border_towns[town], phone="MM")
            terminal = builder.add_account(owner, POS, Role.CASHOUT_POS, merchant=True)
            self.cashout_pos.append(terminal)
            self.account_compound[terminal] = compound

    def add_mules(self) -> None:
        """Money mules at home in the south-east, never near the border: about one per
        1,000 people, so that each handles dozens of victims' transfers as a 2019 mule
        did (not two, as when mules grew with the world as victims do)."""
        builder, rng = self.builder, self.rng
        for _ in range(self.how_many(MULES_PER_PERSON, 1)):
            province = str(rng.choice(MULE_PROVINCES))
            person = builder.add_person(Role.MULE, self.random_town(province))
            self.mule_accounts.append(builder.add_account(person, WECHAT, Role.MULE))
            if rng.random() < 0.5:
                self.mule_accounts.append(builder.add_account(person, ALIPAY, Role.MULE))

    def add_spare_accounts(self) -> None:
        """Operators' spare accounts: a seller who sold a WeChat often sold the QQ of
        the same identity too. The operator keeps it logged in on the compound's phones
        and does no outreach from it; it is seen only through IP addresses, placed tens
        of km wide. It is as much the operation's as the phones are."""
        builder, rng = self.builder, self.rng
        acc = builder.acc
        for account in list(self.outreach_accounts):
            if acc["persona"][account] or acc["platform"][account] != WECHAT:
                continue
            if rng.random() >= SPARE_SHARE:
                continue
            operator = int(acc["user"][account])  # type: ignore[call-overload]
            compound = self.operator_compound[operator]
            spare = builder.add_account(
                int(acc["owner"][account]),  # type: ignore[call-overload]
                QQ,
                Role.OPERATOR,
                user=operator,
                bought_day=int(acc["bought_day"][account]),  # type: ignore[call-overload]
                farm_device=int(rng.choice(self.compound_phones[compound])),
                ip_only=True,
                rate=2.0,
            )
            self.account_compound[spare] = compound
            self.spare_accounts.append(spare)

    # -- hard cases around the operation ------------------------------------------------
    def add_police(self) -> None:
        """Investigators from Kunming and Ruili who spend 3-6 days in Laukkai."""
        builder, rng, days = self.builder, self.rng, self.days
        for i in range(self.how_many(0.0005, 2)):
            home = self.border_towns["Ruili"] if i % 2 else self.city_town("530100")
            person = builder.add_person(Role.POLICE, home)
            self.police_accounts.extend(builder.add_personal_accounts(person, Role.POLICE))
            start = int(rng.integers(days // 2, days - 10))
            end = start + int(rng.integers(3, 7))
            builder.trip(person, start, end, self.border_towns["Laukkai"])

    def add_sales(self) -> None:
        """Salespeople: many strangers added, all in their own province."""
        for person in self.pick_unassigned(self.ordinary, self.how_many(0.01, 3)):
            self.set_role(person, Role.SALES)
            self.sales_accounts.extend(self.builder.person_accounts.get(person, {}).values())

    def add_victims(self) -> None:
        """Victims: 3% of people, and at least ``VICTIMS_PER_MULE`` for each mule account
        (F2's included), each paying one mule 1-3 times (``social._fraud_events``)."""
        mule_accounts = len(self.mule_accounts) + PERSONA_MULE_ACCOUNTS
        k = max(self.how_many(0.03, 12), VICTIMS_PER_MULE * mule_accounts)
        for person in self.pick_unassigned(self.ordinary + self.students, k):
            self.set_role(person, Role.VICTIM)

    def add_resold_devices(self) -> None:
        """Phones a compound used early on and retired, resold to ordinary people later."""
        rng, days = self.rng, self.days
        farm_devices = self.builder.acc["farm_device"]
        on_farm_phones = [a for a, fd in enumerate(farm_devices) if int(fd) >= 0]  # type: ignore[call-overload]
        for person in self.pick_unassigned(self.ordinary, self.how_many(0.002, 2)):
            free = [a for a in on_farm_phones if a not in self.retired_phones]
            if not free:
                break
            account = free[int(rng.integers(len(free)))]
            sold_on = int(rng.integers(days - 70, days - 20))
            device = next(self.new_device_ids)
            self.retired_phones[account] = (device, sold_on - 60, int(farm_devices[account]))  # type: ignore[call-overload]
            self.set_role(person, Role.RESOLD_DEVICE)
            self.resold_phones.append((person, device, sold_on))

    # -- ties: family, friends, colleagues, classmates ----------------------------------
    def add_ties(self) -> None:
        """The general ties, then neighbours in the border and area towns, then each
        compound's crew."""
        builder, rng = self.builder, self.rng
        add_general_ties(builder, rng)
        towns = list(self.area_residents.values()) + list(self.border_residents.values())
        for neighbours in towns:
            for i, person in enumerate(neighbours):
                drawn = rng.choice(neighbours, size=min(3, len(neighbours)), replace=False)
                for other in drawn:
                    builder.tie(person, int(other), FRIEND if i % 3 else FAMILY)
        for compound in self.compounds:  # peers in a compound talk all day
            crew = [op for op in self.operators if self.operator_compound[op] == compound]
            for i, person in enumerate(crew):
                for peer in crew[i + 1 : i + 4]:
                    builder.tie(person, peer, COLLEAGUE)

    # -- police cases: some fraud accounts are confirmed ------------------------------
    def confirm(self, account: int, prefix: str) -> None:
        """A police case confirms ``account`` on a day of the window's last 100."""
        day = int(self.rng.integers(max(1, self.days - 100), self.days - 1))
        self.confirmed[account] = (f"{prefix}-2019-{next(self.case_numbers):05d}", day)

    def add_police_cases(self, classmate_account: int) -> None:
        """A fifth of the outreach accounts (Yunnan), a quarter of the mules (Guangdong),
        the first collector and P6's classmate C; the personas' other accounts never."""
        rng, persona = self.rng, self.builder.acc["persona"]
        for account in self.outreach_accounts:
            if persona[account] == "" and rng.random() < 0.2:
                self.confirm(account, "YN")
        # the first mule stays unknown to police: with one mule per 1,000 people a small
        # world may have a single one, and the days after need a mule without a case
        # (``after``: mule_stopped); the draw is made all the same
        first = self.builder.acc["owner"][self.mule_accounts[0]] if self.mule_accounts else -1
        for account in self.mule_accounts:
            keep = self.builder.acc["owner"][account] == first
            if persona[account] == "" and rng.random() < 0.25 and not keep:
                self.confirm(account, "GD")
        if self.collector_accounts:
            self.confirm(self.collector_accounts[0], "YN")
        self.confirm(classmate_account, "YN")
        self.account_compound[classmate_account] = self.compounds[0]

    # -- the world --------------------------------------------------------------------
    def finish(self, classmate_account: int) -> World:
        """The world's tables from what the parts registered."""
        builder = self.builder
        persons = builder.persons(self.resold_phones)
        accounts = builder.accounts()
        for account, (device, until, following) in self.retired_phones.items():
            accounts.farm_device[account], accounts.farm_until[account] = device, until
            accounts.farm_next[account] = following
        person_account = np.full((len(persons), 4), -1, dtype=np.int64)
        for person, by_platform in builder.person_accounts.items():
            for platform, account in by_platform.items():
                person_account[person, platform] = account
        assert builder.trips
        trips = Trips(*[np.asarray(col) for col in zip(*builder.trips, strict=True)])
        ties = Ties(*[np.asarray(col, dtype=np.int64) for col in zip(*builder.ties, strict=True)])
        fraud = FraudOperation(
            compounds=self.compounds,
            compound_area=self.compound_areas,
            outreach_accounts=np.asarray([*self.outreach_accounts, classmate_account]),
            operator_own_accounts=np.asarray(self.operator_own_accounts),
            mule_accounts=np.asarray(self.mule_accounts),
            collector_accounts=np.asarray(self.collector_accounts),
            cashout_pos=np.asarray(self.cashout_pos),
            area_merchant_accounts=np.asarray(self.area_merchant_accounts),
            police_accounts=np.asarray(self.police_accounts),
            sales_accounts=np.asarray(self.sales_accounts),
            confirmed=self.confirmed,
            account_compound=self.account_compound,
        )
        return World(
            self.config,
            builder.places,
            persons,
            accounts,
            trips,
            ties,
            fraud,
            self.areas,
            person_account,
            self.after,
        )
