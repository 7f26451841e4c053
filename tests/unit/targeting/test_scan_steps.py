"""The steps whose local clock is made from the epoch (``features.local_date`` and
``features.is_night`` instead of ``CAST(ts + INTERVAL ... AS DATE)`` and ``hour(ts +
INTERVAL 8 HOUR)``, which DuckDB computes through ICU's calendar for each row): their
tables must be what the old SQL (kept here as the reference) gave, on a simulated world,
and the expressions must agree with the old ones on every timestamp, edges included."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from fairban.contract import load_directive
from fairban.geo.presence import AreaIndex
from fairban.targeting import features, target
from fairban.targeting.backends.duckdb import DuckDBBackend
from fairban.world import WorldConfig, simulate_world

OLD_NIGHT_KEY = "CAST(ts + INTERVAL 2 HOUR AS DATE)"
OLD_DAY = "CAST(ts + INTERVAL 8 HOUR AS DATE)"
OLD_IS_NIGHT = "(hour(ts + INTERVAL 8 HOUR) >= 22 OR hour(ts + INTERVAL 8 HOUR) < 6)"


def _old(name: str, window: features.Window, prefilter: str) -> str:
    """The step's SQL before the clock was made from the epoch."""
    if name == "presence":
        return f"""
WITH n AS (
    SELECT account_id, area, p, source, ts, cell_id,
           {OLD_NIGHT_KEY} AS night, {OLD_DAY} AS day, {OLD_IS_NIGHT} AS is_night
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
    if name == "device_days":
        return f"""
SELECT DISTINCT o.account_id, o.device_id, CAST(o.ts + INTERVAL 8 HOUR AS DATE) AS day
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
    if name == "copresence":
        return f"""
WITH spots AS (
    SELECT DISTINCT account_id, {OLD_NIGHT_KEY} AS night,
           CAST(round(lat * 300) AS BIGINT) AS gy, CAST(round(lon * 300) AS BIGINT) AS gx
    FROM near WHERE p >= 0.5 AND source IN ('gps', 'wifi') AND {OLD_IS_NIGHT}
)
SELECT a.account_id, count(DISTINCT a.night) AS copresent_nights
FROM spots a JOIN spots c ON c.night = a.night AND c.gy = a.gy AND c.gx = a.gx
     AND c.account_id <> a.account_id
WHERE c.account_id IN (SELECT account_id FROM confirmed)
GROUP BY a.account_id
"""
    assert name == "home"
    return f"""
WITH nights AS (
    SELECT o.account_id, o.lat, o.lon, {OLD_NIGHT_KEY} AS night,
           CASE WHEN {prefilter} THEN 1 ELSE 0 END AS near_area
    FROM observations o
    WHERE {window.where("o.ts")} AND o.account_id IN (SELECT account_id FROM linked)
      AND o.source IN ('gps', 'wifi') AND o.lat IS NOT NULL
      AND {OLD_IS_NIGHT.replace("ts", "o.ts")}
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


STEPS = ("presence", "device_days", "copresence", "home")


@pytest.fixture(scope="module")
def world_db(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DuckDBBackend, features.Window, str]]:
    root: Path = tmp_path_factory.mktemp("scan_steps") / "world"
    simulate_world(WorldConfig(accounts=300, seed=7, days=30), root)
    directive = load_directive(root / "directive.yaml")
    db = DuckDBBackend()
    target(directive, root / "evidence", backend=db)
    window = features.Window(directive.window_start, directive.window_end)
    index = AreaIndex([a.name for a in directive.areas], [a.geometry for a in directive.areas])
    yield db, window, index.sql_prefilter()
    db.close()


@pytest.mark.parametrize("name", STEPS)
def test_world_steps_equal_the_old_sql(
    world_db: tuple[DuckDBBackend, features.Window, str], name: str
) -> None:
    db, window, prefilter = world_db
    con = db.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE old_{name} AS {_old(name, window, prefilter)}")
    new_cols = con.execute(f"DESCRIBE {name}").fetchall()
    old_cols = con.execute(f"DESCRIBE old_{name}").fetchall()
    assert [c[:2] for c in new_cols] == [c[:2] for c in old_cols]
    new = con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
    old = con.execute(f"SELECT * FROM old_{name} ORDER BY ALL").fetchall()
    assert len(new) > 0  # the world has rows to compare
    assert len(new) == len(old)
    for n, o in zip(new, old, strict=True):
        assert all(
            math.isclose(x, y, rel_tol=1e-12) if isinstance(x, float) else x == y
            for x, y in zip(n, o, strict=True)
        ), (n, o)


def _edges() -> list[datetime]:
    """Each UTC hour's first and last microsecond over two days, around local midnight
    (16:00 UTC) and the night's edges (14:00 and 22:00 UTC), before 1970 and far on."""
    us = timedelta(microseconds=1)
    out: list[datetime] = []
    for start in (
        datetime(2019, 10, 13, tzinfo=UTC),
        datetime(1969, 12, 31, tzinfo=UTC),
        datetime(1950, 3, 1, tzinfo=UTC),
        datetime(2199, 12, 30, tzinfo=UTC),
    ):
        for h in range(48):
            t = start + timedelta(hours=h)
            out += [t - us, t, t + us, t + timedelta(minutes=30, seconds=59, microseconds=999)]
    return out


def test_epoch_clock_equals_the_calendar_on_edges() -> None:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE t (ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?)", [(t,) for t in _edges()])
    con.execute("INSERT INTO t VALUES (NULL)")
    pairs = [
        (OLD_IS_NIGHT, features.IS_NIGHT),
        (OLD_NIGHT_KEY, features.NIGHT_KEY),
        (OLD_DAY, features.LOCAL_DAY),
    ]
    for old, new in pairs:
        bad = con.execute(
            f"SELECT ts, {old}, {new} FROM t WHERE ({old}) IS DISTINCT FROM ({new})"
        ).fetchall()
        assert bad == [], (new, bad[:3])
