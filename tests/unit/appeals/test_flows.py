"""The re-check and its outcome on a real database (SQLite and PostgreSQL): the appeal
taken in, the engine run again on the latest evidence, and either a lift on every
account of the person (with notices and webhooks) or the queue for a person.

The engine's decisions come from a real run on the appeal world's evidence
(``world_recheck``): P3's two accounts, suspended in 2019 on presence alone, hold
nothing any more, while F1 is still suspended; the test directive's people
(``enforced``) are not in that world at all, so nothing holds against them either."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.flows import RECHECK_ACTOR, close_appeals_of_lifted, recheck, take_in
from fairban.appeals.models import Appeal, AppealState
from fairban.appeals.recheck import DecisionCache
from fairban.audit import verify
from fairban.audit.actions import Action
from fairban.cases.flows import downgrade_measure, lift_person
from fairban.cases.models import Case
from fairban.cases.service import messages_of
from fairban.cases.transitions import CaseState, DeciderKind
from fairban.contract import Directive
from fairban.digests import sha256_hex
from fairban.measures import Measure
from fairban.platforms.webhooks import MessageKind
from tests.support.appeal_world import F1, P3, P4
from tests.support.appeals import (
    SETTINGS,
    actions,
    audited,
    enforce_people,
    file,
    lift_notices,
    lifts,
)
from tests.support.cases import NOW, D, Decide

F1_ACCOUNTS = ("wechat:f1", "qq:f1", "alipay:f1")


def test_take_in_moves_the_case_to_appealed_and_audits_the_appeal(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:f1"]
    appeal, _ = file(session, case, blobs, grounds=["victim", "other"], statement="private text")
    take_in(session, appeal, SETTINGS, NOW)
    assert case.state == CaseState.APPEALED
    assert case.measure == Measure.SUSPEND  # in force until decided
    assert actions(session, f"case:{case.number}")[-2:] == [
        Action.CASE_APPEAL_FILE,
        Action.APPEAL_FILE,
    ]
    (entry,) = audited(session, Action.APPEAL_FILE)
    assert entry["grounds"] == ["victim", "other"]
    assert entry["statement_sha256"] == sha256_hex("private text")
    assert "private text" not in json.dumps(entry)  # the public log keeps the hash only
    # filing tells neither the platform nor the person anything new
    assert [m.kind for m in messages_of(session, case)] == [MessageKind.APPLY]


def test_without_evidence_the_appeal_waits_for_a_person(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:f1"]
    appeal, _ = file(session, case, blobs)
    outcome = recheck(session, appeal, None, SETTINGS, now=NOW)
    assert not outcome.granted
    assert outcome.result["note"] == "no evidence folder configured: a person decides"
    assert appeal.state == AppealState.QUEUED
    assert appeal.rechecked_at == NOW
    assert case.state == CaseState.APPEALED
    assert lifts(session) == {}
    (queued,) = audited(session, Action.APPEAL_RECHECK_QUEUE)
    assert queued["appeal"] == appeal.id
    # asked again, the re-check changes nothing and answers the same
    again = recheck(session, appeal, None, SETTINGS, now=NOW)
    assert (again.granted, again.result) == (False, outcome.result)
    assert len(audited(session, Action.APPEAL_RECHECK_QUEUE)) == 1


def test_a_granted_recheck_lifts_every_account_of_the_person(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    case = enforced["wechat:f1"]
    appeal, _ = file(session, case, blobs)
    other, _ = file(session, enforced["qq:f1"], blobs)  # F1 appealed on QQ as well
    outcome = recheck(session, appeal, world_recheck, SETTINGS, now=NOW)

    assert outcome.granted
    assert outcome.result["accounts"] == {a: {"measure": "none", "risk": 0.0} for a in F1_ACCOUNTS}
    for account in F1_ACCOUNTS:
        lifted = enforced[account]
        assert lifted.state == CaseState.LIFTED, account
        notices = lift_notices(session, lifted)
        assert set(notices) == {"zh-CN", "en"}, account
    reasons = {a: body["lift_reason"] for a, body in lifts(session).items()}
    assert reasons == dict.fromkeys(F1_ACCOUNTS, "recheck_passed")
    assert lifts(session)["alipay:f1"]["measure"] == "restrict"
    # both of F1's appeals are granted by the re-check
    for granted in (appeal, other):
        assert granted.state == AppealState.GRANTED
        assert (granted.decided_by, granted.decision_reason) == (RECHECK_ACTOR, "recheck_passed")
    (grant,) = audited(session, Action.APPEAL_RECHECK_GRANT)
    assert grant["appeal"] == appeal.id
    # nobody else's case moved
    assert enforced["alipay:mule"].state == CaseState.ACTIVE
    assert enforced["wechat:low"].state == CaseState.ACTIVE
    assert verify(session).ok


def test_an_account_without_a_person_is_lifted_alone(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    case = enforced["wechat:solo"]
    appeal, _ = file(session, case, blobs)
    assert recheck(session, appeal, world_recheck, SETTINGS, now=NOW).granted
    assert case.state == CaseState.LIFTED
    assert set(lifts(session)) == {"wechat:solo"}


def test_a_case_a_person_decided_goes_to_a_person(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    """Principle 7: the engine does not overrule a person, even to lift."""
    case = enforced["wechat:low"]
    downgrade_measure(
        session,
        case,
        to=Measure.RESTRICT,
        actor="reviewer:wang",
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    appeal, _ = file(session, case, blobs)
    outcome = recheck(session, appeal, world_recheck, SETTINGS, now=NOW)
    assert not outcome.granted
    assert outcome.result["note"] == "a person decided this case: a person decides the appeal"
    assert appeal.state == AppealState.QUEUED
    assert case.state == CaseState.APPEALED
    assert case.measure == Measure.RESTRICT


def test_a_case_lifted_before_its_recheck_grants_the_appeal(
    session: Session,
    directive: Directive,
    decide: Decide,
    enforced: dict[str, Case],
    blobs: BlobStore,
) -> None:
    case = enforced["wechat:solo"]
    appeal, _ = file(session, case, blobs)
    # new decisions no longer name the account: its measure is lifted first
    enforce_people(session, directive, decide, [D("wechat:f1", "suspend", "p-f1", evidence=2)])
    assert case.state == CaseState.LIFTED
    outcome = recheck(session, appeal, None, SETTINGS, now=NOW)
    assert outcome.granted
    assert outcome.result["note"] == "case is lifted: nothing to lift"
    assert appeal.state == AppealState.GRANTED
    # taken in once: the grant does not enter the appeal into the record a second time
    assert actions(session, f"case:{case.number}").count(Action.APPEAL_FILE) == 1


def test_close_appeals_of_lifted_closes_the_persons_open_appeals(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    received, _ = file(session, enforced["wechat:f1"], blobs)  # not yet taken in
    queued, _ = file(session, enforced["qq:f1"], blobs)
    recheck(session, queued, None, SETTINGS, now=NOW)
    elsewhere, _ = file(session, enforced["alipay:mule"], blobs)
    lift_person(
        session,
        "p-f1",
        actor="reviewer:wang",
        actor_kind=DeciderKind.PERSON,
        reason="appeal_granted",
        now=NOW,
        settings=SETTINGS,
    )
    close_appeals_of_lifted(
        session,
        enforced["qq:f1"],
        decided_by="user:wang",
        reason="the phone was stolen",
        now=NOW,
        settings=SETTINGS,
    )
    for appeal in (received, queued):
        assert appeal.state == AppealState.GRANTED
        assert (appeal.decided_by, appeal.decision_reason) == ("user:wang", "the phone was stolen")
    # the one not yet taken in enters the record before it is closed
    assert Action.APPEAL_FILE in actions(session, f"case:{enforced['wechat:f1'].number}")
    assert elsewhere.state == AppealState.RECEIVED  # another person's


def test_p3_is_lifted_on_both_accounts_and_f1_waits_for_a_person(
    session: Session,
    world_cases: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    """The 2019 presence rule suspended Mr Duan's two accounts; fairban's engine, run
    again on the evidence, holds neither, and the appeal of one lifts both. F1, the
    Laukkai operator, is still suspended by the engine: a person decides, with hints."""
    p3 = world_cases[P3[0]]
    appeal, _ = file(session, p3, blobs, grounds=["live_near_border"])
    outcome = recheck(session, appeal, world_recheck, SETTINGS, now=NOW)
    assert outcome.granted
    assert {world_cases[a].state for a in P3} == {CaseState.LIFTED}
    assert set(lifts(session)) == set(P3)
    assert all(set(lift_notices(session, world_cases[a])) == {"zh-CN", "en"} for a in P3)
    assert world_cases[P4].state == CaseState.ACTIVE  # she has not appealed
    assert [e["appeal"] for e in audited(session, Action.APPEAL_FILE)] == [appeal.id]

    f1 = world_cases[F1]
    appeal, _ = file(session, f1, blobs, grounds=["never_been_there"])
    outcome = recheck(session, appeal, world_recheck, SETTINGS, now=NOW)
    assert not outcome.granted
    assert appeal.state == AppealState.QUEUED
    assert f1.state == CaseState.APPEALED
    accounts = outcome.result["accounts"]
    assert isinstance(accounts, dict)
    assert accounts[F1]["measure"] == "suspend"
    (hint,) = json.loads(appeal.recheck or "{}")["hints"]
    assert hint["ground"] == "never_been_there"
    assert any(h.startswith("PRESENCE_SUSTAINED") for h in hint["contradicted_by"])
    assert F1 not in lifts(session)
    assert len(audited(session, Action.APPEAL_RECHECK_QUEUE)) == 1


def test_every_recheck_step_leaves_the_chain_intact(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    for account in ("wechat:f1", "alipay:mule", "wechat:solo"):
        appeal, _ = file(session, enforced[account], blobs)
        recheck(session, appeal, None, SETTINGS, now=NOW)
    states = session.scalars(select(Appeal.state)).all()
    assert states == [AppealState.QUEUED] * 3
    assert verify(session).ok
