"""The case store's tables: directives and their versions, cases, their timeline and
the notices sent.

Enums are stored by value (``VARCHAR`` with a CHECK constraint, the same on SQLite and
PostgreSQL). Every change of a case's state goes through :mod:`fairban.cases.flows`,
which writes the new state, its ``case_events`` row, its audit entry and its outbox
messages in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairban.db import Base, UTCDateTime, value_enum

#: longest account, person or actor name stored (the evidence's ids are far shorter)
NAME_LENGTH = 255


class CaseState(StrEnum):
    """Where a case is in its lifecycle (the allowed moves: ``cases/transitions.py``)."""

    PROPOSED = "proposed"  # decided, not (yet) enforced: dry run, outside the stage, paused
    ACTIVE = "active"  # the measure is in force
    APPEALED = "appealed"  # in force, an appeal is open
    UPHELD = "upheld"  # in force, a person confirmed it on appeal
    DOWNGRADED = "downgraded"  # a weaker measure is in force
    LIFTED = "lifted"  # no measure any more (appeal granted, amendment, review)
    EXPIRED = "expired"  # the measure reached its expiry


class Measure(StrEnum):
    """The graded measures (principle 4); ``monitor`` is never seen by the person."""

    MONITOR = "monitor"
    RESTRICT = "restrict"
    SUSPEND = "suspend"


class DeciderKind(StrEnum):
    """Who made a decision: the automatic engine or a person (persons outrank it)."""

    AUTOMATIC = "automatic"
    PERSON = "person"


class DirectiveRecord(Base):
    """A directive fairban has loaded; ``paused`` is its kill switch."""

    __tablename__ = "directives"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    #: the version whose evaluation the cases follow (1, 2, ...: each amendment adds one)
    current_version: Mapped[int] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paused_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    versions: Mapped[list[DirectiveVersion]] = relationship(
        back_populates="directive", order_by="DirectiveVersion.version"
    )


class DirectiveVersion(Base):
    """One version of a directive, as loaded: its canonical content and that content's
    SHA-256 (loading the same content again is no new version)."""

    __tablename__ = "directive_versions"
    __table_args__ = (
        UniqueConstraint("directive_id", "version", name="uq_directive_versions_version"),
        UniqueConstraint("directive_id", "content_hash", name="uq_directive_versions_content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[str] = mapped_column(ForeignKey("directives.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    #: canonical JSON of the directive, areas included
    content: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loaded_by: Mapped[str] = mapped_column(String(NAME_LENGTH))

    directive: Mapped[DirectiveRecord] = relationship(back_populates="versions")


class Case(Base):
    """One account under one directive: the measure, why, and who decided.

    ``reasons`` is the decision's JSON array (``targeting/reasons.py``); ``evidence`` a
    JSON snapshot of what it rested on; ``evidence_hash`` identifies that evidence, so
    that evidence a person has already judged (``judged_evidence_hash``) never re-imposes
    a measure the person lifted (principle 7). ``stage_bucket`` (0-9999) is a stable
    random number per account and directive: a stage of p% enforces the buckets below
    p x 100. ``appeal_token_hash`` is the SHA-256 of the notice link's one-time token.
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("directive_id", "account_id", name="uq_cases_directive_account"),
        Index("ix_cases_state", "state"),
        Index("ix_cases_person_id", "person_id"),
        Index("ix_cases_account_id", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    directive_id: Mapped[str] = mapped_column(ForeignKey("directives.id"))
    directive_version: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    platform: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    account_kind: Mapped[str] = mapped_column(String(16), default="personal")
    state: Mapped[CaseState] = mapped_column(value_enum(CaseState, "state"))
    measure: Mapped[Measure] = mapped_column(value_enum(Measure, "measure"))
    risk: Mapped[float] = mapped_column(Float)
    reasons: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    evidence_hash: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    decided_by_kind: Mapped[DeciderKind] = mapped_column(value_enum(DeciderKind, "decided_by_kind"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    judged_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    judged_evidence_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stage_bucket: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    appeal_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: optimistic lock: two flows changing one case at once cannot both win
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}  # noqa: RUF012 (declarative reads it)

    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")

    def __repr__(self) -> str:
        return f"Case({self.number!r}, {self.account_id!r}, {self.state}, {self.measure})"


class CaseEvent(Base):
    """One step of a case's timeline (what the person and reviewers see)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_state: Mapped[CaseState | None] = mapped_column(
        value_enum(CaseState, "from_state"), nullable=True
    )
    to_state: Mapped[CaseState] = mapped_column(value_enum(CaseState, "to_state"))
    measure: Mapped[Measure | None] = mapped_column(value_enum(Measure, "measure"), nullable=True)
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    actor_kind: Mapped[DeciderKind] = mapped_column(value_enum(DeciderKind, "actor_kind"))
    #: why, in a sentence (a lift reason code of ``notices.model.LIFT_REASONS`` or text)
    note: Mapped[str] = mapped_column(Text, default="")

    case: Mapped[Case] = relationship(back_populates="events")


class NoticeRecord(Base):
    """A notice as it was sent to the person: both forms, in the language sent."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_case_id", "case_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: restrict | suspend | lift (the notice's measure, as in ``NoticeFacts.measure``)
    measure: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16))
    sms: Mapped[str] = mapped_column(Text)
    long_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
