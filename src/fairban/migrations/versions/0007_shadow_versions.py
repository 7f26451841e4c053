"""a directive version judged in shadow, and its would-be measures day by day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

``directives.shadow_version``: a version loaded beside the current one, judged every day
but never enforced (``cases/shadow.py``). ``shadow_cases``: for each day the shadow was
judged, every account whose would-be measure or live measure is not none: what the
shadow would hold, what is live, and the difference (``added``, ``lifted``, ``changed``,
``same``) with its why.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directives") as batch:
        batch.add_column(sa.Column("shadow_version", sa.Integer(), nullable=True))
    op.create_table(
        "shadow_cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("directive_id", sa.String(200), sa.ForeignKey("directives.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("measure", sa.String(16), nullable=False),
        sa.Column("live_measure", sa.String(16), nullable=False),
        sa.Column("live_case", sa.String(32), nullable=True),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("codes", sa.Text(), nullable=False),
        sa.Column("live_codes", sa.Text(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.UniqueConstraint(
            "directive_id", "version", "day", "account_id", name="uq_shadow_cases_account_day"
        ),
    )
    op.create_index("ix_shadow_cases_day", "shadow_cases", ["directive_id", "version", "day"])


def downgrade() -> None:
    op.drop_index("ix_shadow_cases_day", table_name="shadow_cases")
    op.drop_table("shadow_cases")
    with op.batch_alter_table("directives") as batch:
        batch.drop_column("shadow_version")
