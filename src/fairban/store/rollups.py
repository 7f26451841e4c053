"""What the store reduces each day to, once: the rollups the features read instead of
the raw rows. Each is SQL in the features' dialect over one day's raw rows (the views
``observations`` and ``interactions``), and each combines across days exactly: the
window's value is the min, max, sum or distinct union of its days'.

==============  ==================================================  =====================
rollup          one row per                                         replaces, in features
==============  ==================================================  =====================
``pairs``       (src, dst): first add, first and last talk, counts  ``contact_pairs``
                by kind
``money``       transfer or payment, whole                          ``win_money``
``devices``     (account, phone, local day)                         ``device_days``' scan
``near``        observation near an area, with its probability      the presence stage
                (per directive version)
``nightcells``  (account, night, 0.1-degree cell, near an area?):   ``home``' scan
                GPS and Wi-Fi positions at night (per version)
==============  ==================================================  =====================
"""

from __future__ import annotations

import pyarrow as pa

from fairban.contract import TABLES
from fairban.targeting.engine import NEAR_SCHEMA
from fairban.targeting.features import IS_NIGHT, LOCAL_DAY, NIGHT_KEY

_TS = pa.timestamp("us", tz="UTC")


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in columns])


#: the columns of each table of the store's days (Parquet, as DuckDB writes them)
SCHEMAS: dict[str, pa.Schema] = {
    "observations": TABLES["observations"].arrow_schema(),
    "interactions": TABLES["interactions"].arrow_schema(),
    "pairs": _schema(
        ("src", pa.string()),
        ("dst", pa.string()),
        ("first_add", _TS),
        ("first_talk", _TS),
        ("last_talk", _TS),
        ("n_message", pa.int64()),
        ("n_call", pa.int64()),
        ("n_friend_add", pa.int64()),
        ("n_transfer", pa.int64()),
        ("n_payment", pa.int64()),
    ),
    "money": _schema(
        ("src", pa.string()),
        ("dst", pa.string()),
        ("ts", _TS),
        ("kind", pa.string()),
        ("amount", pa.float64()),
    ),
    "devices": _schema(
        ("account_id", pa.string()), ("device_id", pa.string()), ("day", pa.date32())
    ),
    "near": NEAR_SCHEMA,
    "nightcells": _schema(
        ("account_id", pa.string()),
        ("night", pa.date32()),
        ("gy", pa.int64()),
        ("gx", pa.int64()),
        ("near_area", pa.int32()),
        ("n", pa.int64()),
        ("sum_lat", pa.float64()),
        ("sum_lon", pa.float64()),
    ),
}


def pairs_sql(source: str = "interactions", where: str = "TRUE", by: str = "") -> str:
    """Contact pairs of ``source``'s interactions (``where`` narrows them: a partial
    day; ``by``, e.g. ``store_day``, a column to group by too, first in the output)."""
    lead = f"{by}, " if by else ""
    return f"""
SELECT {lead}src, dst,
       min(ts) FILTER (WHERE kind = 'friend_add') AS first_add,
       min(ts) FILTER (WHERE kind <> 'friend_add') AS first_talk,
       max(ts) FILTER (WHERE kind <> 'friend_add') AS last_talk,
       count(*) FILTER (WHERE kind = 'message') AS n_message,
       count(*) FILTER (WHERE kind = 'call') AS n_call,
       count(*) FILTER (WHERE kind = 'friend_add') AS n_friend_add,
       count(*) FILTER (WHERE kind = 'transfer') AS n_transfer,
       count(*) FILTER (WHERE kind = 'payment') AS n_payment
FROM {source}
WHERE ({where}) AND kind IN ('friend_add', 'message', 'call', 'transfer', 'payment')
GROUP BY {lead}src, dst
"""


def contact_pairs_sql(pairs: str) -> str:
    """The window's ``contact_pairs`` (the feature's own columns) from the days' pairs."""
    return f"""
SELECT src, dst, min(first_add) AS first_add, min(first_talk) AS first_talk,
       max(last_talk) AS last_talk,
       CASE WHEN sum(n_message + n_call) > 0 THEN 1 ELSE 0 END AS chat,
       CASE WHEN sum(n_message) > 0 THEN 1 ELSE 0 END AS msg,
       sum(n_message + n_call + n_friend_add) AS n_social,
       sum(n_transfer + n_payment) AS n_money
FROM {pairs}
GROUP BY src, dst
"""


