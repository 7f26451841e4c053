"""Console users: argon2 password hashes, server-side sessions with a CSRF token."""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from fairban import audit, tokens
from fairban.audit.actions import Action
from fairban.review.models import ConsoleSession, ConsoleUser, Role

SESSION_HOURS = 8
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# verified against when the user does not exist, so that an unknown name takes as long
_DUMMY = _hasher.hash("not a password of anyone")


def add_user(session: Session, name: str, role: Role, password: str, now: datetime) -> ConsoleUser:
    """Create (or re-key) a console user. Passwords shorter than 10 characters are
    refused (``ValueError``)."""
    name = name.strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("a user name is 1-64 letters, digits, - or _")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    user = session.get(ConsoleUser, name)
    hashed = _hasher.hash(password)
    if user is None:
        user = ConsoleUser(name=name, role=role, password_hash=hashed, active=True, created_at=now)
        session.add(user)
    else:
        user.role, user.password_hash, user.active = role, hashed, True
    session.flush()
    audit.append(
        session,
        actor="fairban:cli",
        action=Action.CONSOLE_USER_SET,
        subject=f"user:{name}",
        payload={"role": role.value},
    )
    return user


def authenticate(session: Session, name: str, password: str) -> ConsoleUser | None:
    """The active user whose password this is, else None (same work either way)."""
    clean = name.strip()[:64]
    user = session.get(ConsoleUser, clean) if clean and "\x00" not in clean else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return user


def start_session(session: Session, user: ConsoleUser, now: datetime) -> str:
    """A new session for ``user``; returns the cookie's token."""
    token = tokens.new_token(32)
    session.add(
        ConsoleSession(
            token_hash=tokens.sha256_hex(token),
            user_name=user.name,
            csrf=tokens.new_token(24),
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    session.flush()
    return token


def current(
    session: Session, token: str | None, now: datetime
) -> tuple[ConsoleSession, ConsoleUser] | None:
    if not token or len(token) > 200:
        return None
    found = session.get(ConsoleSession, tokens.sha256_hex(token))
    if found is None or found.expires_at <= now:
        return None
    user = session.get(ConsoleUser, found.user_name)
    if user is None or not user.active:
        return None
    return found, user


def end_session(session: Session, token: str) -> None:
    session.execute(
        delete(ConsoleSession).where(ConsoleSession.token_hash == tokens.sha256_hex(token))
    )


def purge_sessions(session: Session, now: datetime) -> dict[str, int]:
    """Delete console sessions past their expiry; rows deleted per table (run with the
    portal's purge, ``appeals.sessions.purge``)."""
    ended = delete(ConsoleSession).where(ConsoleSession.expires_at <= now)
    return {"console_sessions": session.connection().execute(ended).rowcount}
