"""The delivery worker: sends the outbox's messages as signed webhooks, at least once,
in order per account, and records what each platform answered.

How a message moves (every step is a committed transaction, so a worker may die at any
point and another, or the same one restarted, carries on):

1. **Claim.** A due ``pending`` message is leased: ``attempts`` goes up by one and
   ``next_attempt_at`` moves ``lease_s`` ahead, so no other worker takes it meanwhile.
   Due means: its time has come, it is not a new measure under a paused directive
   (held until resumed; lifts still go out: lifting is never paused), its
   platform is not disabled, and no earlier message (lower ``id``) for the same
   platform and account is still ``pending`` or ``dead``, so a lift never overtakes the
   measure it lifts. PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``, so several
   workers share the work; SQLite's write lock serialises the claims.
2. **Send.** An event loop on a thread of its own POSTs the payload (the exact stored
   bytes) with its signature and ``Idempotency-Key``, ``concurrency`` at a time.
3. **Record.** Each try becomes a ``delivery_attempts`` row. A 2xx answer whose body is
   an acknowledgement (a JSON object whose ``id`` is the message's key, ``applied`` or
   ``duplicate`` true) marks it ``delivered`` with the ack and ``delivered_at`` (when
   the answer came); its stored payload then loses the notice link's one-time token
   (:func:`~fairban.platforms.webhooks.at_rest`: no live token at rest once the
   platform has it), and the audit entry keeps the SHA-256 of the bytes sent.
   Anything else (timeout, refusal, 4xx, 5xx, garbage, an unknown platform) schedules
   a retry after an exponential backoff with full jitter, and after ``max_attempts``
   tries marks it ``dead`` until an operator retries it.

A worker killed between send and record leaves a leased message that becomes due again
when its lease ends; it is then sent a second time and the platform, which applies each
idempotency key once, answers with the same acknowledgement.

Why one module of this size: claim, send and record are one pipeline whose batch
types, leases and transaction boundaries have to be read together to see that nothing
is lost or sent out of order; split, each part would hide half of that argument.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    false,
    func,
    insert,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from fairban import __version__, metrics
from fairban.audit import append, batched
from fairban.audit.actions import Action
from fairban.db import session_factory
from fairban.digests import sha256_hex
from fairban.directives.models import DirectiveRecord
from fairban.platforms.models import DeliveryAttempt, OutboxMessage, OutboxState, Platform
from fairban.platforms.signing import webhook_headers
from fairban.platforms.transport import Transport, TransportError
from fairban.platforms.webhooks import MessageKind, at_rest

log = logging.getLogger(__name__)

OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
PLATFORMS = cast(Table, Platform.__table__)
DIRECTIVES = cast(Table, DirectiveRecord.__table__)
#: the longest acknowledgement or error text kept
MAX_TEXT = 2000
USER_AGENT = f"fairban/{__version__}"


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker delivers. The defaults suit production; tests shorten the waits."""

    #: messages claimed at a time (and the most recorded in one transaction)
    batch: int = 200
    #: POSTs in flight at once
    concurrency: int = 16
    #: tries before a message is dead
    max_attempts: int = 20
    #: backoff before try n+1 is uniform in [0, min(cap, base * 2^(n-1))] seconds
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 600.0
    #: connect and read timeout of one POST
    timeout_s: float = 10.0
    #: how long a claimed message is reserved for its worker (longer than a POST lasts)
    lease_s: float = 60.0
    #: how often to look for new messages when there is room for more
    poll_s: float = 0.05
    #: the longest finished tries wait before they are written (together)
    record_every_s: float = 0.05
    #: who the audit log names for the worker's entries
    actor: str = "system:worker"

    def __post_init__(self) -> None:
        if self.batch < 1 or self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("batch, concurrency and max_attempts must be at least 1")
        if self.lease_s <= self.timeout_s:
            raise ValueError("the lease must be longer than the timeout of one POST")


@dataclass(frozen=True)
class Claimed:
    """A leased message, as the worker sends it."""

    id: int
    key: str
    platform: str
    account_id: str
    payload: str
    attempts: int  # counting this try


@dataclass(frozen=True)
class Outcome:
    """What one try came to: ``ack`` when delivered, ``error`` when not."""

    message: Claimed
    at: datetime
    duration_ms: float
    status: int | None
    ack: str | None
    error: str | None


