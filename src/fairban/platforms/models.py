"""Platforms and the transactional outbox.

A flow that changes a case writes its ``outbox`` rows in the same transaction
(:mod:`fairban.cases.flows`); ``fairban worker`` delivers them as signed webhooks and
records every try in ``delivery_attempts``. Per (platform, account) the messages go
out in ``id`` order: a lift never overtakes the measure it lifts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fairban.db import Base, UTCDateTime, value_enum
from fairban.platforms.webhooks import MessageKind

#: a 64-bit key on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit (rowid)
BigId = BigInteger().with_variant(Integer(), "sqlite")


class OutboxState(StrEnum):
    PENDING = "pending"  # to deliver (held while its directive is paused)
    DELIVERED = "delivered"  # the platform acknowledged it
    DEAD = "dead"  # gave up after the maximum tries; `fairban outbox retry` revives it


class Platform(Base):
    """A platform fairban sends measures to: its webhook and the shared HMAC secret."""

    __tablename__ = "platforms"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """One webhook to send. ``idempotency_key`` is sent with it: a platform that sees a
    key twice applies it once. ``payload`` is the JSON body."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_account_order", "platform", "account_id", "id"),
        Index("ix_outbox_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(255))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    directive_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[MessageKind] = mapped_column(value_enum(MessageKind, "kind"))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(value_enum(OutboxState, "state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the platform's acknowledgement (its response body, trimmed)
    ack: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttempt(Base):
    """One try at delivering one outbox message, failed or not."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
