"""Queries on the directives the case store holds. Read only: changes go through
``directives/flows.py``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.errors import NotFoundError


def get_directive(session: Session, directive_id: str) -> DirectiveRecord:
    """The directive with this id, or :class:`~fairban.errors.NotFoundError` (it is
    loaded by ``enforce``)."""
    record = session.get(DirectiveRecord, directive_id)
    if record is None:
        raise NotFoundError(
            f"no directive {directive_id!r} in the case store: "
            "`fairban enforce DIRECTIVE.yaml --decisions DIR` loads it"
        )
    return record


def directive_version(session: Session, directive_id: str, version: int) -> DirectiveVersion | None:
    """One version of a directive, or None."""
    return session.scalars(
        select(DirectiveVersion).where(
            DirectiveVersion.directive_id == directive_id, DirectiveVersion.version == version
        )
    ).first()


def version_with_content(
    session: Session, directive_id: str, content_hash: str
) -> DirectiveVersion | None:
    """The version of a directive whose canonical content has this SHA-256, or None."""
    return session.scalars(
        select(DirectiveVersion).where(
            DirectiveVersion.directive_id == directive_id,
            DirectiveVersion.content_hash == content_hash,
        )
    ).first()