@dataclass
class WorkerStats:
    """Counts since the worker started (the progress line shows them)."""

    started: float = field(default_factory=time.monotonic)
    delivered: int = 0
    failed_tries: int = 0
    dead: int = 0
    in_flight: int = 0
    #: messages waiting in the outbox (pending, due or not), as last counted
    pending: int | None = None

    @property
    def rate(self) -> float:
        """Messages delivered per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.delivered / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class _Target:
    url: str
    secret: str


def backoff_s(attempts: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait after the ``attempts``-th failed try: full jitter, uniform in
    ``[0, min(cap_s, base_s * 2 ** (attempts - 1))]``."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempts - 1, 0), 60))
    return rng.uniform(0.0, ceiling)


def check_ack(body: bytes, key: str) -> tuple[str | None, str | None]:
    """``(ack, None)`` when ``body`` acknowledges the message with idempotency key
    ``key``, else ``(None, why)``."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None, f"2xx answer is not an acknowledgement (not JSON): {_snippet(body)}"
    if not isinstance(document, dict):
        return None, "2xx answer is not an acknowledgement (not a JSON object)"
    if document.get("id") != key:
        return None, "2xx answer acknowledges another message (its 'id' is not the key sent)"
    if document.get("applied") is not True and document.get("duplicate") is not True:
        return None, "2xx answer says neither applied nor duplicate"
    return text[:MAX_TEXT], None


