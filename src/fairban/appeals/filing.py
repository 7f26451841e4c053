"""Filing an appeal: the person's grounds, statement and uploads, checked and stored
once (a repeated submit key returns the first appeal).

Works in the caller's transaction and writes its audit entry there; the caller commits.
The appeal then waits for the automatic re-check (``appeals/flows.py``), which takes it
in and moves the case to ``appealed``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, make_transient_to_detached

from fairban.appeals import uploads as uploads_
from fairban.appeals.blobs import ALLOWED_TYPES, BlobStore, sniff
from fairban.appeals.models import OPEN_STATES, Appeal, AppealState, AppealUpload, Ground
from fairban.cases.transitions import APPEALABLE, CaseState
from fairban.config import Settings

log = logging.getLogger("fairban.appeals")

MAX_STATEMENT = 5000


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
    """Each non-empty upload, as it will be stored (an image re-encoded), with its
    sniffed type; refuses the batch on the first bad file, before anything is stored.
    Each is checked whole (``appeals.uploads``), not only by its first bytes."""
    files = [u for u in uploads if u.data or u.filename]
    if len(files) > settings.upload_max_files:
        raise AppealError("too_many_files", str(settings.upload_max_files))
    checked: list[tuple[Upload, str]] = []
    for upload in files:
        if not upload.data:
            raise AppealError("empty_file", upload.filename[:80])
        kind = sniff(upload.data)
        if kind not in ALLOWED_TYPES:
            raise AppealError("file_type", upload.filename[:80])
        # a photo may be larger (it is made smaller); a PDF is stored as sent
        limit = (
            photo_max_bytes(settings) if kind.startswith("image/") else settings.upload_max_bytes
        )
        if len(upload.data) > limit:
            raise AppealError("file_too_large", upload.filename[:80])
        try:
            data, stored = uploads_.checked(upload.data, kind, settings.upload_max_bytes)
        except uploads_.BadUpload as e:
            log.info("upload refused: %s", e)
            raise AppealError("file_type", upload.filename[:80]) from None
        name = upload.filename
        if stored != kind and stored == "image/jpeg":  # IMG_0001.HEIC is now a JPEG
            name = name.rsplit(".", 1)[0] + ".jpg" if "." in name else name + ".jpg"
        checked.append((Upload(filename=name, data=data), stored))
    return checked


def photo_max_bytes(settings: Settings) -> int:
    """The largest photo taken (then made smaller to ``upload_max_bytes``): as large as
    the whole form may be."""
    return settings.upload_max_files * settings.upload_max_bytes


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
