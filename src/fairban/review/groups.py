"""Groups of queued appeals where one decision fits many, so that a reviewer reads the
shared facts once and then decides each case in turn (each case still gets its own
decision, its own written reason and its own audit entry: :mod:`fairban.review.flows`).

Two appeals group when they are against the same directive version, tick the same
grounds, and share a link the case store knows:

- **one person** (``person``): the cases carry the same ``person_id`` (the same
  real-name person as the evidence's accounts table gives it);
- **one compound** (``compound``): the measures rest on the same kind of phone
  evidence (a reason ``DEVICE_FARM``, ``DEVICE_OPERATION``, ``DEVICE_OUTREACH`` or
  ``DEVICE_SHARED``) with the same number of phone peers, in the same area (the
  ``area`` of the presence reason). The case store keeps no phone identifiers, only
  the reasons' numbers, so this is as close to "the same compound's shared phones" as
  the store can say; two accounts of different areas, or with different phone
  evidence, never group, however alike their grounds.

An appeal of a person with at least one other appeal in the same person group belongs
to that group; only the others are grouped by compound. Appeals that share nothing
stay alone in the queue (a group lists two appeals or more). Keys are deterministic:
a group's id is a hash of its key, the same on every page load and every server, and
holds no personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from fairban.appeals.grouping import (
    PEERS_FIELD,
    PHONE_CODES,
    PRESENCE_CODES,
    Compound,
    GroupKey,
    GroupKind,
    compound_key,
    compound_of,
    grounds_key,
    person_key,
)
from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.review.queue import QueueItem, queue

__all__ = [
    "PEERS_FIELD",
    "PHONE_CODES",
    "PRESENCE_CODES",
    "Compound",
    "Group",
    "GroupKey",
    "GroupKind",
    "Summary",
    "compound_of",
    "find",
    "groups",
    "listed",
    "members",
    "near",
]

#: the groups the queue page lists at most (the largest queue's page stays small)
LISTED = 20


@dataclass(frozen=True)
class Group:
    key: GroupKey
    #: the group's appeals, oldest deadline first
    items: tuple[QueueItem, ...]
    compound: Compound | None = None

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def oldest(self) -> datetime:
        """The earliest deadline in the group."""
        return self.items[0].appeal.answer_by

    @property
    def overdue(self) -> int:
        return sum(1 for i in self.items if i.overdue)

    @property
    def measures(self) -> dict[str, int]:
        """How many of the group's cases hold each measure (suspend first)."""
        counts: dict[str, int] = {}
        for i in sorted(self.items, key=lambda i: -i.case.measure.severity):
            counts[i.case.measure.value] = counts.get(i.case.measure.value, 0) + 1
        return counts


def grounds_of(item: QueueItem) -> tuple[str, ...]:
    """The grounds ticked, in a fixed order (the form's order does not matter)."""
    return grounds_key(item.appeal.grounds)


def _order(items: Iterable[QueueItem]) -> tuple[QueueItem, ...]:
    return tuple(sorted(items, key=lambda i: (i.appeal.answer_by, i.appeal.id)))


def _buckets(items: Sequence[QueueItem]) -> tuple[list[Group], list[Group]]:
    """Every person bucket and every compound bucket, of any size: the compound buckets
    of the appeals that are not in a person bucket of two or more."""
    persons: dict[GroupKey, list[QueueItem]] = {}
    for item in items:
        key = person_key(item.appeal, item.case)
        if key is not None:
            persons.setdefault(key, []).append(item)
    grouped = {i.appeal.id for members in persons.values() if len(members) > 1 for i in members}
    compounds: dict[GroupKey, list[QueueItem]] = {}
    found: dict[GroupKey, Compound] = {}
    for item in items:
        if item.appeal.id in grouped:
            continue
        keyed = compound_key(item.appeal, item.case)
        if keyed is None:
            continue
        compounds.setdefault(keyed[0], []).append(item)
        found[keyed[0]] = keyed[1]
    return (
        [Group(k, _order(v)) for k, v in persons.items()],
        [Group(k, _order(v), found[k]) for k, v in compounds.items()],
    )


def groups(items: Sequence[QueueItem]) -> list[Group]:
    """The groups of two appeals or more: the oldest deadline first, then the largest
    (ties: the id, so that the order is the same on every load)."""
    persons, compounds = _buckets(items)
    listed = [g for g in (*persons, *compounds) if g.size > 1]
    return sorted(listed, key=lambda g: (g.oldest, -g.size, g.id))


def find(items: Sequence[QueueItem], group_id: str) -> Group | None:
    """The group ``group_id`` as the queue stands now, even when decisions have left one
    appeal in it (a walk ends on its last case); None when none of it is queued."""
    persons, compounds = _buckets(items)
    return next((g for g in (*persons, *compounds) if g.id == group_id), None)


# --- the same groups read from the stored keys (``appeals/grouping.py``) ---------------


@dataclass(frozen=True)
class Summary:
    """A group as the queue page lists it: counted in SQL, labelled from its first
    appeal (the earliest deadline), which the group's link opens."""

    key: GroupKey
    compound: Compound | None
    size: int
    oldest: datetime
    overdue: int
    measures: dict[str, int]
    first: int

    @property
    def id(self) -> str:
        return self.key.id


