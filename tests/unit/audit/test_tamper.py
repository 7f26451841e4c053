"""Tampering with the stored log, as someone with database access would (a raw
connection, the append-only triggers dropped first): verification names what was done."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from fairban.audit import AuditEntry, ProblemKind, VerifyReport, append, entry_line, verify
from fairban.db import session_factory
from fairban.digests import sha256_hex

Tamper = Callable[..., None]


def fill(engine: Engine, count: int) -> list[str]:
    """``count`` committed entries; their hashes in order."""
    with session_factory(engine)() as session:
        hashes = [
            append(
                session,
                actor="system:enforce",
                action="case:measure:apply",
                subject=f"case:YN-{n:06d}",
                payload={"measure": "restrict", "n": n},
            ).entry_hash
            for n in range(1, count + 1)
        ]
        session.commit()
    return hashes


def check(engine: Engine) -> VerifyReport:
    with session_factory(engine, read_only=True)() as session:
        return verify(session)


def messages(report: VerifyReport) -> list[str]:
    return [p.message for p in report.problems]


def test_an_untouched_log_is_intact(new_engine: Engine) -> None:
    hashes = fill(new_engine, 20)
    report = check(new_engine)
    assert report.ok
    assert (report.entries, report.last_hash) == (20, hashes[-1])


def test_the_database_refuses_update_and_delete(new_engine: Engine, db_kind: str) -> None:
    fill(new_engine, 3)
    statements = [
        "UPDATE audit_log SET actor = 'reviewer:mallory' WHERE id = 2",
        "DELETE FROM audit_log WHERE id = 3",
        "DELETE FROM audit_log",
    ]
    if db_kind == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with new_engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    # nor through the ORM
    with session_factory(new_engine)() as session:
        entry = session.get(AuditEntry, 2)
        assert entry is not None
        entry.actor = "reviewer:mallory"
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    assert check(new_engine).ok


def test_an_edited_payload_is_named(new_engine: Engine, tamper: Tamper) -> None:
    fill(new_engine, 20)
    tamper("""UPDATE audit_log SET payload = '{"measure":"monitor","n":17}' WHERE id = 17""")
    report = check(new_engine)
    assert not report.ok
    assert messages(report) == ["entry 17 was edited: its payload does not match its hash"]
    assert report.problems[0].kind is ProblemKind.EDITED
    assert report.problems[0].entry == 17


def test_an_edited_field_is_named(new_engine: Engine, tamper: Tamper) -> None:
    fill(new_engine, 20)
    tamper("UPDATE audit_log SET actor = 'reviewer:alice' WHERE id = 5")
    assert messages(check(new_engine)) == ["entry 5 was edited: its fields do not match its hash"]


def test_a_payload_edited_with_its_hash_recomputed_is_named(
    new_engine: Engine, tamper: Tamper
) -> None:
    fill(new_engine, 20)
    forged = '{"measure":"monitor","n":9}'
    tamper(
        f"UPDATE audit_log SET payload = '{forged}', payload_hash = '{sha256_hex(forged)}' "
        "WHERE id = 9"
    )
    assert messages(check(new_engine)) == ["entry 9 was edited: its fields do not match its hash"]


def test_an_entry_rewritten_with_all_its_hashes_recomputed_breaks_the_next_link(
    new_engine: Engine, tamper: Tamper
) -> None:
    fill(new_engine, 20)
    with session_factory(new_engine)() as session:
        entry = session.get(AuditEntry, 17)
        assert entry is not None
        at = entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        forged = '{"measure":"monitor","n":17}'
        payload_hash = sha256_hex(forged)
        line = entry_line(
            17, at, entry.actor, entry.action, entry.subject, payload_hash, entry.prev_hash
        )
    tamper(
        f"UPDATE audit_log SET payload = '{forged}', payload_hash = '{payload_hash}', "
        f"entry_hash = '{sha256_hex(line)}' WHERE id = 17"
    )
    report = check(new_engine)
    assert messages(report) == [
        "entry 18 does not follow entry 17: it names another previous hash, "
        "so one of them was rewritten"
    ]
    assert report.problems[0].kind is ProblemKind.BROKEN_LINK


def test_a_deleted_entry_is_named(new_engine: Engine, tamper: Tamper) -> None:
    fill(new_engine, 20)
    tamper("DELETE FROM audit_log WHERE id = 17")
    report = check(new_engine)
    assert messages(report) == ["entry 18 does not follow entry 16: entry 17 is missing"]
    assert report.problems[0].kind is ProblemKind.MISSING
    assert report.entries == 19


def test_deleted_entries_at_the_start_and_in_a_row_are_named(
    new_engine: Engine, tamper: Tamper
) -> None:
    fill(new_engine, 20)
    tamper(
        "DELETE FROM audit_log WHERE id <= 2", "DELETE FROM audit_log WHERE id BETWEEN 10 AND 12"
    )
    assert messages(check(new_engine)) == [
        "entry 3 does not start the chain: entries 1 to 2 are missing",
        "entry 13 does not follow entry 9: entries 10 to 12 are missing",
    ]


def test_a_deleted_entry_is_found_even_when_the_rest_is_renumbered(
    new_engine: Engine, tamper: Tamper
) -> None:
    fill(new_engine, 20)
    tamper("DELETE FROM audit_log WHERE id = 17", "UPDATE audit_log SET id = id - 1 WHERE id > 17")
    assert messages(check(new_engine)) == ["entry 18 does not follow entry 16: entry 17 is missing"]


def test_swapped_entries_are_named_as_reordered(new_engine: Engine, tamper: Tamper) -> None:
    fill(new_engine, 20)
    tamper(
        "UPDATE audit_log SET id = -1 WHERE id = 17",
        "UPDATE audit_log SET id = 17 WHERE id = 18",
        "UPDATE audit_log SET id = 18 WHERE id = -1",
    )
    report = check(new_engine)
    assert messages(report) == ["entry 18 comes before entry 17: the entries are out of order"]
    assert report.problems[0].kind is ProblemKind.REORDERED


def test_every_problem_is_reported_first_first(new_engine: Engine, tamper: Tamper) -> None:
    fill(new_engine, 30)
    tamper(
        "DELETE FROM audit_log WHERE id = 25",
        "UPDATE audit_log SET subject = 'case:other' WHERE id = 4",
        """UPDATE audit_log SET payload = '{}' WHERE id = 12""",
    )
    assert messages(check(new_engine)) == [
        "entry 4 was edited: its fields do not match its hash",
        "entry 12 was edited: its payload does not match its hash",
        "entry 26 does not follow entry 24: entry 25 is missing",
    ]
