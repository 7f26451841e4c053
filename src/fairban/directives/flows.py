"""Every change of a directive in the case store: a version loaded (a new directive, an
amendment, or a return to earlier content) and the kill switch.

Each writes its audit entry in the caller's transaction and never commits (like every
flow: the caller commits the change with the rest of its transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban import audit
from fairban.audit.actions import Action
from fairban.clock import aware_now, iso_utc_or_none
from fairban.contract import Directive
from fairban.directives.content import directive_content
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.directives.service import get_directive, version_with_content
from fairban.errors import FairbanError


@dataclass(frozen=True)
class LoadedVersion:
    """What :func:`load_version` found: the directive's record (now at the loaded
    content's version), the version it was at before when that changed (an amendment,
    or a return to earlier content), and whether the content is new to the store."""

    record: DirectiveRecord
    previous: int | None
    new_content: bool


def load_version(
    session: Session, directive: Directive, *, actor: str, now: datetime
) -> LoadedVersion:
    """Make the loaded directive's content the current version of its record: a new
    directive is version 1; new content (an amendment) the next version; content seen
    before makes that version current again. The same content as the current version
    changes nothing. The record is locked for the rest of the transaction."""
    content, digest = directive_content(directive)
    record = session.get(DirectiveRecord, directive.id, with_for_update=True)
    if record is None:
        record = DirectiveRecord(
            id=directive.id,
            title=directive.title,
            issuer=directive.issuer,
            legal_basis=directive.legal_basis,
            current_version=1,
            paused=False,
            created_at=now,
        )
        session.add(record)
        session.flush()
        _add_version(session, directive, 1, content, digest, None, actor=actor, now=now)
        return LoadedVersion(record, None, True)
    same = version_with_content(session, directive.id, digest)
    if same is not None and same.version == record.current_version:
        return LoadedVersion(record, None, False)
    previous = record.current_version
    if same is None:
        top = session.scalar(
            select(func.max(DirectiveVersion.version)).where(
                DirectiveVersion.directive_id == directive.id
            )
        )
        version = (top or 0) + 1
        _add_version(session, directive, version, content, digest, previous, actor=actor, now=now)
    else:  # back to an earlier content: that version is current again
        version = same.version
        audit.append(
            session,
            actor=actor,
            action=Action.DIRECTIVE_VERSION_LOAD,
            subject=f"directive:{directive.id}",
            payload={"version": version, "content_hash": digest, "previous": previous},
        )
    record.current_version = version
    if record.shadow_version == version:  # enforced directly: no longer in shadow
        record.shadow_version = None
    record.title, record.issuer = directive.title, directive.issuer
    record.legal_basis = directive.legal_basis
    session.flush()
    return LoadedVersion(record, previous, same is None)


def _add_version(
    session: Session,
    directive: Directive,
    version: int,
    content: str,
    digest: str,
    previous: int | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    session.add(
        DirectiveVersion(
            directive_id=directive.id,
            version=version,
            content_hash=digest,
            content=content,
            loaded_at=now,
            loaded_by=actor,
        )
    )
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_VERSION_LOAD,
        subject=f"directive:{directive.id}",
        payload={
            "version": version,
            "content_hash": digest,
            "previous": previous,
            "areas": [a.name for a in directive.areas],
            "platforms": list(directive.platforms),
            "measure_days": directive.measure_days,
        },
    )


def pause_directive(
    session: Session,
    directive_id: str,
    *,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Stop a directive: no new measures (``enforce`` records decisions but imposes
    nothing new; the worker holds its pending webhooks). Measures in force stay. Pausing
    a paused directive changes nothing. :class:`~fairban.errors.NotFoundError` for an
    unknown directive."""
    record = get_directive(session, directive_id)
    if record.paused:
        return
    at = aware_now(now)
    record.paused, record.paused_at, record.paused_by = True, at, actor
    record.pause_reason = reason
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_PAUSE,
        subject=f"directive:{directive_id}",
        payload={"reason": reason, "version": record.current_version},
    )


def resume_directive(
    session: Session,
    directive_id: str,
    *,
    actor: str,
    now: datetime | None = None,
    reason: str = "",
) -> None:
    """Undo :func:`pause_directive`: held webhooks go out, and the next ``enforce`` imposes
    the decisions recorded during the pause. Resuming a running directive changes
    nothing. ``reason``: why it resumes, for the audit entry."""
    record = get_directive(session, directive_id)
    if not record.paused:
        return
    payload = {
        "resumed_at": iso_utc_or_none(aware_now(now)),
        "paused_at": iso_utc_or_none(record.paused_at),
        "paused_by": record.paused_by,
        "reason": record.pause_reason,
    }
    if reason:
        payload["resume_reason"] = reason
    record.paused, record.paused_at, record.paused_by, record.pause_reason = (
        False,
        None,
        None,
        None,
    )
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_RESUME,
        subject=f"directive:{directive_id}",
        payload=payload,
    )


class ShadowError(FairbanError):
    """A shadow version that cannot be started, promoted or stopped (one line)."""

    exit_code = 2


def start_shadow(session: Session, directive: Directive, *, actor: str, now: datetime) -> int:
    """Put ``directive`` (new content of a directive already enforced) in shadow: its
    content becomes a version of the record (a new one, or the earlier version with that
    content) without becoming current, so the daily run judges it beside the live one and
    enforces nothing of it. Returns the version. Starting the same shadow again changes
    nothing; another shadow must be stopped first."""
    content, digest = directive_content(directive)
    record = session.get(DirectiveRecord, directive.id, with_for_update=True)
    if record is None or record.stage is None:
        raise ShadowError(
            f"directive {directive.id!r} is not live yet: a shadow runs beside a live version "
            f"(`fairban enforce {directive.source.name} --decisions DIR --stage 1%` starts one)"
        )
    same = version_with_content(session, directive.id, digest)
    if same is not None and same.version == record.current_version:
        raise ShadowError(
            f"{directive.source.name} is version {same.version} of {directive.id!r}, the live "
            "one: a shadow needs different content"
        )
    if same is not None and same.version == record.shadow_version:
        return same.version
    if record.shadow_version is not None:
        raise ShadowError(
            f"directive {directive.id!r} has version {record.shadow_version} in shadow: "
            f"`fairban shadow stop {directive.id}` first"
        )
    if same is None:
        top = session.scalar(
            select(func.max(DirectiveVersion.version)).where(
                DirectiveVersion.directive_id == directive.id
            )
        )
        version = (top or 0) + 1
        _add_version(
            session,
            directive,
            version,
            content,
            digest,
            record.current_version,
            actor=actor,
            now=now,
        )
    else:
        version = same.version
    record.shadow_version = version
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_SHADOW_START,
        subject=f"directive:{directive.id}",
        payload={"version": version, "live": record.current_version, "content_hash": digest},
    )
    return version


def stop_shadow(session: Session, directive_id: str, *, actor: str, reason: str) -> int:
    """End a directive's shadow without promoting it; its recorded days stay. Returns the
    version that was in shadow."""
    record = get_directive(session, directive_id)
    if record.shadow_version is None:
        raise ShadowError(f"directive {directive_id!r} has no version in shadow")
    version, record.shadow_version = record.shadow_version, None
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=Action.DIRECTIVE_SHADOW_STOP,
        subject=f"directive:{directive_id}",
        payload={"version": version, "live": record.current_version, "reason": reason},
    )
    return version
