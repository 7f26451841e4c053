"""The case store's tables: cases, their timeline and the notices sent (directives and
their versions are ``fairban.directives.models``).

Enums are stored by value (``VARCHAR`` with a CHECK constraint, the same on SQLite and
PostgreSQL). Every change of a case's state goes through :mod:`fairban.cases.flows`,
which writes the new state, its ``case_events`` row, its audit entry and its outbox
messages in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairban.cases.transitions import CaseState, DeciderKind
from fairban.db import NAME_LENGTH, Base, UTCDateTime, value_enum
from fairban.directives import models as _directives  # noqa: F401 (cases.directive_id refers to it)
from fairban.measures import Measure


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


class ShadowCase(Base):
    """One account on one day a directive version was judged in shadow
    (``cases/shadow.py``): the measure it would hold were the version promoted that day,
    beside the measure live, and the difference. Never a case: no notice, no webhook, no
    appeal; the record operators compare before promoting."""

    __tablename__ = "shadow_cases"
    __table_args__ = (
        UniqueConstraint(
            "directive_id", "version", "day", "account_id", name="uq_shadow_cases_account_day"
        ),
        Index("ix_shadow_cases_day", "directive_id", "version", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    directive_id: Mapped[str] = mapped_column(ForeignKey("directives.id"))
    #: the shadow version judged
    version: Mapped[int] = mapped_column(Integer)
    #: the judgement's day in Beijing (``YYYY-MM-DD``) and its instant
    day: Mapped[str] = mapped_column(String(10))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    account_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    platform: Mapped[str] = mapped_column(String(64))
    #: what the shadow judged (a decision measure: none, monitor, restrict, suspend)
    decision: Mapped[str] = mapped_column(String(16))
    #: what would be in force after promotion (the planner's answer), and what is
    measure: Mapped[str] = mapped_column(String(16))
    live_measure: Mapped[str] = mapped_column(String(16))
    live_case: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: added | lifted | changed | same
    change: Mapped[str] = mapped_column(String(16))
    #: why, as the planner says it (a lift reason code, or the step's note)
    why: Mapped[str] = mapped_column(Text)
    #: the reason codes of the shadow's decision and of the live case (JSON arrays)
    codes: Mapped[str] = mapped_column(Text)
    live_codes: Mapped[str] = mapped_column(Text)
    risk: Mapped[float] = mapped_column(Float)
