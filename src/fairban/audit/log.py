"""Append to the audit log, verify its chain, export it for anyone to verify offline.

The hash rule (docs/audit.md says the same, with a script that checks an export):

- ``payload`` is canonical JSON: ``json.dumps(obj, sort_keys=True,
  separators=(",", ":"), ensure_ascii=False)``; ``payload_hash`` is the SHA-256 (hex) of
  its UTF-8 bytes.
- ``entry_hash`` is the SHA-256 (hex) of the UTF-8 bytes of the entry's canonical line,
  the JSON array ``[id, at, actor, action, subject, payload_hash, prev_hash]`` written
  with ``separators=(",", ":"), ensure_ascii=False``, where ``at`` reads
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six digits of microseconds).
- ``prev_hash`` is the previous entry's ``entry_hash``; 64 zeros for entry 1.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO, cast

from sqlalchemy import Table, event, select, text
from sqlalchemy.orm import Session

from fairban.audit.actions import Action
from fairban.audit.models import AuditEntry
from fairban.db import NAME_LENGTH, collect_rows, insert_rows, stop_collecting, write_rows
from fairban.digests import canonical_json, sha256_hex

GENESIS_HASH = "0" * 64
ACTION = re.compile(r"^[a-z]+(:[a-z_]+)+$")
#: the fields of an exported entry, in the order they are written
FIELDS = (
    "id",
    "at",
    "actor",
    "action",
    "subject",
    "payload",
    "payload_hash",
    "prev_hash",
    "entry_hash",
)
# how far from its stated id an entry's hash is looked for, to tell a moved entry from
# an edited one
_SEARCH = 64
# entries whose hashes are kept for checking the links of entries that come late
_RECENT = 10_000


def format_at(at: datetime) -> str:
    """``at`` as hashed and exported: UTC, ``2019-10-01T08:30:00.000000Z``."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: give a timezone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_line(
    id: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    payload_hash: str,
    prev_hash: str,
) -> str:
    """The canonical line that ``entry_hash`` covers."""
    fields = [id, at, actor, action, subject, payload_hash, prev_hash]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


# --- appending ---------------------------------------------------------------------


def append(
    session: Session,
    *,
    actor: str,
    action: Action,
    subject: str,
    payload: Mapping[str, Any] | None = None,
) -> AuditEntry | None:
    """Add an entry to the log inside the caller's transaction and return it (flushed,
    with its id and hashes; None inside :func:`batched`, where it has neither yet). The
    caller commits: the state change, its audit entry and its outbox messages are one
    transaction, and a rollback leaves no trace.

    Concurrent writers never fork the chain. On PostgreSQL the transaction takes an
    advisory lock on the log until it ends (read the last entry only after it: keep the
    default READ COMMITTED isolation). On SQLite, fairban's engines begin every writing
    transaction with ``BEGIN IMMEDIATE`` (:func:`fairban.db.make_engine`), so the
    database lock already serialises writers. Either way the unique ``prev_hash`` makes a
    fork impossible: a writer that raced would fail with an integrity error, not branch.

    Inside :func:`batched` the entry is only collected (no id or hashes yet): the batch
    writes its entries together, under one lock and one insert (a ``COPY`` on
    PostgreSQL: :func:`fairban.db.insert_rows`), just before the commit.

    Raises ``ValueError`` for a malformed action tag (``case:measure:lift``), an empty or
    too long actor or subject, or a payload that is not JSON.
    """
    if not ACTION.fullmatch(action):
        raise ValueError(f"action {action!r} is not a tag like 'case:measure:lift'")
    for name, value in (("actor", actor), ("subject", subject)):
        if not value or not value.strip():
            raise ValueError(f"{name} is empty")
        if len(value) > NAME_LENGTH:
            raise ValueError(f"{name} is longer than {NAME_LENGTH} characters")
    try:
        payload_text = canonical_json(dict(payload or {}))
    except (TypeError, ValueError) as e:
        raise ValueError(f"payload is not JSON: {e}") from e

    row: dict[str, Any] = {
        "at": datetime.now(UTC),
        "actor": actor,
        "action": str(action),
        "subject": subject,
        "payload": payload_text,
        "payload_hash": sha256_hex(payload_text),
    }
    pending: list[dict[str, Any]] | None = session.info.get(_PENDING)
    if pending is not None:  # inside batched(): chained and written just before commit
        pending.append(row)
        return None
    _chain(session, [row])
    entry = AuditEntry(**row)
    session.add(entry)
    session.flush()
    return entry


