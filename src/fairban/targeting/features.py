"""Feature queries, written once in one SQL dialect (DuckDB's) and run by a backend.

Each step materialises one table. The SQL sticks to what sqlglot can transpile to
Spark SQL (joins, GROUP BY, CASE, window functions, interval arithmetic): a second
backend runs the same text after ``sqlglot.transpile(sql, read="duckdb", write=...)``.

Inputs: the views ``accounts``, ``observations``, ``interactions``, ``confirmed`` and the
table ``near`` (observations near an area with their probability of being inside,
computed by ``fairban.geo.presence``). Beijing time (UTC+8) is the local clock: the
compounds run on it, and nights are 22:00-06:00.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fairban.geo.presence import M_PER_DEG


@dataclass(frozen=True)
class Step:
    name: str
    sql: str


@dataclass(frozen=True)
class Window:
    start: datetime  # exclusive
    end: datetime  # inclusive

    def where(self, column: str = "ts") -> str:
        return (
            f"{column} > TIMESTAMPTZ '{self.start.isoformat()}' "
            f"AND {column} <= TIMESTAMPTZ '{self.end.isoformat()}'"
        )


def local_date(ts: str = "ts", shift_hours: int = 8) -> str:
    """``CAST(ts + INTERVAL shift_hours HOUR AS DATE)`` made from the epoch: the same
    date on the UTC clock both backends keep, without the per-row calendar (ICU) that
    DuckDB goes through for a TIMESTAMPTZ, several times the cost on big scans. Exact:
    DuckDB's epoch() is a double whose error (under 1e-6 s to year 2255) cannot carry
    a microsecond before midnight past it; Spark's is whole seconds."""
    return (
        f"(DATE '1970-01-01' + "
        f"CAST(floor((epoch({ts}) + {shift_hours * 3600}) / 86400) AS INTEGER))"
    )


def is_night(ts: str = "ts") -> str:
    """The local (UTC+8) hour is 22-05, as ``hour(ts + INTERVAL 8 HOUR)`` says, made from
    the epoch for the reason of ``local_date`` (the ``+ 24) % 24`` keeps it right before
    1970, where ``%`` of a negative number is negative)."""
    hour = f"CAST(floor((epoch({ts}) + 28800) / 3600) AS BIGINT)"
    return f"(({hour} % 24 + 24) % 24 NOT BETWEEN 6 AND 21)"


#: a night belongs to the local date it starts on: shift 22:00-06:00 into one date
NIGHT_KEY = local_date("ts", 2)
LOCAL_DAY = local_date("ts", 8)
IS_NIGHT = is_night("ts")
SUSTAINED_NIGHTS = 7.0


#: accuracy (m) up to which the pre-filter's envelope bounds positions by constants
ENVELOPE_REACH_M = 10_000.0


def envelope_sql(
    boxes: Sequence[tuple[float, float, float, float, float]],
    reach_m: float = ENVELOPE_REACH_M,
) -> str:
    """A superset of the area pre-filter made of column-to-constant comparisons only,
    so that a Parquet reader can test it against row-group statistics (the exact
    pre-filter's arithmetic it cannot): rows whose accuracy is at most ``reach_m`` lie
    in an area's box grown by ``reach_m``. ``boxes`` are each area's (min lon, min lat,
    max lon, max lat, metres per degree of longitude at its widest). Bounds are
    rounded outwards, so ANDing it to the exact pre-filter changes no result."""
    if not boxes:
        return "FALSE"
    dlat = reach_m / M_PER_DEG
    parts = []
    for minx, miny, maxx, maxy, m_per_deg_lon in boxes:
        dlon = reach_m / m_per_deg_lon
        parts.append(
            f"(lat >= {_down(miny - dlat)} AND lat <= {_up(maxy + dlat)} AND "
            f"lon >= {_down(minx - dlon)} AND lon <= {_up(maxx + dlon)})"
        )
    return f"(accuracy_m > {reach_m} OR {' OR '.join(parts)})"


