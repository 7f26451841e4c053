"""The days after the directive (``fairban simulate --after K``): the world goes on.

What goes on goes on (people live their lives, compounds keep working, traders keep
crossing), and four kinds of event change what a standing directive should find:

- ``new_operator`` and ``account_bought``: an operator arrives in a compound, his own
  WeChat with him, and two accounts he bought from sellers elsewhere go onto the
  compound's shared phones; he is *established* ``ESTABLISHED_DAYS`` later, with more
  than a week of nights there and his outreach under way: from that day all three are
  fraud to be caught;
- ``compound_moved``: a compound's crew moves to a new compound in another area town;
  nothing changes for the truth: a standing directive must not lose them;
- ``mule_stopped``: a mule, busy in his last weeks, takes no more victims' money; his
  grounds are there while the window holds a working mule's evidence (``working_mule``),
  and gone from the day it does not;
- ``moved_away``: people from China who worked a few weeks in an area town (a casino,
  a shop) go home for good; with nights there and few friends there, an engine may
  watch them (``monitor``, never more: presence is not guilt), and once their presence
  has left the window (``lookback`` days later) nothing may remain.

Events are drawn last, from the world's generator, so the people of the window are
those of the same world without ``--after``. Truth day by day is in ``truth_on``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fairban.world.population import COLLEAGUE, WECHAT, World, WorldEvent, _sample_point_in
from fairban.world.roles import ROLE_INFO, Role

if TYPE_CHECKING:
    from fairban.world.assemble import WorldAssembly

#: days after arriving in a compound that a new operator is established fraud: more
#: than the default ``sustained_nights`` (7) of a directive's thresholds, since some
#: nights go unobserved
ESTABLISHED_DAYS = 9
#: a new operator is established every this many days after the directive, from day 1
NEW_OPERATOR_EVERY = 4
#: a working mule: this many victims' payments and forwards within the hour, in the window
MULE_VICTIMS = 3
MULE_FORWARDS = 2
#: people who go home from an area town, after working there this many days
MOVED_AWAY = 3
WORKED_DAYS = 30
#: what truth says once a measure's grounds are gone: none or monitor, as for the innocent
LIFTED = "lifted"


def add_days_after(assembly: WorldAssembly) -> None:
    """Draw the days after the directive into ``assembly`` (see the module docstring)."""
    config, builder, rng, after = assembly.config, assembly.builder, assembly.rng, assembly.after
    window, horizon = config.days, config.horizon
    # traders keep crossing (35% of the days but Sundays)
    first_day = config.first_day.toordinal()
    for person, crossing in assembly.traders:
        for day in range(window, horizon):
            if rng.random() < 0.35 and _weekday(first_day + day) < 6:
                builder.trip(person, day, day, crossing, day_only=True)

    # a compound (the last: no seed persona lives there) moves to another area town
    moved = assembly.compounds[-1]
    area = assembly.compound_areas[-1]
    to_area = next(a for a in assembly.compound_areas if a != area)
    to_town = assembly.border_towns[to_area]
    places = builder.places
    lat, lon = _sample_point_in(
        rng, assembly.area_geometry[to_area], (places.lat[to_town], places.lon[to_town]), 4.0
    )
    new_place = places.add(
        f"{to_area} compound (moved from {places.name[moved]})",
        lat,
        lon,
        zone=places.zone[to_town],
        country="MM",
        radius_km=0.05,
    )
    move_day = window + min(2, config.after - 1)
    crew = [op for op in assembly.operators if assembly.operator_compound[op] == moved]
    for person in crew:
        builder.trip(person, move_day, horizon - 1, new_place)  # later trips win
    user = builder.acc["user"]
    crew_accounts = [a for a, u in enumerate(user) if int(u) in set(crew)]  # type: ignore[call-overload]
    after.events.append(
        WorldEvent(
            "compound_moved",
            move_day,
            crew_accounts,
            f"{places.name[moved]} moves to {to_area}",
        )
    )

    working = [c for c in assembly.compounds if c != moved]

    # new operators, established on days 3, 3 + NEW_OPERATOR_EVERY, ... after the directive;
    # the last may arrive before the horizon and be established after it
    firsts = range(window + 2, horizon + ESTABLISHED_DAYS, NEW_OPERATOR_EVERY)
    for n, established in enumerate(firsts):
        compound = working[n % len(working)]
        arrive = established - ESTABLISHED_DAYS
        before = len(builder.acc["role"])
        operator = assembly.add_operator(compound, arrive, bought_on=arrive)
        crew = [op for op in assembly.operators if assembly.operator_compound[op] == compound]
        for peer in crew[:3]:
            builder.tie(operator, peer, COLLEAGUE)
        own = int(builder.person_accounts[operator][WECHAT])
        bought = [
            a
            for a in range(before, len(builder.acc["role"]))
            if int(builder.acc["user"][a]) == operator and a != own  # type: ignore[call-overload]
        ]
        for a in (own, *bought):
            after.fraud_from[a] = established
        name = builder.places.name[compound]
        after.events.append(
            WorldEvent(
                "new_operator",
                established,
                [own],
                f"a new operator in {name} (his own WeChat), "
                f"arrived {ESTABLISHED_DAYS} days before",
            )
        )
        after.events.append(
            WorldEvent(
                "account_bought",
                established,
                bought,
                f"accounts he bought, used on {name}'s shared phones",
            )
        )

    # a mule stops: the first with no police case on any of his accounts and no persona;
    # his first mule account is the busy one (``social`` sends it his last weeks' victims)
    persona, owner = builder.acc["persona"], builder.acc["owner"]
    mules_of: dict[int, list[int]] = {}
    for a in assembly.mule_accounts:
        mules_of.setdefault(int(owner[a]), []).append(a)  # type: ignore[call-overload]
    stopped = next(
        accounts
        for accounts in mules_of.values()
        if all(persona[a] == "" and a not in assembly.confirmed for a in accounts)
    )
    stop_day = window + min(1, config.after - 1)
    for a in stopped:
        after.mule_stops[a] = stop_day
        after.mule_log[a] = []
    after.busy_mule = stopped[0]
    after.events.append(
        WorldEvent("mule_stopped", stop_day, stopped, "a mule takes no more victims' money")
    )

    # people from China who worked a few weeks in an area town go home for good
    leave_day = window + min(1, config.after - 1)
    towns = [assembly.border_towns[t] for t in sorted(set(assembly.compound_areas))]
    for person in assembly.pick_unassigned(assembly.ordinary, MOVED_AWAY):
        town = towns[int(rng.integers(len(towns)))]
        builder.trip(person, window - WORKED_DAYS, leave_day - 1, town)
        accounts = sorted(builder.person_accounts.get(person, {}).values())
        after.moved_away[person] = leave_day
        after.events.append(
            WorldEvent(
                "moved_away",
                leave_day,
                accounts,
                f"a worker goes home from {places.name[town]} after {WORKED_DAYS} days; "
                f"her presence leaves the window {config.lookback} days later",
            )
        )


def _weekday(ordinal: int) -> int:
    return (ordinal - 1) % 7  # date.fromordinal(1) is a Monday


def working_mule(world: World, account: int, day: int) -> bool:
    """Whether the window of ``day`` (its end, ``lookback`` days back) holds a working
    mule's evidence for stopped ``account``: ``MULE_VICTIMS`` victims' payments from
    different victims and ``MULE_FORWARDS`` forwards within the hour."""
    cfg = world.config
    end = cfg.day0_utc_s + (day + 1) * 86_400
    start = end - cfg.lookback * 86_400
    paid = [(v, p, f) for v, p, f in world.after.mule_log.get(account, []) if start < p <= end]
    victims = {v for v, _, _ in paid}
    forwards = sum(1 for _, p, f in paid if f - p <= 3600 and f <= end)
    return len(victims) >= MULE_VICTIMS and forwards >= MULE_FORWARDS


def expected_on(world: World, day: int) -> tuple[list[str], list[str], list[str]]:
    """Per account, as of the end of simulated ``day``: what a correct engine does
    (``ROLE_INFO``'s vocabulary, plus ``LIFTED``), the event it is part of, and the
    event's day (ISO date), '' where none."""
    acc = world.accounts
    after = world.after
    expected = [ROLE_INFO[Role(r)].expected for r in acc.role]
    event = [""] * len(acc)
    event_day = [""] * len(acc)
    first = world.config.first_day
    for e in after.events:
        for a in e.accounts:
            event[a] = e.kind
            event_day[a] = (first + timedelta(days=e.day)).isoformat()
    for a, established in after.fraud_from.items():
        if day < established:
            expected[a] = "any"  # not yet fraud, not innocent either: he is on his way
    for a in after.mule_stops:
        if not working_mule(world, a, day):
            expected[a] = LIFTED
    return expected, event, event_day


__all__ = [
    "ESTABLISHED_DAYS",
    "LIFTED",
    "add_days_after",
    "expected_on",
    "working_mule",
]
