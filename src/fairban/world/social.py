"""Who deals with whom: messages, calls and transfers along social ties, payments to
shops, and the fraud operation's outreach, victims' payments, mules forwarding money
within minutes, and cash-out through POS terminals.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from fairban.world.population import ALIPAY, POS, QQ, TIE_RATES, WECHAT, World
from fairban.world.roles import Role

KINDS = ("call", "message", "friend_add", "transfer", "payment")
# victims drawn into a stopping mule's last weeks: a margin over ``after.MULE_VICTIMS`` (3),
# so that even a small world's stopped mule had a working mule's evidence
BUSY_VICTIMS = 5
CALL, MESSAGE, FRIEND_ADD, TRANSFER, PAYMENT = range(5)


class _Events:
    """Column buffers for interaction rows (account indices, or external ids)."""

    def __init__(self) -> None:
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []  # account index; -1 means external (see dst_ext)
        self.dst_ext: list[np.ndarray] = []
        self.ts: list[np.ndarray] = []
        self.kind: list[np.ndarray] = []
        self.amount: list[np.ndarray] = []

    def add(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        ts: np.ndarray,
        kind: int | np.ndarray,
        amount: np.ndarray | None = None,
        dst_ext: np.ndarray | None = None,
    ) -> None:
        n = len(src)
        if n == 0:
            return
        self.src.append(np.asarray(src, dtype=np.int64))
        self.dst.append(np.asarray(dst, dtype=np.int64))
        self.dst_ext.append(np.full(n, None, dtype=object) if dst_ext is None else dst_ext)
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)).copy())
        self.amount.append(np.full(n, np.nan) if amount is None else np.round(amount, 2))

    def rows(self) -> int:
        return sum(len(x) for x in self.src)

    def table(self, world: World) -> pa.Table:
        ids = world.accounts.account_id
        src = np.concatenate(self.src) if self.src else np.array([], dtype=np.int64)
        dst = np.concatenate(self.dst) if self.dst else np.array([], dtype=np.int64)
        ext = np.concatenate(self.dst_ext) if self.dst_ext else np.array([], dtype=object)
        ts = np.concatenate(self.ts) if self.ts else np.array([], dtype=np.int64)
        kind = np.concatenate(self.kind) if self.kind else np.array([], dtype=np.int8)
        amount = np.concatenate(self.amount) if self.amount else np.array([])
        keep = (
            (src != dst)
            & (ts >= world.config.day0_utc_s)
            & (ts < world.config.day0_utc_s + world.config.horizon * 86_400)
        )
        src, dst, ext, ts, kind, amount = (x[keep] for x in (src, dst, ext, ts, kind, amount))
        order = np.argsort(ts, kind="stable")
        dst_ids = np.where(dst >= 0, ids[np.maximum(dst, 0)], ext)
        day0 = world.config.day0_utc_s - world.config.day0_utc_s % 86_400
        from datetime import UTC, datetime, timedelta

        first = datetime.fromtimestamp(day0, tz=UTC).date()
        labels = np.array(
            [(first + timedelta(days=i)).isoformat() for i in range(world.config.horizon + 2)],
            dtype=object,
        )
        return pa.table(
            {
                "src": pa.array(ids[src[order]], pa.string()),
                "dst": pa.array(dst_ids[order], pa.string()),
                "ts": pa.array(ts[order] * 1_000_000, pa.timestamp("us", tz="UTC")),
                "kind": pa.DictionaryArray.from_arrays(pa.array(kind[order]), pa.array(KINDS)).cast(
                    pa.string()
                ),
                "amount": pa.array(amount[order], pa.float64(), from_pandas=True),
                "day": pa.array(labels[(ts[order] - day0) // 86_400], pa.string()),
            }
        )


def interaction_tables(
    world: World, ties_per_chunk: int = 100_000, max_rows: int = 3_000_000
) -> Iterator[pa.Table]:
    """All interactions of the world, in tables of at most about ``max_rows`` rows."""
    cfg = world.config
    ties = world.ties
    ev = _Events()
    for k, start in enumerate(range(0, len(ties.a), ties_per_chunk)):
        rng = np.random.default_rng([cfg.seed, 21, k])
        _tie_events(world, rng, ev, slice(start, start + ties_per_chunk))
        if ev.rows() >= max_rows:
            yield ev.table(world)
            ev = _Events()
    _shop_payments(world, np.random.default_rng([cfg.seed, 22]), ev)
    rng = np.random.default_rng([cfg.seed, 23])
    _fraud_events(world, rng, ev)
    _sales_outreach(world, rng, ev)
    yield ev.table(world)


def _account_of(world: World, persons: np.ndarray, prefer: tuple[int, ...]) -> np.ndarray:
    """Each person's account on the first platform in ``prefer`` they have, else -1."""
    pa_ = world.person_account
    out = np.full(len(persons), -1, dtype=np.int64)
    for platform in reversed(prefer):
        acc = pa_[persons, platform]
        out = np.where(acc >= 0, acc, out)
    return out


