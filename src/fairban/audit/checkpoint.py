"""Signed checkpoints of the audit log, in the published C2SP formats: a
``tlog-checkpoint`` note text (origin, tree size, base64 root hash, and one extension
line with the time), signed as a ``signed-note`` with Ed25519 (signature type 0x01)::

    127.0.0.1:8000/audit
    20
    Zbi7Fk1lxt+Y9q2q1K3pYl1GTOeAKE4E8lZGvKwE7tQ=
    time 2026-11-29T04:03:25Z

    — 127.0.0.1:8000/audit 3mDvpRp...base64(key ID || signature)...==

The key ID is ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``. A verifier key
is written as Go's ``note`` package writes one (``name+hex key ID+base64(0x01 ||
public key)``), the signing key file as ``PRIVATE+KEY+name+hex key ID+base64(0x01 ||
seed)``. Pure: no database, no settings (the key file's place comes from the caller).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fairban.audit.merkle import HASH_SIZE
from fairban.errors import FairbanError

ED25519 = 0x01  # the signed-note signature type of Ed25519
_DASH = "\u2014"  # the em dash that starts a signature line
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_TIME = "time "
_MAX_NOTE = 16 * 1024  # a checkpoint is a few hundred bytes; refuse to parse more


class CheckpointError(FairbanError):
    """A checkpoint or key that cannot be read, or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log ``origin`` had ``size`` entries with this ``root`` at
    ``time`` (UTC, to the second)."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def text(self) -> str:
        """The note text that is signed."""
        at = self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n{_TIME}{at}\n"


def key_id(name: str, public: bytes) -> bytes:
    """The four bytes that name a key in a signature line."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public).digest()[:4]


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise CheckpointError(f"key name {name!r}: it must be non-empty, no spaces, no '+'")
    return name


@dataclass(frozen=True)
class VerifierKey:
    """A log's public key and its name (the checkpoint's origin)."""

    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public).decode("ascii")
        return f"{self.name}+{self.id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A verifier key as :meth:`__str__` writes it (``name+hash+key``)."""
        parts = text.strip().split("+", 2)  # base64 has '+' of its own
        if len(parts) != 3:
            raise CheckpointError("a verifier key reads NAME+KEYID+BASE64 (fairban audit key)")
        name, id_hex, encoded = parts
        raw = _b64(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError("the verifier key is not an Ed25519 key")
        key = cls(_check_name(name), raw[1:])
        if key.id.hex() != id_hex.lower():
            raise CheckpointError("the verifier key's ID does not match its name and key")
        return key

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    """The log's Ed25519 key and its name."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls(_check_name(name), key.private_bytes_raw())

    @property
    def verifier(self) -> VerifierKey:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return VerifierKey(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)

    def file_text(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{encoded}\n"

    @classmethod
    def parse(cls, text: str, where: str) -> SigningKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError(f"{where} is not a signing key (PRIVATE+KEY+NAME+ID+KEY)")
        raw = _b64(parts[4], where)
        if len(raw) != 33 or raw[0] != ED25519:
            raise CheckpointError(f"{where} is not an Ed25519 signing key")
        key = cls(_check_name(parts[2]), raw[1:])
        if key.verifier.id.hex() != parts[3].lower():
            raise CheckpointError(f"{where}: the key's ID does not match its name and key")
        return key


def load_key(path: Path) -> SigningKey | None:
    """The signing key in ``path``, or ``None`` when there is no such file."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read the audit key {path}: {e}") from e
    return SigningKey.parse(text, str(path))


def load_or_create_key(path: Path, name: str) -> SigningKey:
    """The signing key in ``path``; a new one named ``name`` written there first when
    there is none (mode 0600, never overwriting a key another process wrote first)."""
    key = load_key(path)
    if key is not None:
        return key
    key = SigningKey.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made one meanwhile: use that one
        again = load_key(path)
        assert again is not None
        return again
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.file_text())
    return key


# --- signed notes ------------------------------------------------------------------


def sign(checkpoint: Checkpoint, key: SigningKey) -> str:
    """The checkpoint as a signed note, signed by ``key`` (whose name is its origin)."""
    if key.name != checkpoint.origin:
        raise CheckpointError(f"key {key.name!r} does not sign for origin {checkpoint.origin!r}")
    text = checkpoint.text()
    signature = key.verifier.id + key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(signature).decode("ascii")
    return f"{text}\n{_DASH} {key.name} {encoded}\n"


def parse(note: str) -> tuple[Checkpoint, list[tuple[str, bytes]], str]:
    """A note's checkpoint, its signature lines (key name, raw signature) and the text
    they sign; :class:`CheckpointError` for anything not in the format."""
    if len(note) > _MAX_NOTE:
        raise CheckpointError("not a checkpoint: longer than any checkpoint")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise CheckpointError("not a checkpoint: it has control characters")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise CheckpointError("not a checkpoint: no blank line before the signatures")
    text, signature_lines = note[: cut + 1], note[cut + 2 :].splitlines()
    signatures: list[tuple[str, bytes]] = []
    for line in signature_lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise CheckpointError(f"not a checkpoint: {line[:40]!r} is not a signature line")
        raw = _b64(parts[2], "a signature")
        if len(raw) < 5:
            raise CheckpointError("not a checkpoint: a signature is too short")
        signatures.append((parts[1], raw))
    if not signatures:
        raise CheckpointError("not a checkpoint: it has no signature")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise CheckpointError("not a checkpoint: it needs origin, size and root, one a line")
    origin, size, root_b64, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise CheckpointError(f"not a checkpoint: tree size {size[:24]!r} is not a number")
    root = _b64(root_b64, "the root hash")
    if len(root) != HASH_SIZE:
        raise CheckpointError("not a checkpoint: the root hash is not 32 bytes")
    times = [line[len(_TIME) :] for line in extensions if line.startswith(_TIME)]
    try:
        at = datetime.strptime(times[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        raise CheckpointError("not a checkpoint of fairban's: no 'time' line") from None
    return Checkpoint(origin, int(size), root, at), signatures, text


def open_note(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint in ``note``, once ``key``'s signature on it verifies (signatures of
    other keys are ignored, as the signed-note format asks)."""
    checkpoint, signatures, text = parse(note)
    mine = [raw for name, raw in signatures if name == key.name and raw[:4] == key.id]
    if not mine:
        raise CheckpointError(
            f"the checkpoint is not signed by key {key.name}+{key.id.hex()} "
            f"(it names {', '.join(sorted({name for name, _ in signatures}))})"
        )
    if not all(key.verifies(text.encode("utf-8"), raw[4:]) for raw in mine):
        raise CheckpointError(
            f"the checkpoint's signature does not verify with key {key.name}+{key.id.hex()}: "
            "it was changed after signing, or signed by another key"
        )
    if checkpoint.origin != key.name:
        raise CheckpointError(f"the checkpoint's origin {checkpoint.origin!r} is not {key.name!r}")
    return checkpoint


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{what} is not base64") from None
