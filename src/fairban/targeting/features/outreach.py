"""Outreach to strangers: first contacts that share no contact with the account adding.

The shared-contact test is in steps of its own (busy accounts, the two circles, the
shared pairs): as CTEs of one query DuckDB misjudged their sizes (the 24M-row fan-out
of busy pairs into the added accounts' circles went to the build side and spilled:
11.5 s at 10^8); as tables it has their real sizes (about 5 s).
"""

from __future__ import annotations

from fairban.targeting.features.clock import local_date
from fairban.targeting.features.feature import Scope, feature

#: the talk pairs of ``contact_pairs`` in both directions (CTE ``adj``: who, other)
_ADJACENCY = """talk AS (SELECT src, dst FROM contact_pairs WHERE first_talk IS NOT NULL),
adj AS (SELECT src AS who, dst AS other FROM talk UNION ALL SELECT dst, src FROM talk)"""


@feature("outreach_busy", reads=("first_contacts",))
def outreach_busy(scope: Scope) -> str:
    """The first contacts of accounts adding at least 20 people of whom at most 30%
    answer: only those can reach the outreach thresholds, so the shared-contact test
    (the costly part) looks at those alone."""
    return """
SELECT f.src, f.dst FROM first_contacts f WHERE f.src IN (
    SELECT src FROM first_contacts GROUP BY src
    HAVING count(*) >= 20 AND sum(answered) <= 0.3 * count(*)
)
"""


@feature("outreach_src_circle", reads=("contact_pairs", "outreach_busy"))
def outreach_src_circle(scope: Scope) -> str:
    """Whom each busy account talked with, either way. Each circle is one filter of the
    talk pairs (the DISTINCT sets make DuckDB's semi-join tables smaller: 1 s less at
    10^8)."""
    return f"""
WITH {_ADJACENCY}
SELECT DISTINCT who, other FROM adj WHERE who IN (SELECT DISTINCT src FROM outreach_busy)
"""


@feature("outreach_dst_circle", reads=("contact_pairs", "outreach_busy", "outreach_src_circle"))
def outreach_dst_circle(scope: Scope) -> str:
    """Whom each account a busy account added talked with, either way, among the busy
    accounts' own contacts (no other can be shared)."""
    return f"""
WITH {_ADJACENCY}
SELECT DISTINCT who, other FROM adj
WHERE who IN (SELECT DISTINCT dst FROM outreach_busy)
  AND other IN (SELECT DISTINCT other FROM outreach_src_circle)
"""


@feature("outreach_shared", reads=("outreach_busy", "outreach_dst_circle", "outreach_src_circle"))
def outreach_shared(scope: Scope) -> str:
    """The busy first contacts whose two sides share a contact: not strangers."""
    return """
SELECT DISTINCT b.src, b.dst FROM outreach_busy b
JOIN outreach_dst_circle c2 ON c2.who = b.dst AND c2.other <> b.src
JOIN outreach_src_circle c1 ON c1.who = b.src AND c1.other = c2.other
"""


@feature("outreach", reads=("first_contacts", "outreach_shared"))
def outreach(scope: Scope) -> str:
    """Each adding account's first contacts with strangers (no shared contact): how
    many, how many answered, in how many provinces, on how many local days, when."""
    return f"""
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
"""