def _chain(session: Session, rows: list[dict[str, Any]]) -> None:
    """Take the log's lock, then give ``rows`` (an entry's values each) the next ids and
    their hashes, in order."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # keyed by the table's oid: one lock per log (schema), released at commit
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, 'audit_log'::regclass::oid::integer)"),
            {"space": _LOCK_SPACE},
        )
    last = session.execute(
        select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    new_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    for row in rows:
        line = entry_line(
            new_id,
            format_at(row["at"]),
            row["actor"],
            row["action"],
            row["subject"],
            row["payload_hash"],
            prev_hash,
        )
        entry_hash = sha256_hex(line)
        row.update(id=new_id, prev_hash=prev_hash, entry_hash=entry_hash)
        new_id, prev_hash = new_id + 1, entry_hash


_PENDING = "fairban.audit.pending"
_ENTRIES = cast(Table, AuditEntry.__table__)


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Within the block, :func:`append` only collects entries (no lock, no query);
    they are chained and written together at the block's end, one lock taken for all of
    them just before the caller commits. A batch is thus a run of consecutive entries:
    the log's lock is held for one insert and the commit, not for the batch's work.

    The caller commits after the block (a rollback drops the entries with the actions).
    A commit inside the block writes what was collected first (``before_commit``), so
    no action is ever committed without its entry. Rows added with
    :func:`fairban.db.add_row` (a case's events, its notices) are collected too and
    written together, one insert per table, at each flush and before the entries."""
    if _PENDING in session.info:
        yield  # already batched: the outer block writes
        return
    session.info[_PENDING] = []
    collect_rows(session)
    try:
        yield
        write_pending(session)
    finally:
        session.info.pop(_PENDING, None)
        stop_collecting(session)


def is_batched(session: Session) -> bool:
    """Whether the session is inside :func:`batched` (flows that would flush for each
    object leave it to the batch's one flush)."""
    return _PENDING in session.info


def write_pending(session: Session) -> int:
    """Chain and write the entries :func:`batched` collected so far; returns how many.
    The rows the batch collected (:func:`fairban.db.add_row`) are written first."""
    write_rows(session)
    pending: list[dict[str, Any]] | None = session.info.get(_PENDING)
    if not pending:
        return 0
    rows = list(pending)
    pending.clear()
    _chain(session, rows)
    # no ORM object per entry (nothing reads them back as objects), one COPY for all
    insert_rows(session.connection(), _ENTRIES, rows)
    return len(rows)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    write_pending(session)


# 'fb' 'au' as a number: the first key of the advisory lock, apart from other users'
_LOCK_SPACE = 0x6662_6175


def history(session: Session, subject: str) -> list[AuditEntry]:
    """Every entry about ``subject``, oldest first (a case's timeline)."""
    query = select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.id)
    return list(session.scalars(query))


