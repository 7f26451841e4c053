"""Queries on the directives the case store holds. Read only: changes go through
``directives/flows.py``."""

from __future__ import annotations

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from fairban.directives.content import translations_of
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


#: translations by version content hash (a version's content never changes)
_TRANSLATIONS: dict[str, dict[str, dict[str, str]]] = {}
#: ``session.info`` key: translations by (directive id, version), for one transaction
_IN_TRANSACTION = "fairban.directives.translations"


def translations(
    session: Session, directive_id: str, version: int | None = None
) -> dict[str, dict[str, str]]:
    """The ``translations`` key of a directive's version (its current one by default):
    language tag -> {title, issuer, legal_basis}; empty when it has none. Read once per
    version content (the content holds the areas: it can be large), and looked up once
    per transaction: a batch that notices many cases of one version makes no query (and
    so no autoflush) per notice. A (directive, version) names one content for good
    (``uq_directive_versions_version``); one not found is looked up again."""
    if version is None:
        record = session.get(DirectiveRecord, directive_id)
        if record is None:
            return {}
        version = record.current_version
    known: dict[tuple[str, int], dict[str, dict[str, str]]] = session.info.setdefault(
        _IN_TRANSACTION, {}
    )
    cached = known.get((directive_id, version))
    if cached is not None:
        return cached
    found = session.execute(
        select(DirectiveVersion.id, DirectiveVersion.content_hash).where(
            DirectiveVersion.directive_id == directive_id, DirectiveVersion.version == version
        )
    ).first()
    if found is None:
        return {}
    if found.content_hash not in _TRANSLATIONS:
        content = session.scalar(
            select(DirectiveVersion.content).where(DirectiveVersion.id == found.id)
        )
        if len(_TRANSLATIONS) > 256:
            _TRANSLATIONS.clear()
        _TRANSLATIONS[found.content_hash] = translations_of(content or "{}")
    known[(directive_id, version)] = _TRANSLATIONS[found.content_hash]
    return known[(directive_id, version)]


@event.listens_for(Session, "after_transaction_end")
def _forget_translations(session: Session, transaction: SessionTransaction) -> None:
    # what a rolled-back transaction wrote is gone: look versions up afresh in the next
    if transaction.parent is None:
        session.info.pop(_IN_TRANSACTION, None)
