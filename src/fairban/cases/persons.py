"""Every case of a batch's persons, read once: the re-check of a batch of appeals asks
for each appellant's linked cases three times (its accounts held, the lift of them all,
their open appeals); a query each, and the autoflush before each, made one appeal's
changes a statement of their own. :func:`prefetched` loads the persons' cases for the
whole batch in one query; :func:`person_cases` answers from them (the session's own
objects, so it sees the batch's changes as a query after a flush would), or None where
the person was not prefetched and the caller queries as ever."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.cases.models import Case
from fairban.cases.transitions import CaseState

_KEY = "fairban.cases.persons"


@contextmanager
def prefetched(session: Session, person_ids: Collection[str]) -> Iterator[dict[str, list[Case]]]:
    """Within the block, :func:`person_cases` answers for ``person_ids`` from one query
    (their cases by number, every state). Nested blocks keep the outer one's."""
    if _KEY in session.info:
        yield session.info[_KEY]
        return
    persons: dict[str, list[Case]] = {p: [] for p in person_ids if p}
    if persons:
        query = select(Case).where(Case.person_id.in_(list(persons))).order_by(Case.number)
        for case in session.scalars(query):
            persons[str(case.person_id)].append(case)
    session.info[_KEY] = persons
    try:
        yield persons
    finally:
        session.info.pop(_KEY, None)


def person_cases(
    session: Session, person_id: str, states: Collection[CaseState] | None = None
) -> list[Case] | None:
    """The person's cases by number (those in ``states``), as :func:`prefetched` read
    them with the changes the session made since; None where not prefetched."""
    persons: dict[str, list[Case]] | None = session.info.get(_KEY)
    if persons is None or person_id not in persons:
        return None
    cases = persons[person_id]
    return cases if states is None else [c for c in cases if c.state in states]
