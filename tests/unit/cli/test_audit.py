"""``fairban db upgrade`` and ``fairban audit verify|export`` as a person runs them: a real
process, its exit status and output, on a database of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fairban.audit import append, verify_lines
from fairban.db import head_revision, make_engine, session_factory

Tamper = Callable[..., None]


def fairban(
    *args: str, home: Path, url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "FAIRBAN_HOME": str(home)}
    env.pop("FAIRBAN_DATABASE_URL", None)
    if url is not None:
        env["FAIRBAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "fairban.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=120,
    )


def add_entries(url: str, count: int) -> None:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            for n in range(1, count + 1):
                append(
                    session,
                    actor="system:enforce",
                    action="case:measure:apply",
                    subject=f"case:YN-{n}",
                    payload={"n": n, "note": "边境"},
                )
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command",
    [
        ["audit"],
        ["audit", "verify"],
        ["audit", "export"],
        ["audit", "checkpoint"],
        ["audit", "key"],
        ["audit", "prove"],
        ["audit", "verify-proof"],
        ["db"],
    ],
)
def test_the_commands_have_help(command: list[str], tmp_path: Path) -> None:
    done = fairban(*command, "--help", home=tmp_path)
    assert done.returncode == 0
    assert "Usage" in done.stdout


def test_upgrade_export_and_a_tampered_database(
    new_db_url: str, tamper: Tamper, tmp_path: Path
) -> None:
    done = fairban("db", "upgrade", home=tmp_path, url=new_db_url)  # an empty database
    assert done.returncode == 0, done.stderr
    assert f"at migration {head_revision()}" in done.stdout
    assert "fairban:fairban@" not in done.stdout  # no password on screen

    add_entries(new_db_url, 20)
    export_file = tmp_path / "out" / "audit.jsonl"
    done = fairban("audit", "export", "--out", str(export_file), home=tmp_path, url=new_db_url)
    assert done.returncode == 0, done.stderr
    assert f"exported 20 entries to {export_file}, last hash " in done.stdout
    with export_file.open(encoding="utf-8") as lines:
        assert verify_lines(lines).entries == 20

    tamper(
        "DELETE FROM audit_log WHERE id = 17",
        "UPDATE audit_log SET actor = 'reviewer:mallory' WHERE id = 3",
    )
    done = fairban("audit", "verify", home=tmp_path, url=new_db_url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "entry 3 was edited: its fields do not match its hash",
        "entry 18 does not follow entry 16: entry 17 is missing",
    ]


def test_the_embedded_database_from_nothing_to_a_checked_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = fairban("audit", "verify", home=home)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"no database at {home / 'fairban.db'}: run `fairban db upgrade` first"
    )
    assert not home.exists()  # verifying creates nothing

    done = fairban("db", "upgrade", home=home)
    assert done.returncode == 0, done.stderr
    assert (home / "fairban.db").is_file()
    add_entries(f"sqlite:///{home / 'fairban.db'}", 12)
    done = fairban("audit", "verify", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("audit log intact: 12 entries, last hash ")
    last_hash = done.stdout.split()[-1]

    export_file = tmp_path / "audit.jsonl"
    assert fairban("audit", "export", "-o", str(export_file), home=home).returncode == 0
    done = fairban("audit", "verify", "--file", str(export_file), home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"audit log intact: 12 entries, last hash {last_hash}"

    lines = export_file.read_text(encoding="utf-8").splitlines()
    lines[4], lines[5] = lines[5], lines[4]
    export_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = fairban("audit", "verify", "--file", str(export_file), home=home)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "entry 6 comes before entry 5: the entries are out of order"
    ]


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql://nobody:secret@127.0.0.1:9/none"
    done = fairban("audit", "verify", home=tmp_path, url=url)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("cannot use database postgresql+psycopg://nobody:***@")
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
