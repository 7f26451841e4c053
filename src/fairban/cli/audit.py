"""``fairban audit ...``: verify the log, export it, sign checkpoints of its head, prove
a case's entries (docs/audit.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fairban.cli import audit_app, err, out

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that use it: `fairban` starts fast
    from sqlalchemy.orm import Session

    from fairban.audit.heads import Scan
    from fairban.audit.merkle import LeafHashes
    from fairban.config import Settings

KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="The log's verifier key (NAME+ID+KEY, as `fairban audit key` prints it), or a "
        "file holding it [default: this installation's own key].",
    ),
]


def _plain(text: str) -> None:
    out.print(text, markup=False, highlight=False)


@contextmanager
def _read_only() -> Iterator[Session]:
    from fairban.config import get_settings
    from fairban.db import database_url, open_database, session_factory

    engine = open_database(database_url(get_settings()))
    try:
        with session_factory(engine, read_only=True)() as session:
            yield session
    finally:
        engine.dispose()


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8", newline="\n")
    partial.replace(path)


def beside(path: Path) -> Path:
    """Where an export's checkpoint goes: ``OUT.checkpoint``."""
    return path.with_name(path.name + ".checkpoint")


def write_database_checkpoint(path: Path, settings: Settings) -> str:
    """Sign a checkpoint of the log in the database and write it to ``path``; the note."""
    from fairban.audit.heads import publish_database

    with _read_only() as session:
        note = publish_database(session, settings, datetime.now(UTC))
    _write(path, note)
    return note


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            exists=True,
            dir_okay=False,
            help="Check an export (JSON Lines) instead of the database.",
        ),
    ] = None,
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            exists=True,
            dir_okay=False,
            help="A signed checkpoint the log must extend (its signature is checked too).",
        ),
    ] = None,
    key: KeyOption = None,
) -> None:
    """Recompute every hash of the audit log, in order, and check it extends a checkpoint.

    Exit status 0 and 'audit log intact: N entries, last hash H' when no entry was
    edited, deleted or reordered; 1 and the problems, one a line, first first, when one
    was. A log cut short at its end, or rewritten with every later hash recomputed,
    passes the chain: with --checkpoint it fails unless its first N entries have the
    root the checkpoint signed, and names the first entry that differs.
    """
    from fairban.audit import checkpoint as notes
    from fairban.audit.heads import (
        HeadStore,
        audit_dir,
        describe,
        extension_problem,
        scan_database,
        scan_lines,
        verifier_key,
    )
    from fairban.config import get_settings

    settings = get_settings()
    signed = verifier = None
    reference = None
    if checkpoint_file is not None:
        verifier = verifier_key(settings, key)
        signed = notes.open_note(checkpoint_file.read_text(encoding="utf-8"), verifier)
        reference = HeadStore(audit_dir(settings)).reference_for(signed)
    if file is not None:
        with file.open(encoding="utf-8") as lines:
            scan = scan_lines(lines, reference=reference)
    else:
        with _read_only() as session:
            scan = scan_database(session, reference=reference)
    report = scan.report
    assert report is not None
    problems = [problem.message for problem in report.problems]
    if signed is not None:
        problem = extension_problem(scan, signed)
        if problem is not None:
            problems.append(problem)
    if problems:
        for message in problems:
            err.print(message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    line = f"audit log intact: {report.entries} entries, last hash {report.last_hash}"
    if signed is not None and verifier is not None:
        line += f"; it extends {describe(signed, verifier)}"
    _plain(line)


@audit_app.command("export")
def audit_export(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The JSON Lines file to write.")],
) -> None:
    """Write the whole audit log as JSON Lines, to be checked offline, and a signed
    checkpoint of it beside (OUT.checkpoint).

    One entry a line with every field, oldest first: `fairban audit verify --file OUT
    --checkpoint OUT.checkpoint` or the short script in docs/audit.md checks it without
    fairban's database.
    """
    from fairban.audit import export
    from fairban.audit.heads import publish, scan_lines
    from fairban.config import get_settings

    settings = get_settings()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    partial = out_file.with_name(out_file.name + ".partial")
    exported = None

    # under the signers' lock: the checkpoint signs exactly what was written, read back
    def read(reference: LeafHashes | None) -> Scan:
        nonlocal exported
        with _read_only() as session, partial.open("w", encoding="utf-8", newline="\n") as fh:
            exported = export(session, fh)
        with partial.open(encoding="utf-8") as lines:
            return scan_lines(lines, reference=reference)

    try:
        note, _ = publish(settings, datetime.now(UTC), read)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    assert exported is not None
    partial.replace(out_file)  # a reader never sees half an export
    _write(beside(out_file), note)
    _plain(
        f"exported {exported.entries} entries to {out_file}, last hash {exported.last_hash}; "
        f"signed checkpoint in {beside(out_file)}"
    )


@audit_app.command("checkpoint")
def audit_checkpoint(
    out_file: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The file to write [default: standard output]."),
    ] = None,
) -> None:
    """Sign a checkpoint of the log's head (C2SP checkpoint: origin, size, root, time).

    The key is FAIRBAN_AUDIT_KEY, by default FAIRBAN_HOME/audit/key (made on first use,
    mode 0600). Refuses a log whose chain is broken, or that no longer extends the last
    checkpoint signed here.
    """
    from fairban.audit import checkpoint as notes
    from fairban.audit.heads import publish_database, signing_key
    from fairban.config import get_settings

    settings = get_settings()
    if out_file is None:
        with _read_only() as session:
            note = publish_database(session, settings, datetime.now(UTC))
        out.file.write(note)
        return
    note = write_database_checkpoint(out_file, settings)
    head = notes.parse(note)[0]
    _plain(
        f"checkpoint of {head.size} entries written to {out_file}, "
        f"signed by {signing_key(settings).verifier}"
    )


