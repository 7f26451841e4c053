"""the queued appeals' static priority, and the queue's priority index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

``appeals.queue_priority``: severity + vulnerability (``appeals/ordering.py``), the
part of an appeal's priority the clock does not move, stamped when it enters the person
queue and kept while it waits, so that the console's queue page reads the whole queue
in priority order from ``ix_appeals_queue_order`` (state, static priority, deadline,
id) instead of ordering by deadline and sorting each page. The upgrade fills it for
the appeals queued now, with the same code that stamps new ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fairban.appeals.ordering import static_priority
from fairban.cases.transitions import IN_FORCE

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("queue_priority", sa.SmallInteger(), nullable=True))
    bind = op.get_bind()
    held_sql = sa.text(
        "SELECT person_id, count(*) FROM cases WHERE person_id IN :persons"
        " AND state IN :states GROUP BY person_id"
    ).bindparams(sa.bindparam("persons", expanding=True), sa.bindparam("states", expanding=True))
    states = sorted(s.value for s in IN_FORCE)
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT a.id, a.grounds, c.measure, c.account_kind, c.person_id"
                " FROM appeals a JOIN cases c ON c.id = a.case_id"
                " WHERE a.state = 'queued' AND a.id > :last ORDER BY a.id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        persons = sorted({row[4] for row in rows if row[4]})
        held: dict[str, int] = {}
        if persons:
            found = bind.execute(held_sql, {"persons": persons, "states": states}).all()
            held = {str(p): int(n) for p, n in found}
        updates = [
            {"id": row[0], "p": static_priority(row[2], row[3], row[1], held.get(row[4], 1))}
            for row in rows
        ]
        bind.execute(sa.text("UPDATE appeals SET queue_priority = :p WHERE id = :id"), updates)
        last = rows[-1][0]
    op.create_index(
        "ix_appeals_queue_order", "appeals", ["state", "queue_priority", "answer_by", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_appeals_queue_order", table_name="appeals")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("queue_priority")
