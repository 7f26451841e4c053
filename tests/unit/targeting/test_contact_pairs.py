"""The step ``contact_pairs``: linked, first_contacts, outreach, mule, social and
confirmed_contact read who dealt with whom from it instead of deriving it from the
window's interactions (``win_int``, a table of its own before) each. Their tables must
be what the derivations they replaced gave (kept here as the reference, over a
``win_int`` view), on a simulated world and on hand-made interactions with the edge
cases (talk either way, before and after an add, kinds that are not talk, a NULL
counterpart)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from fairban.contract import load_directive
from fairban.targeting import features, target
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.world import WorldConfig, simulate_world

WINDOW = features.Window(datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 12, 31, tzinfo=UTC))
STEPS = {s.name: s.sql for s in features.steps(WINDOW, ("qq",), "TRUE")}
READERS = ("first_contacts", "outreach", "mule", "social", "confirmed_contact")
#: what the readers need, in the pipeline's order (outreach's test is in steps of its own)
NEEDED = [
    n
    for n in STEPS
    if n in ("contact_pairs", "win_money") or n in READERS or n.startswith("outreach_")
]

#: the derivations straight from win_int that contact_pairs replaced
OLD = {
    "first_contacts": """
WITH adds AS (
    SELECT src, dst, min(ts) AS ts FROM win_int
    WHERE kind = 'friend_add' AND src IN (SELECT account_id FROM linked)
    GROUP BY src, dst
),
talk AS (
    SELECT i.src, i.dst, i.ts FROM win_int i
    WHERE i.kind IN ('message', 'call', 'transfer', 'payment')
      AND (i.src IN (SELECT account_id FROM linked) OR i.dst IN (SELECT account_id FROM linked))
),
known AS (
    SELECT a.src, a.dst FROM adds a JOIN talk t ON t.src = a.src AND t.dst = a.dst
    WHERE t.ts < a.ts
    UNION SELECT a.src, a.dst FROM adds a JOIN talk t ON t.src = a.dst AND t.dst = a.src
    WHERE t.ts < a.ts
),
answered AS (
    SELECT DISTINCT a.src, a.dst FROM adds a
    JOIN talk t ON t.src = a.dst AND t.dst = a.src AND t.ts >= a.ts
)
SELECT a.src, a.dst, a.ts,
       CASE WHEN ans.dst IS NULL THEN 0 ELSE 1 END AS answered,
       CASE WHEN length(acc.phone_region) = 6 THEN substr(acc.phone_region, 1, 2) END
           AS province
FROM adds a
LEFT JOIN known k ON k.src = a.src AND k.dst = a.dst
LEFT JOIN answered ans ON ans.src = a.src AND ans.dst = a.dst
LEFT JOIN accounts acc ON acc.account_id = a.dst
WHERE k.src IS NULL
""",
    "outreach": """
WITH
busy AS (
    SELECT f.src, f.dst FROM first_contacts f WHERE f.src IN (
        SELECT src FROM first_contacts GROUP BY src
        HAVING count(*) >= 20 AND sum(answered) <= 0.3 * count(*)
    )
),
src_circle AS (
    SELECT DISTINCT src AS who, dst AS other FROM win_int
    WHERE kind IN ('message', 'call', 'transfer', 'payment') AND src IN (SELECT src FROM busy)
    UNION SELECT DISTINCT dst, src FROM win_int
    WHERE kind IN ('message', 'call', 'transfer', 'payment') AND dst IN (SELECT src FROM busy)
),
dst_circle AS (
    SELECT DISTINCT src AS who, dst AS other FROM win_int
    WHERE kind IN ('message', 'call', 'transfer', 'payment') AND src IN (SELECT dst FROM busy)
      AND dst IN (SELECT other FROM src_circle)
    UNION SELECT DISTINCT dst, src FROM win_int
    WHERE kind IN ('message', 'call', 'transfer', 'payment') AND dst IN (SELECT dst FROM busy)
      AND src IN (SELECT other FROM src_circle)
),
shared AS (
    SELECT DISTINCT b.src, b.dst FROM busy b
    JOIN dst_circle c2 ON c2.who = b.dst AND c2.other <> b.src
    JOIN src_circle c1 ON c1.who = b.src AND c1.other = c2.other
)
SELECT f.src AS account_id,
       count(*) AS first_contacts,
       sum(f.answered) AS answered,
       count(DISTINCT f.province) AS provinces,
       count(DISTINCT CAST(f.ts + INTERVAL 8 HOUR AS DATE)) AS outreach_days,
       min(f.ts) AS first_ts, max(f.ts) AS last_ts
FROM first_contacts f
LEFT JOIN shared s ON s.src = f.src AND s.dst = f.dst
WHERE s.src IS NULL
GROUP BY f.src
""",
    "mule": """
