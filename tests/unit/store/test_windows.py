"""A kept window of contact pairs, carried from day to day, holds exactly the merge of
its days: row for row, whatever entered and left, NULL accounts included, and a window
whose days were replaced since is merged again rather than carried."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairban.store import windows
from fairban.store.ingest import ingest
from fairban.store.layout import Store
from fairban.store.parquet import read as _read
from fairban.store.rollups import SCHEMAS
from fairban.world import WorldConfig, simulate_world
from tests.support.store import split


def _day_file(folder: Path, day: int, rng: random.Random) -> Path:
    """One day's pairs rollup: a few accounts, so pairs recur across days; some NULL
    destinations; timestamps inside the day, so later days hold later contacts."""
    names = [f"a{i}" for i in range(12)]
    seen: set[tuple[str | None, str | None]] = set()
    rows = []
    start = datetime(2019, 10, 1, tzinfo=UTC) + timedelta(days=day)
    for _ in range(rng.randint(0, 25)):
        src = rng.choice(names)
        dst = None if rng.random() < 0.1 else rng.choice(names)
        if (src, dst) in seen:
            continue
        seen.add((src, dst))

        def ts() -> datetime | None:
            if rng.random() < 0.3:
                return None
            return start + timedelta(seconds=rng.randint(1, 86_399))

        first_talk = ts()
        rows.append(
            {
                "src": src,
                "dst": dst,
                "first_add": ts(),
                "first_talk": first_talk,
                "last_talk": None if first_talk is None else first_talk + timedelta(seconds=5),
                **{c: rng.randint(0, 3) for c in windows._SUMS},
            }
        )
    path = folder / f"day{day}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS["pairs"]), path)
    return path


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_carried_window_is_the_merge_of_its_days(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    files = [_day_file(tmp_path, d, rng) for d in range(40)]
    con = duckdb.connect()
    base = tmp_path / "base.parquet"
    first, last = 0, 20
    con.execute(
        f"COPY ({windows.merge_sql(_read(files[first:last]))}) TO '{base}' (FORMAT parquet)"
    )
    # slide by one day, by three, shrink, grow, jump back: each from the window before
    for first2, last2 in [(1, 21), (4, 24), (6, 24), (6, 30), (5, 29), (5, 29)]:
        days = files[first2:last2]
        leaving = [f for f in files[first:last] if f not in days]
        entering = [f for f in days if f not in files[first:last]]
        carried = windows.carried_sql(base, leaving, entering, days)
        assert _rows(con, carried) == _rows(con, windows.merge_sql(_read(days)))
        nxt = tmp_path / f"w{first2}-{last2}.parquet"
        con.execute(f"COPY ({carried}) TO '{nxt}' (FORMAT parquet)")
        base, first, last = nxt, first2, last2
    count = con.execute(f"SELECT count(*) FROM read_parquet('{base}')").fetchone()
    assert count is not None
    assert count[0] > 50  # pairs recur: there was something to carry


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("windows") / "world"
    simulate_world(WorldConfig(accounts=500, seed=11, days=30), root)
    return root


def _merged(store: Store, days: tuple[date, ...]) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    paths = store.day_files("pairs", list(days))
    return _rows(con, windows.merge_sql(_read(paths)))


def _kept(path: Path | None) -> list[tuple[object, ...]]:
    assert path is not None
    return _rows(duckdb.connect(), f"SELECT * FROM read_parquet('{path}')")


def test_the_store_carries_its_window_day_by_day(world: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store", create=True)
    ingest(store, world / "evidence")
    held = tuple(store.days())
    for shift in range(4):  # a 20-day window, one day later each time
        days = held[shift : shift + 20]
        kept = windows.pairs_window(store, days)
        assert _kept(kept) == _merged(store, days)
        assert len(store.manifest.windows) == min(shift + 1, windows.KEEP)
    # asked again: the kept file itself, nothing written
    before = store.manifest.generation
    assert windows.pairs_window(store, held[3:23]) == kept
    assert store.manifest.generation == before
    # the store's sweep keeps exactly the files the manifest names
    kept_files = (store.root / "windows").rglob("*.parquet")
    files = {p.relative_to(store.root).as_posix() for p in kept_files}
    assert files == {w["file"] for w in store.manifest.windows.values()}


def test_a_window_whose_days_were_replaced_is_merged_again(world: Path, tmp_path: Path) -> None:
    held_all = Store(tmp_path / "probe", create=True)
    ingest(held_all, world / "evidence")
    days = tuple(held_all.days())
    # the store first holds the world without one day's interactions after noon ...
    noon = datetime.combine(days[10], datetime.min.time(), UTC) + timedelta(hours=4)
    later = noon + timedelta(hours=6)
    late = (
        f"NOT (ts > TIMESTAMPTZ '{noon.isoformat()}' AND ts <= TIMESTAMPTZ '{later.isoformat()}')"
    )
    store = Store(tmp_path / "store", create=True)
    ingest(store, split(world, tmp_path / "early", late))
    first = windows.pairs_window(store, days[0:20])
    assert _kept(first) == _merged(store, days[0:20])
    # ... then the late rows arrive: that day's generation changes; the next window
    # (one day on) must not be carried from the stale one
    ingest(store, world / "evidence")
    moved = windows.pairs_window(store, days[1:21])
    assert _kept(moved) == _merged(store, days[1:21]) == _merged(held_all, days[1:21])
