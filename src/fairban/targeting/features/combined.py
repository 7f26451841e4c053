"""The pipeline's result: one row per linked account with every feature's columns."""

from __future__ import annotations

from fairban.targeting.features.feature import Scope, feature


@feature(
    "features",
    reads=(
        "linked",
        "presence",
        "outreach",
        "mule",
        "to_area",
        "devices",
        "copresence",
        "confirmed_contact",
        "home",
        "social",
        "merchant",
        "confirmed",
    ),
)
def account_features(scope: Scope) -> str:
    """Each linked account with the columns of every feature (0 where it has none of
    that evidence), its police case if confirmed, in account order: what scoring reads."""
    return """
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
"""
