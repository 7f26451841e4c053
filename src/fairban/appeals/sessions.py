"""Portal sessions: how an appellant gets to their case, and the limits on trying.

A person opens their case with the notice link's token, or with the case number and
the account's phone followed by a one-time code (``appeals/codes.py``). Sessions are
random tokens whose SHA-256 is stored; a session is bound to one case and sees nothing
else. Opening a case, filing an appeal and exporting data are rate-limited per case and
per client address (``fairban.ratelimits``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from fairban import tokens
from fairban.appeals.models import OneTimeCode, PortalSession
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.config import Settings
from fairban.db import UTCDateTime
from fairban.ratelimits import allow, purge_windows

SESSION_HOURS = 2


def purge(session: Session, now: datetime, *, rate_window_s: int) -> dict[str, int]:
    """Delete what can no longer be used: portal sessions past their expiry, one-time
    codes used or expired, rate-limit windows that have ended. Returns rows deleted per
    table. Run by the re-check loops every ``PURGE_EVERY_S`` (with the console's own,
    ``review.users.purge_sessions``)."""
    statements = {
        "portal_sessions": delete(PortalSession).where(PortalSession.expires_at <= now),
        "one_time_codes": delete(OneTimeCode).where(
            or_(OneTimeCode.expires_at <= now, OneTimeCode.used_at.is_not(None))
        ),
    }
    connection = session.connection()
    deleted = {table: connection.execute(s).rowcount for table, s in statements.items()}
    deleted["rate_buckets"] = purge_windows(session, now, window_s=rate_window_s)
    return deleted


#: how often the re-check loops purge (seconds)
PURGE_EVERY_S = 600.0


def start_session(
    session: Session, case: Case | None, now: datetime, *, phone_hint: str | None = None
) -> str:
    """A new, unverified portal session for ``case`` (``None``: a decoy, which never
    verifies); returns its token (for the cookie)."""
    token = tokens.new_token()
    session.add(
        PortalSession(
            token_hash=tokens.sha256_hex(token),
            case_id=case.id if case is not None else None,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
            csrf=secrets.token_urlsafe(24),
            phone_hint=phone_hint,
        )
    )
    session.flush()
    return token


def portal_session(session: Session, token: str | None, now: datetime) -> PortalSession | None:
    """The live session behind ``token``, or None (unknown or expired)."""
    if not token or len(token) > 200:
        return None
    found = session.get(PortalSession, tokens.sha256_hex(token))
    if found is None or found.expires_at <= now:
        return None
    return found


def end_session(session: Session, token: str | None) -> None:
    """Sign out: the session behind ``token`` is deleted, so a copy of its cookie opens
    nothing afterwards."""
    if token and len(token) <= 200:
        session.execute(
            delete(PortalSession).where(PortalSession.token_hash == tokens.sha256_hex(token))
        )


@dataclass(frozen=True)
class VerifiedCase:
    """The case behind a verified session, as the appeal intake needs it."""

    id: int
    number: str
    directive_id: str
    state: CaseState


def verified_case(session: Session, token: str | None, now: datetime) -> VerifiedCase | None:
    """The case behind ``token``'s live, verified session, in one query of plain
    columns (no ORM objects: this is the intake's hot path); None when there is none
    (unknown, expired or not yet verified)."""
    if not token or len(token) > 200:
        return None
    params = {"token_hash": tokens.sha256_hex(token), "now": now}
    row = session.connection().execute(VERIFIED_CASE, params).first()
    if row is None:
        return None
    return VerifiedCase(row.id, row.number, row.directive_id, CaseState(row.state))


_SESSIONS = cast(Table, PortalSession.__table__)
_CASES = cast(Table, Case.__table__)
VERIFIED_CASE = (
    select(_CASES.c.id, _CASES.c.number, _CASES.c.directive_id, _CASES.c.state)
    .join_from(_SESSIONS, _CASES, _CASES.c.id == _SESSIONS.c.case_id)
    .where(
        _SESSIONS.c.token_hash == bindparam("token_hash"),
        _SESSIONS.c.expires_at > bindparam("now", type_=UTCDateTime()),
        _SESSIONS.c.verified_at.is_not(None),
    )
)


def start_keys(case_number: str, address: str) -> tuple[str, str]:
    """The rate-limit keys of opening a case by number: per client address, per number."""
    return f"start:ip:{address}", f"start:case:{case_number.strip().upper()}"


def allow_start(
    session: Session, settings: Settings, *, case_number: str, address: str, now: datetime
) -> bool:
    """The rate limit on opening a case by number and phone (or by the SMS's bare link):
    per client address and per case number (the portal and the JSON API share it)."""
    per_case = settings.otp_requests_per_window
    by_ip, by_case = start_keys(case_number, address)
    return allow(
        session, by_ip, limit=per_case * 4, window_s=settings.rate_window_s, now=now
    ) and allow(session, by_case, limit=per_case, window_s=settings.rate_window_s, now=now)


def case_limit_key(action: str, case_id: int) -> str:
    """The rate-limit key of a case's appeals or exports (hashed before it is stored)."""
    return f"{action}:case:{case_id}"


def allow_case(
    session: Session, settings: Settings, *, action: str, case_id: int, now: datetime
) -> bool:
    """The rate limit on a case's appeals (``action="appeal"``) or data exports
    (``"export"``): ``FAIRBAN_APPEALS_PER_WINDOW`` per case (portal and JSON API alike)."""
    return allow(
        session,
        case_limit_key(action, case_id),
        limit=settings.appeals_per_window,
        window_s=settings.rate_window_s,
        now=now,
    )
