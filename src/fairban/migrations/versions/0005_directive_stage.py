"""the stage a directive's rollout has reached

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``directives.stage``: the largest share of accounts ``fairban enforce`` has reached
(0.01 = 1%, 1.0 = all), so that ``fairban daily`` enforces each new day's decisions at
the stage the operators chose, and a stage never shrinks.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directives") as batch:
        batch.add_column(sa.Column("stage", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("directives") as batch:
        batch.drop_column("stage")
