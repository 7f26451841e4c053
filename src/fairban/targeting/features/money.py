"""Money: the window's transfers and payments, mules, money to the areas, merchants."""

from __future__ import annotations

from fairban.targeting.features.feature import Scope, feature


@feature("win_money", reads=("interactions",))
def win_money(scope: Scope) -> str:
    """The window's money moves one by one: mule times each forward, money_edges sums
    them."""
    return f"""
SELECT src, dst, ts, kind, amount FROM interactions
WHERE {scope.window.where()} AND kind IN ('transfer', 'payment')
"""


@feature("money_edges", reads=("win_money", "linked"))
def money_edges(scope: Scope) -> str:
    """Money moves to or from a linked account, summed per (src, dst, kind)."""
    return """
SELECT src, dst, kind, count(*) AS n, sum(coalesce(amount, 0)) AS amount,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM win_money
WHERE (src IN (SELECT account_id FROM linked) OR dst IN (SELECT account_id FROM linked))
GROUP BY src, dst, kind
"""


@feature("mule", reads=("win_money", "linked", "contact_pairs"))
def mule(scope: Scope) -> str:
    """Each linked account's one-off senders (at most 3 transfers, never a message or a
    call either way) and the transfers it forwarded within 60 minutes (50-105% of the
    amount)."""
    return """
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
"""


@feature("to_area", reads=("money_edges", "present"))
def to_area(scope: Scope) -> str:
    """Money each account outside the areas sent to accounts that stay there."""
    return """
SELECT m.src AS account_id, sum(m.n) AS to_area_n, sum(m.amount) AS to_area_amount,
       count(DISTINCT m.dst) AS to_area_accounts
FROM money_edges m JOIN present p ON p.account_id = m.dst
WHERE m.src <> m.dst AND m.src NOT IN (SELECT account_id FROM present)
GROUP BY m.src
"""


@feature("merchant", reads=("money_edges", "linked"))
def merchant(scope: Scope) -> str:
    """Each linked account's payers, those who paid twice or more, and its takings."""
    return """
SELECT m.dst AS account_id, count(DISTINCT m.src) AS payers,
       count(DISTINCT CASE WHEN m.n >= 2 THEN m.src END) AS repeat_payers,
       sum(m.amount) AS takings
FROM money_edges m WHERE m.kind = 'payment' AND m.dst IN (SELECT account_id FROM linked)
GROUP BY m.dst
"""
