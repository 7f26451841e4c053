"""The appeals' tables: appeals and their uploads, the portal's one-time codes and
sessions, the phones codes go to, data-export requests, rate-limit counters and the
circuit breaker's alerts.

Enums are stored by value (``VARCHAR`` + CHECK, as in :mod:`fairban.cases.models`).
Uploaded files and exports live outside the database, under ``FAIRBAN_HOME/blobs``,
named by the SHA-256 of their bytes: rows hold the hash only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairban.cases.models import Case
from fairban.db import NAME_LENGTH, Base, UTCDateTime, value_enum


class Ground(StrEnum):
    """What the appellant says happened (hints for the re-check, never proof)."""

    NEVER_BEEN_THERE = "never_been_there"
    VISITED = "visited"
    LIVE_NEAR_BORDER = "live_near_border"
    VICTIM = "victim"
    KNOW_THE_PERSON = "know_the_person"
    OTHER = "other"


class AppealState(StrEnum):
    """``received``: filed, automatic re-check pending; ``queued``: a person decides;
    ``granted`` / ``upheld`` / ``downgraded``: decided (the case says the rest)."""

    RECEIVED = "received"
    QUEUED = "queued"
    GRANTED = "granted"
    UPHELD = "upheld"
    DOWNGRADED = "downgraded"


OPEN_STATES = (AppealState.RECEIVED, AppealState.QUEUED)
OPEN_SQL = "state IN ('received', 'queued')"


class Appeal(Base):
    """One appeal against one case. ``submit_key`` makes filing idempotent: the form's
    one-time key, so a double submit finds the first appeal instead of adding one."""

    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("submit_key", name="uq_appeals_submit_key"),
        Index("ix_appeals_case_id", "case_id"),
        Index("ix_appeals_state", "state"),
        # the re-check's drain rate: appeals re-checked in the last minute (migration 0008)
        Index("ix_appeals_rechecked_at", "rechecked_at"),
        Index("ix_appeals_directive_decided", "directive_id", "decided_at"),
        # the console's queue page: keyset pages and counts in deadline order, and the
        # groups section's GROUP BY over the stored keys (migration 0012)
        Index("ix_appeals_state_answer_by", "state", "answer_by", "id"),
        Index("ix_appeals_person_group", "state", "person_group", "answer_by"),
        Index("ix_appeals_compound_group", "state", "compound_group", "answer_by"),
        # the queue page in priority order: one stream per static priority, each in
        # deadline order, merged (``review/queue.py``, migration 0013)
        Index("ix_appeals_queue_order", "state", "queue_priority", "answer_by", "id"),
        # at most one open appeal per case: intake inserts without looking first
        Index(
            "uq_appeals_open_case",
            "case_id",
            unique=True,
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    directive_id: Mapped[str] = mapped_column(String(200))
    submit_key: Mapped[str] = mapped_column(String(64))
    #: JSON array of :class:`Ground` values
    grounds: Mapped[str] = mapped_column(Text)
    statement: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str] = mapped_column(String(8), default="zh-CN")
    state: Mapped[AppealState] = mapped_column(value_enum(AppealState, "state"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer_by: Mapped[datetime] = mapped_column(UTCDateTime())
    #: who runs the re-check now, and since when (a stale claim is taken over)
    recheck_claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recheck_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rechecked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: JSON: the engine's new measure per account, hints from the grounds, notes
    recheck: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the ids of the appeal's person and compound buckets (``appeals/grouping.py``),
    #: stamped when it enters the person queue
    person_group: Mapped[str | None] = mapped_column(String(16), nullable=True)
    compound_group: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: severity + vulnerability, 1 to 6 (``appeals/ordering.py``): the priority less the
    #: urgency, stamped when it enters the person queue and kept while it waits
    queue_priority: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)

    case: Mapped[Case] = relationship()
    uploads: Mapped[list[AppealUpload]] = relationship(
        back_populates="appeal", order_by="AppealUpload.id"
    )


class AppealUpload(Base):
    """A file sent with an appeal: its bytes are ``blobs/<sha256>`` under FAIRBAN_HOME."""

    __tablename__ = "appeal_uploads"
    __table_args__ = (
        UniqueConstraint("appeal_id", "sha256", name="uq_appeal_uploads_appeal_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: the name the person's device gave it, trimmed (shown to reviewers only)
    filename: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    appeal: Mapped[Appeal] = relationship(back_populates="uploads")


class AccountContact(Base):
    """The phone bound to an account, as its platform gave it: where one-time codes go.
    Only the platform and the code sender see the number; pages show it masked."""

    __tablename__ = "account_contacts"

    account_id: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PortalSession(Base):
    """An appellant's browser or client: bound to one case; ``verified_at`` once the
    one-time code was right. The cookie holds a random token; the table its SHA-256."""

    __tablename__ = "portal_sessions"
    __table_args__ = (Index("ix_portal_sessions_case_id", "case_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: null for a decoy: a case number and phone that did not match (never verifies)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the CSRF token of this session's forms
    csrf: Mapped[str] = mapped_column(String(64))
    #: opened by case number and phone: the typed phone, masked (what /verify shows)
    phone_hint: Mapped[str | None] = mapped_column(String(16), nullable=True)


class OneTimeCode(Base):
    """A code sent to the phone of a case's account. Stored as an HMAC (never the code);
    dead after ``expires_at``, after use, or after too many wrong tries."""

    __tablename__ = "one_time_codes"
    __table_args__ = (Index("ix_one_time_codes_session", "session_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ExportState(StrEnum):
    READY = "ready"
    FAILED = "failed"


class DataExport(Base):
    """A data-export request: the platform's export of the account, kept as a blob."""

    __tablename__ = "data_exports"
    __table_args__ = (Index("ix_data_exports_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[ExportState] = mapped_column(value_enum(ExportState, "state"))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Alert(Base):
    """Something operators must see in the console (the circuit breaker's trips)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_directive_id", "directive_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    directive_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