WITH t AS (SELECT src, dst, ts, amount FROM win_int WHERE kind = 'transfer'),
tin AS (SELECT * FROM t WHERE dst IN (SELECT account_id FROM linked)),
talkers AS (
    SELECT DISTINCT src, dst FROM win_int
    WHERE kind IN ('message', 'call') AND dst IN (SELECT account_id FROM linked)
    UNION SELECT DISTINCT dst, src FROM win_int
    WHERE kind IN ('message', 'call') AND src IN (SELECT account_id FROM linked)
),
senders AS (
    SELECT tin.dst AS account_id, tin.src, count(*) AS n, sum(tin.amount) AS amount
    FROM tin LEFT JOIN talkers k ON k.src = tin.src AND k.dst = tin.dst
    WHERE k.src IS NULL
    GROUP BY tin.dst, tin.src
),
oneoff AS (
    SELECT account_id, count(*) AS oneoff_senders, sum(amount) AS oneoff_amount
    FROM senders WHERE n <= 3 GROUP BY account_id
),
-- each transfer in, under its hour and under the next: a forward within 60 minutes
-- falls in exactly one of the two, so the join is on (account, hour) and a collector
-- with a million transfers each way is not one million-squared join (skew)
tin_hours AS (
    SELECT dst, src, ts, amount, date_trunc('hour', ts) AS hour FROM tin
    UNION ALL
    SELECT dst, src, ts, amount, date_trunc('hour', ts) + INTERVAL 1 HOUR AS hour FROM tin
),
fwd AS (
    SELECT i.dst AS account_id, count(DISTINCT i.src || CAST(i.ts AS VARCHAR)) AS forwarded,
           sum(i.amount) AS forwarded_amount
    FROM tin_hours i
    JOIN (SELECT src, ts, amount, date_trunc('hour', ts) AS hour FROM t) o
         ON o.src = i.dst AND o.hour = i.hour AND o.ts >= i.ts
         AND o.ts <= i.ts + INTERVAL 60 MINUTE
         AND o.amount >= 0.5 * i.amount AND o.amount <= 1.05 * i.amount
    GROUP BY i.dst
)
SELECT l.account_id,
       coalesce(oneoff.oneoff_senders, 0) AS oneoff_senders,
       coalesce(oneoff.oneoff_amount, 0) AS oneoff_amount,
       coalesce(fwd.forwarded, 0) AS forwarded,
       coalesce(fwd.forwarded_amount, 0) AS forwarded_amount
FROM linked l
LEFT JOIN oneoff ON oneoff.account_id = l.account_id
LEFT JOIN fwd ON fwd.account_id = l.account_id
""",
    "confirmed_contact": """
WITH c AS (SELECT DISTINCT account_id FROM confirmed),
x AS (
    SELECT i.src AS account_id, i.kind FROM win_int i JOIN c ON c.account_id = i.dst
    UNION ALL
    SELECT i.dst AS account_id, i.kind FROM win_int i JOIN c ON c.account_id = i.src
)
SELECT x.account_id,
       sum(CASE WHEN x.kind IN ('message', 'call', 'friend_add') THEN 1 ELSE 0 END)
           AS confirmed_messages,
       sum(CASE WHEN x.kind IN ('transfer', 'payment') THEN 1 ELSE 0 END) AS confirmed_money
FROM x JOIN linked l ON l.account_id = x.account_id
GROUP BY x.account_id
""",
    "linked": """
WITH seen AS (SELECT account_id FROM presence WHERE max_p >= 0.05),
dealt AS (
    SELECT i.src AS account_id FROM win_int i JOIN presence p ON i.dst = p.account_id
    WHERE p.nights_w >= 1
    UNION SELECT i.dst FROM win_int i JOIN presence p ON i.src = p.account_id
    WHERE p.nights_w >= 1
),
same_person AS (
    SELECT a2.account_id FROM presence p
    JOIN accounts a1 ON a1.account_id = p.account_id
    JOIN accounts a2 ON a2.person_id = a1.person_id
    WHERE p.nights_w >= 1 AND a1.person_id IS NOT NULL
),
anyone AS (
    SELECT account_id FROM seen UNION SELECT account_id FROM dealt
    UNION SELECT account_id FROM same_person UNION SELECT account_id FROM confirmed
)
SELECT a.account_id, a.platform, a.person_id, a.kind, a.phone_region
FROM accounts a JOIN (SELECT DISTINCT account_id FROM anyone) x ON x.account_id = a.account_id
WHERE a.platform IN ({platforms})
""",
    "social": """
