"""The accounts a directive concerns: every later feature is about them."""

from __future__ import annotations

from fairban.targeting.features.feature import Scope, feature


@feature("linked", reads=("presence", "contact_pairs", "accounts", "confirmed"))
def linked(scope: Scope) -> str:
    """In-scope accounts seen near an area (p >= 0.05), dealing with an account seen
    there on at least one weighted night, another account of such a person, or
    confirmed by police; with their platform, person, kind and phone region."""
    in_scope = ", ".join("'" + p.replace("'", "''") + "'" for p in scope.platforms)
    return f"""
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
"""
