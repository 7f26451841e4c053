"""How an appellant gets to their case: the notice link or the case number and phone,
then a one-time code to the account's phone; and the rate limits on both.

Codes are six digits, stored as an HMAC keyed by the server's secret, dead after
``otp_ttl_s``, after use, or after ``otp_max_tries`` wrong tries. Sessions are random
tokens whose SHA-256 is stored; a session is bound to one case and sees nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast

import httpx
from sqlalchemy import Table, bindparam, case, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from fairban.appeals.models import AccountContact, OneTimeCode, PortalSession, RateBucket
from fairban.cases.models import Case, CaseState
from fairban.config import Settings
from fairban.db import UTCDateTime

log = logging.getLogger("fairban.appeals")

SESSION_HOURS = 2


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def secret_key(settings: Settings) -> str:
    """``FAIRBAN_SECRET_KEY``, else a random key written once to HOME/secret_key (mode
    0600) so that development servers and their restarts agree on it."""
    if settings.secret_key:
        return settings.secret_key
    home = settings.home.expanduser()
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker wrote it first: use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def normalize_phone(phone: str) -> str:
    """Digits only, with a leading ``+86`` for an 11-digit mainland number, so that
    ``138 0013 8000`` and ``+86 13800138000`` are the same phone."""
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = "86" + digits
    return "+" + digits if digits else ""


def mask_phone(phone: str) -> str:
    """What a page may show of a phone: its last four digits."""
    digits = "".join(c for c in phone if c.isdigit())
    return "•••• " + digits[-4:] if len(digits) >= 4 else "••••"


# --- senders -------------------------------------------------------------------------


class CodeSender(Protocol):
    """Sends a one-time code to a phone. Implementations must not log the phone."""

    def send(self, phone: str, case_number: str, code: str) -> None: ...


@dataclass(frozen=True)
class DevCodeSender:
    """Development: appends ``case_number code`` lines to ``path`` and logs the code on
    the server's console. Never use it in production: it writes codes in the clear."""

    path: Path

    def send(self, phone: str, case_number: str, code: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": datetime.now(UTC).isoformat(), "case": case_number, "code": code})
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        log.warning("one-time code for case %s (development sender): %s", case_number, code)


@dataclass(frozen=True)
class HttpSmsGateway:
    """A real SMS gateway behind one HTTP endpoint: POST ``{"to": phone, "text": ...}``;
    any 2xx is taken as accepted."""

    url: str
    timeout_s: float = 5.0

    def send(self, phone: str, case_number: str, code: str) -> None:
        text = f"【fairban】验证码 {code}，10分钟内有效。案件 {case_number}。请勿告诉他人。"
        response = httpx.post(self.url, json={"to": phone, "text": text}, timeout=self.timeout_s)
        response.raise_for_status()


def code_sender(settings: Settings) -> CodeSender:
    """The sender ``FAIRBAN_OTP_SENDER`` names."""
    if settings.otp_sender == "http":
        if not settings.sms_gateway_url:
            raise ValueError("FAIRBAN_OTP_SENDER=http needs FAIRBAN_SMS_GATEWAY_URL")
        return HttpSmsGateway(settings.sms_gateway_url)
    if settings.otp_sender != "dev":
        raise ValueError(f"FAIRBAN_OTP_SENDER={settings.otp_sender!r}: use dev or http")
    return DevCodeSender(settings.home.expanduser() / "codes.log")


# --- rate limits ---------------------------------------------------------------------


def upsert_count(dialect: str) -> Any:
    """The rate-limit upsert, built once per dialect with bound parameters ``key``,
    ``now`` and ``ended`` (the instant before which a window has ended): built per
    call it cost more than its round trip."""
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    now = bindparam("now", type_=UTCDateTime())
    ended = RateBucket.window_start <= bindparam("ended", type_=UTCDateTime())
    return (
        insert_(RateBucket)
        .values(key=bindparam("key"), window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[RateBucket.key],
            set_={
                "window_start": case((ended, now), else_=RateBucket.window_start),
                "count": case((ended, 1), else_=RateBucket.count + 1),
            },
        )
        .returning(RateBucket.count)
    )


_UPSERTS = {d: upsert_count(d) for d in ("postgresql", "sqlite")}


def allow(session: Session, key: str, *, limit: int, window_s: int, now: datetime) -> bool:
    """Count one use of ``key`` in its fixed window; False once more than ``limit`` uses
    fell in the window. The key is stored hashed (it may hold an address or a phone).

    One statement (an upsert that restarts a window that has ended), so concurrent
    requests of the same key count exactly, on SQLite and PostgreSQL alike."""
    connection = session.connection()  # not the session: no ORM bulk-insert path
    params = {"key": sha256_hex(key), "now": now, "ended": now - timedelta(seconds=window_s)}
    count = connection.execute(_UPSERTS[connection.dialect.name], params).scalar_one()
    return int(count) <= limit


def purge(session: Session, now: datetime, *, rate_window_s: int) -> dict[str, int]:
    """Delete what can no longer be used: portal and console sessions past their
    expiry, one-time codes used or expired, rate-limit windows that have ended (a new
    request starts a new window anyway). Returns rows deleted per table. Run by the
    re-check loops every ``PURGE_EVERY_S``."""
    from fairban.review.models import ConsoleSession

    statements = {
        "portal_sessions": delete(PortalSession).where(PortalSession.expires_at <= now),
        "console_sessions": delete(ConsoleSession).where(ConsoleSession.expires_at <= now),
        "one_time_codes": delete(OneTimeCode).where(
            or_(OneTimeCode.expires_at <= now, OneTimeCode.used_at.is_not(None))
        ),
        "rate_buckets": delete(RateBucket).where(
            RateBucket.window_start <= now - timedelta(seconds=rate_window_s)
        ),
    }
    connection = session.connection()
    return {table: connection.execute(s).rowcount for table, s in statements.items()}


#: how often the re-check loops purge (seconds)
PURGE_EVERY_S = 600.0


# --- sessions and codes ----------------------------------------------------------------


def case_by_number(session: Session, number: str) -> Case | None:
    """The case with this number, or None (also for text no case number can be, such as
    a NUL character, which PostgreSQL refuses in any text)."""
    if "\x00" in number or len(number) > 64:
        return None
    return session.scalars(select(Case).where(Case.number == number.strip().upper())).first()


def token_matches(case: Case, token: str) -> bool:
    """Whether ``token`` is the case's notice-link token (compared in constant time)."""
    if not case.appeal_token_hash or not token:
        return False
    return hmac.compare_digest(sha256_hex(token), case.appeal_token_hash)


def phone_matches(session: Session, case: Case, phone: str) -> bool:
    contact = session.get(AccountContact, case.account_id)
    given = normalize_phone(phone)
    return contact is not None and bool(given) and hmac.compare_digest(contact.phone, given)


def start_session(session: Session, case: Case, now: datetime) -> str:
    """A new, unverified portal session for ``case``; returns its token (for the cookie)."""
    token = new_token()
    session.add(
        PortalSession(
            token_hash=sha256_hex(token),
            case_id=case.id,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
            csrf=secrets.token_urlsafe(24),
        )
    )
    session.flush()
    return token


def portal_session(session: Session, token: str | None, now: datetime) -> PortalSession | None:
    """The live session behind ``token``, or None (unknown or expired)."""
    if not token or len(token) > 200:
        return None
    found = session.get(PortalSession, sha256_hex(token))
    if found is None or found.expires_at <= now:
        return None
    return found


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
    params = {"token_hash": sha256_hex(token), "now": now}
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


def _code_hash(secret: str, session_hash: str, code: str) -> str:
    message = f"{session_hash}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def send_code(
    session: Session,
    portal: PortalSession,
    case: Case,
    *,
    sender: CodeSender,
    secret: str,
    settings: Settings,
    now: datetime,
) -> bool:
    """Make a code for ``portal`` and send it to the phone bound to the case's account.
    False when the account has no phone on file (nothing is sent). Older codes of the
    session die."""
    contact = session.get(AccountContact, case.account_id)
    if contact is None:
        return False
    for old in session.scalars(
        select(OneTimeCode).where(
            OneTimeCode.session_hash == portal.token_hash, OneTimeCode.used_at.is_(None)
        )
    ):
        old.used_at = now
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OneTimeCode(
            session_hash=portal.token_hash,
            case_id=case.id,
            code_hash=_code_hash(secret, portal.token_hash, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.otp_ttl_s),
            attempts=0,
        )
    )
    session.flush()
    sender.send(contact.phone, case.number, code)
    return True


