"""The outbox as an operator sees it: what is waiting and why, and reviving dead
letters (``fairban outbox list|retry``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fairban.audit import append
from fairban.audit.actions import Action
from fairban.directives.models import DirectiveRecord
from fairban.platforms.models import OutboxMessage, OutboxState, Platform
from fairban.platforms.registry import PlatformError
from fairban.platforms.webhooks import MessageKind


@dataclass(frozen=True)
class MessageView:
    """One outbox message for display; ``waiting`` says why a pending one is not sent
    yet (``None`` when it is due now)."""

    id: int
    platform: str
    account_id: str
    kind: MessageKind
    state: OutboxState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    waiting: str | None


def outbox_counts(session: Session, platform: str | None = None) -> dict[OutboxState, int]:
    """Messages per state (every state present, zero or not)."""
    query = select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    if platform is not None:
        query = query.where(OutboxMessage.platform == platform)
    counts = dict.fromkeys(OutboxState, 0)
    for state, n in session.execute(query):
        counts[OutboxState(state)] = int(n)
    return counts


def list_messages(
    session: Session,
    *,
    state: OutboxState | None = None,
    platform: str | None = None,
    limit: int = 50,
) -> list[MessageView]:
    """Up to ``limit`` messages, oldest first (the order they go out in)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id).limit(limit)
    if state is not None:
        query = query.where(OutboxMessage.state == state)
    if platform is not None:
        query = query.where(OutboxMessage.platform == platform)
    messages = list(session.scalars(query))
    paused = set(session.scalars(select(DirectiveRecord.id).where(DirectiveRecord.paused)))
    platforms = {p.name: p.enabled for p in session.scalars(select(Platform))}
    now = datetime.now(UTC)
    return [
        MessageView(
            id=m.id,
            platform=m.platform,
            account_id=m.account_id,
            kind=m.kind,
            state=m.state,
            attempts=m.attempts,
            created_at=m.created_at,
            next_attempt_at=m.next_attempt_at,
            delivered_at=m.delivered_at,
            last_error=m.last_error,
            waiting=_waiting(session, m, paused, platforms, now)
            if m.state == OutboxState.PENDING
            else None,
        )
        for m in messages
    ]


def _waiting(
    session: Session,
    m: OutboxMessage,
    paused: set[str],
    platforms: dict[str, bool],
    now: datetime,
) -> str | None:
    if m.directive_id is not None and m.directive_id in paused and m.kind == MessageKind.APPLY:
        return f"held: directive {m.directive_id} is paused"
    if platforms.get(m.platform) is False:
        return f"held: platform {m.platform} is disabled"
    earlier = session.execute(
        select(OutboxMessage.id, OutboxMessage.state)
        .where(
            OutboxMessage.platform == m.platform,
            OutboxMessage.account_id == m.account_id,
            OutboxMessage.id < m.id,
            OutboxMessage.state.in_([OutboxState.PENDING, OutboxState.DEAD]),
        )
        .order_by(OutboxMessage.id)
        .limit(1)
    ).first()
    if earlier is not None:
        return f"waits for #{earlier[0]} ({OutboxState(earlier[1]).value}), same account"
    if m.next_attempt_at > now:
        return f"next try {m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z"
    return None


@dataclass(frozen=True)
class Retried:
    """What ``retry_messages`` did: dead letters made pending again, pending messages
    made due now, and messages left alone (delivered ones)."""

    revived: list[int]
    hurried: list[int]
    skipped: list[int]


def retry_messages(
    session: Session,
    ids: Sequence[int] = (),
    *,
    all_dead: bool = False,
    platform: str | None = None,
    actor: str,
) -> Retried:
    """Give messages another round of tries, in the caller's transaction (audited as
    ``platform:outbox:retry``).

    A dead message becomes pending with its tries counted from zero; a pending one
    becomes due now; a delivered one is skipped. ``all_dead`` takes every dead message
    (of ``platform`` if given) besides ``ids``. An id that names no message is a
    :class:`PlatformError` and nothing changes.
    """
    wanted = set(ids)
    rows: dict[int, OutboxState] = {}
    if wanted:
        found = session.execute(
            select(OutboxMessage.id, OutboxMessage.state).where(OutboxMessage.id.in_(wanted))
        ).all()
        rows.update({i: OutboxState(s) for i, s in found})
        unknown = sorted(wanted - set(rows))
        if unknown:
            shown = ", ".join(f"#{i}" for i in unknown[:10])
            raise PlatformError(f"no outbox message {shown}: see `fairban outbox list`")
    if all_dead:
        query = select(OutboxMessage.id).where(OutboxMessage.state == OutboxState.DEAD)
        if platform is not None:
            query = query.where(OutboxMessage.platform == platform)
        rows.update(dict.fromkeys(session.scalars(query), OutboxState.DEAD))
    now = datetime.now(UTC)
    revived = sorted(i for i, s in rows.items() if s == OutboxState.DEAD)
    hurried = sorted(i for i, s in rows.items() if s == OutboxState.PENDING)
    skipped = sorted(i for i, s in rows.items() if s == OutboxState.DELIVERED)
    for chunk in _chunks(revived):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk), OutboxMessage.state == OutboxState.DEAD)
            .values(state=OutboxState.PENDING, attempts=0, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(hurried):
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chunk), OutboxMessage.state == OutboxState.PENDING)
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    if revived or hurried:
        append(
            session,
            actor=actor,
            action=Action.PLATFORM_OUTBOX_RETRY,
            subject="outbox",
            payload={"revived": revived, "hurried": hurried},
        )
    return Retried(revived, hurried, skipped)


def _chunks(ids: list[int], size: int = 1000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
