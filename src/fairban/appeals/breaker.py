"""The circuit breaker (principle 9): a directive whose appeals are granted too often
pauses itself, and operators are alerted in the console.

Over the last ``breaker_window_s``, among the directive's appeals decided in that
window: when at least ``breaker_min_decided`` were decided and the share granted is
above ``breaker_threshold``, the directive is paused (no new measures; pending
deliveries held) through :func:`fairban.cases.flows.pause_directive`, and an
:class:`~fairban.appeals.models.Alert` is written. A paused directive trips no more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.appeals.models import Alert, Appeal, AppealState
from fairban.audit.actions import Action
from fairban.config import Settings
from fairban.directives.flows import pause_directive
from fairban.directives.models import DirectiveRecord

BREAKER_ACTOR = "fairban:circuit-breaker"
DECIDED = (AppealState.GRANTED, AppealState.UPHELD, AppealState.DOWNGRADED)


def grant_share(session: Session, directive_id: str, since: datetime) -> tuple[int, int]:
    """(granted, decided) among the directive's appeals decided since ``since``."""
    rows = session.execute(
        select(Appeal.state, func.count())
        .where(
            Appeal.directive_id == directive_id,
            Appeal.decided_at >= since,
            Appeal.state.in_(DECIDED),
        )
        .group_by(Appeal.state)
    ).all()
    counts: dict[AppealState, int] = dict(rows)
    return counts.get(AppealState.GRANTED, 0), sum(counts.values())


def check_breaker(
    session: Session, directive_id: str, settings: Settings, now: datetime
) -> Alert | None:
    """Trip the breaker for ``directive_id`` if its grant share calls for it; returns
    the new alert, or None. Works in the caller's transaction."""
    record = session.get(DirectiveRecord, directive_id)
    if record is None or record.paused:
        return None
    since = now - timedelta(seconds=settings.breaker_window_s)
    granted, decided = grant_share(session, directive_id, since)
    if decided < settings.breaker_min_decided or granted <= settings.breaker_threshold * decided:
        return None
    share = granted / decided
    reason = (
        f"circuit breaker: {granted} of {decided} appeals decided in the last "
        f"{settings.breaker_window_s // 3600} h were granted ({share:.0%} > "
        f"{settings.breaker_threshold:.0%})"
    )
    pause_directive(session, directive_id, actor=BREAKER_ACTOR, reason=reason, now=now)
    alert = Alert(kind="circuit_breaker", directive_id=directive_id, message=reason, created_at=now)
    session.add(alert)
    session.flush()
    audit.append(
        session,
        actor=BREAKER_ACTOR,
        action=Action.DIRECTIVE_BREAKER_TRIP,
        subject=f"directive:{directive_id}",
        payload={"granted": granted, "decided": decided, "threshold": settings.breaker_threshold},
    )
    return alert