def _times(rng: np.random.Generator, world: World, day: np.ndarray) -> np.ndarray:
    """Timestamps on the given local days at waking hours."""
    hour = rng.choice(24, size=len(day), p=_WAKING)
    return world.config.day0_utc_s + day * 86_400 + hour * 3600 + rng.integers(0, 3600, len(day))


_WAKING = np.array(
    [1, 0.5, 0.2, 0.1, 0.1, 0.3, 1, 4, 6, 7, 7, 7, 8, 7, 7, 7, 7, 8, 9, 10, 10, 9, 6, 3.0]
)
_WAKING /= _WAKING.sum()


def _tie_events(world: World, rng: np.random.Generator, ev: _Events, part: slice) -> None:
    ties = world.ties
    a, b, kind, start = ties.a[part], ties.b[part], ties.kind[part], ties.start_day[part]
    days = world.config.horizon
    window = world.config.days
    for code, (msg, call, transfer) in TIE_RATES.items():
        m = kind == code
        ta, tb, ts0 = a[m], b[m], np.maximum(start[m], 0)
        span = days - ts0
        for event, rate, prefer in (
            (MESSAGE, msg, (WECHAT, QQ)),
            (CALL, call, (WECHAT, QQ)),
            (TRANSFER, transfer / 30.0, (WECHAT, ALIPAY)),
        ):
            counts = rng.poisson(rate * span)
            idx = np.repeat(np.arange(len(ta)), counts)
            if len(idx) == 0:
                continue
            flip = rng.random(len(idx)) < 0.5
            src_p = np.where(flip, tb[idx], ta[idx])
            dst_p = np.where(flip, ta[idx], tb[idx])
            src = _account_of(world, src_p, prefer)
            dst = _account_of(world, dst_p, prefer)
            day = ts0[idx] + (rng.random(len(idx)) * span[idx]).astype(np.int64)
            ok = (src >= 0) & (dst >= 0)
            amount = None
            if event == TRANSFER:
                amount = np.exp(rng.normal(np.log(200), 1.0, len(idx)))
                # P1 made no transfers in the weeks before the directive
                p1 = (world.accounts.persona[np.maximum(src, 0)] == "P1") | (
                    world.accounts.persona[np.maximum(dst, 0)] == "P1"
                )
                ok &= ~(p1 & (day >= window - 42))
            ev.add(
                src[ok],
                dst[ok],
                _times(rng, world, day[ok]),
                event,
                None if amount is None else amount[ok],
            )
        # a new friendship starts with a friend_add
        new = ts0 > 0
        src = _account_of(world, ta[new], (WECHAT, QQ))
        dst = _account_of(world, tb[new], (WECHAT, QQ))
        ok = (src >= 0) & (dst >= 0)
        ev.add(src[ok], dst[ok], _times(rng, world, ts0[new][ok]), FRIEND_ADD)


