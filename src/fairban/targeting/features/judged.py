"""The later passes' evidence: what depends on accounts already judged.

Scoring's first pass reads the table ``features`` alone; each later pass registers the
accounts it judged (``account_id``, ``kind``: ``mule``, ``operator`` (suspended for
outreach or a phone farm) or ``other``) as a table and
queries ``second_pass_sql`` over it, ``features``, ``money_edges``, ``linked`` and
``device_pairs``.
"""

from __future__ import annotations


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
    """All money each linked account received."""
    return """
SELECT dst AS account_id, sum(amount) AS money_in_amount, sum(n) AS money_in_n
FROM money_edges WHERE dst IN (SELECT account_id FROM linked) GROUP BY dst
"""


def second_pass_sql(
    suspects_table: str, reaching_table: str, money_in_table: str | None = None
) -> str:
    """Evidence that depends on accounts already judged: money received from them (and
    from mules among them), all money received, and phones shared with them (and with
    operators among them: ``device_operators``, the accounts judged as operators that
    used one of its phones within days of it; ``device_pairs`` leaves out the person's
    own accounts and phones used months apart). ``device_reaching``: the accounts on its
    phones within days that add strangers themselves (``reaching_table``, from their own
    evidence, judged or not). ``money_in_table``: ``money_in_total_sql`` made once into
    a table (it depends on no judgement), or None to compute it here."""
    money_in = money_in_table or f"({money_in_total_sql()})"
    return f"""
SELECT f.account_id, x.from_mules_n, x.from_mules_amount, x.from_suspects_amount,
       x.from_suspects_n, y.money_in_amount, z.device_suspects, z.device_operators,
       w.device_reaching
FROM features f
LEFT JOIN ({money_from_sql(suspects_table)}) x ON x.account_id = f.account_id
LEFT JOIN {money_in} y ON y.account_id = f.account_id
LEFT JOIN (
    SELECT d.account_id, count(DISTINCT d.peer) AS device_suspects,
           count(DISTINCT CASE WHEN s.kind = 'operator' THEN d.peer END) AS device_operators
    FROM device_pairs d JOIN {suspects_table} s ON s.account_id = d.peer
    WHERE d.stays = 1
    GROUP BY d.account_id
) z ON z.account_id = f.account_id
LEFT JOIN (
    SELECT d.account_id, count(DISTINCT d.peer) AS device_reaching
    FROM device_pairs d JOIN {reaching_table} r ON r.account_id = d.peer
    GROUP BY d.account_id
) w ON w.account_id = f.account_id
ORDER BY f.account_id
"""
