"""Must have 6 of the safeguards issue: an audit log that cannot be cut short.

Each attack is made as someone with database access would make it (a raw connection,
the append-only triggers dropped first) on a real database, SQLite and PostgreSQL: cut
the last entries off, rewrite one entry and recompute every later hash, fork the log
from an entry on. Each leaves a chain that ``fairban audit verify`` calls intact (that
is why a checkpoint is needed); ``fairban audit verify --checkpoint`` with a checkpoint
signed before fails, naming the first entry that differs. The checkpoint is the one
``fairban serve`` publishes at ``GET /api/v1/audit/checkpoint``, or the command line's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from fairban.audit import Action, AuditEntry, append, entry_line, format_at
from fairban.audit import checkpoint as notes
from fairban.db import session_factory
from fairban.digests import sha256_hex
from tests.security.conftest import start_live
from tests.support.appeal_world import World
from tests.support.db import APPEND_ONLY_TRIGGERS, DATABASES, new_database, raw_connection

Tamper = Callable[..., None]
ACTIONS = [Action.CASE_MEASURE_APPLY, Action.CASE_APPEAL_FILE, Action.CASE_MEASURE_LIFT]


def fairban(*args: str, home: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "FAIRBAN_HOME": str(home)}
    env["FAIRBAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def add(engine: Engine, count: int, start: int = 1, note: str = "") -> None:
    with session_factory(engine)() as session:
        for n in range(start, start + count):
            append(
                session,
                actor="reviewer:alice" if n % 5 == 0 else "system:enforce",
                action=ACTIONS[n % 3],
                subject=f"case:YN-2019-{n % 4:06d}",
                payload={"n": n, "note": note or "边境"},
            )
        session.commit()


@pytest.fixture
def signed(new_engine: Engine, new_db_url: str, tmp_path: Path) -> Path:
    """A log of 20 entries and a checkpoint of it, signed by ``fairban audit checkpoint``."""
    add(new_engine, 20)
    cp = tmp_path / "head.checkpoint"
    done = fairban("audit", "checkpoint", "--out", str(cp), home=tmp_path / "home", url=new_db_url)
    assert done.returncode == 0, done.stderr
    assert notes.parse(cp.read_text(encoding="utf-8"))[0].size == 20
    return cp


def verify(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return fairban("audit", "verify", *args, home=tmp_path / "home", url=url)


def test_an_untouched_log_extends_its_checkpoint_as_it_grows(
    signed: Path, new_engine: Engine, new_db_url: str, tmp_path: Path
) -> None:
    done = verify(tmp_path, new_db_url, "--checkpoint", str(signed))
    assert done.returncode == 0, done.stderr
    assert "audit log intact: 20 entries" in done.stdout
    assert "it extends the checkpoint of 20 entries signed by " in done.stdout
    add(new_engine, 5, start=21)
    done = verify(tmp_path, new_db_url, "--checkpoint", str(signed))
    assert done.returncode == 0, done.stderr
    assert "audit log intact: 25 entries" in done.stdout


def test_entries_cut_off_the_end(
    signed: Path, new_db_url: str, tamper: Tamper, tmp_path: Path
) -> None:
    tamper("DELETE FROM audit_log WHERE id > 17")
    # the bug: the chain alone cannot tell a log cut short
    done = verify(tmp_path, new_db_url)
    assert done.returncode == 0
    assert done.stdout.startswith("audit log intact: 17 entries")

    done = verify(tmp_path, new_db_url, "--checkpoint", str(signed))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "the log does not extend the checkpoint of 20 entries: it has 17, "
        "so entries 18 to 20 were cut off"
    ]


def rewrite(engine: Engine, tamper: Tamper, id: int, payload: str) -> str:
    """Rewrite entry ``id``'s payload and recompute its hashes and every later one, as
    a careful forger would; the rewritten entry's action."""
    with session_factory(engine, read_only=True)() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    statements, prev, action = [], entries[id - 2].entry_hash, ""
    for e in entries[id - 1 :]:
        text = payload if e.id == id else e.payload
        payload_hash = sha256_hex(text)
        line = entry_line(e.id, format_at(e.at), e.actor, e.action, e.subject, payload_hash, prev)
        new_hash = sha256_hex(line)
        statements.append(
            f"UPDATE audit_log SET payload = '{text}', payload_hash = '{payload_hash}', "
            f"prev_hash = '{prev}', entry_hash = '{new_hash}' WHERE id = {e.id}"
        )
        prev = new_hash
        action = action or e.action
    tamper(*statements)
    return action


