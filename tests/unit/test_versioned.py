"""A batch's versioned rows (cases) written together: one executemany per set of
changed columns, the optimistic lock checked as the ORM checks it, and a row changed
by someone else since it was read refused whole, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.db import (
    session_factory,
    stop_versioned_together,
    update_versioned_together,
    versioned_before_flush,
)
from fairban.directives.models import DirectiveRecord

NOW = datetime(2019, 10, 14, 8, tzinfo=UTC)


@pytest.fixture
def engine(new_engine: Engine) -> Iterator[Engine]:
    with session_factory(new_engine)() as s, s.begin():
        s.add(
            DirectiveRecord(
                id="d",
                title="t",
                issuer="i",
                legal_basis="b",
                current_version=1,
                paused=False,
                created_at=NOW,
            )
        )
        s.flush()
        s.execute(
            insert(Case),
            [
                {
                    "number": f"FB-T-{i}",
                    "directive_id": "d",
                    "directive_version": 1,
                    "account_id": f"qq:{i}",
                    "platform": "qq",
                    "account_kind": "personal",
                    "state": CaseState.ACTIVE,
                    "measure": "suspend",
                    "risk": 0.9,
                    "reasons": "[]",
                    "evidence": "{}",
                    "evidence_hash": "0" * 64,
                    "decided_by": "t",
                    "decided_by_kind": "automatic",
                    "decided_at": NOW,
                    "stage_bucket": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "row_version": 1,
                }
                for i in range(4)
            ],
        )
    # registered by fairban.appeals.flows where it is imported; here on its own
    added = not event.contains(Session, "before_flush", versioned_before_flush)
    if added:
        event.listen(Session, "before_flush", versioned_before_flush)
    yield new_engine
    if added:
        event.remove(Session, "before_flush", versioned_before_flush)


def _updates(engine: Engine) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_c: object, _cur: object, statement: str, _p: object, _x: object, many: bool) -> None:
        if statement.startswith("UPDATE cases"):
            seen.append((statement, many))

    return seen


def test_the_batchs_cases_go_in_together_with_their_versions(engine: Engine) -> None:
    seen = _updates(engine)
    later = datetime(2019, 10, 15, tzinfo=UTC)
    with session_factory(engine)() as s, s.begin():
        update_versioned_together(s, Case)
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        for c in cases[:3]:
            c.state, c.updated_at = CaseState.LIFTED, later
        s.flush()
        assert [c.row_version for c in cases] == [2, 2, 2, 1]
        assert not any(s.is_modified(c) for c in cases[:3])
        stop_versioned_together(s)
    assert seen == [(seen[0][0], True)]  # one executemany for the three
    with session_factory(engine)() as s:
        rows = s.execute(select(Case.state, Case.updated_at, Case.row_version).order_by(Case.id))
        assert [tuple(r) for r in rows] == [
            *[(CaseState.LIFTED, later, 2)] * 3,
            (CaseState.ACTIVE, NOW, 1),
        ]


def test_a_case_changed_meanwhile_refuses_the_batch(engine: Engine) -> None:
    factory = session_factory(engine)
    with factory() as s:
        s.begin()
        update_versioned_together(s, Case)
        cases = s.scalars(select(Case).order_by(Case.id)).all()
        # a reviewer's change since the batch read the cases (SQLite lets no other
        # writer in while this one holds the lock: the same change, past the ORM)
        s.execute(
            update(Case)
            .where(Case.id == cases[1].id)
            .values(row_version=Case.row_version + 1)
            .execution_options(synchronize_session=False)
        )
        for c in cases:
            c.state = CaseState.LIFTED
        with pytest.raises(StaleDataError, match="expected to update 4 row"):
            s.flush()
        s.rollback()
    with factory() as s:
        assert set(s.scalars(select(Case.state))) == {CaseState.ACTIVE}
