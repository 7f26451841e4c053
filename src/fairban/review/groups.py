"""Groups of queued appeals where one decision fits many, so that a reviewer reads the
shared facts once and then decides each case in turn (each case still gets its own
decision, its own written reason and its own audit entry: :mod:`fairban.review.flows`).

Two appeals group when they are against the same directive version, tick the same
grounds, and share a link the case store knows:

- **one person** (``person``): the cases carry the same ``person_id`` (the same
  real-name person as the evidence's accounts table gives it);
- **one compound** (``compound``): the measures rest on the same kind of phone
  evidence (a reason ``DEVICE_FARM``, ``DEVICE_OPERATION`` or ``DEVICE_SHARED``) with
  the same number of phone peers, in the same area (the ``area`` of the presence
  reason). The case store keeps no phone identifiers, only the reasons' numbers, so
  this is as close to "the same compound's shared phones" as the store can say; two
  accounts of different areas, or with different phone evidence, never group, however
  alike their grounds.

An appeal of a person with at least one other appeal in the same person group belongs
to that group; only the others are grouped by compound. Appeals that share nothing
stay alone in the queue (a group lists two appeals or more). Keys are deterministic:
a group's id is a hash of its key, the same on every page load and every server, and
holds no personal data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from fairban.appeals.models import Appeal
from fairban.cases.models import Case
from fairban.review.queue import QueueItem, queue

#: the reasons that say the account's phones are a compound's (strongest first)
PHONE_CODES = ("DEVICE_FARM", "DEVICE_OPERATION", "DEVICE_SHARED")
#: the reasons that name the area the account stays in
PRESENCE_CODES = ("PRESENCE_SUSTAINED", "PRESENCE_SOME")
#: the count in each phone reason's data: how many accounts share the phones
PEERS_FIELD = {
    "DEVICE_FARM": "device_peers",
    "DEVICE_SHARED": "device_peers",
    "DEVICE_OPERATION": "device_operators",
}


class GroupKind(StrEnum):
    PERSON = "person"
    COMPOUND = "compound"


@dataclass(frozen=True)
class Compound:
    """The compound a case's reasons point to: its area, its kind of phone evidence and
    the number of accounts on those phones."""

    area: str
    code: str
    peers: int


@dataclass(frozen=True)
class GroupKey:
    kind: GroupKind
    directive_id: str
    directive_version: int
    grounds: tuple[str, ...]
    #: the person's id, or the compound's area, phone code and peers
    link: tuple[str, ...]

    @property
    def id(self) -> str:
        """A short, stable id for URLs: the SHA-256 of the key's canonical JSON."""
        text = json.dumps(
            [self.kind.value, self.directive_id, self.directive_version, self.grounds, self.link],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


@lru_cache(maxsize=256)
def _grounds(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(json.loads(text or "[]"))))


def grounds_of(item: QueueItem) -> tuple[str, ...]:
    """The grounds ticked, in a fixed order (the form's order does not matter); the
    few combinations there are parsed once each."""
    return _grounds(item.appeal.grounds)


def compound_of(reasons: str | None) -> Compound | None:
    """The compound a case's reasons (JSON, ``targeting/reasons.py``) point to, or None
    when they hold no phone reason or name no area."""
    if not reasons or "DEVICE_" not in reasons:  # most cases: no phone reason to parse
        return None
    try:
        parsed = json.loads(reasons or "[]")
    except ValueError:
        return None
    if not isinstance(parsed, list):
        return None
    by_code = {r.get("code"): r for r in parsed if isinstance(r, dict)}
    phone = next((c for c in PHONE_CODES if c in by_code), None)
    presence = next((by_code[c] for c in PRESENCE_CODES if c in by_code), None)
    if phone is None or presence is None:
        return None
    area = (presence.get("data") or {}).get("area")
    if not isinstance(area, str) or not area:
        return None
    peers = (by_code[phone].get("data") or {}).get(PEERS_FIELD[phone], 0)
    try:
        count = int(peers)
    except (TypeError, ValueError):
        count = 0
    return Compound(area=area, code=phone, peers=count)


def _base(item: QueueItem) -> tuple[str, int, tuple[str, ...]]:
    return (item.case.directive_id, item.case.directive_version, grounds_of(item))


def _order(items: Iterable[QueueItem]) -> tuple[QueueItem, ...]:
    return tuple(sorted(items, key=lambda i: (i.appeal.answer_by, i.appeal.id)))


def _buckets(items: Sequence[QueueItem]) -> tuple[list[Group], list[Group]]:
    """Every person bucket and every compound bucket, of any size: the compound buckets
    of the appeals that are not in a person bucket of two or more."""
    bases = {i.appeal.id: _base(i) for i in items}
    persons: dict[GroupKey, list[QueueItem]] = {}
    for item in items:
        if item.case.person_id:
            key = GroupKey(GroupKind.PERSON, *bases[item.appeal.id], (item.case.person_id,))
            persons.setdefault(key, []).append(item)
    grouped = {i.appeal.id for members in persons.values() if len(members) > 1 for i in members}
    compounds: dict[GroupKey, list[QueueItem]] = {}
    found: dict[GroupKey, Compound] = {}
    for item in items:
        if item.appeal.id in grouped:
            continue
        compound = compound_of(item.case.reasons)
        if compound is None:
            continue
        link = (compound.area, compound.code, str(compound.peers))
        key = GroupKey(GroupKind.COMPOUND, *bases[item.appeal.id], link)
        compounds.setdefault(key, []).append(item)
        found[key] = compound
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


def near(session: Session, seed: Appeal, group_id: str, now: datetime) -> Group | None:
    """:func:`find` without reading the whole queue: the group ``group_id`` that
    ``seed`` (queued or already decided) belongs to, from the queued appeals that could
    share its key (its person's; its directive version's that name its phones and its
    area) and the other appeals of their persons (who may be in a person group first).
    None when ``seed`` is not of that group or none of it is queued."""
    case = seed.case
    near_seed = []
    if case.person_id:
        near_seed.append(Case.person_id == case.person_id)
    compound = compound_of(case.reasons)
    if compound is not None:
        near_seed.append(
            and_(
                Case.directive_id == case.directive_id,
                Case.directive_version == case.directive_version,
                Case.reasons.contains(compound.code, autoescape=True),
                Case.reasons.contains(compound.area, autoescape=True),
            )
        )
    if not near_seed:
        return None
    items = {i.appeal.id: i for i in queue(session, now, or_(*near_seed))}
    persons = {i.case.person_id for i in items.values() if i.case.person_id}
    persons.discard(case.person_id)
    if persons and compound is not None:
        for i in queue(session, now, Case.person_id.in_(persons)):
            items.setdefault(i.appeal.id, i)
    return find(list(items.values()), group_id)