def _queued() -> ColumnElement[bool]:
    return Appeal.state == AppealState.QUEUED


def _in_person_groups() -> ColumnElement[bool]:
    """The queued appeals in a person bucket of two or more (they group by person)."""
    crowded = (
        select(Appeal.person_group)
        .where(_queued(), Appeal.person_group.is_not(None))
        .group_by(Appeal.person_group)
        .having(func.count() > 1)
    )
    return Appeal.person_group.in_(crowded)


def _not_in_person_groups_of(compound: str) -> ColumnElement[bool]:
    """Not in a person bucket of two or more, asked of the compound's members' persons
    alone (index seeks, as many as the group has members; not the whole queue's)."""
    theirs = select(Appeal.person_group).where(
        _queued(), Appeal.compound_group == compound, Appeal.person_group.is_not(None)
    )
    crowded = (
        select(Appeal.person_group)
        .where(_queued(), Appeal.person_group.in_(theirs))
        .group_by(Appeal.person_group)
        .having(func.count() > 1)
    )
    return or_(Appeal.person_group.is_(None), Appeal.person_group.not_in(crowded))


def listed(session: Session, now: datetime, limit: int = LISTED) -> tuple[list[Summary], int]:
    """The first ``limit`` groups of two appeals or more, in :func:`groups`'s order (the
    oldest deadline first, then the largest, then the id), and how many there are: a
    GROUP BY over the stored keys; no appeal is read but each listed group's first."""
    overdue = func.sum(case((Appeal.answer_by < now, 1), else_=0))
    buckets = []
    for kind, column, bucket in (
        (GroupKind.PERSON, Appeal.person_group, Appeal.person_group.is_not(None)),
        (
            GroupKind.COMPOUND,
            Appeal.compound_group,
            and_(
                Appeal.compound_group.is_not(None),
                or_(Appeal.person_group.is_(None), ~_in_person_groups()),
            ),
        ),
    ):
        buckets.append(
            select(
                column.label("gid"),
                literal(kind.value).label("kind"),
                func.count().label("size"),
                func.min(Appeal.answer_by).label("oldest"),
                overdue.label("overdue"),
            )
            .where(_queued(), bucket)
            .group_by(column)
            .having(func.count() > 1)
        )
    every = union_all(*buckets).subquery()
    # the number of groups in the same pass: a window over the grouped rows
    rows = session.execute(
        select(every, func.count().over().label("total"))
        .order_by(every.c.oldest, every.c.size.desc(), every.c.gid)
        .limit(limit)
    ).all()
    total = int(rows[0][-1]) if rows else 0
    out = []
    for gid, kind, size, _oldest, late, _total in rows:
        column = Appeal.person_group if kind == GroupKind.PERSON else Appeal.compound_group
        where: list[ColumnElement[bool]] = [_queued(), column == gid]
        if kind == GroupKind.COMPOUND:
            where.append(_not_in_person_groups_of(gid))
        [first] = queue_first(session, now, *where)
        key: GroupKey | None
        compound = None
        if kind == GroupKind.PERSON:
            key = person_key(first.appeal, first.case)
        else:
            keyed = compound_key(first.appeal, first.case)
            key, compound = keyed if keyed else (None, None)
        if key is None or key.id != gid:
            continue  # a key stamped by other code than this: not this rule's group
        measures = session.execute(
            select(Case.measure, func.count())
            .join(Appeal.case)
            .where(*where)
            .group_by(Case.measure)
        ).all()
        out.append(
            Summary(
                key=key,
                compound=compound,
                size=size,
                oldest=first.appeal.answer_by,
                overdue=int(late or 0),
                measures={m.value: n for m, n in sorted(measures, key=lambda r: -r[0].severity)},
                first=first.appeal.id,
            )
        )
    return out, total


def queue_first(session: Session, now: datetime, *where: ColumnElement[bool]) -> list[QueueItem]:
    """The queued appeal with the earliest deadline among ``where`` (an index seek)."""
    return queue(session, now, *where, order=True, limit=1)


def members(session: Session, group_id: str, now: datetime) -> Group | None:
    """The group ``group_id`` as the queue stands, read by its stored key: its members
    and, for a compound, the persons that might put them in a person group first; then
    grouped by :func:`find`, so that the group is the rule's even for a key stored
    otherwise. None when none of it is queued."""
    items = queue(
        session, now, or_(Appeal.person_group == group_id, Appeal.compound_group == group_id)
    )
    if not items:
        return None
    if all(i.appeal.person_group != group_id for i in items):
        persons = {i.appeal.person_group for i in items if i.appeal.person_group}
        crowded = set(
            session.scalars(
                select(Appeal.person_group)
                .where(_queued(), Appeal.person_group.in_(persons))
                .group_by(Appeal.person_group)
                .having(func.count() > 1)
            )
        )
        items = [i for i in items if i.appeal.person_group not in crowded]
    return find(items, group_id)


def near(session: Session, seed: Appeal, group_id: str, now: datetime) -> Group | None:
    """The group ``group_id`` that ``seed`` (queued or already decided) belongs to, read
    by the stored keys (:func:`members`); None when ``seed`` is not of that group or
    none of it is queued."""
    if group_id not in (seed.person_group, seed.compound_group):
        return None
    return members(session, group_id, now)
