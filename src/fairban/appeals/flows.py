"""Appeal flows: filing (with uploads), the automatic re-check and its outcome.

Each flow works in the caller's transaction and writes its audit entries there; the
caller commits. Case state changes go through :mod:`fairban.cases.flows`, which writes
the case's timeline, notice and outbox messages in the same transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from fairban import audit
from fairban.appeals.blobs import ALLOWED_TYPES, BlobStore, sniff
from fairban.appeals.breaker import check_breaker
from fairban.appeals.models import OPEN_STATES, Appeal, AppealState, AppealUpload, Ground
from fairban.appeals.recheck import NONE, DecisionCache, hints
from fairban.appeals.sessions import PURGE_EVERY_S
from fairban.audit.actions import Action
from fairban.cases import flows as case_flows
from fairban.cases.models import Case
from fairban.cases.transitions import APPEALABLE, IN_FORCE, CaseState, DeciderKind
from fairban.config import Settings
from fairban.digests import sha256_hex
from fairban.directives.content import directive_from_content
from fairban.directives.models import DirectiveRecord, DirectiveVersion

log = logging.getLogger("fairban.appeals")

MAX_STATEMENT = 5000
RECHECK_ACTOR = "fairban:recheck"


class AppealError(ValueError):
    """Bad input to an appeal; ``code`` names the problem for the person's language
    (``no_grounds``, ``bad_ground``, ``statement_too_long``, ``too_many_files``,
    ``file_too_large``, ``file_type``, ``empty_file``, ``not_appealable``, ``bad_key``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def check_uploads(uploads: Sequence[Upload], settings: Settings) -> list[tuple[Upload, str]]:
    """Each non-empty upload with its sniffed type; refuses the batch on the first bad
    file, before anything is stored."""
    files = [u for u in uploads if u.data or u.filename]
    if len(files) > settings.upload_max_files:
        raise AppealError("too_many_files", str(settings.upload_max_files))
    checked: list[tuple[Upload, str]] = []
    for upload in files:
        if not upload.data:
            raise AppealError("empty_file", upload.filename[:80])
        if len(upload.data) > settings.upload_max_bytes:
            raise AppealError("file_too_large", upload.filename[:80])
        kind = sniff(upload.data)
        if kind not in ALLOWED_TYPES:
            raise AppealError("file_type", upload.filename[:80])
        checked.append((upload, kind))
    return checked


class AppealTarget(Protocol):
    """What filing needs of a case: a :class:`Case`, or the columns the API's intake
    reads without loading one."""

    @property
    def id(self) -> int: ...
    @property
    def directive_id(self) -> str: ...
    @property
    def state(self) -> CaseState: ...


def submit_appeal(
    session: Session,
    case: AppealTarget,
    *,
    grounds: Sequence[str],
    statement: str,
    uploads: Sequence[Upload],
    submit_key: str,
    lang: str,
    blobs: BlobStore,
    settings: Settings,
    now: datetime | None = None,
) -> tuple[Appeal, bool]:
    """File an appeal against ``case``; returns ``(appeal, created)``.

    Idempotent: the same ``submit_key`` (the form's one-time key), or any open appeal
    of the case, is returned as it is with ``created`` False and nothing stored again.
    Everything is checked before anything is stored (``AppealError``). Uploads are
    stored by content hash outside the database.

    Intake only writes the appeal (durably, with the caller's commit): the case moves to
    ``appealed`` and the audit log gets ``appeal:file`` when the re-check takes the
    appeal in (:func:`take_in`, in the re-check's transaction). The request thus never
    waits for the audit log's lock, which every writer shares; the appeals table is the
    queue, so a crash in between loses nothing.

    One statement in the usual case: an insert that does nothing when the key is taken
    or the case has an open appeal (both unique in the database, so two requests at the
    same instant store one appeal); only then is the earlier appeal looked up.
    """
    now = now or datetime.now(UTC)
    check_key(submit_key)
    if case.state in APPEALABLE:
        chosen, statement = checked_text(grounds, statement)
        checked = check_uploads(uploads, settings)
        appeal = _insert_appeal(
            session,
            case_id=case.id,
            directive_id=case.directive_id,
            submit_key=submit_key,
            grounds=json.dumps(chosen),
            statement=statement,
            lang=lang,
            state=AppealState.RECEIVED,
            filed_at=now,
            answer_by=now + timedelta(hours=settings.answer_hours),
        )
        if appeal is not None:
            _store_uploads(session, appeal, checked, blobs, now)
            return appeal, True
    return earlier_appeal(session, case, submit_key), False


def check_key(submit_key: str) -> None:
    """The form's one-time key: 1-64 characters, no NUL (``AppealError`` else)."""
    if not submit_key or len(submit_key) > 64 or "\x00" in submit_key:
        raise AppealError("bad_key")


def checked_text(grounds: Sequence[str], statement: str) -> tuple[list[str], str]:
    """The grounds (distinct, in order, each a :class:`Ground`) and the statement as
    stored; ``AppealError`` for none, an unknown one or a statement too long."""
    chosen = list(dict.fromkeys(g.strip() for g in grounds if g.strip()))
    if not chosen:
        raise AppealError("no_grounds")
    if any(g not in _GROUNDS for g in chosen):
        raise AppealError("bad_ground")
    # NUL is no text a person means, and PostgreSQL refuses it in any text column
    statement = statement.replace("\x00", "").strip()
    if len(statement) > MAX_STATEMENT:
        raise AppealError("statement_too_long", str(MAX_STATEMENT))
    return chosen, statement


_GROUNDS = frozenset(g.value for g in Ground)


def earlier_appeal(session: Session, case: AppealTarget, submit_key: str) -> Appeal:
    """When filing stored nothing: this form's appeal (same ``submit_key``), else the
    case's open appeal; ``AppealError`` when there is neither (``not_appealable`` for a
    case whose measure is not in force, ``bad_key`` for another case's key)."""
    earlier = list(
        session.scalars(
            select(Appeal).where(
                or_(
                    Appeal.submit_key == submit_key,
                    and_(Appeal.case_id == case.id, Appeal.state.in_(OPEN_STATES)),
                )
            )
        )
    )
    same = next((a for a in earlier if a.submit_key == submit_key), None)
    if same is not None:
        if same.case_id != case.id:
            raise AppealError("bad_key")
        return same
    if earlier:
        return earlier[0]
    if case.state not in APPEALABLE:
        raise AppealError("not_appealable", case.state.value)
    # the conflicting appeal was decided between the insert and the look-up
    raise AppealError("bad_key")


_APPEALS = cast(Table, Appeal.__table__)
_INSERTS = {
    name: insert_(_APPEALS).on_conflict_do_nothing().returning(_APPEALS.c.id)
    for name, insert_ in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def _insert_appeal(session: Session, **values: Any) -> Appeal | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new appeal, or None when the
    key is taken or the case has an open appeal.

    A Core insert (one statement object, built once), and the appeal made persistent
    from the values written: the ORM's insert-returning-entity path cost more CPU than
    the round trip."""
    # on the connection: the session would take a mapped table's insert through the
    # ORM's bulk-insert path
    connection = session.connection()
    new_id = connection.execute(_INSERTS[connection.dialect.name], values).scalar()
    if new_id is None:
        return None
    appeal = Appeal(id=new_id, **values)
    # as if loaded: the columns not written (decisions, claims) are their NULLs
    for column in _APPEALS.columns:
        if column.key not in values and column.key != "id":
            setattr(appeal, column.key, None)
    make_transient_to_detached(appeal)
    session.add(appeal)
    return appeal


def _store_uploads(
    session: Session,
    appeal: Appeal,
    checked: Sequence[tuple[Upload, str]],
    blobs: BlobStore,
    now: datetime,
) -> None:
    stored: list[str] = []
    for upload, kind in checked:
        digest = blobs.put(upload.data)
        if digest in stored:
            continue  # the same file twice is one upload
        stored.append(digest)
        session.add(
            AppealUpload(
                appeal_id=appeal.id,
                sha256=digest,
                media_type=kind,
                size=len(upload.data),
                filename=_safe_name(upload.filename),
                created_at=now,
            )
        )
    if stored:
        session.flush()


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    return (cleaned or "upload")[:200]


# --- the automatic re-check ----------------------------------------------------------


@dataclass(frozen=True)
class RecheckOutcome:
    granted: bool
    result: dict[str, object]


def linked_cases(session: Session, case: Case) -> list[Case]:
    """The cases in force of every account of the case's person (the case alone when
    the evidence names no person)."""
    if not case.person_id:
        return [case]
    query = select(Case).where(Case.person_id == case.person_id, Case.state.in_(list(IN_FORCE)))
    found = list(session.scalars(query.order_by(Case.id)))
    return found if any(c.id == case.id for c in found) else [case, *found]


def take_in(session: Session, appeal: Appeal, settings: Settings, now: datetime) -> None:
    """The appeal enters the case's record: the case moves to ``appealed`` (when its
    measure is still in force and appealable) and ``appeal:file`` is audited. The
    statement may hold personal data: the public log gets its hash only."""
    case = appeal.case
    if case.state in APPEALABLE:
        case_flows.file_appeal(
            session,
            case,
            actor=f"appellant:{case.number}",
            note=",".join(json.loads(appeal.grounds)),
            now=now,
            settings=settings,
        )
    audit.append(
        session,
        actor=f"appellant:{case.number}",
        action=Action.APPEAL_FILE,
        subject=f"case:{case.number}",
        payload={
            "appeal": appeal.id,
            "filed_at": appeal.filed_at.isoformat(),
            "grounds": json.loads(appeal.grounds),
            "statement_sha256": sha256_hex(appeal.statement),
            "uploads": [u.sha256 for u in appeal.uploads],
        },
    )


def recheck(
    session: Session,
    appeal: Appeal,
    cache: DecisionCache | None,
    settings: Settings,
    now: datetime | None = None,
) -> RecheckOutcome:
    """Re-run the directive's current version for the appellant's accounts; lift on
    every linked account and platform when no measure holds any more, else queue the
    appeal for a person with the hints. Person-made decisions are not overruled."""
    now = now or datetime.now(UTC)
    case = appeal.case
    if appeal.state != AppealState.RECEIVED:
        return RecheckOutcome(
            appeal.state == AppealState.GRANTED, json.loads(appeal.recheck or "{}")
        )
    take_in(session, appeal, settings, now)
    result: dict[str, object] = {"at": now.isoformat()}
    granted = False
    if case.state not in IN_FORCE:
        result["note"] = f"case is {case.state.value}: nothing to lift"
        granted = case.state == CaseState.LIFTED
    elif case.decided_by_kind == DeciderKind.PERSON and case.judged_by:
        result["note"] = "a person decided this case: a person decides the appeal"
    elif cache is None:
        result["note"] = "no evidence folder configured: a person decides"
    else:
        record = session.get(DirectiveRecord, case.directive_id)
        version = session.scalars(
            select(DirectiveVersion).where(
                DirectiveVersion.directive_id == case.directive_id,
                DirectiveVersion.version == (record.current_version if record else -1),
            )
        ).first()
        if version is None:
            result["note"] = "the directive's current version is missing: a person decides"
        else:
            try:
                directive = directive_from_content(version.content)
                table = cache.decisions(directive, f"{version.directive_id}@{version.content_hash}")
            except Exception as e:  # a broken evidence folder must not strand the appeal
                log.exception("re-check of appeal %s failed", appeal.id)
                result["note"] = f"re-check failed ({type(e).__name__}): a person decides"
            else:
                cases = linked_cases(session, case)
                accounts = {c.account_id: table.get(c.account_id, NONE) for c in cases}
                result["version"] = version.version
                result["accounts"] = {
                    a: {"measure": d.measure, "risk": round(d.risk, 3)} for a, d in accounts.items()
                }
                mine = accounts.get(case.account_id, NONE)
                result["hints"] = hints(json.loads(appeal.grounds), mine.reasons)
                granted = not any(d.holds for d in accounts.values())
                if granted:
                    lift_everywhere(
                        session,
                        case,
                        actor=RECHECK_ACTOR,
                        kind=DeciderKind.AUTOMATIC,
                        reason="recheck_passed",
                        settings=settings,
                        now=now,
                    )
    appeal.recheck = json.dumps(result, ensure_ascii=False)
    appeal.rechecked_at = now
    appeal.recheck_claim = None
    if granted:
        close_appeals_of_lifted(
            session,
            case,
            decided_by=RECHECK_ACTOR,
            reason="recheck_passed",
            now=now,
            settings=settings,
        )
    else:
        appeal.state = AppealState.QUEUED
    audit.append(
        session,
        actor=RECHECK_ACTOR,
        action=Action.APPEAL_RECHECK_GRANT if granted else Action.APPEAL_RECHECK_QUEUE,
        subject=f"case:{case.number}",
        payload={"appeal": appeal.id, "result": result},
    )
    session.flush()
    if granted:
        check_breaker(session, case.directive_id, settings, now)
    return RecheckOutcome(granted, result)


def lift_everywhere(
    session: Session,
    case: Case,
    *,
    actor: str,
    kind: DeciderKind,
    reason: str,
    settings: Settings,
    now: datetime,
) -> None:
    """Lift the case's measure on every account of its person (the case alone without
    a person), on every platform."""
    if case.person_id:
        case_flows.lift_person(
            session,
            case.person_id,
            actor=actor,
            actor_kind=kind,
            reason=reason,
            now=now,
            settings=settings,
        )
    else:
        case_flows.lift_measure(
            session, case, actor=actor, actor_kind=kind, reason=reason, now=now, settings=settings
        )


def close_appeals_of_lifted(
    session: Session,
    case: Case,
    *,
    decided_by: str,
    reason: str,
    now: datetime,
    settings: Settings,
) -> None:
    """Mark granted every open appeal whose case is lifted now (the appellant's and
    those of the person's other accounts); one not yet taken in is taken in first."""
    ids = [c.id for c in linked_cases_any(session, case)]
    for appeal in session.scalars(
        select(Appeal).where(Appeal.case_id.in_(ids), Appeal.state.in_(OPEN_STATES))
    ):
        if appeal.case.state != CaseState.LIFTED:
            continue
        if appeal.state == AppealState.RECEIVED:
            take_in(session, appeal, settings, now)
        appeal.state = AppealState.GRANTED
        appeal.decided_at = now
        appeal.decided_by = decided_by
        appeal.decision_reason = reason
        appeal.recheck_claim = None


def linked_cases_any(session: Session, case: Case) -> list[Case]:
    """Every case of the case's person, whatever its state."""
    if not case.person_id:
        return [case]
    return list(session.scalars(select(Case).where(Case.person_id == case.person_id)))


# --- running re-checks ----------------------------------------------------------------

STALE_CLAIM = timedelta(seconds=120)


def claim_pending(session: Session, worker: str, limit: int, now: datetime) -> list[int]:
    """Claim up to ``limit`` appeals waiting for their re-check (a claim older than
    two minutes is taken over: its worker died). Commits."""
    waiting = (
        select(Appeal.id)
        .where(
            Appeal.state == AppealState.RECEIVED,
            or_(Appeal.recheck_claim.is_(None), Appeal.recheck_claimed_at < now - STALE_CLAIM),
        )
        .order_by(Appeal.id)
        .limit(limit)
    )
    ids = list(session.scalars(waiting))
    if not ids:
        session.rollback()
        return []
    session.execute(
        update(Appeal)
        .where(
            Appeal.id.in_(ids),
            Appeal.state == AppealState.RECEIVED,
            or_(Appeal.recheck_claim.is_(None), Appeal.recheck_claimed_at < now - STALE_CLAIM),
        )
        .values(recheck_claim=worker, recheck_claimed_at=now)
    )
    session.commit()
    return list(
        session.scalars(select(Appeal.id).where(Appeal.id.in_(ids), Appeal.recheck_claim == worker))
    )


def run_pending(
    factory: sessionmaker[Session],
    cache: DecisionCache | None,
    settings: Settings,
    *,
    worker: str | None = None,
    limit: int = 200,
) -> int:
    """Take in and re-check the appeals that wait for it; returns how many were done.

    A claimed batch is done in one transaction (one commit, one wait for the audit
    log's lock, however many appeals); if that fails, each appeal is tried in its own,
    and one that still fails stays claimed and is retried once the claim is stale."""
    worker = worker or uuid.uuid4().hex
    with factory() as session:
        ids = claim_pending(session, worker, limit, datetime.now(UTC))
    if not ids:
        return 0
    try:
        with factory() as session, session.begin():
            for appeal in _claimed(session, ids, worker):
                recheck(session, appeal, cache, settings)
        return len(ids)
    except Exception:
        log.exception("re-check of a batch of %s failed; one at a time", len(ids))
    done = 0
    for appeal_id in ids:
        try:
            with factory() as session, session.begin():
                for appeal in _claimed(session, [appeal_id], worker):
                    recheck(session, appeal, cache, settings)
                    done += 1
        except Exception:
            log.exception("re-check of appeal %s failed; retried later", appeal_id)
    return done


def _claimed(session: Session, ids: list[int], worker: str) -> list[Appeal]:
    query = select(Appeal).where(Appeal.id.in_(ids), Appeal.recheck_claim == worker)
    return list(session.scalars(query.order_by(Appeal.id)))


#: deletes what can no longer be used, as of an instant; returns rows deleted per table
Purge = Callable[[Session, datetime], Mapping[str, int]]


def purge_expired(factory: sessionmaker[Session], purges: Sequence[Purge]) -> dict[str, int]:
    """Every purge (the portal's ``appeals.sessions.purge``, the console's
    ``review.users.purge_sessions``) in one transaction of its own; logs what it
    deleted."""
    deleted: dict[str, int] = {}
    with factory() as session, session.begin():
        now = datetime.now(UTC)
        for purge in purges:
            deleted.update(purge(session, now))
    if any(deleted.values()):
        log.info("purged %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted


class RecheckLoop:
    """A thread that runs :func:`run_pending` whenever woken (an appeal was filed in
    this process) and every ``interval_s`` (appeals filed by other processes, or left
    by a crash: the table is the queue, so nothing is lost on restart)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        cache_for: Callable[[], DecisionCache | None],
        settings: Settings,
        purges: Sequence[Purge] = (),
        interval_s: float = 1.0,
    ) -> None:
        self.factory = factory
        self.cache_for = cache_for
        self.settings = settings
        self.purges = purges
        self.interval_s = interval_s
        self.worker = uuid.uuid4().hex
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fairban-recheck", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        purged = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                while (
                    run_pending(self.factory, self.cache_for(), self.settings, worker=self.worker)
                    > 0
                ):
                    pass
                if time.monotonic() - purged >= PURGE_EVERY_S:
                    purge_expired(self.factory, self.purges)
                    purged = time.monotonic()
            except Exception:
                log.exception("re-check loop failed; trying again")
