"""The checkpoints fairban signs of its log and a case's proof of inclusion, on a real
database: signing, the copy kept outside it, and offline checks of a proof."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry, append, entry_line, format_at, heads
from fairban.audit import checkpoint as notes
from fairban.audit.checkpoint import CheckpointError
from fairban.audit.merkle import leaf_hash, tree_root
from fairban.config import Settings

NOW = datetime(2026, 11, 29, 4, 3, 25, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", public_url="https://appeals.example.org")


def fill(session: Session, count: int) -> None:
    for n in range(1, count + 1):
        append(
            session,
            actor="system:enforce",
            action="case:measure:lift" if n % 4 == 0 else "case:measure:apply",
            subject=f"case:YN-{n % 3}",
            payload={"n": n},
        )
    session.flush()


def test_a_checkpoint_signs_the_root_of_the_entries_lines(
    session: Session, settings: Settings
) -> None:
    fill(session, 10)
    note = heads.publish_database(session, settings, NOW)
    key = heads.signing_key(settings).verifier
    assert key.name == "appeals.example.org/audit"
    head = notes.open_note(note, key)
    scan = heads.scan_database(session)
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    expected = tree_root(
        leaf_hash(
            entry_line(
                e.id, format_at(e.at), e.actor, e.action, e.subject, e.payload_hash, e.prev_hash
            ).encode("utf-8")
        )
        for e in entries
    )
    assert (head.size, head.root, head.time) == (10, expected, NOW)
    store = heads.HeadStore(heads.audit_dir(settings))
    assert store.latest() == note
    assert list(store.leaves()) == list(scan.leaves)


def test_a_smaller_or_other_log_gets_no_checkpoint(session: Session, settings: Settings) -> None:
    fill(session, 10)
    heads.publish_database(session, settings, NOW)
    scan = heads.scan_database(session)
    cut = heads.Scan(leaves=type(scan.leaves).from_bytes(scan.leaves.to_bytes()[: 8 * 32]))
    cut.report = scan.report
    with pytest.raises(CheckpointError, match="it has 8, so entries 9 to 10 were cut off"):
        heads.publish(settings, NOW, lambda reference: cut)


def test_a_case_proof_verifies_offline_and_a_changed_one_does_not(
    session: Session, settings: Settings
) -> None:
    fill(session, 30)
    note = heads.publish_database(session, settings, NOW)
    key = heads.signing_key(settings).verifier
    head = notes.open_note(note, key)
    fill(session, 2)  # entries after the checkpoint are not in its proof
    scan = heads.scan_database(session, subject="case:YN-1")
    proof = heads.prove(scan, note, head, "YN-1")
    assert [e["id"] for e in proof["entries"]] == list(range(1, 31, 3))
    assert proof["after_checkpoint"] == 1
    document = json.dumps(proof)
    signed, case, proven = heads.check_proof(document, key)
    assert (signed, case) == (head, "YN-1")
    assert [e.id for e in proven] == list(range(1, 31, 3))

    edited = json.loads(document)
    edited["entries"][2]["actor"] = "reviewer:mallory"
    with pytest.raises(CheckpointError, match="entry 7 was edited: its fields"):
        heads.check_proof(json.dumps(edited), key)
    moved = json.loads(document)
    moved["entries"][2]["index"] = 5
    with pytest.raises(CheckpointError, match="entry 7 \\(case:measure:apply\\) is not in the log"):
        heads.check_proof(json.dumps(moved), key)
    other = json.loads(document)
    other["case"] = "YN-2"
    with pytest.raises(CheckpointError, match="is about case:YN-1, not case:YN-2"):
        heads.check_proof(json.dumps(other), key)
    with pytest.raises(CheckpointError, match="not signed by key"):
        heads.check_proof(document, notes.SigningKey.generate(key.name).verifier)


def test_verifying_never_makes_a_key(settings: Settings) -> None:
    with pytest.raises(CheckpointError, match="give the log's verifier key with --key"):
        heads.verifier_key(settings)
    assert not heads.key_path(settings).exists()
