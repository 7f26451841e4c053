"""The audit log's table: one row per recorded action, each chained to the one before."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fairban.db import NAME_LENGTH, Base, UTCDateTime


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log.

    ``id`` is the order: 1, 2, 3, ... with no gaps (assigned by :func:`append` under the
    chain's lock, not by a sequence, so that a rolled-back transaction leaves no hole
    that would read as a deleted entry). ``payload`` is the canonical JSON text that
    ``payload_hash`` covers; ``entry_hash`` covers the entry's canonical line, which
    includes ``prev_hash``. The database refuses UPDATE and DELETE (triggers).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(
            "length(payload_hash) = 64 AND length(prev_hash) = 64 AND length(entry_hash) = 64",
            name="hash_length",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    payload: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str] = mapped_column(String(64))
    # unique: two entries naming the same predecessor would fork the chain
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

    def __repr__(self) -> str:
        return f"AuditEntry({self.id}, {self.action!r}, {self.subject!r})"
