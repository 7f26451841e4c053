"""One-time codes: how an appellant proves the account's phone is theirs.

Codes are six digits, stored as an HMAC keyed by the server's secret, dead after
``otp_ttl_s``, after use, or after ``otp_max_tries`` wrong tries. They go to the phone
the account's platform gave (``account_contacts``) through a :class:`CodeSender`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban import tokens
from fairban.appeals.models import AccountContact, OneTimeCode, PortalSession
from fairban.appeals.sessions import portal_session, start_session
from fairban.cases.models import Case
from fairban.config import Settings
from fairban.ratelimits import allow

log = logging.getLogger("fairban.appeals")


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


def phone_matches(session: Session, case: Case, phone: str) -> bool:
    """Whether ``phone`` is the one on file for the case's account."""
    return _same_phone(session.get(AccountContact, case.account_id), normalize_phone(phone))


def _same_phone(contact: AccountContact | None, given: str) -> bool:
    return contact is not None and bool(given) and tokens.same(given, contact.phone)


@dataclass
class Deferred:
    """A sender whose sends happen after the answer went out (``later`` schedules them,
    e.g. a response's background tasks): the answer takes as long whether a code was
    sent or not, so its timing tells nothing."""

    sender: CodeSender
    later: Callable[..., object]

    def send(self, phone: str, case_number: str, code: str) -> None:
        self.later(self.sender.send, phone, case_number, code)


def start_by_phone(
    session: Session,
    case: Case | None,
    phone: str,
    *,
    sender: CodeSender,
    secret: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Open a session for whoever typed ``case``'s number (``None``: no such case) and
    ``phone``, and send it a code; returns the session's token.

    A match gets a real session and a code sent to the account's phone; anything else
    a decoy (:func:`~fairban.appeals.sessions.start_session` with no case) that goes
    through the same steps, the same database work included, and takes codes that
    never verify. The answer, the cookie and every later step are the same either way
    (docs/appeals.md): nobody learns whether a phone is under a measure."""
    # one lookup whether or not the case exists (an account id is never empty)
    contact = session.get(AccountContact, case.account_id if case is not None else "")
    given = normalize_phone(phone)
    target = case if _same_phone(contact, given) else None
    token = start_session(session, target, now, phone_hint=mask_phone(given))
    portal = portal_session(session, token, now)
    assert portal is not None
    send_code(session, portal, target, sender=sender, secret=secret, settings=settings, now=now)
    return token


def decoy_mask(secret: str, case_number: str) -> str:
    """The masked phone shown for a case number that has no case (or no phone): four
    digits fixed by the number and the server's secret, so it looks like a real one and
    stays the same on every visit."""
    key = f"decoy-phone:{case_number.strip().upper()}".encode()
    digest = hmac.new(secret.encode(), key, hashlib.sha256).digest()
    return f"•••• {int.from_bytes(digest[:4], 'big') % 10_000:04d}"


def link_target(
    session: Session, case: Case | None, case_number: str, *, secret: str
) -> tuple[Case | None, str]:
    """For the SMS's bare link ``/c/{number}``: the case a code can reach (None: a
    decoy) and the masked phone to show. The same look-ups and the same kind of answer
    whether or not the case exists or has a phone (docs/appeals.md, no oracle)."""
    contact = session.get(AccountContact, case.account_id if case is not None else "")
    decoy = decoy_mask(secret, case_number)
    if case is not None and contact is not None:
        return case, mask_phone(contact.phone)
    return None, decoy


def start_by_link(
    session: Session,
    case: Case | None,
    case_number: str,
    *,
    sender: CodeSender,
    secret: str,
    settings: Settings,
    now: datetime,
) -> str:
    """Open a session from the bare link of ``case_number`` (``case``: its case, or
    None) and send one code to the account's phone; returns the session's token. A
    number without a case (or phone) gets a decoy session that shows the same masked
    phone as the link's page and whose codes never verify."""
    target, hint = link_target(session, case, case_number, secret=secret)
    token = start_session(session, target, now, phone_hint=hint)
    portal = portal_session(session, token, now)
    assert portal is not None
    send_code(session, portal, target, sender=sender, secret=secret, settings=settings, now=now)
    return token


def _code_hash(secret: str, session_hash: str, code: str) -> str:
    message = f"{session_hash}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def send_code(
    session: Session,
    portal: PortalSession,
    case: Case | None,
    *,
    sender: CodeSender,
    secret: str,
    settings: Settings,
    now: datetime,
) -> bool:
    """Make a code for ``portal`` and send it to the phone bound to the case's account.
    False when the account has no phone on file (nothing is sent). Older codes of the
    session die. A decoy (``case`` None) goes through the same steps, but its code is
    one nobody can guess (it never verifies) and it goes nowhere."""
    contact = session.get(AccountContact, case.account_id if case is not None else "")
    if case is not None and contact is None:
        return False
    for old in session.scalars(
        select(OneTimeCode).where(
            OneTimeCode.session_hash == portal.token_hash, OneTimeCode.used_at.is_(None)
        )
    ):
        old.used_at = now
    code = f"{secrets.randbelow(1_000_000):06d}"
    kept = code if case is not None else secrets.token_hex(16)  # a decoy's: unguessable
    session.add(
        OneTimeCode(
            session_hash=portal.token_hash,
            case_id=case.id if case is not None else None,
            code_hash=_code_hash(secret, portal.token_hash, kept),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.otp_ttl_s),
            attempts=0,
        )
    )
    session.flush()
    if case is not None and contact is not None:
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
    if not tokens.same(_code_hash(secret, portal.token_hash, given), live.code_hash):
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


def limit_subject(portal: PortalSession) -> int | str:
    """What a session's code requests count against: its case, a decoy's own session."""
    return portal.case_id if portal.case_id is not None else f"decoy:{portal.token_hash}"


def code_keys(case_id: int | str, address: str) -> tuple[str, str]:
    """The rate-limit keys of code requests: per case (:func:`limit_subject`), per address."""
    return f"code:case:{case_id}", f"code:ip:{address}"


def allow_code(
    session: Session, settings: Settings, *, case_id: int | str, address: str, now: datetime
) -> bool:
    """The rate limit on sending a one-time code: per case (:func:`limit_subject`) and
    per client address."""
    per_case = settings.otp_requests_per_window
    by_case, by_ip = code_keys(case_id, address)
    return allow(
        session, by_case, limit=per_case, window_s=settings.rate_window_s, now=now
    ) and allow(session, by_ip, limit=per_case * 4, window_s=settings.rate_window_s, now=now)
