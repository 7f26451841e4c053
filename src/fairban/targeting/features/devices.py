"""Phones shared with accounts seen in the areas at night (staying there or not) or
confirmed."""

from __future__ import annotations

from fairban.targeting.features.clock import local_date
from fairban.targeting.features.feature import Scope, feature

#: weighted nights in the areas that make a phone's other account one of its mates
#: (``device_pairs``): seen there at night, if not staying (``present``)
SEEN_NIGHTS = 1.0


@feature("device_days", reads=("observations", "near", "present", "confirmed"))
def device_days(scope: Scope) -> str:
    """The local days each account used a phone that was also used, surely in an area,
    by an account that stays there, or by a confirmed account."""
    window = scope.window
    return f"""
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
"""


@feature("device_runs", reads=("device_days",))
def device_runs(scope: Scope) -> str:
    """Consecutive days an account used a phone, as one run (first and last day)."""
    return """
-- consecutive days an account used a phone, as one run (gaps and islands): pairs are
-- then found between runs, not between every two days
SELECT account_id, device_id, min(day) AS first_day, max(day) AS last_day
FROM (
    SELECT account_id, device_id, day,
           row_number() OVER (PARTITION BY account_id, device_id ORDER BY day) AS rn
    FROM device_days
) x
GROUP BY account_id, device_id, day - CAST(rn AS INTEGER)
"""


@feature(
    "device_pairs", reads=("device_runs", "confirmed", "present", "presence", "accounts", "linked")
)
def device_pairs(scope: Scope) -> str:
    """Each linked account and the accounts it shared a phone with within three days,
    among those seen in the areas at night (``SEEN_NIGHTS``) or confirmed; ``stays``: the
    peer stays in the areas or is confirmed (what ``device_peers`` and the phones of
    judged accounts count). One person's own accounts on one phone are not a pair."""
    return f"""
WITH bad AS (
    SELECT r.account_id, r.device_id, r.first_day, r.last_day,
           CASE WHEN r.account_id IN (SELECT account_id FROM confirmed) THEN 1 ELSE 0 END
               AS confirmed,
           CASE WHEN r.account_id IN (SELECT account_id FROM present)
                  OR r.account_id IN (SELECT account_id FROM confirmed) THEN 1 ELSE 0 END
               AS stays
    FROM device_runs r
    WHERE r.account_id IN (SELECT account_id FROM presence WHERE nights_w >= {SEEN_NIGHTS})
       OR r.account_id IN (SELECT account_id FROM confirmed)
)
SELECT a.account_id, b.account_id AS peer, max(b.confirmed) AS confirmed,
       max(b.stays) AS stays
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
GROUP BY a.account_id, b.account_id
"""


@feature("devices", reads=("device_pairs",))
def devices(scope: Scope) -> str:
    """How many accounts each linked account shared phones with, and how many of them
    are confirmed."""
    return """
SELECT account_id, count(DISTINCT CASE WHEN stays = 1 THEN peer END) AS device_peers,
       count(DISTINCT CASE WHEN confirmed = 1 THEN peer END) AS device_confirmed
FROM device_pairs GROUP BY account_id
"""
