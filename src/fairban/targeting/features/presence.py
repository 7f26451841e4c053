"""Where accounts were: nights in an area, co-presence with confirmed accounts, home."""

from __future__ import annotations

from fairban.targeting.features.clock import IS_NIGHT, LOCAL_DAY, NIGHT_KEY, is_night
from fairban.targeting.features.feature import Scope, feature

#: weighted nights in an area from which presence is sustained (``present``)
SUSTAINED_NIGHTS = 7.0


@feature("presence", reads=("near",))
def presence(scope: Scope) -> str:
    """Each account seen near an area: its likeliest area (most weight), weighted nights
    (22:00-06:00, each night's best p) and days, nights with p >= 0.5, its best p, and
    what the sure rows (p >= 0.5) were seen by: first and last time, sources, the
    cells' countries (414 Myanmar, 460 China)."""
    return f"""
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
"""


@feature("present", reads=("presence",))
def present(scope: Scope) -> str:
    """Accounts that stay in the areas: at least ``SUSTAINED_NIGHTS`` weighted nights."""
    return f"SELECT account_id FROM presence WHERE nights_w >= {SUSTAINED_NIGHTS}"


@feature("copresence", reads=("near", "confirmed"))
def copresence(scope: Scope) -> str:
    """Nights an account spent in the same 370 m spot (1/300 degree) as a confirmed
    account, by sure GPS or Wi-Fi fixes (p >= 0.5) at night."""
    return f"""
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
"""


@feature("home", reads=("observations", "linked"))
def home(scope: Scope) -> str:
    """Each linked account's home and the nights it spent away from the areas.

    Home is the mean position in the account's most-used night cell (0.1 degree, about
    11 km), not a median of all its nights: an exact median sends all of an account's
    rows to one task on Spark (a few accounts have millions), while counts per cell
    combine before the shuffle on both engines. Ties go to the lowest cell, so both
    engines pick the same one."""
    return f"""
WITH nights AS (
    SELECT o.account_id, o.lat, o.lon, {NIGHT_KEY} AS night,
           CASE WHEN {scope.prefilter} THEN 1 ELSE 0 END AS near_area
    FROM observations o
    WHERE {scope.window.where("o.ts")} AND o.account_id IN (SELECT account_id FROM linked)
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
"""
