"""portal sessions that match no case: the same answer to a wrong case number and phone

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A case number and phone that do not match open a decoy session (``case_id`` null) that
takes codes like any other and never verifies, so nobody learns from the answer, the
cookie or the next step whether a phone is under a measure. ``phone_hint`` is the
masked phone a session opened by number and phone shows: the one typed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("phone_hint", sa.String(length=16), nullable=True))
    with op.batch_alter_table("one_time_codes") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM one_time_codes WHERE case_id IS NULL")
    op.execute("DELETE FROM portal_sessions WHERE case_id IS NULL")
    with op.batch_alter_table("one_time_codes") as batch:
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("phone_hint")
        batch.alter_column("case_id", existing_type=sa.Integer(), nullable=False)
