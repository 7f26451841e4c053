"""an index on appeals.rechecked_at: the re-check's measured drain rate

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

The portal's status page tells an appeal waiting for the automatic re-check when to
expect it from the rate the queue drained over the last minute
(``appeals.service.standing``): a count of appeals re-checked since then, which this
index keeps to the last minute's rows however long the table grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_appeals_rechecked_at", "appeals", ["rechecked_at"])


def downgrade() -> None:
    op.drop_index("ix_appeals_rechecked_at", table_name="appeals")