WITH out_msg AS (
    SELECT DISTINCT src, dst FROM win_int
    WHERE kind = 'message' AND src IN (SELECT account_id FROM linked)
),
back AS (
    SELECT DISTINCT dst AS src, src AS dst FROM win_int
    WHERE kind = 'message' AND dst IN (SELECT account_id FROM linked)
)
SELECT o.src AS account_id, count(*) AS contacts, count(b.src) AS reciprocal
FROM out_msg o LEFT JOIN back b ON b.src = o.src AND b.dst = o.dst
GROUP BY o.src
""",
}


def _same(con: duckdb.DuckDBPyConnection, name: str, platforms: tuple[str, ...] = ("qq",)) -> None:
    """The step's table equals the old derivation's rows: same columns and types, same
    rows (sums of amounts to the last bits' rounding, which depends on their order)."""
    in_scope = ", ".join(f"'{p}'" for p in platforms)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE old_{name} AS {OLD[name].replace('{platforms}', in_scope)}"
    )
    new_cols = con.execute(f"DESCRIBE {name}").fetchall()
    old_cols = con.execute(f"DESCRIBE old_{name}").fetchall()
    assert [c[:2] for c in new_cols] == [c[:2] for c in old_cols], name
    new = con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
    old = con.execute(f"SELECT * FROM old_{name} ORDER BY ALL").fetchall()
    assert len(new) == len(old), name
    for n, o in zip(new, old, strict=True):
        assert all(
            math.isclose(x, y, rel_tol=1e-12) if isinstance(x, float) else x == y
            for x, y in zip(n, o, strict=True)
        ), (name, n, o)


# --------------------------------------------------------------------------- hand-made

T0 = datetime(2019, 6, 1, tzinfo=UTC)
LINKED = ("a", "q")
#: confirmed accounts: c talks with a, y takes a call from a, z deals with no one linked
CONFIRMED = ("c", "y", "z")


def _t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _interactions() -> list[tuple[str | None, str | None, datetime, str, float | None]]:
    rows: list[tuple[str | None, str | None, datetime, str, float | None]] = [
        ("a", "b", _t(5), "message", None),  # a talked to b before adding b: known
        ("a", "b", _t(10), "friend_add", None),
        ("a", "c", _t(10), "friend_add", None),
        ("c", "a", _t(20), "message", None),  # c answered, and a wrote back
        ("a", "c", _t(30), "message", None),
        ("d", "a", _t(5), "payment", 3.0),  # d paid a before the add: known the other way
        ("a", "d", _t(10), "friend_add", None),
        ("a", "e", _t(12), "friend_add", None),  # added twice: the first add counts
        ("a", "e", _t(10), "friend_add", None),
        ("a", "e", _t(40), "transfer", 9.0),  # a's own transfer later is no answer
        ("h", "a", _t(5), "poke", None),  # not a kind of talk
        ("a", "h", _t(10), "friend_add", None),
        ("a", None, _t(5), "message", None),  # a NULL counterpart talks to no one
        ("a", None, _t(10), "friend_add", None),
        ("x", "a", _t(10), "friend_add", None),  # added by an account not linked
        ("x", "a", _t(11), "message", None),
        # money into a: b (a wrote to b) and c (c wrote to a) talk, f and g do not
        ("b", "a", _t(50), "transfer", 100.0),
        ("c", "a", _t(50), "transfer", 100.0),
        ("f", "a", _t(50), "transfer", 100.0),
        ("f", "a", _t(55), "transfer", 50.0),
        ("g", "a", _t(50), "transfer", 70.0),
        ("g", "a", _t(51), "payment", 1.0),  # a payment is not talking
        ("a", "x", _t(60), "call", None),
        ("y", "a", _t(50), "transfer", 100.0),  # a called y: they talk
        ("a", "y", _t(40), "call", None),
        ("w", "a", _t(45), "call", None),  # w called a: they talk
        ("w", "a", _t(50), "transfer", 100.0),
        ("a", "k", _t(60), "message", None),  # k calls back: no message back
        ("k", "a", _t(61), "call", None),
    ]
    # q adds 25 accounts, answered by none: outreach looks at its circle. v0 shares the
    # contact m with q; v1 only knows q itself, which is no shared contact
    for i in range(25):
        rows.append(("q", f"v{i}", _t(100 + i), "friend_add", None))
    rows += [
        ("q", "m", _t(1), "message", None),
        ("m", "v0", _t(2), "call", None),
        ("q", "v1", _t(200), "payment", 5.0),
        ("v2", "n", _t(2), "message", None),  # v2's contact n is no contact of q
        ("q", "p", _t(1), "message", None),  # p only added v3: an add is no contact
        ("p", "v3", _t(3), "friend_add", None),
    ]
    return rows


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TEMP TABLE interactions "
        "(src VARCHAR, dst VARCHAR, ts TIMESTAMPTZ, kind VARCHAR, amount DOUBLE)"
    )
    con.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?, ?)", _interactions())
    con.execute(_win_int(WINDOW))
    con.execute("CREATE TEMP TABLE linked (account_id VARCHAR)")
    con.executemany("INSERT INTO linked VALUES (?)", [(a,) for a in LINKED])
    con.execute("CREATE TEMP TABLE confirmed (account_id VARCHAR)")
    con.executemany("INSERT INTO confirmed VALUES (?)", [(a,) for a in CONFIRMED])
    con.execute("CREATE TEMP TABLE accounts (account_id VARCHAR, phone_region VARCHAR)")
    con.executemany(
        "INSERT INTO accounts VALUES (?, ?)", [("c", "530100"), ("e", "440300"), ("h", None)]
    )
    for name in NEEDED:
        con.execute(f"CREATE TEMP TABLE {name} AS {STEPS[name]}")
    yield con
    con.close()


