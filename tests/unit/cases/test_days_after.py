"""The daily cycle against the world's truth: a world that goes on after the directive
(``fairban simulate --after``), each of its days delivered as platforms deliver them and
run through ``fairban daily``, and what the cases show each day held against that day's
truth (``OUT/truth/DAY.csv``).

- the accounts a new operator bought and put on a compound's phones are under a
  measure (restrict or suspend) by the day he is established;
- a stopped mule's measure stands while his window holds a working mule's evidence and
  is lifted, with a notice that says why, on the day it no longer does;
- a compound that moves loses none of its suspensions;
- workers who went home from an area town carry no measure once their presence left
  the window (and none beyond watching before: presence is not guilt).

Seed 11 and a 21-day lookback: the simulator's events were drawn up on other seeds.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.cases.daily import run_daily
from fairban.cases.models import Case
from fairban.cases.service import messages_of
from fairban.cases.transitions import IN_FORCE
from fairban.clock import BEIJING
from fairban.contract import Directive, load_directive
from fairban.measures import VISIBLE_VALUES
from fairban.store.ingest import ingest
from fairban.store.layout import Store
from fairban.world import WorldConfig, simulate_world
from fairban.world.after import LIFTED
from tests.unit.cases.test_daily import ACTOR, SETTINGS, first_enforcement

pytestmark = pytest.mark.slow

LOOKBACK = 21
AFTER = 26  # long enough for the workers' presence to leave the window, and the mule's


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("after") / "world"
    simulate_world(
        WorldConfig(accounts=1500, seed=11, days=40, after=AFTER, lookback=LOOKBACK), root
    )
    return root


def truth(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return {r["account_id"]: r for r in csv.DictReader(f)}


def in_force(session: Session, directive: Directive) -> dict[str, str]:
    """Each account's measure in force (monitor included), from the case store."""
    cases = session.scalars(select(Case).where(Case.directive_id == directive.id))
    return {c.account_id: c.measure.value for c in cases if c.state in IN_FORCE}


def test_each_day_catches_the_new_and_lifts_what_lost_its_grounds(
    world: Path, tmp_path: Path, session: Session
) -> None:
    directive = load_directive(world / "directive.yaml")
    store = Store(tmp_path / "store", create=True)
    ingest(store, world / "evidence")
    first_enforcement(session, store, directive, tmp_path)
    days = sorted(p.name for p in (world / "days").iterdir())
    assert len(days) == AFTER
    before = truth(world / "truth.csv")
    measures = in_force(session, directive)
    # the crew's accounts suspended on strong evidence (an operator's own account that only
    # lives there comes and goes with the window's nights, moved or not)
    moved = [
        a
        for a, t in before.items()
        if t["event"] == "compound_moved" and measures.get(a) == "suspend"
    ]
    assert moved, "the compound that moves had measures before it moved"
    caught = lifted = 0
    missed: list[tuple[str, str, str | None]] = []
    for k, day in enumerate(days):
        today = truth(world / "truth" / f"{day}.csv")
        report = run_daily(
            session,
            store,
            directive,
            settings=SETTINGS,
            actor=ACTOR,
            inbox=world / "days" / day,
        )
        assert report.judged is not None
        assert report.judged.as_of == directive.issued_at + timedelta(days=k + 1)
        now = in_force(session, directive)
        for account, t in today.items():
            was = before[account]["expected"]
            if t["event"] == "account_bought" and t["expected"] == "suspend" != was:
                if now.get(account) in ("restrict", "suspend"):
                    caught += 1
                else:
                    missed.append((day, account, now.get(account)))
            held = measures.get(account) in VISIBLE_VALUES
            if t["event"] == "mule_stopped" and t["expected"] == LIFTED != was and held:
                assert now.get(account) in (None, "monitor"), (day, account)
                case = session.scalars(
                    select(Case).where(
                        Case.directive_id == directive.id, Case.account_id == account
                    )
                ).one()
                assert messages_of(session, case)[-1].kind.value == "measure.lift"
                lifted += 1
            if t["event"] == "mule_stopped" and t["expected"] == "restrict" and held:
                assert now.get(account) in VISIBLE_VALUES, (day, account)  # grounds hold
            if t["event"] == "moved_away":
                assert now.get(account) in (None, "monitor"), (day, account)
                gone = date.fromisoformat(t["event_day"]) + timedelta(days=LOOKBACK)
                if date.fromisoformat(day) >= gone:
                    assert account not in now, (day, account)
        for account in moved:
            assert now.get(account) in VISIBLE_VALUES, (day, account)
        before, measures = today, now
    assert lifted >= 1  # the stopped mule's measure, on the day his grounds went
    assert not missed, f"bought accounts only watched on their operator's day: {missed}"
    assert caught >= 8  # every new operator's bought accounts, on the day he is established


def test_the_days_after_are_their_own_evidence_folders(world: Path) -> None:
    """Each day folder holds exactly that Beijing day's rows, (D 00:00, D+1 00:00]."""
    import duckdb

    issued = load_directive(world / "directive.yaml").issued_at
    con = duckdb.connect()
    window_max = con.execute(
        f"SELECT max(ts) FROM read_parquet('{world}/evidence/observations/*/*.parquet')"
    ).fetchone()
    assert window_max is not None
    assert window_max[0] <= issued
    for k, folder in enumerate(sorted((world / "days").iterdir())):
        start = issued + timedelta(days=k)
        for table in ("observations", "interactions"):
            if not (folder / table).exists():
                continue
            lo, hi = con.execute(
                f"SELECT min(ts), max(ts) FROM read_parquet('{folder}/{table}/*/*.parquet')"
            ).fetchone() or (None, None)
            assert start < lo, (folder.name, table)
            assert hi <= start + timedelta(days=1), (folder.name, table)
        assert (folder / "accounts.parquet").exists()
        assert date.fromisoformat(folder.name) == start.astimezone(BEIJING).date()
