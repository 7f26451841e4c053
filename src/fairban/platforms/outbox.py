"""Writing to the transactional outbox: the one way a flow tells platforms something.

:func:`enqueue` adds the message inside the caller's transaction, beside the state
change it reports; nothing is sent here (``fairban worker`` sends). The webhook body is
the message's ``payload`` exactly as stored, so a retry sends the same bytes; once the
platform acknowledges it, the worker masks its one-time token
(:func:`~fairban.platforms.webhooks.at_rest`) and audits the SHA-256 of what was sent. What a
message holds is the webhook contract, ``platforms/webhooks.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.orm import Session

from fairban.audit import is_batched
from fairban.db import add_row
from fairban.platforms.models import OutboxMessage, OutboxState
from fairban.platforms.webhooks import MessageKind, dumps, envelope


def enqueue(
    session: Session,
    *,
    platform: str,
    account_id: str,
    kind: MessageKind,
    body: Mapping[str, Any],
    now: datetime,
    case_id: int | None = None,
    directive_id: str | None = None,
) -> OutboxMessage:
    """Add one webhook to the outbox in the caller's transaction and return it (flushed, unless
    in an audit batch: :func:`fairban.audit.batched`).

    The message is the contract's envelope (``id``, the idempotency key also sent as the
    ``Idempotency-Key`` header; ``type``; ``platform``; ``account_id``; ``created_at``,
    the flow's ``now``) followed by ``body``'s fields (case flows pass a contract body,
    :func:`fairban.platforms.webhooks.body`). It is due at ``now``.
    """
    message = OutboxMessage(**_row(platform, account_id, kind, body, now, case_id, directive_id))
    session.add(message)
    if not is_batched(session):  # a batch flushes once, at its end
        session.flush()
    return message


def add_message(
    session: Session,
    *,
    platform: str,
    account_id: str,
    kind: MessageKind,
    body: Mapping[str, Any],
    now: datetime,
    case_id: int | None = None,
    directive_id: str | None = None,
) -> None:
    """:func:`enqueue` for a caller that does not read the message back: inside an audit
    batch its row is inserted with the batch's others (:func:`fairban.db.add_row`), no
    ORM object made; elsewhere it is :func:`enqueue`."""
    if not is_batched(session):
        enqueue(
            session,
            platform=platform,
            account_id=account_id,
            kind=kind,
            body=body,
            now=now,
            case_id=case_id,
            directive_id=directive_id,
        )
        return
    add_row(
        session,
        OutboxMessage,
        _row(platform, account_id, kind, body, now, case_id, directive_id),
    )


def _row(
    platform: str,
    account_id: str,
    kind: MessageKind,
    body: Mapping[str, Any],
    now: datetime,
    case_id: int | None,
    directive_id: str | None,
) -> dict[str, Any]:
    key = uuid4().hex
    document = envelope(
        dict(body), key=key, kind=kind, platform=platform, account_id=account_id, created_at=now
    )
    return {
        "idempotency_key": key,
        "platform": platform,
        "account_id": account_id,
        "case_id": case_id,
        "directive_id": directive_id,
        "kind": kind,
        "payload": dumps(document),
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
