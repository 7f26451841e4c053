"""The operators' dashboard over a directive's rollout: each day's numbers against the
case store, the shadow comparison, and the operator's steps (pause, resume, the next
stage) through the services the CLI uses, each with the operator's reason in the log."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.audit.models import AuditEntry
from fairban.cases.daily import run_daily
from fairban.cases.models import Case, CaseEvent
from fairban.cases.transitions import IN_FORCE, CaseState
from fairban.contract import Directive, load_directive
from fairban.directives.flows import start_shadow
from fairban.directives.models import DirectiveRecord
from fairban.review import dashboard as board
from fairban.store.ingest import ingest
from fairban.store.judge import judge
from fairban.store.layout import Store
from fairban.world import WorldConfig, simulate_world
from tests.support.store import up_to
from tests.unit.cases.test_daily import SETTINGS, STRICTER, amended, standing

ACTOR = "user:olga"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dashboard") / "world"
    simulate_world(WorldConfig(accounts=600, seed=11, days=60), root)
    return root


@pytest.fixture
def one_percent(world: Path, tmp_path: Path, session: Session) -> tuple[Store, Directive]:
    """The directive enforced at its first stage, 1%, from a store."""
    from fairban.cases.daily import stored_accounts
    from fairban.cases.decisions import read_decisions
    from fairban.cases.enforce import enforce
    from fairban.targeting.run import write_decisions

    end = load_directive(world / "directive.yaml").issued_at
    directive = standing(world, tmp_path / "directive", end - timedelta(days=2))
    store = Store(tmp_path / "store", create=True)
    ingest(store, up_to(world, tmp_path / "delivered", directive.issued_at))
    judged = judge(store, directive, as_of=directive.issued_at)
    write_decisions(judged.result, tmp_path / "first")
    rows = read_decisions(tmp_path / "first", directive, accounts=stored_accounts(store))
    enforce(
        session, directive, rows, stage=0.01, actor="operator:li", settings=SETTINGS,
        now=directive.issued_at,
    )  # fmt: skip
    return store, directive


def _in_force(session: Session, directive: Directive) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Case.directive_id == directive.id, Case.state.in_(list(IN_FORCE))
            )
        )
        or 0
    )


def test_the_next_stage_pause_and_resume_with_reasons(
    session: Session, tmp_path: Path, one_percent: tuple[Store, Directive]
) -> None:
    store, directive = one_percent
    at = directive.issued_at + timedelta(hours=1)
    before = _in_force(session, directive)
    seen = board.dashboard(session, SETTINGS, at)
    (state,) = seen.directives
    assert (state.stage, state.next_stage) == ("1%", "10%")
    # the day's numbers are the case store's: every measure came into force that day
    imposed = session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.to_state == CaseState.ACTIVE)
    )
    assert sum(d.counts["imposed"] for d in seen.days) == imposed == before
    assert sum(c["imposed"] for c in seen.platforms.values()) == imposed
    with pytest.raises(board.StepError, match="at least 10"):
        board.next_stage(
            session, directive.id, store_dir=str(store.root), settings=SETTINGS,
            actor=ACTOR, reason="more", now=at,
        )  # fmt: skip
    with pytest.raises(board.StepError, match="FAIRBAN_STORE_DIR"):
        board.next_stage(
            session, directive.id, store_dir=None, settings=SETTINGS,
            actor=ACTOR, reason="a clean first day", now=at,
        )  # fmt: skip
    report = board.next_stage(
        session, directive.id, store_dir=str(store.root), settings=SETTINGS,
        actor=ACTOR, reason="a clean first day", now=at,
    )  # fmt: skip
    assert report.enforced is not None
    record = session.get(DirectiveRecord, directive.id)
    assert record is not None
    assert record.stage == pytest.approx(0.1)
    assert _in_force(session, directive) > before  # the stage reached more accounts
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject == f"directive:{directive.id}")
            .order_by(AuditEntry.id)
        )
    )
    actions = [e.action for e in entries]
    asked = actions.index("directive:stage")
    assert "directive:enforce" in actions[asked:]  # the enforcement's own entry follows
    payload = json.loads(entries[asked].payload)
    assert payload["reason"] == "a clean first day"
    assert payload["to"] == pytest.approx(0.1)
    assert entries[asked].actor == ACTOR
    # pause and resume, each with its reason
    board.pause(session, directive.id, actor=ACTOR, reason="a county office complains", now=at)
    with pytest.raises(board.StepError, match="resume it first"):
        board.next_stage(
            session, directive.id, store_dir=str(store.root), settings=SETTINGS,
            actor=ACTOR, reason="a clean second day", now=at,
        )  # fmt: skip
    assert board.dashboard(session, SETTINGS, at).directives[0].record.paused
    with pytest.raises(board.StepError, match="already paused"):
        board.pause(session, directive.id, actor=ACTOR, reason="a county office complains", now=at)
    board.resume(session, directive.id, actor=ACTOR, reason="the office withdrew it", now=at)
    resumed = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "directive:resume")
    ).one()
    assert json.loads(resumed.payload)["resume_reason"] == "the office withdrew it"
    assert json.loads(resumed.payload)["reason"] == "a county office complains"


def test_the_shadow_comparison_per_day(
    world: Path, session: Session, tmp_path: Path, one_percent: tuple[Store, Directive]
) -> None:
    store, directive = one_percent
    at = directive.issued_at + timedelta(hours=1)
    assert board.dashboard(session, SETTINGS, at).directives[0].shadow == []
    shadow = amended(world, tmp_path / "shadow", directive, **STRICTER)
    start_shadow(session, shadow, actor="operator:li", now=directive.issued_at)
    report = run_daily(session, store, directive, settings=SETTINGS, actor="operator:cron")
    assert report.shadow is not None
    (day,) = board.dashboard(session, SETTINGS, at).directives[0].shadow
    assert day.counts == report.shadow.counts


def test_the_latest_shadow_day_lists_who_would_change_and_why(
    world: Path, session: Session, tmp_path: Path, one_percent: tuple[Store, Directive]
) -> None:
    from fairban.cases.shadow import ADDED, LIFTED

    store, directive = one_percent
    shadow = amended(world, tmp_path / "shadow", directive, **STRICTER)
    start_shadow(session, shadow, actor="operator:li", now=directive.issued_at)
    run_daily(session, store, directive, settings=SETTINGS, actor="operator:cron")
    at = directive.issued_at + timedelta(hours=1)
    state = board.dashboard(session, SETTINGS, at).directives[0]
    (day,) = state.shadow
    differing = sum(day.counts[c] for c in ("added", "lifted", "changed"))
    assert differing > 0  # a stricter version differs from live
    assert len(state.shadow_latest) == min(differing, board.SHADOW_LISTED)
    assert state.shadow_more == differing - len(state.shadow_latest)
    for row, why in state.shadow_latest:
        assert row.change != "same"
        if row.change == ADDED:  # the shadow's own reasons, as the CLI says them
            assert why == ", ".join(json.loads(row.codes))
            assert row.measure != row.live_measure
        if row.change == LIFTED:
            assert why.startswith(row.why)
