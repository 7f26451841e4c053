"""The cases' measures as statements of reasons in the EU DSA Transparency Database's
shape (``notices.dsa``): one per restrict or suspend in force, from the same facts
its notice was made from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.cases.links import TOKEN_MASK, appeal_url, short_url
from fairban.cases.messaging import notice_facts
from fairban.cases.models import Case
from fairban.cases.transitions import IN_FORCE, DeciderKind
from fairban.config import Settings
from fairban.directives.models import DirectiveRecord
from fairban.measures import VISIBLE
from fairban.notices import statement_of_reasons


def dsa_statements(
    session: Session,
    settings: Settings,
    *,
    platform_name: str,
    puid_prefix: str,
    directive_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """A statement for every restrict or suspend in force (of ``directive_id`` if
    given), by case number. The appeal link is masked: a statement is public."""
    query = (
        select(Case, DirectiveRecord)
        .join(DirectiveRecord, DirectiveRecord.id == Case.directive_id)
        .where(Case.state.in_(list(IN_FORCE)))
        .where(Case.measure.in_(sorted(VISIBLE)))
        .order_by(Case.number)
    )
    if directive_id is not None:
        query = query.where(Case.directive_id == directive_id)
    for case, directive in session.execute(query).tuples():
        facts = notice_facts(
            case,
            directive,
            noticed=case.measure,
            decided_at=case.decided_at,
            automated=case.decided_by_kind == DeciderKind.AUTOMATIC,
            appeal_url=appeal_url(settings, case, TOKEN_MASK),
            short_url=short_url(settings, case),
            answer_by=case.decided_at + timedelta(hours=settings.answer_hours),
        )
        yield statement_of_reasons(facts, platform_name=platform_name, puid_prefix=puid_prefix)