class CodeResult:
    OK = "ok"
    WRONG = "wrong"  # wrong code, tries left
    LOCKED = "locked"  # too many wrong tries: ask for a new code
    EXPIRED = "expired"  # no live code: ask for a new one


def verify_code(
    session: Session,
    portal: PortalSession,
    code: str,
    *,
    secret: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Check ``code`` against the session's live code; a :class:`CodeResult` value.
    The right code verifies the session and is used up (a replay finds no live code)."""
    live = session.scalars(
        select(OneTimeCode)
        .where(OneTimeCode.session_hash == portal.token_hash, OneTimeCode.used_at.is_(None))
        .order_by(OneTimeCode.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if live is None or live.expires_at <= now:
        return CodeResult.EXPIRED
    if live.attempts >= settings.otp_max_tries:
        return CodeResult.LOCKED
    given = "".join(c for c in code if c.isdigit())[:6]
    if not hmac.compare_digest(live.code_hash, _code_hash(secret, portal.token_hash, given)):
        live.attempts += 1
        return CodeResult.LOCKED if live.attempts >= settings.otp_max_tries else CodeResult.WRONG
    live.used_at = now
    portal.verified_at = now
    return CodeResult.OK


def set_contact(session: Session, account_id: str, phone: str, now: datetime) -> None:
    """Record the phone a platform has bound to ``account_id`` (codes go there)."""
    normalized = normalize_phone(phone)
    if len(normalized) < 6:
        raise ValueError("not a phone number")
    found = session.get(AccountContact, account_id)
    if found is None:
        session.add(AccountContact(account_id=account_id, phone=normalized, updated_at=now))
    else:
        found.phone, found.updated_at = normalized, now
    session.flush()


def allow_start(
    session: Session, settings: Settings, *, case_number: str, address: str, now: datetime
) -> bool:
    """The rate limit on opening a case by number and phone: per client address and per
    case number (the portal and the JSON API share it)."""
    per_case = settings.otp_requests_per_window
    return allow(
        session, f"start:ip:{address}", limit=per_case * 4, window_s=settings.rate_window_s, now=now
    ) and allow(
        session,
        f"start:case:{case_number.strip().upper()}",
        limit=per_case,
        window_s=settings.rate_window_s,
        now=now,
    )


def allow_code(
    session: Session, settings: Settings, *, case_id: int, address: str, now: datetime
) -> bool:
    """The rate limit on sending a one-time code: per case and per client address."""
    per_case = settings.otp_requests_per_window
    return allow(
        session, f"code:case:{case_id}", limit=per_case, window_s=settings.rate_window_s, now=now
    ) and allow(
        session, f"code:ip:{address}", limit=per_case * 4, window_s=settings.rate_window_s, now=now
    )


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
