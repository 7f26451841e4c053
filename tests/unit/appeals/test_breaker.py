"""The circuit breaker on a real database (SQLite and PostgreSQL): a directive whose
appeals are granted too often within the window pauses itself and alerts operators,
once; upheld appeals and old decisions keep it closed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.breaker import BREAKER_ACTOR
from fairban.appeals.flows import recheck
from fairban.appeals.models import Alert
from fairban.appeals.recheck import DecisionCache
from fairban.audit.actions import Action
from fairban.cases.models import Case
from fairban.directives.service import get_directive
from fairban.review.flows import decide
from fairban.review.models import ReviewAction, Role
from tests.support.appeals import SETTINGS, audited, console_user, file, queue_for_a_person
from tests.support.cases import NOW

#: trips when more than half of at least two appeals decided in a day were granted
BREAKER = SETTINGS.model_copy(
    update={"breaker_min_decided": 2, "breaker_threshold": 0.5, "breaker_window_s": 86400}
)


def grant(
    session: Session, case: Case, blobs: BlobStore, cache: DecisionCache, at: datetime = NOW
) -> None:
    appeal, _ = file(session, case, blobs, now=at)
    assert recheck(session, appeal, cache, BREAKER, now=at).granted


def alerts(session: Session) -> list[Alert]:
    return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_too_many_granted_appeals_pause_the_directive_once(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    directive_id = enforced["wechat:solo"].directive_id
    grant(session, enforced["wechat:solo"], blobs, world_recheck)
    assert not get_directive(session, directive_id).paused  # one decided: too few to judge
    grant(session, enforced["wechat:low"], blobs, world_recheck)

    record = get_directive(session, directive_id)
    assert record.paused
    assert record.paused_by == BREAKER_ACTOR
    (alert,) = alerts(session)
    assert (alert.kind, alert.directive_id) == ("circuit_breaker", directive_id)
    assert alert.message == (
        "circuit breaker: 2 of 2 appeals decided in the last 24 h were granted (100% > 50%)"
    )
    assert audited(session, Action.DIRECTIVE_BREAKER_TRIP) == [
        {"granted": 2, "decided": 2, "threshold": 0.5}
    ]
    assert len(audited(session, Action.DIRECTIVE_PAUSE)) == 1

    grant(session, enforced["alipay:mule"], blobs, world_recheck)  # paused: trips no more
    assert len(alerts(session)) == 1


def test_upheld_appeals_and_old_decisions_keep_it_closed(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    world_recheck: DecisionCache,
) -> None:
    directive_id = enforced["wechat:solo"].directive_id
    grant(session, enforced["wechat:solo"], blobs, world_recheck, at=NOW - timedelta(days=2))
    grant(session, enforced["wechat:low"], blobs, world_recheck)  # the other is out of the window
    assert not get_directive(session, directive_id).paused

    rita = console_user(session, "rita", Role.REVIEWER)
    appeal = queue_for_a_person(session, enforced["alipay:mule"], blobs)
    decide(session, appeal, rita, ReviewAction.UPHOLD, "the transfers are real", BREAKER, now=NOW)
    # 1 granted of 2 decided in the window: not more than half
    assert not get_directive(session, directive_id).paused
    assert alerts(session) == []
