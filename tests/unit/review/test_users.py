"""Console users on a real database (SQLite and PostgreSQL): who may be added and with
what password, signing in, sessions that end, and the purge of expired ones."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry
from fairban.audit.actions import Action
from fairban.review.models import ConsoleSession, ConsoleUser, Role
from fairban.review.users import (
    MIN_PASSWORD,
    SESSION_HOURS,
    add_user,
    authenticate,
    current,
    end_session,
    purge_sessions,
    start_session,
)
from fairban.tokens import sha256_hex
from tests.support.cases import NOW

PASSWORD = "correct horse battery"


def sessions(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


def test_a_user_is_added_with_a_hash_and_audited(session: Session) -> None:
    user = add_user(session, " rita ", Role.REVIEWER, PASSWORD, NOW)
    assert (user.name, user.role, user.active, user.created_at) == (
        "rita",
        Role.REVIEWER,
        True,
        NOW,
    )
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("$argon2")
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == Action.CONSOLE_USER_SET)
    ).one()
    assert (entry.actor, entry.subject) == ("fairban:cli", "user:rita")
    assert json.loads(entry.payload) == {"role": "reviewer"}  # never the password


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", PASSWORD, "a user name is 1-64"),
        ("   ", PASSWORD, "a user name is 1-64"),
        ("r" * 65, PASSWORD, "a user name is 1-64"),
        ("rita wang", PASSWORD, "a user name is 1-64"),
        ("rita;drop", PASSWORD, "a user name is 1-64"),
        ("rita", "x" * (MIN_PASSWORD - 1), f"at least {MIN_PASSWORD} characters"),
    ],
)
def test_names_and_passwords_are_checked(
    session: Session, name: str, password: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        add_user(session, name, Role.REVIEWER, password, NOW)
    assert session.scalar(select(func.count()).select_from(ConsoleUser)) == 0


def test_names_may_hold_digits_dashes_and_underscores(session: Session) -> None:
    for name in ("li-2019", "wang_wei", "r" * 64, "审核员"):
        assert add_user(session, name, Role.AUDITOR, "x" * MIN_PASSWORD, NOW).name == name


def test_adding_a_user_again_rekeys_and_reactivates_them(session: Session) -> None:
    user = add_user(session, "rita", Role.REVIEWER, PASSWORD, NOW)
    user.active = False
    again = add_user(session, "rita", Role.SENIOR, "a new long password", NOW)
    assert again is user
    assert (user.role, user.active) == (Role.SENIOR, True)
    assert authenticate(session, "rita", PASSWORD) is None  # the old password is gone
    assert authenticate(session, "rita", "a new long password") is user


def test_only_an_active_users_own_password_signs_in(session: Session) -> None:
    rita = add_user(session, "rita", Role.REVIEWER, PASSWORD, NOW)
    assert authenticate(session, "rita", PASSWORD) is rita
    assert authenticate(session, "  rita ", PASSWORD) is rita
    assert authenticate(session, "rita", PASSWORD + " ") is None
    assert authenticate(session, "rita", "") is None
    assert authenticate(session, "nobody", PASSWORD) is None
    assert authenticate(session, "ri\x00ta", PASSWORD) is None
    assert authenticate(session, "", PASSWORD) is None
    rita.active = False
    assert authenticate(session, "rita", PASSWORD) is None


def test_a_session_lasts_its_hours_and_ends_when_asked(session: Session) -> None:
    rita = add_user(session, "rita", Role.REVIEWER, PASSWORD, NOW)
    token = start_session(session, rita, NOW)
    found = current(session, token, NOW)
    assert found is not None
    signed_in, user = found
    assert user is rita
    assert signed_in.token_hash == sha256_hex(token)  # the token itself is not stored
    assert signed_in.csrf
    assert current(session, token, NOW + timedelta(hours=SESSION_HOURS, seconds=-1)) is not None
    assert current(session, token, NOW + timedelta(hours=SESSION_HOURS)) is None
    other = start_session(session, rita, NOW)
    end_session(session, token)
    session.expire_all()
    assert current(session, token, NOW) is None
    assert current(session, other, NOW) is not None  # signing out ends this session only


def test_unknown_tokens_and_inactive_users_have_no_session(session: Session) -> None:
    rita = add_user(session, "rita", Role.REVIEWER, PASSWORD, NOW)
    token = start_session(session, rita, NOW)
    for unknown in (None, "", "not-a-token", "x" * 201):
        assert current(session, unknown, NOW) is None
    rita.active = False
    assert current(session, token, NOW) is None


def test_purge_deletes_the_expired_sessions_only(session: Session) -> None:
    rita = add_user(session, "rita", Role.REVIEWER, PASSWORD, NOW)
    start_session(session, rita, NOW - timedelta(hours=SESSION_HOURS + 1))
    start_session(session, rita, NOW - timedelta(hours=SESSION_HOURS))
    live = start_session(session, rita, NOW)
    assert purge_sessions(session, NOW) == {"console_sessions": 2}
    assert sessions(session) == 1
    assert current(session, live, NOW) is not None
    assert purge_sessions(session, NOW) == {"console_sessions": 0}
