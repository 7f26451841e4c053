"""Writing to the transactional outbox: the one way a flow tells platforms something.

:func:`enqueue` adds the message inside the caller's transaction, beside the state
change it reports; nothing is sent here (``fairban worker`` sends). The webhook body is
the message's ``payload`` exactly as stored, so a retry sends the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy.orm import Session

from fairban.platforms.models import MessageKind, OutboxMessage, OutboxState


def enqueue(
    session: Session,
    *,
    platform: str,
    account_id: str,
    kind: MessageKind,
    body: Mapping[str, Any],
    case_id: int | None = None,
    directive_id: str | None = None,
) -> OutboxMessage:
    """Add one webhook to the outbox in the caller's transaction and return it (flushed).

    The body gets ``id`` (the idempotency key, also sent as the ``Idempotency-Key``
    header), ``type`` (``kind``), ``platform``, ``account_id`` and ``created_at``; the
    caller's keys (``case_number``, ``measure``, ``reasons``, ...) come after them.
    """
    now = datetime.now(UTC)
    key = uuid4().hex
    document: dict[str, Any] = {
        "id": key,
        "type": kind.value,
        "platform": platform,
        "account_id": account_id,
        "created_at": now.isoformat().replace("+00:00", "Z"),
    }
    for name, value in body.items():
        if name in document:
            raise ValueError(f"outbox body key {name!r} is set by enqueue")
        document[name] = value
    message = OutboxMessage(
        idempotency_key=key,
        platform=platform,
        account_id=account_id,
        case_id=case_id,
        directive_id=directive_id,
        kind=kind,
        payload=json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message
