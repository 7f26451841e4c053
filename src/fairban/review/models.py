"""The reviewer console's tables: its users (argon2 hashes), their server-side
sessions, and decisions proposed by one reviewer that wait for a second (four eyes)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fairban.db import NAME_LENGTH, Base, UTCDateTime, value_enum


class Role(StrEnum):
    REVIEWER = "reviewer"  # works the queue, decides
    SENIOR = "senior"  # a reviewer who can also be the second pair of eyes
    OPERATOR = "operator"  # directive statistics, alerts
    AUDITOR = "auditor"  # reads the audit log


class ReviewAction(StrEnum):
    """What a reviewer decides on an appeal."""

    UPHOLD = "uphold"
    DOWNGRADE = "downgrade"
    LIFT = "lift"


class ProposalState(StrEnum):
    PENDING = "pending"  # waits for a senior reviewer
    APPROVED = "approved"  # carried out
    REJECTED = "rejected"  # the second reviewer disagreed; the appeal is back in the queue


class ConsoleUser(Base):
    __tablename__ = "console_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[Role] = mapped_column(value_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A signed-in console user; the cookie holds a random token, the table its
    SHA-256 and the session's CSRF token."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_user_name", "user_name"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("console_users.name"))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReviewProposal(Base):
    """A decision that needs a second, senior reviewer before it takes effect."""

    __tablename__ = "review_proposals"
    __table_args__ = (
        Index("ix_review_proposals_appeal_id", "appeal_id"),
        Index("ix_review_proposals_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"))
    action: Mapped[ReviewAction] = mapped_column(value_enum(ReviewAction, "action"))
    to_measure: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[ProposalState] = mapped_column(value_enum(ProposalState, "state"))
    second_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    second_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    second_note: Mapped[str | None] = mapped_column(Text, nullable=True)
