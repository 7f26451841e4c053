"""The daily cycle of a standing directive: each day's delivery ingested, the directive
judged as of that day, and the cases brought in line with the day's judgement, with the
kill switch, a person's decision and a second run of the same day all holding."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.audit.actions import Action
from fairban.audit.models import AuditEntry
from fairban.cases.daily import DailyError, promote, run_daily, stored_accounts
from fairban.cases.decisions import read_decisions
from fairban.cases.enforce import enforce
from fairban.cases.flows import lift_measure
from fairban.cases.models import Case
from fairban.cases.service import messages_of
from fairban.cases.shadow import ADDED, CHANGED, LIFTED, compare
from fairban.cases.transitions import IN_FORCE, CaseState, DeciderKind
from fairban.config import Settings
from fairban.contract import Directive, load_directive
from fairban.directives.flows import (
    ShadowError,
    pause_directive,
    resume_directive,
    start_shadow,
    stop_shadow,
)
from fairban.directives.models import DirectiveRecord
from fairban.measures import VISIBLE_VALUES
from fairban.store.ingest import ingest
from fairban.store.judge import judge
from fairban.store.layout import Store
from fairban.targeting.run import write_decisions
from fairban.world import WorldConfig, simulate_world
from tests.support.cases import row_counts
from tests.support.store import the_day_before, up_to

LOOKBACK = 7  # days of a 60-day world: each day some evidence ages out, some comes in
SETTINGS = Settings(public_url="https://fb.example")
ACTOR = "operator:cron"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("daily") / "world"
    simulate_world(WorldConfig(accounts=800, seed=7, days=60), root)
    return root


def standing(world: Path, folder: Path, issued: datetime) -> Directive:
    doc = yaml.safe_load((world / "directive.yaml").read_text(encoding="utf-8"))
    doc.update(issued_at=issued.isoformat(), lookback_days=LOOKBACK)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(world / "areas.geojson", folder / "areas.geojson")
    (folder / "directive.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_directive(folder / "directive.yaml")


def visible_in_force(session: Session, directive: Directive) -> dict[str, str]:
    cases = session.scalars(select(Case).where(Case.directive_id == directive.id))
    return {
        c.account_id: c.measure.value
        for c in cases
        if c.state in IN_FORCE and c.measure.value in VISIBLE_VALUES
    }


def judged_visible(store: Store, directive: Directive, as_of: datetime) -> dict[str, str]:
    decisions = judge(store, directive, as_of=as_of).result.decisions
    return {
        r["account_id"]: r["measure"]
        for r in decisions.select(["account_id", "measure"]).to_pylist()
        if r["measure"] in VISIBLE_VALUES
    }


def first_enforcement(session: Session, store: Store, directive: Directive, tmp_path: Path) -> None:
    judged = judge(store, directive, as_of=directive.issued_at)
    write_decisions(judged.result, tmp_path / "first")
    rows = read_decisions(tmp_path / "first", directive, accounts=stored_accounts(store))
    enforce(
        session, directive, rows, stage=1.0, actor=ACTOR, settings=SETTINGS, now=directive.issued_at
    )


@pytest.fixture
def started(world: Path, tmp_path: Path, session: Session) -> tuple[Store, Directive]:
    """A store of the days up to three days before the world's end, and the directive
    issued then, enforced at stage all."""
    end = load_directive(world / "directive.yaml").issued_at
    issued = end - timedelta(days=3)
    directive = standing(world, tmp_path / "directive", issued)
    store = Store(tmp_path / "store", create=True)
    ingest(store, up_to(world, tmp_path / "delivered", issued))
    first_enforcement(session, store, directive, tmp_path)
    return store, directive


def day(world: Path, tmp_path: Path, directive: Directive, k: int) -> tuple[Path, datetime]:
    end = directive.issued_at + timedelta(days=k)
    return the_day_before(world, tmp_path / f"day-{k}", end), end


def test_each_day_the_cases_follow_that_days_judgement(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    changes: list[Any] = []
    for k in (1, 2, 3):
        folder, end = day(world, tmp_path, directive, k)
        report = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
        assert report.judged is not None
        assert report.judged.as_of == end  # the end of the latest store day
        assert [r.folder for r in report.ingested] == [folder]
        assert report.enforced is not None
        changes += report.enforced.changes
        assert visible_in_force(session, directive) == judged_visible(store, directive, end)
    # over the three days some measures began and some ended, each with its why
    assert any(c.event in ("enforce", "reimpose", "escalate") for c in changes)
    assert any(c.measure == "none" for c in changes)
    for change in changes:
        if change.measure == "none" and change.was in VISIBLE_VALUES:
            assert change.why in ("evidence_aged_out", "evidence_rechecked")
            case = session.scalars(select(Case).where(Case.number == change.case)).one()
            assert messages_of(session, case)[-1].kind.value == "measure.lift"


def test_a_second_run_of_the_same_day_changes_nothing(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    folder, _ = day(world, tmp_path, directive, 1)
    run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
    again = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
    assert again.ingested == []  # the folder was taken
    assert again.enforced is not None
    assert not again.enforced.changed


def test_the_kill_switch_holds_new_measures_and_lifts_still_go_out(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    before = visible_in_force(session, directive)
    pause_directive(session, directive.id, actor="operator:li", reason="checking a complaint")
    held = lifted = 0
    for k in (1, 2, 3):
        folder, end = day(world, tmp_path, directive, k)
        report = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
        assert report.enforced is not None
        assert not any(
            c.event in ("enforce", "reimpose", "escalate") for c in report.enforced.changes
        )
        held += report.enforced.held_paused
        lifted += sum(1 for c in report.enforced.changes if c.measure == "none")
    wanted = judged_visible(store, directive, end)
    assert set(visible_in_force(session, directive)) <= set(before)  # nothing new imposed
    assert held > 0  # the days had new measures to hold back
    assert lifted > 0  # and measures to end, which a pause never holds
    resume_directive(session, directive.id, actor="operator:li")
    report = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR)
    assert report.enforced is not None
    assert visible_in_force(session, directive) == wanted  # the held ones, once resumed


def test_a_persons_lift_is_not_undone_by_the_next_days(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    ends = [directive.issued_at + timedelta(days=k) for k in (0, 1, 2, 3)]
    # the days to come, known in advance from a second store that already holds them (the
    # case's own store has only the first day yet: judged later, it would only age)
    ahead = Store(tmp_path / "ahead", create=True)
    ingest(ahead, up_to(world, tmp_path / "ahead-delivered", ends[-1]))
    stable = None  # an account under a measure every day, on the same kinds of evidence
    for account in sorted(visible_in_force(session, directive)):
        kinds = [reason_codes(ahead, directive, end, account) for end in ends]
        if all(kinds) and len({frozenset(k) for k in kinds}) == 1:
            stable = account
            break
    assert stable is not None
    case = session.scalars(
        select(Case).where(Case.directive_id == directive.id, Case.account_id == stable)
    ).one()
    lift_measure(
        session,
        case,
        actor="reviewer:wang",
        actor_kind=DeciderKind.PERSON,
        reason="review",
        settings=SETTINGS,
        now=directive.issued_at + timedelta(hours=2),
    )
    for k in (1, 2, 3):
        folder, _ = day(world, tmp_path, directive, k)
        run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
        session.refresh(case)
        assert case.state == CaseState.LIFTED, k  # more of the same: the person stands


def reason_codes(store: Store, directive: Directive, end: datetime, account: str) -> set[str]:
    decisions = judge(store, directive, as_of=end).result.decisions.to_pylist()
    row = next((r for r in decisions if r["account_id"] == account), None)
    if row is None or row["measure"] not in VISIBLE_VALUES:
        return set()
    return {r["code"] for r in json.loads(row["reasons"])}


def test_a_directive_without_a_rollout_is_refused(
    world: Path, tmp_path: Path, session: Session
) -> None:
    directive = standing(world, tmp_path / "d", load_directive(world / "directive.yaml").issued_at)
    store = Store(tmp_path / "store", create=True)
    with pytest.raises(DailyError, match="has no rollout yet: enforce a first stage"):
        run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR)


# --- a version in shadow beside the live one ------------------------------------------


def amended(world: Path, folder: Path, live: Directive, **changes: Any) -> Directive:
    """The live directive with ``changes``, as a new file (a version to put in shadow)."""
    doc = yaml.safe_load(live.source.read_text(encoding="utf-8"))
    doc.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(world / "areas.geojson", folder / "areas.geojson")
    (folder / "directive.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_directive(folder / "directive.yaml")


STRICTER = {"thresholds": {"restrict": 0.35, "suspend": 0.6}}
# lower tiers alone add few: the measure follows the kind of harm, and the tiers only cap
# it; a version that also looks back further adds enough accounts for a 10% stage to
# hold some of them and leave the rest
WIDER = {"lookback_days": 30, **STRICTER}


def test_a_shadow_version_writes_no_case_notice_or_webhook(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    folder, _ = day(world, tmp_path, directive, 1)
    run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
    live_only = row_counts(session)
    shadow = amended(world, tmp_path / "shadow", directive, **STRICTER)
    assert start_shadow(session, shadow, actor="operator:li", now=directive.issued_at) == 2
    # the same day again, now with a shadow: the live run changes nothing, the shadow
    # writes its day and no case, event, notice or outbox message
    report = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR)
    assert report.enforced is not None
    assert not report.enforced.changed
    assert report.shadow is not None
    assert report.shadow.recorded
    assert sum(report.shadow.counts[c] for c in (ADDED, LIFTED, CHANGED)) > 0
    with_shadow = row_counts(session)
    for table in ("cases", "case_events", "notices", "outbox"):
        assert with_shadow[table] == live_only[table], table
    assert with_shadow["directive_versions"] == live_only["directive_versions"] + 1
    assert with_shadow["audit_log"] == live_only["audit_log"] + 3  # load, start, judge
    record = session.get(DirectiveRecord, directive.id)
    assert record is not None
    assert record.current_version == 1
    cases = session.scalars(select(Case).where(Case.directive_id == directive.id)).all()
    assert {c.directive_version for c in cases} == {1}
    again = run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR)
    assert again.shadow is not None
    assert not again.shadow.recorded
    assert row_counts(session) == with_shadow


def test_the_comparison_lists_who_would_be_added_lifted_and_changed_and_why(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    shadow = amended(world, tmp_path / "shadow", directive, **STRICTER)
    start_shadow(session, shadow, actor="operator:li", now=directive.issued_at)
    for k in (1, 2):
        folder, _ = day(world, tmp_path, directive, k)
        run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
    days = compare(session, directive.id)
    assert [d.day for d in days] == sorted({d.day for d in days})
    assert len(days) == 2
    last = days[-1]
    live = {
        c.account_id: c.measure.value
        for c in session.scalars(select(Case).where(Case.directive_id == directive.id))
        if c.state in IN_FORCE
    }
    wanted = {
        r["account_id"]: r["measure"]
        for r in judge(store, shadow, as_of=last.as_of).result.decisions.to_pylist()
        if r["measure"] != "none"
    }
    added = {s.account_id for s in last.rows if s.change == ADDED}
    lifted = {s.account_id for s in last.rows if s.change == LIFTED}
    changed = {s.account_id: s.measure for s in last.rows if s.change == CHANGED}
    assert added == set(wanted) - set(live)
    assert lifted == set(live) - set(wanted)
    assert changed == {a: m for a, m in wanted.items() if a in live and live[a] != m}
    assert added
    assert changed
    for s in last.rows:
        assert s.live_measure == live.get(s.account_id, "none")
        if s.change == LIFTED:
            assert s.why == "directive_amended"
            assert json.loads(s.live_codes)
        else:
            assert json.loads(s.codes)  # the reason codes of the would-be measure


def test_promoting_enforces_the_shadow_through_the_stages_with_audit_entries(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    shadow = amended(world, tmp_path / "shadow", directive, **WIDER)
    start_shadow(session, shadow, actor="operator:li", now=directive.issued_at)
    for k in (1, 2):
        folder, _ = day(world, tmp_path, directive, k)
        run_daily(session, store, directive, settings=SETTINGS, actor=ACTOR, inbox=folder)
    would = compare(session, directive.id)[-1]
    added = {s.account_id for s in would.rows if s.change == ADDED}
    version, previous, first = promote(
        session, store, directive.id, stage=0.1, settings=SETTINGS, actor="operator:li"
    )
    assert (version, previous) == (2, 1)
    record = session.get(DirectiveRecord, directive.id)
    assert record is not None
    assert (record.current_version, record.shadow_version, record.stage) == (2, None, 0.1)
    assert first.enforced is not None
    assert first.shadow is None
    assert first.enforced.outside_stage > 0  # the first stage holds most new measures
    now = {
        c.account_id
        for c in session.scalars(select(Case).where(Case.directive_id == directive.id))
        if c.state in IN_FORCE
    }
    assert 0 < len(added & now) < len(added)
    full = run_daily(session, store, shadow, settings=SETTINGS, actor=ACTOR, stage=1.0)
    assert full.enforced is not None
    assert visible_in_force(session, directive) == judged_visible(store, shadow, would.as_of)
    for case in session.scalars(select(Case).where(Case.directive_id == directive.id)):
        if case.state in IN_FORCE:
            assert case.directive_version == 2
    actions = [
        e.action
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        if e.subject == f"directive:{directive.id}"
    ]
    assert actions[-4:] == [
        Action.DIRECTIVE_SHADOW_PROMOTE,
        Action.DIRECTIVE_VERSION_LOAD,
        Action.DIRECTIVE_ENFORCE,
        Action.DIRECTIVE_ENFORCE,
    ]
    assert Action.DIRECTIVE_SHADOW_START in actions
    assert actions.count(Action.DIRECTIVE_SHADOW_JUDGE) == 2
    assert audit.verify(session).ok


def test_the_shadow_file_is_refused_by_the_live_daily_run_and_a_second_shadow_waits(
    world: Path, tmp_path: Path, session: Session, started: tuple[Store, Directive]
) -> None:
    store, directive = started
    shadow = amended(world, tmp_path / "shadow", directive, **STRICTER)
    start_shadow(session, shadow, actor="operator:li", now=directive.issued_at)
    with pytest.raises(DailyError, match="in shadow"):
        run_daily(session, store, shadow, settings=SETTINGS, actor=ACTOR)
    other = amended(world, tmp_path / "other", directive, thresholds={"restrict": 0.5})
    with pytest.raises(ShadowError, match="shadow stop"):
        start_shadow(session, other, actor="operator:li", now=directive.issued_at)
    with pytest.raises(ShadowError, match="the live one"):
        start_shadow(session, directive, actor="operator:li", now=directive.issued_at)
    assert stop_shadow(session, directive.id, actor="operator:li", reason="wrong tiers") == 2
    assert start_shadow(session, other, actor="operator:li", now=directive.issued_at) == 3
