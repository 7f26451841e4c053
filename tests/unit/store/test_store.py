"""The evidence store judges as the evidence folder does: the same decisions (measure,
risk within 1e-9, reasons) as ``fairban target --data`` over the same raw evidence and
window, day after day, and ingesting is idempotent, atomic and never doubles a row."""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from fairban.contract import Directive, load_directive
from fairban.errors import InputError
from fairban.store.ingest import ingest
from fairban.store.judge import judge
from fairban.store.layout import MANIFEST, Store, StoreError
from fairban.targeting import target
from fairban.world import WorldConfig, simulate_world
from tests.support.store import split

LOOKBACK = 30  # days: shorter than the world's 60, so evidence ages out as days go by


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store") / "world"
    simulate_world(WorldConfig(accounts=800, seed=7, days=60), root)
    return root


@pytest.fixture(scope="module")
def stored(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("store") / "store", create=True)
    ingest(store, world / "evidence")
    return store


def directive_at(world: Path, folder: Path, as_of: datetime, **changes: Any) -> Directive:
    """The world's directive, issued at ``as_of`` with the short lookback."""
    doc = yaml.safe_load((world / "directive.yaml").read_text(encoding="utf-8"))
    doc.update(issued_at=as_of.isoformat(), lookback_days=LOOKBACK, **changes)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(world / "areas.geojson", folder / "areas.geojson")
    path = folder / "directive.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_directive(path)


def rows(table: Any) -> dict[str, tuple[str, float, str]]:
    return {
        r["account_id"]: (r["measure"], r["risk"], r["reasons"])
        for r in table.select(["account_id", "measure", "risk", "reasons"]).to_pylist()
    }


def assert_same(from_store: Any, from_folder: Any) -> None:
    a, b = rows(from_store), rows(from_folder)
    assert a.keys() == b.keys()
    for account, (measure, risk, reasons) in b.items():
        got = a[account]
        assert got[0] == measure, account
        assert abs(got[1] - risk) <= 1e-9, account
        assert got[2] == reasons, account


@pytest.mark.parametrize("days_back", [2, 1, 0])
def test_the_store_decides_as_the_folder_day_after_day(
    world: Path, stored: Store, tmp_path: Path, days_back: int
) -> None:
    issued = load_directive(world / "directive.yaml").issued_at
    as_of = issued - timedelta(days=days_back)
    directive = directive_at(world, tmp_path, as_of)
    judged = judge(stored, directive, as_of=as_of)
    assert judged.days.partial == ()  # a window ending at midnight is whole days
    folder = target(directive, world / "evidence")
    assert_same(judged.result.decisions, folder.decisions)
    measures = set(judged.result.decisions.column("measure").to_pylist())
    assert {"suspend", "monitor", "none"} <= measures  # the comparison has something to compare


def test_a_window_cut_inside_days_is_judged_from_their_raw_rows(
    world: Path, stored: Store, tmp_path: Path
) -> None:
    issued = load_directive(world / "directive.yaml").issued_at
    as_of = issued - timedelta(days=1, hours=7, minutes=30)
    directive = directive_at(world, tmp_path, as_of)
    judged = judge(stored, directive, as_of=as_of)
    assert len(judged.days.partial) == 2
    assert_same(judged.result.decisions, target(directive, world / "evidence").decisions)