def _shop_payments(world: World, rng: np.random.Generator, ev: _Events) -> None:
    """Customers pay the shops of their town again and again (QR codes, POS)."""
    acc = world.accounts
    per = world.persons
    days = world.config.horizon
    shops = np.flatnonzero(acc.merchant & (acc.role != Role.CASHOUT_POS))
    shop_home = per.home[acc.owner[shops]]
    payers = np.flatnonzero((per.role != Role.OPERATOR) & (per.role != Role.COLLECTOR))
    by_place: dict[int, np.ndarray] = {}
    for place in np.unique(shop_home):
        by_place[int(place)] = shops[shop_home == place]
    for place, here in by_place.items():
        customers = payers[per.home[payers] == place]
        if len(customers) == 0:
            continue
        # each customer has a few favourite shops
        fav = rng.choice(here, size=(len(customers), min(3, len(here))))
        counts = rng.poisson(0.12 * days, len(customers))
        idx = np.repeat(np.arange(len(customers)), counts)
        src = _account_of(world, customers[idx], (WECHAT, ALIPAY))
        dst = fav[idx, rng.integers(0, fav.shape[1], len(idx))]
        day = rng.integers(0, days, len(idx))
        ok = src >= 0
        amount = np.exp(rng.normal(np.log(35), 0.8, len(idx)))
        ev.add(src[ok], dst[ok], _times(rng, world, day[ok]), PAYMENT, amount[ok])
    # tourists and traders pay shops in the towns they visit
    trips = world.trips
    visiting = np.isin(trips.place, list(by_place))
    for t in np.flatnonzero(visiting):
        here = by_place[int(trips.place[t])]
        k = int(rng.integers(1, 4)) * int(trips.d1[t] - trips.d0[t] + 1)
        src = _account_of(world, np.full(k, trips.person[t]), (WECHAT, ALIPAY))
        day = rng.integers(trips.d0[t], trips.d1[t] + 1, k)
        ok = src >= 0
        amount = np.exp(rng.normal(np.log(120), 1.0, k))
        ev.add(src[ok], rng.choice(here, k)[ok], _times(rng, world, day[ok]), PAYMENT, amount[ok])


def _active_from(world: World, accounts: np.ndarray) -> np.ndarray:
    """First day an account is used by the operation."""
    acc = world.accounts
    days = world.config.horizon
    first = np.where(acc.bought_day[accounts] < days, acc.bought_day[accounts], 0)
    # own accounts: from the day their user arrives in a compound
    trips = world.trips
    for i, a in enumerate(accounts):
        if acc.bought_day[a] >= days:
            mine = (
                (trips.person == acc.user[a]) & (trips.d1 == days - 1) & (trips.d1 - trips.d0 > 7)
            )
            if mine.any():
                first[i] = int(trips.d0[mine].min())
    return np.clip(first, 0, days - 1)