@pytest.mark.parametrize("name", READERS)
def test_hand_made_steps_equal_the_old_derivation(
    con: duckdb.DuckDBPyConnection, name: str
) -> None:
    _same(con, name)


def test_first_contacts_are_adds_without_earlier_talk(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT dst, ts, answered, province FROM first_contacts WHERE src = 'a' ORDER BY dst"
    ).fetchall()
    assert rows == [
        ("c", _t(10), 1, "53"),
        ("e", _t(10), 0, "44"),
        ("h", _t(10), 0, None),
        (None, _t(10), 0, None),
    ]


def test_outreach_leaves_out_adds_with_a_shared_contact(con: duckdb.DuckDBPyConnection) -> None:
    (row,) = con.execute(
        "SELECT first_contacts, answered FROM outreach WHERE account_id = 'q'"
    ).fetchall()
    assert row == (24, 0)  # v0 shares m with q


def test_mule_and_social_count_talk_either_way(con: duckdb.DuckDBPyConnection) -> None:
    mule = con.execute(
        "SELECT oneoff_senders, oneoff_amount FROM mule WHERE account_id = 'a'"
    ).fetchall()
    assert mule == [(2, 220.0)]  # f and g: b, c, w and y talk with a
    social = con.execute("SELECT contacts, reciprocal FROM social WHERE account_id = 'a'")
    assert social.fetchall() == [(4, 1)]  # b, c, k and NULL; c wrote back


def test_contact_pairs_are_every_pair_of_the_five_kinds(con: duckdb.DuckDBPyConnection) -> None:
    pairs = {(s, d) for s, d in con.execute("SELECT src, dst FROM contact_pairs").fetchall()}
    assert ("v2", "n") in pairs  # an account q added: outreach looks at its contacts
    assert ("m", "v0") in pairs
    assert ("h", "a") not in pairs  # a poke is no contact
    expected = con.execute(
        "SELECT DISTINCT src, dst FROM interactions "
        "WHERE kind IN ('friend_add', 'message', 'call', 'transfer', 'payment')"
    ).fetchall()
    assert pairs == set(expected)


def test_confirmed_contact_counts_each_interaction_on_both_sides(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        "SELECT account_id, confirmed_messages, confirmed_money FROM confirmed_contact "
        "ORDER BY account_id"
    ).fetchall()
    # a with c: an add, two messages and a transfer; with y: a call and a transfer
    assert rows == [("a", 4, 2)]


def _win_int(window: features.Window) -> str:
    """The window's interactions as the old derivations read them (a table before)."""
    return (
        "CREATE OR REPLACE TEMP VIEW win_int AS SELECT src, dst, ts, kind, amount "
        f"FROM interactions WHERE {window.where()}"
    )


# --------------------------------------------------------------------------- a world


@pytest.fixture(scope="module")
def world_db(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DuckDBBackend, tuple[str, ...]]]:
    root: Path = tmp_path_factory.mktemp("contact_pairs") / "world"
    simulate_world(WorldConfig(accounts=300, seed=7, days=30), root)
    db = DuckDBBackend()
    directive = load_directive(root / "directive.yaml")
    target(directive, root / "evidence", backend=db)
    db.con.execute(_win_int(features.Window(directive.window_start, directive.window_end)))
    yield db, directive.platforms
    db.close()


@pytest.mark.parametrize("name", [*READERS, "linked"])
def test_world_steps_equal_the_old_derivation(
    world_db: tuple[DuckDBBackend, tuple[str, ...]], name: str
) -> None:
    db, platforms = world_db
    busy = db.query(
        "SELECT count(*) AS n FROM (SELECT src FROM first_contacts GROUP BY src "
        "HAVING count(*) >= 20 AND sum(answered) <= 0.3 * count(*))"
    )
    assert busy.column("n")[0].as_py() > 0  # the world has outreach to test
    _same(db.con, name, platforms)
