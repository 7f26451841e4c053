"""the queued appeals' group keys, and the queue page's indexes

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-03

``appeals.person_group`` and ``appeals.compound_group``: the ids of the appeal's person
and compound buckets (``appeals/grouping.py``), stamped when it enters the person
queue, so that the console's groups are a GROUP BY over an index instead of every
queued appeal read and its case's reasons parsed in Python. The upgrade fills them for
the appeals queued now, with the same code that stamps new ones. The indexes: the
queue in deadline order (keyset pages and counts) and the two keys among the queued.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fairban.appeals.grouping import GroupKey, GroupKind, compound_of, grounds_key

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _keys(
    grounds: str, directive_id: str, version: int, person: str | None, reasons: str | None
) -> tuple[str | None, str | None]:
    base = (directive_id, version, grounds_key(grounds))
    person_id = GroupKey(GroupKind.PERSON, *base, (person,)).id if person else None
    compound = compound_of(reasons)
    link = (compound.area, compound.code, str(compound.peers)) if compound else None
    compound_id = GroupKey(GroupKind.COMPOUND, *base, link).id if link else None
    return person_id, compound_id


def upgrade() -> None:
    with op.batch_alter_table("appeals") as batch:
        batch.add_column(sa.Column("person_group", sa.String(16), nullable=True))
        batch.add_column(sa.Column("compound_group", sa.String(16), nullable=True))
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT a.id, a.grounds, c.directive_id, c.directive_version, c.person_id,"
                " c.reasons FROM appeals a JOIN cases c ON c.id = a.case_id"
                " WHERE a.state = 'queued' AND a.id > :last ORDER BY a.id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            person, compound = _keys(row[1], row[2], row[3], row[4], row[5])
            updates.append({"id": row[0], "p": person, "c": compound})
        bind.execute(
            sa.text("UPDATE appeals SET person_group = :p, compound_group = :c WHERE id = :id"),
            updates,
        )
        last = rows[-1][0]
    op.create_index("ix_appeals_state_answer_by", "appeals", ["state", "answer_by", "id"])
    op.create_index("ix_appeals_person_group", "appeals", ["state", "person_group", "answer_by"])
    op.create_index(
        "ix_appeals_compound_group", "appeals", ["state", "compound_group", "answer_by"]
    )


def downgrade() -> None:
    op.drop_index("ix_appeals_compound_group", table_name="appeals")
    op.drop_index("ix_appeals_person_group", table_name="appeals")
    op.drop_index("ix_appeals_state_answer_by", table_name="appeals")
    with op.batch_alter_table("appeals") as batch:
        batch.drop_column("compound_group")
        batch.drop_column("person_group")