def test_new_areas_are_rolled_up_again_from_the_raw_days(
    world: Path, stored: Store, tmp_path: Path
) -> None:
    issued = load_directive(world / "directive.yaml").issued_at
    areas = json.loads((world / "areas.geojson").read_text(encoding="utf-8"))
    areas["features"] = areas["features"][:2]  # an amendment: two areas of four
    (tmp_path / "amended").mkdir()
    (tmp_path / "amended" / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")
    doc = yaml.safe_load((world / "directive.yaml").read_text(encoding="utf-8"))
    doc.update(lookback_days=LOOKBACK)
    (tmp_path / "amended" / "d.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    amended = load_directive(tmp_path / "amended" / "d.yaml")
    versions = len(stored.manifest.versions)
    judged = judge(stored, amended, as_of=issued)
    assert judged.rollups_made == LOOKBACK
    assert len(stored.manifest.versions) == versions + 1
    assert_same(judged.result.decisions, target(amended, world / "evidence").decisions)
    assert judge(stored, amended, as_of=issued).rollups_made == 0  # made once


def test_a_late_delivery_lands_on_its_days_and_nothing_is_doubled(
    world: Path, tmp_path: Path
) -> None:
    directive = load_directive(world / "directive.yaml")
    cut = (directive.issued_at - timedelta(days=3)).isoformat()
    early = split(world, tmp_path / "early", f"ts <= TIMESTAMPTZ '{cut}'")
    # the last three days, then everything again (a platform re-sending its backlog)
    late = split(world, tmp_path / "late", f"ts > TIMESTAMPTZ '{cut}'")
    store = Store(tmp_path / "store", create=True)
    first = ingest(store, early)
    assert len(first.days_new) == 57
    second = ingest(store, late)
    assert len(second.days_new) == 3
    again = ingest(store, world / "evidence")
    assert again.days_new == again.days_changed == []
    assert not again.changed
    whole = Store(tmp_path / "whole", create=True)
    ingest(whole, world / "evidence")
    assert store.manifest.rows == whole.manifest.rows
    stored_rows = sum(r["observations"] for r in store.manifest.rows.values())
    files = (world / "evidence" / "observations").rglob("*.parquet")
    assert stored_rows == sum(pq.read_metadata(f).num_rows for f in files)
    as_of = directive.issued_at
    assert_same(
        judge(store, directive, as_of=as_of).result.decisions,
        judge(whole, directive, as_of=as_of).result.decisions,
    )


def test_reingesting_changes_nothing(world: Path, stored: Store) -> None:
    before = (stored.root / MANIFEST).read_text(encoding="utf-8")
    files = sorted(p.relative_to(stored.root) for p in stored.root.rglob("*.parquet"))
    report = ingest(stored, world / "evidence")
    assert not report.changed
    assert len(report.days_unchanged) == 60
    assert (stored.root / MANIFEST).read_text(encoding="utf-8") == before
    assert sorted(p.relative_to(stored.root) for p in stored.root.rglob("*.parquet")) == files


def test_a_folder_with_a_bad_row_changes_nothing(
    world: Path, stored: Store, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(world / "evidence", bad)
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * REPLACE "
        "(CASE WHEN row_number() OVER () = 5 THEN 123.4 ELSE lat END AS lat) "
        f"FROM read_parquet('{world}/evidence/observations/**/*.parquet', "
        f"hive_partitioning = false)) TO '{tmp_path}/obs.parquet' (FORMAT parquet)"
    )
    shutil.rmtree(bad / "observations")
    shutil.move(tmp_path / "obs.parquet", bad / "observations.parquet")
    before = (stored.root / MANIFEST).read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"observations\.parquet row 5: lat 123\.4 is outside"):
        ingest(stored, bad)
    assert (stored.root / MANIFEST).read_text(encoding="utf-8") == before


def test_evidence_from_the_future_is_refused(world: Path, stored: Store) -> None:
    issued = load_directive(world / "directive.yaml").issued_at
    with pytest.raises(InputError, match="dated after the ingest's clock"):
        ingest(stored, world / "evidence", now=issued - timedelta(days=10))


def test_a_store_of_another_layout_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "s", create=True)
    manifest = tmp_path / "s" / MANIFEST
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    doc["layout"] = 99
    manifest.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(StoreError, match="store layout 99, but this fairban reads layout 1"):
        Store(tmp_path / "s")
    with pytest.raises(StoreError, match="no evidence store here"):
        Store(tmp_path / "none")


def test_days_written_in_chunks_hold_what_one_pass_writes(
    world: Path, stored: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10^8 observations ingest writes a few days at a time (``day_chunks``); a
    store made in chunks of a few days holds, day by day and table by table, the rows
    the one-chunk store holds, and judges as the folder does."""
    from fairban.store import parquet

    per_day = max(r["observations"] for r in stored.manifest.rows.values())
    monkeypatch.setattr(parquet, "CHUNK_ROWS", 3 * per_day)
    days = sorted(stored.days())
    counts = {d: stored.manifest.rows[d.isoformat()]["observations"] for d in days}
    assert len(parquet.day_chunks(days, counts)) >= len(days) // 4  # really in chunks
    chunked = Store(tmp_path / "chunked", create=True)
    ingest(chunked, world / "evidence")
    issued = load_directive(world / "directive.yaml").issued_at
    directive = directive_at(world, tmp_path / "d", issued)
    judged = judge(chunked, directive, as_of=issued)
    judge(stored, directive, as_of=issued)
    con = duckdb.connect()

    def table_rows(store: Store, files: dict[str, str], of: list[str]) -> list[tuple[Any, ...]]:
        paths = [str(store.root / files[d]) for d in of]
        found = con.execute(f"SELECT * FROM read_parquet({paths!r})").fetchall()
        # sums of floats (the night cells' sum_lat) depend on the order DuckDB's threads
        # add them in, run to run: rows are matched by their other columns, floats to 1e-9
        return sorted(
            found,
            key=lambda r: (
                repr([v for v in r if not isinstance(v, float)]),
                [round(v, 6) for v in r if isinstance(v, float)],
            ),
        )

    def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
        return len(a) == len(b) and all(
            len(x) == len(y)
            and all(
                math.isclose(u, v, rel_tol=1e-12, abs_tol=1e-9)
                if isinstance(u, float) and isinstance(v, float)
                else u == v
                for u, v in zip(x, y, strict=True)
            )
            for x, y in zip(a, b, strict=True)
        )

    assert chunked.manifest.rows == stored.manifest.rows
    for table, files in chunked.manifest.files.items():
        of = sorted(files)
        theirs = stored.manifest.files[table]
        assert same(table_rows(chunked, files, of), table_rows(stored, theirs, of)), table
    [(key, version)] = list(chunked.manifest.versions.items())
    for table, files in version["files"].items():
        of = sorted(files)  # the days of this window (other tests judged other windows)
        theirs = stored.manifest.versions[key]["files"][table]
        assert same(table_rows(chunked, files, of), table_rows(stored, theirs, of)), table
    assert_same(judged.result.decisions, target(directive, world / "evidence").decisions)