def _down(x: float) -> str:
    return f"{math.floor(x * 1e4) / 1e4 - 1e-4:.4f}"  # a 10 m margin below the exact bound


def _up(x: float) -> str:
    return f"{math.ceil(x * 1e4) / 1e4 + 1e-4:.4f}"


def prefilter_sql(window: Window, prefilter: str, envelope: str | None = None) -> str:
    """Observations in the window that may touch an area (read by the presence stage);
    ``envelope`` (``envelope_sql``) lets a Parquet reader skip row groups too."""
    bounds = f" AND {envelope}" if envelope else ""
    return f"""
SELECT account_id, ts, lat, lon, accuracy_m, source, cell_id, device_id
FROM observations
WHERE {window.where()} AND lat IS NOT NULL AND {prefilter}{bounds}
"""


#: the talk pairs of ``contact_pairs`` in both directions (CTE ``adj``: who, other)
_ADJACENCY = """talk AS (SELECT src, dst FROM contact_pairs WHERE first_talk IS NOT NULL),
adj AS (SELECT src AS who, dst AS other FROM talk UNION ALL SELECT dst, src FROM talk)"""


def steps(window: Window, platforms: tuple[str, ...], prefilter: str) -> list[Step]:
    """The feature pipeline, in order. ``prefilter`` is the area pre-filter predicate."""
    in_scope = ", ".join("'" + p.replace("'", "''") + "'" for p in platforms)
    w = window.where()
    return [
        Step(
            "presence",
            f"""
WITH n AS (
    SELECT account_id, area, p, source, ts, cell_id,
           {NIGHT_KEY} AS night, {LOCAL_DAY} AS day, {IS_NIGHT} AS is_night
    FROM near WHERE p >= 0.01
),
nights AS (
    SELECT account_id, night, max(p) AS p FROM n WHERE is_night GROUP BY account_id, night
),
days AS (SELECT account_id, day, max(p) AS p FROM n GROUP BY account_id, day),
by_area AS (
    SELECT account_id, area, sum(p) AS w,
           row_number() OVER (PARTITION BY account_id ORDER BY sum(p) DESC, area) AS rk
    FROM n GROUP BY account_id, area
),
sure AS (
    SELECT account_id,
           min(ts) AS first_ts, max(ts) AS last_ts,
           max(CASE WHEN source = 'gps' THEN 1 ELSE 0 END) AS by_gps,
           max(CASE WHEN source = 'wifi' THEN 1 ELSE 0 END) AS by_wifi,
           max(CASE WHEN source = 'cell' THEN 1 ELSE 0 END) AS by_cell,
           max(CASE WHEN source = 'ip' THEN 1 ELSE 0 END) AS by_ip,
           max(CASE WHEN cell_id LIKE '414-%' THEN 1 ELSE 0 END) AS mm_cells,
           max(CASE WHEN cell_id LIKE '460-%' THEN 1 ELSE 0 END) AS cn_cells
    FROM n WHERE p >= 0.5 GROUP BY account_id
)
SELECT b.account_id, b.area,
       coalesce(ng.nights_w, 0) AS nights_w, coalesce(ng.nights_sure, 0) AS nights_sure,
       coalesce(dy.days_w, 0) AS days_w, mx.max_p,
       s.first_ts, s.last_ts, coalesce(s.by_gps, 0) AS by_gps, coalesce(s.by_wifi, 0) AS by_wifi,
       coalesce(s.by_cell, 0) AS by_cell, coalesce(s.by_ip, 0) AS by_ip,
       coalesce(s.mm_cells, 0) AS mm_cells, coalesce(s.cn_cells, 0) AS cn_cells
FROM by_area b
LEFT JOIN (SELECT account_id, sum(p) AS nights_w,
                  sum(CASE WHEN p >= 0.5 THEN 1 ELSE 0 END) AS nights_sure
           FROM nights GROUP BY account_id) ng ON ng.account_id = b.account_id
LEFT JOIN (SELECT account_id, sum(p) AS days_w FROM days GROUP BY account_id) dy
       ON dy.account_id = b.account_id
LEFT JOIN (SELECT account_id, max(p) AS max_p FROM n GROUP BY account_id) mx
       ON mx.account_id = b.account_id
LEFT JOIN sure s ON s.account_id = b.account_id
WHERE b.rk = 1
""",
        ),
        Step(
            "present",
            f"SELECT account_id FROM presence WHERE nights_w >= {SUSTAINED_NIGHTS}",
        ),
        Step(
            "contact_pairs",
            # Who dealt with whom, one row per directed pair (src, dst), in one grouping
            # of the window's interactions: linked, first_contacts, outreach, mule,
            # social and confirmed_contact read this instead of the interactions.
            # "Talk" is message, call, transfer or payment. Every pair is kept: each
            # reader picks its own accounts, and a filter here (an OR of two semi-joins
            # over every interaction) took 5.7 s at 10^8 and left out no pair in the
            # simulated worlds. FILTER, not min(CASE ...): DuckDB aggregates it about
            # 30% faster.
            f"""
SELECT src, dst,
       min(ts) FILTER (WHERE kind = 'friend_add') AS first_add,
       min(ts) FILTER (WHERE kind <> 'friend_add') AS first_talk,
       max(ts) FILTER (WHERE kind <> 'friend_add') AS last_talk,
       CASE WHEN count(*) FILTER (WHERE kind IN ('message', 'call')) > 0 THEN 1 ELSE 0 END
           AS chat,
       CASE WHEN count(*) FILTER (WHERE kind = 'message') > 0 THEN 1 ELSE 0 END AS msg,
       count(*) FILTER (WHERE kind IN ('message', 'call', 'friend_add')) AS n_social,
       count(*) FILTER (WHERE kind IN ('transfer', 'payment')) AS n_money
FROM interactions
WHERE {w} AND kind IN ('friend_add', 'message', 'call', 'transfer', 'payment')
GROUP BY src, dst
""",
        ),
        Step(
            "win_money",
            # the money moves one by one: mule times each forward, money_edges sums them
            f"""
SELECT src, dst, ts, kind, amount FROM interactions
WHERE {w} AND kind IN ('transfer', 'payment')
""",
        ),
        Step(
            "linked",
            f"""
WITH seen AS (SELECT account_id FROM presence WHERE max_p >= 0.05),
dealt AS (
    SELECT i.src AS account_id FROM contact_pairs i JOIN presence p ON i.dst = p.account_id
    WHERE p.nights_w >= 1
    UNION SELECT i.dst FROM contact_pairs i JOIN presence p ON i.src = p.account_id
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
WHERE a.platform IN ({in_scope})
""",
        ),
        Step(
            "first_contacts",
            """
-- an add is a first contact unless the two talked (either way) before it; it is
-- answered when the added account talked back at or after it
WITH adds AS (
    SELECT src, dst, first_add AS ts, first_talk FROM contact_pairs
    WHERE first_add IS NOT NULL AND src IN (SELECT account_id FROM linked)
)
SELECT a.src, a.dst, a.ts,
       CASE WHEN r.last_talk >= a.ts THEN 1 ELSE 0 END AS answered,
       CASE WHEN length(acc.phone_region) = 6 THEN substr(acc.phone_region, 1, 2) END
           AS province
FROM adds a
LEFT JOIN contact_pairs r ON r.src = a.dst AND r.dst = a.src
LEFT JOIN accounts acc ON acc.account_id = a.dst
-- a NULL dst matches no talk, as with a join on (src, dst)
WHERE (a.first_talk IS NULL OR a.first_talk >= a.ts OR a.dst IS NULL)
  AND (r.first_talk IS NULL OR r.first_talk >= a.ts)
""",
        ),
        # outreach's shared-contact test, in steps of their own: as CTEs of one query
        # DuckDB misjudged their sizes (the 24M-row fan-out of busy pairs into the added
        # accounts' circles went to the build side and spilled: 11.5 s at 10^8); as
        # tables it has their real sizes (about 5 s)
        Step(
            "outreach_busy",
            # only accounts adding many people who rarely answer can reach the outreach
            # thresholds: the shared-contact test (the costly part) looks at those alone
            """
SELECT f.src, f.dst FROM first_contacts f WHERE f.src IN (
    SELECT src FROM first_contacts GROUP BY src
    HAVING count(*) >= 20 AND sum(answered) <= 0.3 * count(*)
)
""",
        ),
        Step(
            "outreach_src_circle",
            # who talked with whom, either way: each circle is one filter of it (the
            # DISTINCT sets make DuckDB's semi-join tables smaller: 1 s less at 10^8)
            f"""
WITH {_ADJACENCY}
SELECT DISTINCT who, other FROM adj WHERE who IN (SELECT DISTINCT src FROM outreach_busy)
""",
        ),
        Step(
            "outreach_dst_circle",
            f"""
WITH {_ADJACENCY}
SELECT DISTINCT who, other FROM adj
WHERE who IN (SELECT DISTINCT dst FROM outreach_busy)
  AND other IN (SELECT DISTINCT other FROM outreach_src_circle)
""",
        ),
        Step(
            "outreach_shared",
            # they share a contact: not strangers
            """
SELECT DISTINCT b.src, b.dst FROM outreach_busy b
JOIN outreach_dst_circle c2 ON c2.who = b.dst AND c2.other <> b.src
JOIN outreach_src_circle c1 ON c1.who = b.src AND c1.other = c2.other
""",
        ),
        Step(
            "outreach",
            f"""
SELECT f.src AS account_id,
       count(*) AS first_contacts,
       sum(f.answered) AS answered,
       count(DISTINCT f.province) AS provinces,
       count(DISTINCT {local_date("f.ts")}) AS outreach_days,
       min(f.ts) AS first_ts, max(f.ts) AS last_ts
FROM first_contacts f
LEFT JOIN outreach_shared s ON s.src = f.src AND s.dst = f.dst
WHERE s.src IS NULL
GROUP BY f.src
""",
        ),
        Step(
            "money_edges",
            """
SELECT src, dst, kind, count(*) AS n, sum(coalesce(amount, 0)) AS amount,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM win_money
WHERE (src IN (SELECT account_id FROM linked) OR dst IN (SELECT account_id FROM linked))
GROUP BY src, dst, kind
""",
        ),
        Step(
            "mule",
            """
WITH t AS (SELECT src, dst, ts, amount FROM win_money WHERE kind = 'transfer'),
tin AS (SELECT * FROM t WHERE dst IN (SELECT account_id FROM linked)),
-- senders who never messaged or called with the account, either way
senders AS (
    SELECT tin.dst AS account_id, tin.src, count(*) AS n, sum(tin.amount) AS amount
    FROM tin
    LEFT JOIN contact_pairs k ON k.src = tin.src AND k.dst = tin.dst AND k.chat = 1
    LEFT JOIN contact_pairs b ON b.src = tin.dst AND b.dst = tin.src AND b.chat = 1
    WHERE k.src IS NULL AND b.src IS NULL
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
        ),
        Step(
            "to_area",
            """
SELECT m.src AS account_id, sum(m.n) AS to_area_n, sum(m.amount) AS to_area_amount,
       count(DISTINCT m.dst) AS to_area_accounts
FROM money_edges m JOIN present p ON p.account_id = m.dst
WHERE m.src <> m.dst AND m.src NOT IN (SELECT account_id FROM present)
GROUP BY m.src
""",
        ),
        Step(
            "device_days",
            f"""
SELECT DISTINCT o.account_id, o.device_id, {local_date("o.ts")} AS day
FROM observations o
WHERE {window.where("o.ts")} AND o.device_id IS NOT NULL
  AND o.device_id IN (
      SELECT DISTINCT device_id FROM near
      WHERE device_id IS NOT NULL AND p >= 0.5
        AND account_id IN (SELECT account_id FROM present)
      UNION SELECT DISTINCT o2.device_id FROM observations o2
      WHERE {window.where("o2.ts")} AND o2.device_id IS NOT NULL
        AND o2.account_id IN (SELECT account_id FROM confirmed)
  )
""",
        ),
        Step(
            "device_runs",
            """
-- consecutive days an account used a phone, as one run (gaps and islands): pairs are
-- then found between runs, not between every two days
SELECT account_id, device_id, min(day) AS first_day, max(day) AS last_day
FROM (
    SELECT account_id, device_id, day,
           row_number() OVER (PARTITION BY account_id, device_id ORDER BY day) AS rn
    FROM device_days
) x
GROUP BY account_id, device_id, day - CAST(rn AS INTEGER)
""",
        ),
        Step(
            "device_pairs",
            """
WITH bad AS (
    SELECT r.account_id, r.device_id, r.first_day, r.last_day,
           CASE WHEN r.account_id IN (SELECT account_id FROM confirmed) THEN 1 ELSE 0 END
               AS confirmed
    FROM device_runs r
    WHERE r.account_id IN (SELECT account_id FROM present)
       OR r.account_id IN (SELECT account_id FROM confirmed)
)
SELECT DISTINCT a.account_id, b.account_id AS peer, b.confirmed
FROM device_runs a
JOIN bad b ON b.device_id = a.device_id AND b.account_id <> a.account_id
     -- the two runs come within three days of each other
     AND a.first_day - INTERVAL 3 DAY <= b.last_day
     AND b.first_day - INTERVAL 3 DAY <= a.last_day
JOIN accounts pa ON pa.account_id = a.account_id
JOIN accounts pb ON pb.account_id = b.account_id
WHERE a.account_id IN (SELECT account_id FROM linked)
  -- one person's own accounts on one phone are not a shared device
  AND (pa.person_id IS NULL OR pb.person_id IS NULL OR pa.person_id <> pb.person_id)
""",
        ),
        Step(
            "devices",
            """
SELECT account_id, count(DISTINCT peer) AS device_peers,
       count(DISTINCT CASE WHEN confirmed = 1 THEN peer END) AS device_confirmed
FROM device_pairs GROUP BY account_id
""",
        ),
        Step(
            "copresence",
            f"""
WITH spots AS (
    SELECT DISTINCT account_id, {NIGHT_KEY} AS night,
           CAST(round(lat * 300) AS BIGINT) AS gy, CAST(round(lon * 300) AS BIGINT) AS gx
    FROM near WHERE p >= 0.5 AND source IN ('gps', 'wifi') AND {IS_NIGHT}
)
SELECT a.account_id, count(DISTINCT a.night) AS copresent_nights
FROM spots a JOIN spots c ON c.night = a.night AND c.gy = a.gy AND c.gx = a.gx
     AND c.account_id <> a.account_id
WHERE c.account_id IN (SELECT account_id FROM confirmed)
GROUP BY a.account_id
""",
        ),
        Step(
            "confirmed_contact",
            """
WITH c AS (SELECT DISTINCT account_id FROM confirmed),
-- each interaction counts for both its sides, as the pairs' counts do
x AS (
    SELECT i.src AS account_id, i.n_social, i.n_money
    FROM contact_pairs i JOIN c ON c.account_id = i.dst
    UNION ALL
    SELECT i.dst AS account_id, i.n_social, i.n_money
    FROM contact_pairs i JOIN c ON c.account_id = i.src
)
SELECT x.account_id, sum(x.n_social) AS confirmed_messages, sum(x.n_money) AS confirmed_money
FROM x JOIN linked l ON l.account_id = x.account_id
GROUP BY x.account_id
""",
        ),
        Step(
            "home",
            # Home is the mean position in the account's most-used night cell (0.1
            # degree, about 11 km), not a median of all its nights: an exact median
            # sends all of an account's rows to one task on Spark (a few accounts have
            # millions), while counts per cell combine before the shuffle on both
            # engines. Ties go to the lowest cell, so both engines pick the same one.
            f"""
WITH nights AS (
    SELECT o.account_id, o.lat, o.lon, {NIGHT_KEY} AS night,
           CASE WHEN {prefilter} THEN 1 ELSE 0 END AS near_area
    FROM observations o
    WHERE {window.where("o.ts")} AND o.account_id IN (SELECT account_id FROM linked)
      AND o.source IN ('gps', 'wifi') AND o.lat IS NOT NULL
      AND {is_night("o.ts")}
),
cells AS (
    SELECT account_id, CAST(floor(lat * 10) AS BIGINT) AS gy,
           CAST(floor(lon * 10) AS BIGINT) AS gx,
           count(*) AS n, avg(lat) AS lat, avg(lon) AS lon
    FROM nights GROUP BY account_id, CAST(floor(lat * 10) AS BIGINT),
                         CAST(floor(lon * 10) AS BIGINT)
),
top AS (
    SELECT account_id, lat, lon,
           row_number() OVER (PARTITION BY account_id ORDER BY n DESC, gy, gx) AS rk
    FROM cells
),
away AS (
    SELECT account_id,
           count(DISTINCT CASE WHEN near_area = 0 THEN night END) AS nights_elsewhere
    FROM nights GROUP BY account_id
)
SELECT a.account_id, a.nights_elsewhere, t.lat AS home_lat, t.lon AS home_lon
FROM away a LEFT JOIN top t ON t.account_id = a.account_id AND t.rk = 1
""",
        ),
        Step(
            "social",
            """
-- accounts messaged, and of those how many messaged back
SELECT o.src AS account_id, count(*) AS contacts, count(b.src) AS reciprocal
FROM contact_pairs o
LEFT JOIN contact_pairs b ON b.src = o.dst AND b.dst = o.src AND b.msg = 1
WHERE o.msg = 1 AND o.src IN (SELECT account_id FROM linked)
GROUP BY o.src
""",
        ),
        Step(
            "merchant",
            """
SELECT m.dst AS account_id, count(DISTINCT m.src) AS payers,
       count(DISTINCT CASE WHEN m.n >= 2 THEN m.src END) AS repeat_payers,
       sum(m.amount) AS takings
FROM money_edges m WHERE m.kind = 'payment' AND m.dst IN (SELECT account_id FROM linked)
GROUP BY m.dst
""",
        ),
        Step(
            "features",
            """
SELECT l.account_id, l.platform, l.person_id, l.kind, l.phone_region,
       p.area, coalesce(p.nights_w, 0) AS nights_w, coalesce(p.nights_sure, 0) AS nights_sure,
       coalesce(p.days_w, 0) AS days_w, coalesce(p.max_p, 0) AS max_p,
       p.first_ts AS present_first, p.last_ts AS present_last,
       coalesce(p.by_gps, 0) AS by_gps, coalesce(p.by_wifi, 0) AS by_wifi,
       coalesce(p.by_cell, 0) AS by_cell, coalesce(p.by_ip, 0) AS by_ip,
       coalesce(p.mm_cells, 0) AS mm_cells, coalesce(p.cn_cells, 0) AS cn_cells,
       coalesce(o.first_contacts, 0) AS first_contacts, coalesce(o.answered, 0) AS answered,
       coalesce(o.provinces, 0) AS provinces, coalesce(o.outreach_days, 0) AS outreach_days,
       o.first_ts AS outreach_first, o.last_ts AS outreach_last,
       coalesce(m.oneoff_senders, 0) AS oneoff_senders,
       coalesce(m.oneoff_amount, 0) AS oneoff_amount,
       coalesce(m.forwarded, 0) AS forwarded, coalesce(m.forwarded_amount, 0) AS forwarded_amount,
       coalesce(t.to_area_n, 0) AS to_area_n, coalesce(t.to_area_amount, 0) AS to_area_amount,
       coalesce(d.device_peers, 0) AS device_peers,
       coalesce(d.device_confirmed, 0) AS device_confirmed,
       coalesce(cp.copresent_nights, 0) AS copresent_nights,
       coalesce(cc.confirmed_messages, 0) AS confirmed_messages,
       coalesce(cc.confirmed_money, 0) AS confirmed_money,
       coalesce(h.nights_elsewhere, 0) AS nights_elsewhere, h.home_lat, h.home_lon,
       coalesce(s.contacts, 0) AS contacts, coalesce(s.reciprocal, 0) AS reciprocal,
       coalesce(mc.payers, 0) AS payers, coalesce(mc.repeat_payers, 0) AS repeat_payers,
       c.case_id
FROM linked l
LEFT JOIN presence p ON p.account_id = l.account_id
LEFT JOIN outreach o ON o.account_id = l.account_id
LEFT JOIN mule m ON m.account_id = l.account_id
LEFT JOIN to_area t ON t.account_id = l.account_id
LEFT JOIN devices d ON d.account_id = l.account_id
LEFT JOIN copresence cp ON cp.account_id = l.account_id
LEFT JOIN confirmed_contact cc ON cc.account_id = l.account_id
LEFT JOIN home h ON h.account_id = l.account_id
LEFT JOIN social s ON s.account_id = l.account_id
LEFT JOIN merchant mc ON mc.account_id = l.account_id
LEFT JOIN (SELECT account_id, min(case_id) AS case_id FROM confirmed GROUP BY account_id) c
       ON c.account_id = l.account_id
ORDER BY l.account_id
""",
        ),
    ]


def money_from_sql(suspects_table: str) -> str:
    """Second pass: money each linked account received from accounts already judged."""
    return f"""
SELECT m.dst AS account_id,
       sum(CASE WHEN s.kind = 'mule' THEN m.n ELSE 0 END) AS from_mules_n,
       sum(CASE WHEN s.kind = 'mule' THEN m.amount ELSE 0 END) AS from_mules_amount,
       sum(m.amount) AS from_suspects_amount, sum(m.n) AS from_suspects_n,
       count(DISTINCT m.src) AS from_suspects
FROM money_edges m JOIN {suspects_table} s ON s.account_id = m.src
WHERE m.dst IN (SELECT account_id FROM linked) AND m.dst <> m.src
GROUP BY m.dst
"""


def money_in_total_sql() -> str:
    return """
SELECT dst AS account_id, sum(amount) AS money_in_amount, sum(n) AS money_in_n
FROM money_edges WHERE dst IN (SELECT account_id FROM linked) GROUP BY dst
"""


def second_pass_sql(suspects_table: str) -> str:
    """Evidence that depends on accounts already judged: money received from them (and
    from mules among them), all money received, and phones shared with them."""
    return f"""
SELECT f.account_id, x.from_mules_n, x.from_mules_amount, x.from_suspects_amount,
       x.from_suspects_n, y.money_in_amount, z.device_suspects
FROM features f
LEFT JOIN ({money_from_sql(suspects_table)}) x ON x.account_id = f.account_id
LEFT JOIN ({money_in_total_sql()}) y ON y.account_id = f.account_id
LEFT JOIN (
    SELECT d.account_id, count(DISTINCT d.peer) AS device_suspects
    FROM device_pairs d JOIN {suspects_table} s ON s.account_id = d.peer
    GROUP BY d.account_id
) z ON z.account_id = f.account_id
ORDER BY f.account_id
"""