@audit_app.command("key")
def audit_key() -> None:
    """Print the verifier key that checks the log's checkpoints (made on first use).

    Publish it where the log's operators cannot change it: anyone checks a checkpoint
    or a case's proof with it, offline (`--key`).
    """
    from fairban.audit.heads import signing_key
    from fairban.config import get_settings

    _plain(str(signing_key(get_settings()).verifier))


@audit_app.command("prove")
def audit_prove(
    case: Annotated[str, typer.Option("--case", help="The case number, e.g. YN-2019-000042.")],
    checkpoint_file: Annotated[
        Path,
        typer.Option(
            "--checkpoint", "-c", exists=True, dir_okay=False, help="The signed checkpoint."
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The proof file to write.")],
) -> None:
    """Write a case's audit entries with their inclusion proofs against a checkpoint.

    The file (JSON) holds the checkpoint, each entry of case:NUMBER it covers and the
    hashes that lead from the entry to the signed root: `fairban audit verify-proof`
    checks it offline, with the log's verifier key.
    """
    from fairban.audit import checkpoint as notes
    from fairban.audit.heads import extension_problem, prove, scan_database, verifier_key
    from fairban.config import get_settings
    from fairban.errors import FairbanError

    settings = get_settings()
    note = checkpoint_file.read_text(encoding="utf-8")
    signed = notes.open_note(note, verifier_key(settings))
    with _read_only() as session:
        scan = scan_database(session, subject=f"case:{case}")
    problem = extension_problem(scan, signed)
    if problem is not None:
        raise FairbanError(f"{problem}: no proof against it")
    proof = prove(scan, note, signed, case)
    if not proof["entries"]:
        raise FairbanError(f"case {case}: no audit entry within the checkpoint's {signed.size}")
    _write(out_file, json.dumps(proof, ensure_ascii=False, indent=1) + "\n")
    later = proof["after_checkpoint"]
    _plain(
        f"wrote {len(proof['entries'])} entries of case {case} with their proofs against "
        f"the checkpoint of {signed.size} entries to {out_file}"
        + (f" ({later} later entries are in no checkpoint yet)" if later else "")
    )


@audit_app.command("verify-proof")
def audit_verify_proof(
    proof_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The proof file.")
    ],
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            "-c",
            exists=True,
            dir_okay=False,
            help="A checkpoint published by the log: the proof must be against the same head.",
        ),
    ] = None,
    key: KeyOption = None,
) -> None:
    """Check a case's proof offline: the checkpoint's signature, each entry's hashes, and
    each entry's path to the signed root. No database needed."""
    from fairban.audit import checkpoint as notes
    from fairban.audit.heads import check_proof, describe, verifier_key
    from fairban.config import get_settings
    from fairban.errors import FairbanError

    verifier = verifier_key(get_settings(), key)
    signed, case, entries = check_proof(proof_file.read_text(encoding="utf-8"), verifier)
    if checkpoint_file is not None:
        published = notes.open_note(checkpoint_file.read_text(encoding="utf-8"), verifier)
        if (published.size, published.root) != (signed.size, signed.root):
            raise FairbanError(
                f"the proof is against the checkpoint of {signed.size} entries, not the one "
                f"given ({published.size} entries): ask for a proof against it"
            )
    _plain(f"case {case}: {len(entries)} entries proven in {describe(signed, verifier)}")
    for entry in entries:
        _plain(f"  entry {entry.id}  {entry.at}  {entry.action}")
