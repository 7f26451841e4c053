"""Signed checkpoints in the C2SP formats: the note's exact text, the key ID rule, the
key files, and every way a note can be refused."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fairban.audit import checkpoint as notes
from fairban.audit.checkpoint import Checkpoint, CheckpointError, SigningKey, VerifierKey

HEAD = Checkpoint(
    "fairban.example/audit", 20, bytes(range(32)), datetime(2026, 11, 29, 4, 3, 25, tzinfo=UTC)
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate("fairban.example/audit")


def test_the_note_is_origin_size_root_time_then_one_signature_line(key: SigningKey) -> None:
    note = notes.sign(HEAD, key)
    text, _, signature = note.partition("\n\n")
    assert text.split("\n") == [
        "fairban.example/audit",
        "20",
        base64.b64encode(bytes(range(32))).decode(),
        "time 2026-11-29T04:03:25Z",
    ]
    assert signature.startswith("— fairban.example/audit ")
    assert signature.endswith("\n")
    raw = base64.b64decode(signature.split(" ")[2])
    public = key.verifier.public
    # key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4], then the Ed25519 signature
    expected_id = hashlib.sha256(b"fairban.example/audit\n\x01" + public).digest()[:4]
    assert raw[:4] == expected_id
    assert len(raw) == 4 + 64
    assert notes.open_note(note, key.verifier) == HEAD


def test_keys_read_back_as_written(key: SigningKey, tmp_path: Path) -> None:
    vkey = str(key.verifier)
    name, id_hex, encoded = vkey.split("+", 2)
    assert (name, len(id_hex)) == ("fairban.example/audit", 8)
    assert base64.b64decode(encoded)[0] == 0x01
    assert VerifierKey.parse(vkey) == key.verifier
    assert SigningKey.parse(key.file_text(), "key") == key


def test_a_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "key"
    made = notes.load_or_create_key(path, "here/audit")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+here/audit+")
    assert notes.load_or_create_key(path, "other/name") == made  # a made key keeps its name
    assert notes.load_key(tmp_path / "none") is None


def test_a_changed_note_or_another_key_is_refused(key: SigningKey) -> None:
    note = notes.sign(HEAD, key)
    with pytest.raises(CheckpointError, match="signature does not verify"):
        notes.open_note(note.replace("\n20\n", "\n17\n"), key.verifier)
    other = SigningKey.generate("fairban.example/audit")
    with pytest.raises(CheckpointError, match=r"not signed by key fairban\.example/audit"):
        notes.open_note(note, other.verifier)
    # a signature by another key beside the log's is ignored, as the format asks
    cosigned = note + "— witness.example/w " + base64.b64encode(b"\x00" * 68).decode() + "\n"
    assert notes.open_note(cosigned, key.verifier) == HEAD


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "no blank line"),
        ("a\n20\nAAAA\n", "no blank line"),
        ("a\n20\n\n— a AAAAAAAA\n", "origin, size and root"),
        ("a\n020\n" + "A" * 43 + "=\ntime x\n\n— a AAAAAAAA\n", "not a number"),
        ("a\n20\nAAAA\ntime x\n\n— a AAAAAAAA\n", "not 32 bytes"),
        ("a\n20\n" + "A" * 43 + "=\n\n— a AAAAAAAA\n", "no 'time' line"),
        ("a\n20\n" + "A" * 43 + "=\ntime x\n\n- a AAAAAAAA\n", "not a signature line"),
        ("a\n2\x000\n\n— a AAAAAAAA\n", "control characters"),
    ],
)
def test_what_is_not_a_checkpoint(note: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        notes.parse(note)


def test_a_bad_verifier_key_is_one_line() -> None:
    with pytest.raises(CheckpointError, match="NAME\\+KEYID\\+BASE64"):
        VerifierKey.parse("nonsense")
    key = SigningKey.generate("n/audit").verifier
    with pytest.raises(CheckpointError, match="ID does not match"):
        VerifierKey.parse(str(key).replace("n/audit", "m/audit"))