def test_an_entry_rewritten_with_every_later_hash_recomputed(
    signed: Path, new_engine: Engine, new_db_url: str, tamper: Tamper, tmp_path: Path
) -> None:
    action = rewrite(new_engine, tamper, 12, '{"n":12,"note":"nothing happened"}')
    done = verify(tmp_path, new_db_url)
    assert done.returncode == 0  # the bug: the chain is whole again
    assert done.stdout.startswith("audit log intact: 20 entries")

    done = verify(tmp_path, new_db_url, "--checkpoint", str(signed))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"the log does not extend the checkpoint of 20 entries: entry 12 ({action}) differs "
        "from the one it covers (the log was rewritten or forked from there)"
    ]


def test_a_fork_from_an_old_entry_on(
    signed: Path, new_engine: Engine, new_db_url: str, tamper: Tamper, tmp_path: Path
) -> None:
    """The log's end replaced by another history, longer than the checkpoint's."""
    tamper("DELETE FROM audit_log WHERE id >= 15")
    add(new_engine, 8, start=15, note="another history")
    done = verify(tmp_path, new_db_url)
    assert done.returncode == 0  # a whole chain of 22 entries
    assert done.stdout.startswith("audit log intact: 22 entries")

    done = verify(tmp_path, new_db_url, "--checkpoint", str(signed))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"the log does not extend the checkpoint of 20 entries: entry 15 ({ACTIONS[15 % 3]}) "
        "differs from the one it covers (the log was rewritten or forked from there)"
    ]
    # and the log's key signs no head of the fork
    done = fairban("audit", "checkpoint", home=tmp_path / "home", url=new_db_url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "fairban signs no checkpoint that contradicts one it signed" in done.stderr


def test_a_checkpoint_edited_to_fit_the_cut_log_fails_its_signature(
    signed: Path, new_db_url: str, tamper: Tamper, tmp_path: Path
) -> None:
    tamper("DELETE FROM audit_log WHERE id > 17")
    # a forger who cannot sign puts the cut log's size and root in the signed note
    honest = verify(tmp_path, new_db_url)
    assert honest.returncode == 0
    lines = signed.read_text(encoding="utf-8").split("\n")
    lines[1] = "17"
    forged = tmp_path / "forged.checkpoint"
    forged.write_text("\n".join(lines), encoding="utf-8")
    done = verify(tmp_path, new_db_url, "--checkpoint", str(forged))
    assert done.returncode == 1
    assert done.stderr.startswith("the checkpoint's signature does not verify with key ")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", DATABASES)
def test_the_served_checkpoint_catches_a_log_cut_short(
    kind: str, tmp_path: Path, appeal_world: World
) -> None:
    """``fairban serve`` publishes the head anyone may keep; after the log is cut it
    signs no new head and serves the last, which the cut log no longer extends."""
    with new_database(kind, tmp_path) as url:
        live = start_live(
            tmp_path, url, appeal_world, env={"FAIRBAN_AUDIT_CHECKPOINT_INTERVAL_S": "0"}
        )
        try:
            client = live.client()
            got = client.get("/api/v1/audit/checkpoint")
            assert got.status_code == 200, got.text
            assert got.headers["content-type"].startswith("text/plain")
            assert "set-cookie" not in got.headers
            note = got.text
            key = fairban("audit", "key", home=live.home, url=url).stdout.strip()
            head = notes.open_note(note, notes.VerifierKey.parse(key))
            assert head.size > 0
            for number in live.seeded.numbers.values():  # no personal data
                assert number not in note
            kept = tmp_path / "published.checkpoint"
            kept.write_text(note, encoding="utf-8")
            ok = fairban("audit", "verify", "--checkpoint", str(kept), home=live.home, url=url)
            assert ok.returncode == 0, ok.stderr

            connection = raw_connection(url)
            try:
                cursor = connection.cursor()
                for drop in APPEND_ONLY_TRIGGERS[kind]:
                    cursor.execute(drop)
                cursor.execute(f"DELETE FROM audit_log WHERE id > {head.size - 2}")
                connection.commit()
            finally:
                connection.close()

            again = client.get("/api/v1/audit/checkpoint")
            assert again.status_code == 200
            assert notes.parse(again.text)[0].size == head.size  # the head it signed last
            assert "audit checkpoint not signed" in live.server_log()
            # anyone holding the published head, with no access to the server's files
            done = fairban(
                "audit",
                "verify",
                "--checkpoint",
                str(kept),
                "--key",
                key,
                home=tmp_path / "elsewhere",
                url=url,
            )
            assert done.returncode == 1
            assert done.stderr.splitlines() == [
                f"the log does not extend the checkpoint of {head.size} entries: it has "
                f"{head.size - 2}, so entries {head.size - 1} to {head.size} were cut off"
            ]
        finally:
            live.stop()