def _snippet(body: bytes, length: int = 120) -> str:
    text = body[: length * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    return repr(text[:length]) if text else "(empty)"


#: due messages looked at per step of a claim, per message wanted
WINDOW = 4


@functools.cache
def _window_statements() -> tuple[Any, Any]:
    """The selects of a claim's window: the next due pending messages in
    ``(next_attempt_at, id)`` order, from the start (``b_now``, ``b_window``) or after a
    cursor (``b_after_at``, ``b_after_id``). They walk the ``(state, next_attempt_at)``
    index and stop early, whatever the size of the backlog."""
    first = (
        select(OUTBOX.c.id, OUTBOX.c.next_attempt_at)
        .where(
            OUTBOX.c.state == OutboxState.PENDING,
            OUTBOX.c.next_attempt_at <= bindparam("b_now"),
        )
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(bindparam("b_window"))
    )
    after = first.where(
        tuple_(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        > tuple_(
            bindparam("b_after_at", type_=OUTBOX.c.next_attempt_at.type), bindparam("b_after_id")
        )
    )
    return first, after


@functools.cache
def _lease_statement(dialect: str) -> Any:
    """The UPDATE that leases, among the ids ``b_ids``, up to ``b_limit`` that may go now
    (``b_now``), lowest id first, until ``b_lease``; built once per dialect."""
    # aliases: the UPDATE around this select targets the outbox table itself
    candidate = OUTBOX.alias("candidate")
    earlier = OUTBOX.alias("earlier")
    blocked = (
        select(earlier.c.id)
        .where(
            earlier.c.platform == candidate.c.platform,
            earlier.c.account_id == candidate.c.account_id,
            earlier.c.id < candidate.c.id,
            earlier.c.state.in_([OutboxState.PENDING, OutboxState.DEAD]),
        )
        .exists()
    )
    paused = (
        select(DIRECTIVES.c.id)
        .where(DIRECTIVES.c.id == candidate.c.directive_id, DIRECTIVES.c.paused == true())
        .exists()
        # the kill switch stops new measures; a lift is never held (principle 7)
        & (candidate.c.kind == MessageKind.APPLY)
    )
    disabled = (
        select(PLATFORMS.c.name)
        .where(PLATFORMS.c.name == candidate.c.platform, PLATFORMS.c.enabled == false())
        .exists()
    )
    due = (
        select(candidate.c.id)
        .where(
            candidate.c.id.in_(bindparam("b_ids", expanding=True)),
            # checked again: the window was read without locks
            candidate.c.state == OutboxState.PENDING,
            candidate.c.next_attempt_at <= bindparam("b_now"),
            ~blocked,
            ~paused,
            ~disabled,
        )
        .order_by(candidate.c.id)
        .limit(bindparam("b_limit"))
    )
    if dialect == "postgresql":
        # rows another worker is claiming right now are skipped, not waited for
        due = due.with_for_update(skip_locked=True, of=candidate)
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(attempts=OUTBOX.c.attempts + 1, next_attempt_at=bindparam("b_lease"))
        .returning(
            OUTBOX.c.id,
            OUTBOX.c.idempotency_key,
            OUTBOX.c.platform,
            OUTBOX.c.account_id,
            OUTBOX.c.payload,
            OUTBOX.c.attempts,
        )
    )


def claim(
    session: Session,
    *,
    limit: int,
    lease_s: float,
    max_attempts: int,
    actor: str = "system:worker",
    now: datetime | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due messages in the caller's transaction and return them
    by id. A message whose tries are used up already (its worker stopped during the
    last one) is marked dead here instead of being returned. The caller commits.

    It walks the due messages oldest first, a window at a time, and leases those that
    may go (see the module docstring), so its cost grows with the messages it has to
    pass over (held or waiting behind an earlier one), not with the whole backlog.
    """
    now = now or datetime.now(UTC)
    connection = session.connection()
    first, after = _window_statements()
    lease = _lease_statement(connection.dialect.name)
    window = max(WINDOW * limit, 100)
    rows: list[Any] = []
    cursor: tuple[datetime, int] | None = None
    while len(rows) < limit:
        parameters: dict[str, Any] = {"b_now": now, "b_window": window}
        if cursor is None:
            ahead = connection.execute(first, parameters).all()
        else:
            parameters |= {"b_after_at": cursor[0], "b_after_id": cursor[1]}
            ahead = connection.execute(after, parameters).all()
        if not ahead:
            break
        rows += connection.execute(
            lease,
            {
                "b_ids": [row[0] for row in ahead],
                "b_now": now,
                "b_limit": limit - len(rows),
                "b_lease": now + timedelta(seconds=lease_s),
            },
        ).all()
        if len(ahead) < window:
            break
        cursor = (ahead[-1][1], ahead[-1][0])
    claimed = sorted((Claimed(*row) for row in rows), key=lambda m: m.id)
    spent = [m for m in claimed if m.attempts > max_attempts]
    if spent:
        why = f"no answer recorded for try {max_attempts} (its worker stopped); gave up"
        connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_([m.id for m in spent]))
            .values(state=OutboxState.DEAD, attempts=max_attempts, last_error=why)
        )
        for m in spent:
            _audit_dead(session, m, max_attempts, why, actor)
    return [m for m in claimed if m.attempts <= max_attempts]


def _audit_dead(session: Session, m: Claimed, attempts: int, error: str, actor: str) -> None:
    append(
        session,
        actor=actor,
        action=Action.PLATFORM_DELIVERY_DEAD,
        subject=f"outbox:{m.id}",
        payload={
            "platform": m.platform,
            "account_id": m.account_id,
            "idempotency_key": m.key,
            "attempts": attempts,
            "error": error[:500],
        },
    )


@dataclass(frozen=True)
class Recorded:
    delivered: list[Claimed]
    retried: list[Claimed]
    dead: list[Claimed]


def record(
    session: Session,
    outcomes: list[Outcome],
    *,
    max_attempts: int,
    backoff_base_s: float,
    backoff_cap_s: float,
    rng: random.Random,
    actor: str = "system:worker",
) -> Recorded:
    """Write what ``outcomes`` came to, in the caller's transaction: a
    ``delivery_attempts`` row each, ``delivered`` with the ack, or the next try's time,
    or ``dead``; one audit entry per platform for the acknowledged messages and one per
    dead letter. Only ``pending`` rows change, and only their tries are written: a
    second record of the same tries (the first one's commit went through but its answer
    was lost, as in a crash of the database) writes nothing, so no acknowledgement is
    audited twice."""
    if not outcomes:
        return Recorded([], [], [])
    connection = session.connection()
    ids = sorted({o.message.id for o in outcomes})
    # locked until the commit: a concurrent second record waits, then finds them done
    still_pending = set(
        connection.execute(
            select(OUTBOX.c.id)
            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.state == OutboxState.PENDING)
            .with_for_update()
        ).scalars()
    )
    outcomes = [o for o in outcomes if o.message.id in still_pending]
    if not outcomes:
        return Recorded([], [], [])
    connection.execute(
        insert(ATTEMPTS),
        [
            {
                "message_id": o.message.id,
                "at": o.at,
                "status_code": o.status,
                "error": o.error,
                "duration_ms": round(o.duration_ms, 3),
            }
            for o in outcomes
        ],
    )
    delivered = [o for o in outcomes if o.ack is not None]
    failed = [o for o in outcomes if o.ack is None]
    if delivered:
        connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.state == OutboxState.PENDING)
            .values(
                state=OutboxState.DELIVERED,
                delivered_at=bindparam("b_at"),
                ack=bindparam("b_ack"),
                last_error=None,
                payload=bindparam("b_payload"),
            ),
            [
                {
                    "b_id": o.message.id,
                    "b_at": o.at,
                    "b_ack": o.ack,
                    "b_payload": at_rest(o.message.payload),
                }
                for o in delivered
            ],
        )
    for o in delivered:
        metrics.DELIVERIES.labels(o.message.platform, "delivered").inc()
    retried: list[Claimed] = []
    dead: list[Outcome] = []
    changes: list[dict[str, Any]] = []
    for o in failed:
        error = (o.error or "failed")[:MAX_TEXT]
        if o.message.attempts >= max_attempts:
            metrics.DELIVERIES.labels(o.message.platform, "dead").inc()
            dead.append(o)
            state, next_at = OutboxState.DEAD, o.at
        else:
            metrics.DELIVERIES.labels(o.message.platform, "failed").inc()
            retried.append(o.message)
            wait = backoff_s(o.message.attempts, backoff_base_s, backoff_cap_s, rng)
            state, next_at = OutboxState.PENDING, o.at + timedelta(seconds=wait)
        changes.append({"b_id": o.message.id, "b_state": state, "b_next": next_at, "b_err": error})
    if changes:
        connection.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.state == OutboxState.PENDING)
            .values(
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_err"),
            ),
            changes,
        )
    # audit last: on PostgreSQL it locks the log until commit, so keep that short
    by_platform: dict[str, dict[int, str]] = {}
    for o in delivered:
        sent = by_platform.setdefault(o.message.platform, {})
        sent[o.message.id] = sha256_hex(o.message.payload)
    for name, sent in sorted(by_platform.items()):
        ids = sorted(sent)
        # what was sent, by digest: the stored copy is masked now (at_rest), the
        # platform's copy of the message can still be checked against the log
        append(
            session,
            actor=actor,
            action=Action.PLATFORM_DELIVERY_ACK,
            subject=f"platform:{name}",
            payload={"messages": ids, "sha256": [sent[i] for i in ids]},
        )
    for o in dead:
        _audit_dead(session, o.message, o.message.attempts, o.error or "failed", actor)
    return Recorded([o.message for o in delivered], retried, [o.message for o in dead])


def pending_count(session: Session) -> int:
    """Messages waiting in the outbox (pending, due or not)."""
    query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.state == OutboxState.PENDING)
    return int(session.scalar(query) or 0)


class DeliveryWorker:
    """Delivers the outbox of ``engine`` until stopped (see the module docstring).

    ``run()`` blocks; ``stop()`` (from a signal handler or another thread) makes it
    finish the POSTs in flight, record them and return. ``on_progress`` is called with
    the counts about once a second.
    """

    def __init__(
        self,
        engine: Engine,
        config: WorkerConfig | None = None,
        *,
        on_progress: Callable[[WorkerStats], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or WorkerConfig()
        self.on_progress = on_progress
        self.stats = WorkerStats()
        self._sessions = session_factory(engine)
        # reads that must not take SQLite's write lock (counts, the registry)
        self._reads = session_factory(engine, read_only=True)
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        # finished tries, a list at a time (the sender hands them over in bunches)
        self._done: queue.Queue[list[Outcome]] = queue.Queue()
        self._in_flight: dict[int, Claimed] = {}
        self._unrecorded: list[Outcome] = []
        self._first_unrecorded = 0.0
        self._targets: dict[str, _Target] = {}
        self._targets_at = -1e9

    def stop(self) -> None:
        """Ask ``run()`` to finish what is in flight and return; safe from a signal
        handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the loop ----------------------------------------------------------------

    def run(self, *, once: bool = False) -> WorkerStats:
        """Deliver until :meth:`stop`, or with ``once`` until nothing is due and nothing
        is in flight. Returns the counts."""
        config = self.config
        cap = 2 * max(config.batch, config.concurrency)  # claimed but not yet recorded
        sender = _Sender(config.timeout_s, config.concurrency, self._done)
        sender.start()
        last_claim = -1e9
        last_progress = time.monotonic()
        db_ok_at = 0.0  # after a database error, wait until then
        claim_found_nothing = False  # the last claim, made after the last record, was empty
        try:
            while True:
                now = time.monotonic()
                stopping = self._stop.is_set()
                if self._unrecorded and now >= db_ok_at:
                    due = (
                        len(self._unrecorded) >= config.batch
                        or stopping
                        or not self._in_flight
                        or now - self._first_unrecorded >= config.record_every_s
                    )
                    if due:
                        if self._record():
                            claim_found_nothing = False
                        else:
                            db_ok_at = now + 1.0

                room = cap - len(self._in_flight) - len(self._unrecorded)
                full = False
                if (
                    not stopping
                    and room > 0
                    and now >= db_ok_at
                    and (room >= config.batch or now - last_claim >= config.poll_s)
                ):
                    last_claim = now
                    limit = min(room, config.batch)
                    claimed = self._claim(limit)
                    if claimed is None:
                        db_ok_at = now + 1.0
                    else:
                        self._submit(sender, claimed)
                        room -= len(claimed)
                        full = len(claimed) == limit
                        if not claimed and not self._in_flight and not self._unrecorded:
                            claim_found_nothing = True

                if self.on_progress is not None and now - last_progress >= 1.0:
                    last_progress = now
                    self._progress()

                idle = not self._in_flight and not self._unrecorded
                if idle and (stopping or (once and claim_found_nothing)):
                    break
                if full and room > 0:
                    self._collect(0.0)
                    continue  # a full batch: there may be more right away
                # sleep until a POST finishes or the next claim or record is due
                wake = now + 1.0
                if self._unrecorded:
                    wake = min(wake, max(self._first_unrecorded + config.record_every_s, db_ok_at))
                if not stopping and room > 0:
                    wake = min(wake, max(last_claim + config.poll_s, db_ok_at))
                self._collect(max(0.0, wake - time.monotonic()))
        finally:
            self._stop.set()
            sender.close(wait_s=config.timeout_s + 1.0)
            self._collect(0.0)
            self._in_flight.clear()
            if self._unrecorded:
                self._record()  # a failure here only means these are sent once more
            self.stats.in_flight = 0
            if self.on_progress is not None:
                self._progress()
        return self.stats

    def _collect(self, timeout: float) -> None:
        """Move finished tries to the unrecorded list, waiting up to ``timeout`` for the
        first."""
        try:
            outcomes = self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            return
        while True:
            if not self._unrecorded:
                self._first_unrecorded = time.monotonic()
            for outcome in outcomes:
                self._in_flight.pop(outcome.message.id, None)
                self._unrecorded.append(outcome)
            try:
                outcomes = self._done.get_nowait()
            except queue.Empty:
                return

    # --- database ----------------------------------------------------------------

    def _claim(self, limit: int) -> list[Claimed] | None:
        config = self.config
        try:
            # a batch's dead letters are chained together just before the commit
            with self._sessions() as session, session.begin(), batched(session):
                claimed = claim(
                    session,
                    limit=limit,
                    lease_s=config.lease_s,
                    max_attempts=config.max_attempts,
                    actor=config.actor,
                )
        except DBAPIError as e:
            log.warning("cannot claim messages (will try again): %s", _db_error(e))
            return None
        return claimed

    def _record(self) -> bool:
        config = self.config
        outcomes = self._unrecorded
        try:
            # the log's lock once per batch, for one insert of all its entries, just
            # before the commit (as the re-check's batches)
            with self._sessions() as session, session.begin(), batched(session):
                recorded = record(
                    session,
                    outcomes,
                    max_attempts=config.max_attempts,
                    backoff_base_s=config.backoff_base_s,
                    backoff_cap_s=config.backoff_cap_s,
                    rng=self._rng,
                    actor=config.actor,
                )
        except DBAPIError as e:
            # kept: written on the next try (or, if this worker dies, sent again)
            log.warning("cannot record %d tries (will try again): %s", len(outcomes), _db_error(e))
            return False
        self._unrecorded = []
        self.stats.delivered += len(recorded.delivered)
        self.stats.failed_tries += len(recorded.retried) + len(recorded.dead)
        self.stats.dead += len(recorded.dead)
        for o in outcomes:
            if o.ack is None and o.message.attempts < config.max_attempts:
                log.info(
                    "message %d to %s (account %s) failed try %d: %s",
                    o.message.id,
                    o.message.platform,
                    o.message.account_id,
                    o.message.attempts,
                    o.error,
                )
        for m in recorded.dead:
            log.warning(
                "message %d to %s (account %s) is dead after %d tries",
                m.id,
                m.platform,
                m.account_id,
                m.attempts,
            )
        return True

    def _progress(self) -> None:
        assert self.on_progress is not None
        self.stats.in_flight = len(self._in_flight)
        try:
            with self._reads() as session:
                self.stats.pending = pending_count(session)
        except DBAPIError:
            self.stats.pending = None
        self.on_progress(self.stats)

    def _target(self, name: str) -> _Target | None:
        # the registry changes rarely: read it every few seconds, and when a message
        # names a platform not seen yet
        now = time.monotonic()
        stale = now - self._targets_at > 5.0
        if stale or (name not in self._targets and now - self._targets_at > 1.0):
            try:
                with self._reads() as session:
                    rows = session.execute(
                        select(PLATFORMS.c.name, PLATFORMS.c.webhook_url, PLATFORMS.c.secret)
                    ).all()
                self._targets = {n: _Target(url, secret) for n, url, secret in rows}
                self._targets_at = now
            except DBAPIError as e:
                log.warning("cannot read the platforms (will try again): %s", _db_error(e))
        return self._targets.get(name)

    # --- sending -----------------------------------------------------------------

    def _submit(self, sender: _Sender, messages: list[Claimed]) -> None:
        jobs = []
        for message in messages:
            self._in_flight[message.id] = message
            target = self._target(message.platform)
            if target is None:
                why = f"unknown platform {message.platform!r}: register it with "
                why += "`fairban platform add`"
                self._done.put([Outcome(message, datetime.now(UTC), 0.0, None, None, why)])
            else:
                jobs.append((message, target))
        if jobs:
            sender.submit(jobs)


class _Sender:
    """A thread running the event loop that sends the POSTs, ``concurrency`` at a time;
    each try's :class:`Outcome` goes to ``done``."""

    def __init__(
        self, timeout_s: float, concurrency: int, done: queue.Queue[list[Outcome]]
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.transport = Transport(timeout_s)
        self.done = done
        self.finished: list[Outcome] = []
        self.slots = asyncio.Semaphore(concurrency)
        self.tasks: set[asyncio.Task[None]] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fairban-send")

    def start(self) -> None:
        self.thread.start()

    def submit(self, jobs: list[tuple[Claimed, _Target]]) -> None:
        """Send these (from any thread)."""
        self.loop.call_soon_threadsafe(self._start, jobs)

    def _start(self, jobs: list[tuple[Claimed, _Target]]) -> None:
        for message, target in jobs:
            task = self.loop.create_task(self._send(message, target))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, message: Claimed, target: _Target) -> None:
        async with self.slots:
            started = time.perf_counter()
            status: int | None = None
            ack: str | None = None
            error: str | None = None
            try:
                body = message.payload.encode("utf-8")
                headers = webhook_headers(target.secret, body, message.key)
                headers["User-Agent"] = USER_AGENT
                answer = await self.transport.post(target.url, body, headers)
                status = answer.status
                if 200 <= status < 300:
                    ack, error = check_ack(answer.body, message.key)
                else:
                    error = f"HTTP {status}: {_snippet(answer.body)}"
            except TransportError as e:
                error = str(e)
            except asyncio.CancelledError:
                error = "the worker stopped before the answer came"
                raise
            except Exception as e:  # a bug here must not lose the message: record a failure
                error = f"{type(e).__name__}: {e}"[:MAX_TEXT]
            finally:
                duration_ms = (time.perf_counter() - started) * 1000.0
                outcome = Outcome(message, datetime.now(UTC), duration_ms, status, ack, error)
                if not self.finished:
                    # handed over once the answers that came in together are all in: one
                    # wake-up of the recording thread for all of them
                    self.loop.call_soon(self._hand_over)
                self.finished.append(outcome)

    def _hand_over(self) -> None:
        finished, self.finished = self.finished, []
        self.done.put(finished)

    def close(self, wait_s: float) -> None:
        """Let the POSTs in flight finish (at most ``wait_s``), then stop the loop."""

        async def finish() -> None:
            if self.tasks:
                _, late = await asyncio.wait(set(self.tasks), timeout=wait_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            if self.finished:
                self._hand_over()
            self.transport.close()

        try:
            asyncio.run_coroutine_threadsafe(finish(), self.loop).result(wait_s + 5.0)
        except Exception as e:  # the loop is going away anyway; unrecorded tries go again
            log.warning("stopping the sender: %s", e)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _db_error(e: DBAPIError) -> str:
    text = str(e.orig) if e.orig is not None else str(e)
    return (text.strip().splitlines() or [type(e).__name__])[0]