def _fraud_events(world: World, rng: np.random.Generator, ev: _Events) -> None:
    acc = world.accounts
    per = world.persons
    fraud = world.fraud
    days = world.config.horizon
    window = world.config.days
    outreach = fraud.outreach_accounts
    active = _active_from(world, outreach)
    reachable = np.flatnonzero(world.person_account[:, WECHAT] >= 0)
    reachable = reachable[~np.isin(per.role[reachable], [Role.OPERATOR, Role.COLLECTOR])]

    # outreach: several first contacts a day with strangers all over China
    victims = np.flatnonzero(per.role == Role.VICTIM)
    victim_contact: dict[int, tuple[int, int]] = {}
    for i, a in enumerate(outreach):
        n_days = days - active[i]
        per_day = rng.poisson(7, n_days)
        k = int(per_day.sum())
        day = np.repeat(np.arange(active[i], days), per_day)
        internal = rng.random(k) < 0.5
        targets = np.where(internal, world.person_account[rng.choice(reachable, k), WECHAT], -1)
        ext = np.array(
            [f"wechat:wxid_ext{int(x):012x}" for x in rng.integers(0, 2**46, k)], dtype=object
        )
        ext[internal] = None
        ev.add(np.full(k, a), targets, _times(rng, world, day), FRIEND_ADD, dst_ext=ext)
        # a few messages follow each contact; few strangers answer
        msgs = rng.integers(1, 4, k)
        idx = np.repeat(np.arange(k), msgs)
        mday = np.minimum(day[idx] + rng.integers(0, 3, len(idx)), days - 1)
        ev.add(
            np.full(len(idx), a), targets[idx], _times(rng, world, mday), MESSAGE, dst_ext=ext[idx]
        )
        answer = internal & (rng.random(k) < 0.08)
        ev.add(
            targets[answer], np.full(int(answer.sum()), a), _times(rng, world, day[answer]), MESSAGE
        )
    # each victim was contacted, groomed for days, then paid a mule
    mules = fraud.mule_accounts
    collectors = fraud.collector_accounts
    stops, log = world.after.mule_stops, world.after.mule_log
    lookback, busy = world.config.lookback, world.after.busy_mule
    working = np.asarray([m for m in mules if int(m) not in stops])
    # a mule who stops was busy before: the victims of his last three weeks pay him, and
    # the first BUSY_VICTIMS victims are drawn into those weeks so that a small world's
    # stopped mule has a working mule's evidence (``after.working_mule``) until it ages out
    busy_lo = busy_hi = 0
    if busy >= 0:
        busy_lo = max(stops[busy] - lookback - 3, stops[busy] - 31, 0)
        busy_hi = stops[busy] - 10
    early = np.flatnonzero(active < busy_hi)
    drawn = 0
    k = -1  # victims who pay, in turn: each mule account gets its share of them
    for v in victims:
        src_acc = _account_of(world, np.array([v]), (WECHAT, ALIPAY))[0]
        dst_acc = world.person_account[v, WECHAT]
        if src_acc < 0 or dst_acc < 0:
            continue
        k += 1
        if drawn < BUSY_VICTIMS and len(early) and busy_hi > busy_lo:
            i = int(rng.choice(early))
            d0 = int(rng.integers(max(busy_lo, active[i]), busy_hi))
            drawn += 1
        else:
            i = int(rng.integers(len(outreach)))
            d0 = int(rng.integers(active[i], max(active[i] + 1, days - 12)))
        victim_contact[int(v)] = (int(outreach[i]), d0)
        ev.add(
            np.array([outreach[i]]),
            np.array([dst_acc]),
            _times(rng, world, np.array([d0])),
            FRIEND_ADD,
        )
        talk = np.arange(d0, min(days, d0 + 10))
        ev.add(
            np.full(len(talk), outreach[i]),
            np.full(len(talk), dst_acc),
            _times(rng, world, talk),
            MESSAGE,
        )
        ev.add(
            np.full(len(talk), dst_acc),
            np.full(len(talk), outreach[i]),
            _times(rng, world, talk),
            MESSAGE,
        )
        # victims go to the mule accounts in turn: each gets its share (``add_victims``
        # draws at least VICTIMS_PER_MULE for each), as a busy mule would
        mule = int(mules[k % len(mules)])
        if busy >= 0 and busy_lo <= d0 < busy_hi:
            mule = busy
        n_pay = int(rng.integers(1, 4))
        pay_day = np.minimum(d0 + rng.integers(3, 10, n_pay), days - 1)
        if int(pay_day.max()) >= stops.get(mule, days):  # a stopped mule: another takes it
            mule = int(rng.choice(working))
        pay_ts = _times(rng, world, pay_day)
        amount = np.exp(rng.normal(np.log(6000), 0.9, n_pay))
        ev.add(np.full(n_pay, src_acc), np.full(n_pay, mule), pay_ts, TRANSFER, amount)
        # the mule forwards it within minutes to collectors in the areas
        fwd_ts = pay_ts + rng.integers(60, 30 * 60, n_pay)
        if mule in stops:
            log[mule].extend(
                (int(src_acc), int(p), int(f)) for p, f in zip(pay_ts, fwd_ts, strict=True)
            )
        dest = rng.choice(collectors, n_pay)
        ev.add(np.full(n_pay, mule), dest, fwd_ts, TRANSFER, amount * rng.uniform(0.9, 0.98, n_pay))
        # collectors cash out through POS terminals in the areas within a day or two
        cash_ts = fwd_ts + rng.integers(3600, 48 * 3600, n_pay)
        ev.add(dest, rng.choice(fraud.cashout_pos, n_pay), cash_ts, PAYMENT, amount * 0.85)
    # mules also take small ordinary payments and transfers from their own lives
    # (in _tie_events); collectors pass money between themselves
    if len(collectors) > 1:
        k = days // 3
        src = rng.choice(collectors, k)
        dst = rng.choice(collectors, k)
        ev.add(
            src,
            dst,
            _times(rng, world, rng.integers(0, days, k)),
            TRANSFER,
            np.exp(rng.normal(np.log(20000), 0.7, k)),
        )
    # crews talk to each other all day: outreach accounts of one compound
    comp = np.array([fraud.account_compound.get(int(a), -1) for a in outreach])
    for c in np.unique(comp):
        crew = outreach[comp == c]
        crew_active = active[comp == c]
        if len(crew) < 2:
            continue
        for j, a in enumerate(crew):
            n_days = days - crew_active[j]
            k = int(rng.poisson(2 * n_days))
            peers = rng.choice(crew[crew != a], k)
            day = rng.integers(crew_active[j], days, k)
            ev.add(np.full(k, a), peers, _times(rng, world, day), MESSAGE)
    # operators buy food and pay rent at shops in their area town
    shops = fraud.area_merchant_accounts
    if len(shops):
        for a in fraud.operator_own_accounts:
            start = int(_active_from(world, np.array([a]))[0])
            k = int(rng.poisson(0.3 * (days - start)))
            ev.add(
                np.full(k, a),
                rng.choice(shops, k),
                _times(rng, world, rng.integers(start, days, k)),
                PAYMENT,
                np.exp(rng.normal(np.log(40), 0.6, k)),
            )
    # investigators message confirmed accounts after their visit
    confirmed = np.array(sorted(fraud.confirmed), dtype=np.int64)
    for a in fraud.police_accounts:
        if acc.platform[a] != WECHAT or len(confirmed) == 0:
            continue
        k = int(rng.integers(3, 10))
        day = rng.integers(window // 2, window, k)
        ev.add(np.full(k, a), rng.choice(confirmed, k), _times(rng, world, day), MESSAGE)


def _sales_outreach(world: World, rng: np.random.Generator, ev: _Events) -> None:
    """Insurance and property agents add many strangers, all in their own province."""
    acc = world.accounts
    per = world.persons
    days = world.config.horizon
    prov = np.array([world.places.province[h] for h in per.home], dtype=object)
    reachable = np.flatnonzero(world.person_account[:, WECHAT] >= 0)
    for a in world.fraud.sales_accounts:
        if acc.platform[a] != WECHAT:
            continue
        mine = reachable[prov[reachable] == prov[acc.owner[a]]]
        if len(mine) < 2:
            continue
        k = int(rng.poisson(3 * days))
        targets = world.person_account[rng.choice(mine, k), WECHAT]
        day = rng.integers(0, days, k)
        ev.add(np.full(k, a), targets, _times(rng, world, day), FRIEND_ADD)
        ev.add(np.full(k, a), targets, _times(rng, world, day), MESSAGE)
        answer = rng.random(k) < 0.4
        ev.add(
            targets[answer], np.full(int(answer.sum()), a), _times(rng, world, day[answer]), MESSAGE
        )


__all__ = ["KINDS", "POS", "interaction_tables"]
