"""The group keys of a queued appeal (the rule is :mod:`fairban.review.groups`'s): the
key of its person bucket and of its compound bucket, computed from the appeal and its
case and stored on the appeal (``person_group``, ``compound_group``, migration 0012)
when it enters the person queue, so that the console groups by an indexed column
instead of reading every queued appeal and its reasons.

Here, below the review layer, because the re-check (:mod:`fairban.appeals.flows`)
stamps the keys; the review layer decides which bucket an appeal shows in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case

#: the reasons that say the account's phones are a compound's (strongest first)
#: (DEVICE_OUTREACH: phones on which several people's accounts add strangers, one
#: operation's handsets, as much a compound's phones as a farm's)
PHONE_CODES = ("DEVICE_FARM", "DEVICE_OPERATION", "DEVICE_OUTREACH", "DEVICE_SHARED")
#: the reasons that name the area the account stays in
PRESENCE_CODES = ("PRESENCE_SUSTAINED", "PRESENCE_SOME")
#: the count in each phone reason's data: how many accounts share the phones
PEERS_FIELD = {
    "DEVICE_FARM": "device_peers",
    "DEVICE_SHARED": "device_peers",
    "DEVICE_OPERATION": "device_operators",
    "DEVICE_OUTREACH": "device_reaching",
}
#: the case's columns a key is made of: a change restamps its queued appeals
KEYED_CASE_FIELDS = ("directive_id", "directive_version", "person_id", "reasons")
#: the cases a restamp looks up per query
RESTAMP_CHUNK = 1000


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


@lru_cache(maxsize=256)
def grounds_key(text: str | None) -> tuple[str, ...]:
    """The grounds ticked, in a fixed order (the form's order does not matter); the few
    combinations there are parsed once each."""
    return tuple(sorted(set(json.loads(text or "[]"))))


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
    by_code: dict[Any, Any] = {r.get("code"): r for r in parsed if isinstance(r, dict)}
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


def person_key(appeal: Appeal, case: Case) -> GroupKey | None:
    """The key of the appeal's person bucket; None when the case names no person."""
    if not case.person_id:
        return None
    base = (case.directive_id, case.directive_version, grounds_key(appeal.grounds))
    return GroupKey(GroupKind.PERSON, *base, (case.person_id,))


def compound_key(appeal: Appeal, case: Case) -> tuple[GroupKey, Compound] | None:
    """The key of the appeal's compound bucket and its compound; None without one."""
    compound = compound_of(case.reasons)
    if compound is None:
        return None
    base = (case.directive_id, case.directive_version, grounds_key(appeal.grounds))
    link = (compound.area, compound.code, str(compound.peers))
    return GroupKey(GroupKind.COMPOUND, *base, link), compound


def stamp(appeal: Appeal, case: Case) -> None:
    """Store the appeal's bucket keys (where it enters the person queue)."""
    person = person_key(appeal, case)
    compound = compound_key(appeal, case)
    appeal.person_group = person.id if person else None
    appeal.compound_group = compound[0].id if compound else None


def _changed(obj: object, field: str) -> bool:
    # the attribute's history alone: ``inspect(obj).attrs`` builds every attribute's
    # state, a cost per case of every flush
    return get_history(obj, field, passive=PASSIVE_NO_INITIALIZE).has_changes()


def _keyed_change(case: Case) -> bool:
    return any(_changed(case, f) for f in KEYED_CASE_FIELDS)


@event.listens_for(Session, "before_flush")
def _restamp(session: Session, _context: object, _instances: Iterable[object] | None) -> None:
    """An appeal queued by a path that did not stamp it gets its keys; a case re-decided
    while its appeal waits (a new directive version, new reasons) moves the appeal to
    the buckets of its new key: one query per flush, and only when a case's keyed
    columns changed."""
    with session.no_autoflush:
        # a safety net for a path that queues an appeal through the ORM without stamping
        for appeal in (*session.new, *session.dirty):
            if (
                isinstance(appeal, Appeal)
                and appeal.state == AppealState.QUEUED
                and _changed(appeal, "state")
                and appeal.person_group is None
                and appeal.compound_group is None
                and appeal.case is not None
            ):
                stamp(appeal, appeal.case)
    changed = {
        c.id: c
        for c in session.dirty
        if isinstance(c, Case) and c.id is not None and _keyed_change(c)
    }
    if not changed:
        return
    ids = sorted(changed)
    with session.no_autoflush:
        for start in range(0, len(ids), RESTAMP_CHUNK):  # a bulk re-decision: bounded IN lists
            chunk = ids[start : start + RESTAMP_CHUNK]
            waiting = session.scalars(
                select(Appeal).where(Appeal.case_id.in_(chunk), Appeal.state == AppealState.QUEUED)
            )
            for appeal in waiting:
                stamp(appeal, changed[appeal.case_id])
