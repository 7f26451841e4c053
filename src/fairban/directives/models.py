"""The directives fairban has loaded and every version of each (an amendment is a new
version; the cases follow the current one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fairban.db import NAME_LENGTH, Base, UTCDateTime


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
    #: the largest stage enforced so far (0.01 = 1%, 1.0 = all); None before the first
    stage: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: a version judged every day beside the current one but never enforced (shadow
    #: mode, ``cases/shadow.py``); None when there is none
    shadow_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
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
