"""Appending: the chain grows entry by entry, inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fairban.audit import GENESIS_HASH, AuditEntry, append, entry_line, format_at, history, verify
from fairban.digests import sha256_hex


def test_the_chain_grows_and_verifies(session: Session) -> None:
    first = append(
        session,
        actor="system:enforce",
        action="case:measure:apply",
        subject="case:YN-2019-000001",
        payload={"measure": "suspend", "reasons": ["outreach", "victim_flows"]},
    )
    second = append(
        session,
        actor="reviewer:alice",
        action="case:measure:lift",
        subject="case:YN-2019-000001",
        payload={"appeal": "AP-1", "decision": "granted"},
    )
    session.commit()

    assert (first.id, second.id) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash
    assert first.at.tzinfo is not None
    assert first.at.utcoffset() == UTC.utcoffset(None)
    report = verify(session)
    assert report.ok, report.problems
    assert report.entries == 2
    assert (report.last_id, report.last_hash) == (2, second.entry_hash)


def test_an_empty_log_is_intact(session: Session) -> None:
    report = verify(session)
    assert report.ok
    assert (report.entries, report.last_id, report.last_hash) == (0, 0, GENESIS_HASH)


def test_the_hashes_follow_the_documented_rule(session: Session) -> None:
    entry = append(
        session,
        actor="system:enforce",
        action="directive:pause",
        subject="directive:YN-2019-10",
        payload={"z": 1, "a": "勐能", "n": [1.5, None]},
    )
    session.commit()
    session.expire_all()
    stored = session.get(AuditEntry, entry.id)
    assert stored is not None
    # canonical payload: sorted keys, no spaces, Chinese as is
    assert stored.payload == '{"a":"勐能","n":[1.5,null],"z":1}'
    assert stored.payload_hash == sha256_hex(stored.payload)
    at = format_at(stored.at)
    assert at.endswith("Z")
    assert len(at) == len("2019-10-01T08:30:00.000000Z")
    line = json.dumps(
        [
            stored.id,
            at,
            stored.actor,
            stored.action,
            stored.subject,
            stored.payload_hash,
            stored.prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert line == entry_line(
        stored.id,
        at,
        stored.actor,
        stored.action,
        stored.subject,
        stored.payload_hash,
        stored.prev_hash,
    )
    assert stored.entry_hash == sha256_hex(line)
    # what was hashed at append time is what the database gives back
    assert stored.at == entry.at


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(session: Session) -> None:
    append(session, actor="system:enforce", action="case:measure:apply", subject="case:A")
    session.commit()
    append(session, actor="system:enforce", action="case:measure:apply", subject="case:B")
    session.rollback()  # the state change failed: its audit entry goes with it
    third = append(session, actor="system:enforce", action="case:measure:apply", subject="case:C")
    session.commit()

    assert third.id == 2
    assert [e.subject for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
        "case:A",
        "case:C",
    ]
    assert verify(session).ok


def test_history_is_a_subjects_timeline(session: Session) -> None:
    for action, subject in [
        ("case:measure:apply", "case:1"),
        ("case:measure:apply", "case:2"),
        ("case:appeal:open", "case:1"),
        ("case:measure:lift", "case:1"),
    ]:
        append(session, actor="system:test", action=action, subject=subject)
    assert [e.action for e in history(session, "case:1")] == [
        "case:measure:apply",
        "case:appeal:open",
        "case:measure:lift",
    ]


@pytest.mark.parametrize(
    "action",
    [
        "lift",
        "case:",
        "Case:measure:lift",
        "case:measure:lift!",
        ":case",
        "case::lift",
        "case lift",
        "case:measure-lift",
    ],
)
def test_malformed_action_tags_are_refused(session: Session, action: str) -> None:
    with pytest.raises(ValueError, match="not a tag"):
        append(session, actor="system:test", action=action, subject="case:1")


@pytest.mark.parametrize(
    ("actor", "subject", "payload", "message"),
    [
        ("", "case:1", {}, "actor is empty"),
        ("system:test", "  ", {}, "subject is empty"),
        ("x" * 256, "case:1", {}, "actor is longer"),
        ("system:test", "case:1", {"when": object()}, "payload is not JSON"),
        ("system:test", "case:1", {"risk": float("nan")}, "payload is not JSON"),
    ],
)
def test_bad_entries_are_refused_and_add_nothing(
    session: Session, actor: str, subject: str, payload: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        append(session, actor=actor, action="case:measure:apply", subject=subject, payload=payload)
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_the_database_refuses_a_fork(session: Session) -> None:
    first = append(session, actor="system:test", action="case:measure:apply", subject="case:1")
    append(session, actor="system:test", action="case:measure:apply", subject="case:2")
    session.commit()
    # a second successor of entry 1, as a writer that raced past the lock would write
    fork = AuditEntry(
        id=3,
        at=first.at,
        actor="system:rogue",
        action="case:measure:apply",
        subject="case:3",
        payload="{}",
        payload_hash=sha256_hex("{}"),
        prev_hash=first.entry_hash,
        entry_hash="f" * 64,
    )
    session.add(fork)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert verify(session).ok
