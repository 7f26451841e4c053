"""one open appeal per case, kept by the database

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

A partial unique index on appeals(case_id) over the open states (received, queued).
Intake inserts with ON CONFLICT DO NOTHING and needs no look-up first: the index
answers both a double submit and a second appeal while one is open, also for two
requests at the same instant, which a look-up before the insert could not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state IN ('received', 'queued')")


def upgrade() -> None:
    op.create_index(
        "uq_appeals_open_case",
        "appeals",
        ["case_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_appeals_open_case", table_name="appeals")
