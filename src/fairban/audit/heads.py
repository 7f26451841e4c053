"""The audit log's signed heads: the Merkle tree over its entries, the checkpoints
fairban signs of it, whether a log still extends a checkpoint, and each case's proof of
inclusion.

The tree's leaves are the entries in the log's order, each leaf the UTF-8 bytes of the
entry's canonical line (the text its ``entry_hash`` covers). A checkpoint signs the
root of the first N leaves; a log extends it when its first N entries have that root.

fairban keeps, outside the database (``HOME/audit``, beside the key), the last
checkpoint it signed and the leaf hashes it covered: it never signs a checkpoint that
contradicts one it signed (C2SP tlog-checkpoint), and with that copy a log that no
longer extends a checkpoint names the first entry that differs. The copy is trusted
only as far as its hashes give the checkpoint's signed root.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from fairban.audit import checkpoint as notes
from fairban.audit.checkpoint import Checkpoint, CheckpointError, SigningKey, VerifierKey
from fairban.audit.log import Record, VerifyReport, parse_record, verify, verify_lines
from fairban.audit.merkle import (
    HASH_SIZE,
    LeafHashes,
    Memo,
    RootBuilder,
    inclusion_proof,
    leaf_hash,
    root_from_inclusion,
)
from fairban.config import Settings
from fairban.digests import sha256_hex

log = logging.getLogger("fairban.audit")

PROOF_FORMAT = "fairban-audit-proof/1"


# --- where the key and the signed heads are ---------------------------------------


def audit_dir(settings: Settings) -> Path:
    """``HOME/audit``: the last checkpoint signed and its leaves (and the key, unless
    FAIRBAN_AUDIT_KEY puts it elsewhere)."""
    return settings.home / "audit"


def key_path(settings: Settings) -> Path:
    return settings.audit_key or audit_dir(settings) / "key"


def default_origin(settings: Settings) -> str:
    """FAIRBAN_AUDIT_ORIGIN, or the public URL's host (and port) then ``/audit``."""
    if settings.audit_origin:
        return settings.audit_origin
    host = urlsplit(settings.public_url).netloc or "fairban"
    return host.replace("+", "-") + "/audit"


def signing_key(settings: Settings) -> SigningKey:
    """The log's key, made on first use."""
    return notes.load_or_create_key(key_path(settings), default_origin(settings))


def verifier_key(settings: Settings, given: str | None = None) -> VerifierKey:
    """The key to check checkpoints with: ``given`` (a verifier key, or a file holding
    one), else this installation's own key; never makes one."""
    if given is not None:
        path = Path(given)
        text = path.read_text(encoding="utf-8") if "+" not in given and path.is_file() else given
        return VerifierKey.parse(text)
    key = notes.load_key(key_path(settings))
    if key is None:
        raise CheckpointError(
            f"no key to check the checkpoint with: {key_path(settings)} does not exist; "
            "give the log's verifier key with --key (`fairban audit key` prints it)"
        )
    return key.verifier


# --- the tree over a log --------------------------------------------------------------


@dataclass
class Scan:
    """One pass over a log: its chain checked, its leaf hashes, and (given the leaves a
    checkpoint covered) the first entry whose leaf differs."""

    reference: LeafHashes | None = None
    subject: str | None = None
    leaves: LeafHashes = field(default_factory=LeafHashes)
    #: (position, id, action) of the first entry that differs from ``reference``
    first_difference: tuple[int, int, str] | None = None
    #: the records about ``subject``, with their positions
    found: list[tuple[int, Record]] = field(default_factory=list)
    report: VerifyReport | None = None

    def __call__(self, record: Record) -> None:
        h = leaf_hash(record.line().encode("utf-8"))
        position = len(self.leaves)
        if (
            self.first_difference is None
            and self.reference is not None
            and position < len(self.reference)
            and self.reference[position] != h
        ):
            self.first_difference = (position, record.id, record.action)
        if self.subject is not None and record.subject == self.subject:
            self.found.append((position, record))
        self.leaves.append(h)


def scan_database(session: Session, **options: Any) -> Scan:
    scan = Scan(**options)
    scan.report = verify(session, scan)
    return scan


def scan_lines(lines: Iterable[str], **options: Any) -> Scan:
    scan = Scan(**options)
    scan.report = verify_lines(lines, scan)
    return scan


def root_of(leaves: LeafHashes, size: int | None = None) -> bytes:
    builder = RootBuilder()
    for n, h in enumerate(leaves):
        if size is not None and n == size:
            break
        builder.append(h)
    return builder.root()