# --- export ------------------------------------------------------------------------


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry as one exported JSON object: every field, ``at`` as hashed, ``payload``
    as the exact text its hash covers."""
    return {
        "id": entry.id,
        "at": format_at(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "payload": entry.payload,
        "payload_hash": entry.payload_hash,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }


@dataclass(frozen=True)
class Exported:
    entries: int
    last_hash: str


def export(session: Session, fh: TextIO) -> Exported:
    """Write the whole log to ``fh`` as JSON Lines, oldest first, one entry a line."""
    count, last = 0, GENESIS_HASH
    for entry in _all_entries(session):
        fh.write(json.dumps(entry_record(entry), ensure_ascii=False, separators=(",", ":")))
        fh.write("\n")
        count, last = count + 1, entry.entry_hash
    return Exported(count, last)


def _all_entries(session: Session) -> Iterator[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)
    yield from session.scalars(query)


# --- verification ------------------------------------------------------------------


class ProblemKind(StrEnum):
    EDITED = "edited"
    MISSING = "missing"
    REORDERED = "reordered"
    BROKEN_LINK = "broken_link"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log: ``entry`` is the entry's id (``None`` for a line
    that is not an entry at all); ``message`` says what, for a person."""

    kind: ProblemKind
    entry: int | None
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of checking a log: ``problems`` in the order they occur in the log
    (first first); ``last_hash`` is the newest entry's hash, to compare with a copy kept
    elsewhere (a log cut short at its end is only caught that way)."""

    entries: int
    problems: tuple[Problem, ...]
    last_id: int
    last_hash: str

    @property
    def ok(self) -> bool:
        return not self.problems


#: called with each entry as it is checked, in the log's order (the checkpoints' Merkle
#: tree is built from the same pass: ``fairban.audit.heads``)
Visit = Callable[["Record"], None]


def verify(session: Session, visit: Visit | None = None) -> VerifyReport:
    """Check the log in the database, entry by entry in id order."""
    checker = _Checker()
    for entry in _all_entries(session):
        record = Record(**entry_record(entry))
        checker.add(record)
        if visit is not None:
            visit(record)
    return checker.report()


def verify_lines(lines: Iterable[str], visit: Visit | None = None) -> VerifyReport:
    """Check an export (JSON Lines, as :func:`export` writes) in the order of its lines;
    blank lines are skipped."""
    checker = _Checker()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = _parse(line)
        if isinstance(record, str):
            checker.malformed(f"line {number} is not an audit entry: {record}")
        else:
            checker.add(record)
            if visit is not None:
                visit(record)
    return checker.report()


@dataclass(frozen=True, slots=True)
class Record:
    """An entry as stored or exported: every field, ``at`` as hashed."""

    id: int
    at: str
    actor: str
    action: str
    subject: str
    payload: str
    payload_hash: str
    prev_hash: str
    entry_hash: str

    def hash_as(self, id: int) -> str:
        line = entry_line(
            id, self.at, self.actor, self.action, self.subject, self.payload_hash, self.prev_hash
        )
        return sha256_hex(line)

    def line(self) -> str:
        """The canonical line of the entry as it stands (the Merkle tree's leaf)."""
        return entry_line(
            self.id,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.payload_hash,
            self.prev_hash,
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as one exported JSON object (:func:`entry_record`'s shape)."""
        return {name: getattr(self, name) for name in FIELDS}


def _parse(line: str) -> Record | str:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg})"
    return parse_record(obj)


def parse_record(obj: object) -> Record | str:
    """An exported entry (a decoded JSON object) as a record, or what is wrong with it."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        return "no " + ", ".join(missing)
    id = obj["id"]
    if not isinstance(id, int) or isinstance(id, bool) or id < 1:
        return f"id {id!r} is not a positive integer"
    for name in FIELDS[1:]:
        if not isinstance(obj[name], str):
            return f"{name} is not a string"
    return Record(**{name: obj[name] for name in FIELDS})


@dataclass
class _Slot:
    """A problem's place in the report, kept open until the end: a gap in the ids reads
    as deleted entries until the missing ones turn up further on (then: reordered)."""

    problem: Problem | None


@dataclass
class _Gap:
    slot: _Slot
    after: int  # the last entry before the gap (0: the start)
    entry: int  # the entry that came after it
    found: set[int] = field(default_factory=set)  # missing ids that came later
    late: list[_Slot] = field(default_factory=list)

    def holds(self, id: int) -> bool:
        return self.after < id < self.entry


class _Checker:
    """Follows the chain one entry at a time, in bounded memory."""

    def __init__(self) -> None:
        self.slots: list[_Slot] = []
        self.entries = 0
        self.head_id = 0
        self.head_hash = GENESIS_HASH
        self.recent: OrderedDict[int, str] = OrderedDict()
        self.gaps: list[_Gap] = []
        # id -> (the hash its successor names as previous, that successor's id), for an
        # entry not yet seen
        self.pending: dict[int, tuple[str, int]] = {}

    def _problem(self, kind: ProblemKind, entry: int | None, message: str) -> _Slot:
        slot = _Slot(Problem(kind, entry, message))
        self.slots.append(slot)
        return slot

    def malformed(self, message: str) -> None:
        self._problem(ProblemKind.MALFORMED, None, message)

    def _claim(self, record: Record) -> int | None:
        """The id the entry's hash was made with: its own, or a nearby one if the entry
        was moved; None if it matches none (edited)."""
        if record.hash_as(record.id) == record.entry_hash:
            return record.id
        for distance in range(1, _SEARCH + 1):
            for id in (record.id - distance, record.id + distance):
                if id >= 1 and record.hash_as(id) == record.entry_hash:
                    return id
        return None

    def add(self, record: Record) -> None:
        self.entries += 1
        payload_ok = sha256_hex(record.payload) == record.payload_hash
        if not payload_ok:
            self._problem(
                ProblemKind.EDITED,
                record.id,
                f"entry {record.id} was edited: its payload does not match its hash",
            )
        id = self._claim(record)
        if id is None:
            id = record.id
            if payload_ok:
                self._problem(
                    ProblemKind.EDITED,
                    id,
                    f"entry {id} was edited: its fields do not match its hash",
                )

        successor = self.pending.pop(id, None)
        if successor is not None and successor[0] != record.entry_hash:
            self._broken(successor[1], id)

        if id > self.head_id:
            if id > self.head_id + 1:
                slot = self._problem(ProblemKind.MISSING, id, "")
                self.gaps.append(_Gap(slot, self.head_id, id))
                self.pending[id - 1] = (record.prev_hash, id)
            elif record.prev_hash != self.head_hash:
                self._broken(id, self.head_id)
            self.head_id, self.head_hash = id, record.entry_hash
        else:
            gap = next((g for g in self.gaps if g.holds(id) and id not in g.found), None)
            if gap is None:
                self._problem(ProblemKind.DUPLICATE, id, f"entry {id} appears twice")
                return
            gap.found.add(id)
            gap.late.append(
                self._problem(
                    ProblemKind.REORDERED,
                    id,
                    f"entry {id} is out of order: it comes after entry {self.head_id}",
                )
            )
            before = GENESIS_HASH if id == 1 else self.recent.get(id - 1)
            if before is not None:
                if record.prev_hash != before:
                    self._broken(id, id - 1)
            elif gap.holds(id - 1):
                self.pending[id - 1] = (record.prev_hash, id)

        self.recent[id] = record.entry_hash
        if len(self.recent) > _RECENT:
            self.recent.popitem(last=False)

    def _broken(self, id: int, previous: int) -> None:
        if previous == 0:
            message = f"entry {id} does not start the chain: its previous hash is not 64 zeros"
        else:
            message = (
                f"entry {id} does not follow entry {previous}: it names another previous "
                "hash, so one of them was rewritten"
            )
        self._problem(ProblemKind.BROKEN_LINK, id, message)

    def report(self) -> VerifyReport:
        for gap in self.gaps:
            size = gap.entry - gap.after - 1
            if len(gap.found) == size:  # all turned up further on: moved, not deleted
                first = min(gap.found)
                gap.slot.problem = Problem(
                    ProblemKind.REORDERED,
                    gap.entry,
                    f"entry {gap.entry} comes before entry {first}: the entries are out of order",
                )
                for slot in gap.late:
                    slot.problem = None
                continue
            where = f"follow entry {gap.after}" if gap.after else "start the chain"
            gap.slot.problem = Problem(
                ProblemKind.MISSING,
                gap.entry,
                f"entry {gap.entry} does not {where}: {_missing(gap)}",
            )
        problems = tuple(s.problem for s in self.slots if s.problem is not None)
        return VerifyReport(self.entries, problems, self.head_id, self.head_hash)


def _missing(gap: _Gap) -> str:
    missing: list[int] = []
    count = 0
    for id in range(gap.after + 1, gap.entry):
        if id not in gap.found:
            count += 1
            if len(missing) < 5:
                missing.append(id)
    if count == 1:
        return f"entry {missing[0]} is missing"
    if count == gap.entry - gap.after - 1:
        return f"entries {gap.after + 1} to {gap.entry - 1} are missing"
    listed = ", ".join(str(i) for i in missing)
    more = f" and {count - len(missing)} more" if count > len(missing) else ""
    return f"entries {listed}{more} are missing"