def merged_contact_pairs_sql(pairs: str) -> str:
    """``contact_pairs`` from pairs already merged over the window (one row per pair, a
    kept window's: ``store/windows.py``): the same columns, no grouping."""
    return f"""
SELECT src, dst, first_add, first_talk, last_talk,
       CASE WHEN n_message + n_call > 0 THEN 1 ELSE 0 END AS chat,
       CASE WHEN n_message > 0 THEN 1 ELSE 0 END AS msg,
       n_message + n_call + n_friend_add AS n_social,
       n_transfer + n_payment AS n_money
FROM {pairs}
"""


def money_sql(source: str = "interactions", where: str = "TRUE", by: str = "") -> str:
    lead = f"{by}, " if by else ""
    return f"""
SELECT {lead}src, dst, ts, kind, amount FROM {source}
WHERE ({where}) AND kind IN ('transfer', 'payment')
"""


def devices_sql(source: str = "observations", where: str = "TRUE", by: str = "") -> str:
    lead = f"{by}, " if by else ""
    return f"""
SELECT DISTINCT {lead}account_id, device_id, {LOCAL_DAY} AS day FROM {source}
WHERE ({where}) AND device_id IS NOT NULL
"""


def nightcells_sql(
    prefilter: str, source: str = "observations", where: str = "TRUE", by: str = ""
) -> str:
    """Night positions of every account (GPS and Wi-Fi), by 0.1-degree cell and whether
    the directive's pre-filter holds (``home``'s inputs)."""
    lead = f"{by}, " if by else ""
    keys = ", ".join(str(i) for i in range(1, 6 + (1 if by else 0)))
    return f"""
SELECT {lead}account_id, {NIGHT_KEY} AS night,
       CAST(floor(lat * 10) AS BIGINT) AS gy, CAST(floor(lon * 10) AS BIGINT) AS gx,
       CASE WHEN {prefilter} THEN 1 ELSE 0 END AS near_area,
       count(*) AS n, sum(lat) AS sum_lat, sum(lon) AS sum_lon
FROM {source}
WHERE ({where}) AND source IN ('gps', 'wifi') AND lat IS NOT NULL AND {IS_NIGHT}
GROUP BY {keys}
"""


def home_sql(nightcells: str) -> str:
    """The window's ``home`` (the feature's own columns) from the days' night cells:
    the linked accounts' most-used night cell (ties to the lowest cell) and its mean
    position, and the nights spent outside the areas."""
    return f"""
WITH cells AS (
    SELECT account_id, gy, gx, sum(n) AS n, sum(sum_lat) / sum(n) AS lat,
           sum(sum_lon) / sum(n) AS lon
    FROM {nightcells} WHERE account_id IN (SELECT account_id FROM linked)
    GROUP BY account_id, gy, gx
),
top AS (
    SELECT account_id, lat, lon,
           row_number() OVER (PARTITION BY account_id ORDER BY n DESC, gy, gx) AS rk
    FROM cells
),
away AS (
    SELECT account_id, count(DISTINCT CASE WHEN near_area = 0 THEN night END)
           AS nights_elsewhere
    FROM {nightcells} WHERE account_id IN (SELECT account_id FROM linked)
    GROUP BY account_id
)
SELECT a.account_id, a.nights_elsewhere, t.lat AS home_lat, t.lon AS home_lon
FROM away a LEFT JOIN top t ON t.account_id = a.account_id AND t.rk = 1
"""


def device_days_sql(devices: str) -> str:
    """The window's ``device_days`` from the days' phones per account: the phones used
    near an area by accounts that stay there, or by confirmed accounts, and every
    account that used one of them, by local day."""
    return f"""
SELECT DISTINCT d.account_id, d.device_id, d.day FROM {devices} d
WHERE d.device_id IN (
    SELECT DISTINCT device_id FROM near
    WHERE device_id IS NOT NULL AND p >= 0.5
      AND account_id IN (SELECT account_id FROM present)
    UNION SELECT DISTINCT device_id FROM {devices}
    WHERE account_id IN (SELECT account_id FROM confirmed)
)
"""