# --- the copy kept outside the database -------------------------------------------------


class HeadStore:
    """``HOME/audit``: ``checkpoint`` (the last signed) and ``leaves`` (its leaf hashes,
    32 bytes each), replaced together under a lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def checkpoint_file(self) -> Path:
        return self.folder / "checkpoint"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One signer at a time (the server's workers and the command line)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def latest(self) -> str | None:
        try:
            return self.checkpoint_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def leaves(self) -> LeafHashes:
        try:
            data = (self.folder / "leaves").read_bytes()
        except FileNotFoundError:
            return LeafHashes()
        # a file cut short (a disk full) keeps its whole hashes: the root check decides
        return LeafHashes.from_bytes(data[: len(data) - len(data) % HASH_SIZE])

    def reference_for(self, checkpoint: Checkpoint) -> LeafHashes | None:
        """The kept leaves, if their first ``checkpoint.size`` give its root."""
        leaves = self.leaves()
        if len(leaves) < checkpoint.size or root_of(leaves, checkpoint.size) != checkpoint.root:
            return None
        return leaves

    def save(self, note: str, leaves: LeafHashes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.folder / "leaves", leaves.to_bytes())
        _write_atomically(self.checkpoint_file, note.encode("utf-8"))


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    partial.replace(path)


# --- extends or not ------------------------------------------------------------------


def extension_problem(scan: Scan, checkpoint: Checkpoint) -> str | None:
    """Why the scanned log does not extend ``checkpoint`` (one line naming the first
    entry that differs where it can), or ``None`` when it does."""
    size, n = checkpoint.size, len(scan.leaves)
    diff = scan.first_difference
    if diff is not None and diff[0] < size:
        _, id, action = diff
        return (
            f"the log does not extend the checkpoint of {size} entries: entry {id} ({action}) "
            "differs from the one it covers (the log was rewritten or forked from there)"
        )
    if n < size:
        cut = f"entry {size} was" if n + 1 == size else f"entries {n + 1} to {size} were"
        return (
            f"the log does not extend the checkpoint of {size} entries: it has {n}, "
            f"so {cut} cut off"
        )
    if root_of(scan.leaves, size) != checkpoint.root:
        return (
            f"the log does not extend the checkpoint of {size} entries: its first {size} "
            "have another root (rewritten or forked); no copy of the checkpoint's entries "
            "is kept here to name the first that differs"
        )
    return None


def describe(checkpoint: Checkpoint, key: VerifierKey) -> str:
    at = checkpoint.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"the checkpoint of {checkpoint.size} entries signed by {key} at {at}"


# --- signing -------------------------------------------------------------------------


def publish(
    settings: Settings, now: datetime, read: Callable[[LeafHashes | None], Scan]
) -> tuple[str, Checkpoint]:
    """Sign a checkpoint of the log that ``read`` scans (given the leaves of the last
    checkpoint signed here, to name a difference), keep it in ``HOME/audit``, and return
    it as a note and as read. ``read`` runs under the signers' lock: no other checkpoint
    is signed meanwhile.

    Refuses (:class:`CheckpointError`) a log whose chain is broken, or one that
    contradicts the last checkpoint signed here: a signed head is never contradicted."""
    key = signing_key(settings)
    store = HeadStore(audit_dir(settings))
    with store.lock():
        previous = store.latest()
        last = notes.open_note(previous, key.verifier) if previous else None
        reference = store.reference_for(last) if last else None
        scan = read(reference)
        assert scan.report is not None
        if not scan.report.ok:
            raise CheckpointError(
                f"the audit log fails verification ({scan.report.problems[0].message}): "
                "fairban signs no checkpoint of it"
            )
        head = Checkpoint(
            key.name, len(scan.leaves), root_of(scan.leaves), now.replace(microsecond=0)
        )
        # a head smaller than the last is refused too: it would vouch for a log cut short
        problem = extension_problem(scan, last) if last is not None else None
        if problem is not None:
            raise CheckpointError(
                f"{problem}; fairban signs no checkpoint that contradicts one it signed "
                f"({store.checkpoint_file})"
            )
        note = notes.sign(head, key)
        store.save(note, scan.leaves)
    return note, head


def publish_database(session: Session, settings: Settings, now: datetime) -> str:
    """:func:`publish` of the log in the database."""
    note, _ = publish(settings, now, lambda reference: scan_database(session, reference=reference))
    return note


def latest(
    factory: Callable[[], Session], settings: Settings, now: datetime, max_age_s: float
) -> str:
    """The last checkpoint signed, signed anew first when there is none or it is older
    than ``max_age_s``; when the log may not be signed, the last one still (it is what
    the log must go on extending), and :class:`CheckpointError` if there is none."""
    store = HeadStore(audit_dir(settings))
    kept = store.latest()
    if kept is not None:
        try:
            at = notes.parse(kept)[0].time
        except CheckpointError:
            at = None
        if at is not None and (now - at).total_seconds() < max_age_s:
            return kept
    try:
        with factory() as session:
            return publish_database(session, settings, now)
    except CheckpointError as e:
        if kept is None:
            raise
        log.error("audit checkpoint not signed: %s", e)
        return kept


# --- a case's proof of inclusion ---------------------------------------------------------


def prove(scan: Scan, note: str, checkpoint: Checkpoint, case_number: str) -> dict[str, Any]:
    """The entries of ``case:NUMBER`` within the checkpoint, each with its inclusion
    proof; the scan must have been of a log that extends the checkpoint."""
    size = checkpoint.size
    entries = []
    memo: Memo = {}
    for position, record in scan.found:
        if position >= size:
            continue
        proof = inclusion_proof(scan.leaves, position, size, memo)
        entries.append(
            {
                **record.to_json(),
                "index": position,
                "proof": [base64.b64encode(h).decode("ascii") for h in proof],
            }
        )
    return {
        "format": PROOF_FORMAT,
        "case": case_number,
        "checkpoint": note,
        "entries": entries,
        "after_checkpoint": sum(1 for position, _ in scan.found if position >= size),
    }


@dataclass(frozen=True)
class ProvenEntry:
    id: int
    at: str
    action: str


def check_proof(document: str, key: VerifierKey) -> tuple[Checkpoint, str, list[ProvenEntry]]:
    """Check a case's proof file offline: the checkpoint's signature, then each entry's
    hashes and its path to the signed root. Returns the checkpoint, the case and the
    entries proven; :class:`CheckpointError` names the first thing that fails."""
    try:
        data = json.loads(document)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"not a proof file: not JSON ({e.msg})") from None
    if not isinstance(data, dict) or data.get("format") != PROOF_FORMAT:
        raise CheckpointError(f"not a proof file: its format is not {PROOF_FORMAT}")
    note, case, entries = data.get("checkpoint"), data.get("case"), data.get("entries")
    if not isinstance(note, str) or not isinstance(case, str) or not isinstance(entries, list):
        raise CheckpointError("not a proof file: it needs checkpoint, case and entries")
    checkpoint = notes.open_note(note, key)
    proven: list[ProvenEntry] = []
    for obj in entries:
        record = parse_record(obj)
        if isinstance(record, str):
            raise CheckpointError(f"an entry of the proof is not an audit entry: {record}")
        assert isinstance(obj, dict)
        where = f"entry {record.id}"
        if record.subject != f"case:{case}":
            raise CheckpointError(f"{where} is about {record.subject}, not case:{case}")
        if sha256_hex(record.payload) != record.payload_hash:
            raise CheckpointError(f"{where} was edited: its payload does not match its hash")
        if sha256_hex(record.line()) != record.entry_hash:
            raise CheckpointError(f"{where} was edited: its fields do not match its hash")
        index, proof = obj.get("index"), obj.get("proof")
        if not isinstance(index, int) or not isinstance(proof, list):
            raise CheckpointError(f"{where} has no index and proof")
        try:
            path = [base64.b64decode(p, validate=True) for p in proof]
        except (TypeError, ValueError):
            raise CheckpointError(f"{where}: its proof is not base64") from None
        leaf = leaf_hash(record.line().encode("utf-8"))
        if root_from_inclusion(leaf, index, checkpoint.size, path) != checkpoint.root:
            raise CheckpointError(
                f"{where} ({record.action}) is not in the log the checkpoint signed: "
                "its proof does not lead to the signed root"
            )
        proven.append(ProvenEntry(record.id, record.at, record.action))
    return checkpoint, case, proven


__all__ = [
    "HeadStore",
    "Scan",
    "audit_dir",
    "check_proof",
    "default_origin",
    "describe",
    "extension_problem",
    "key_path",
    "latest",
    "prove",
    "publish",
    "publish_database",
    "root_of",
    "scan_database",
    "scan_lines",
    "signing_key",
    "verifier_key",
]
