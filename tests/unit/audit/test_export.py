"""Export and offline verification: by fairban (verify_lines) and by the short script in
docs/audit.md that anyone can run without fairban."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from fairban.audit import FIELDS, GENESIS_HASH, ProblemKind, append, export, verify, verify_lines
from fairban.digests import sha256_hex

DOC = Path(__file__).resolve().parents[3] / "docs" / "audit.md"


def doc_script() -> str:
    """The verification script of docs/audit.md, exactly as published there."""
    section = DOC.read_text(encoding="utf-8").split("## Verify an export yourself", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "docs/audit.md lost its verification script"
    return found.group(1)


@pytest.fixture
def lines(session: Session) -> list[str]:
    """An export of 20 entries (some with Chinese in them), as lines."""
    for n in range(1, 21):
        append(
            session,
            actor="reviewer:张伟" if n % 7 == 0 else "system:enforce",
            action="case:measure:lift" if n % 5 == 0 else "case:measure:apply",
            subject=f"case:YN-2019-{n:06d}",
            payload={"n": n, "area": "缅甸掸邦第四特区", "risk": n / 20},
        )
    session.commit()
    out = io.StringIO()
    exported = export(session, out)
    assert exported.entries == 20
    assert exported.last_hash == verify(session).last_hash
    return out.getvalue().splitlines()


def problems(lines: list[str]) -> list[str]:
    return [p.message for p in verify_lines(lines).problems]


def test_an_export_has_every_field_and_verifies_offline(lines: list[str]) -> None:
    first = json.loads(lines[0])
    assert list(first) == list(FIELDS)
    assert first["id"] == 1
    assert first["prev_hash"] == GENESIS_HASH
    assert first["at"].endswith("Z")
    assert "缅甸掸邦第四特区" in lines[0]  # UTF-8 as is, readable
    report = verify_lines(lines)
    assert report.ok, report.problems
    assert report.entries == 20
    assert report.last_hash == json.loads(lines[-1])["entry_hash"]


def test_an_edited_line_is_named(lines: list[str]) -> None:
    lines[16] = lines[16].replace('\\"n\\":17', '\\"n\\":71')
    assert problems(lines) == ["entry 17 was edited: its payload does not match its hash"]


def test_a_deleted_line_is_named(lines: list[str]) -> None:
    del lines[16]
    assert problems(lines) == ["entry 18 does not follow entry 16: entry 17 is missing"]


def test_moved_lines_are_named_as_out_of_order(lines: list[str]) -> None:
    lines[16], lines[17] = lines[17], lines[16]
    report = verify_lines(lines)
    assert [p.message for p in report.problems] == [
        "entry 18 comes before entry 17: the entries are out of order"
    ]
    assert report.problems[0].kind is ProblemKind.REORDERED
    # a line moved far down is not a deletion either
    moved = lines[:2] + lines[3:] + lines[2:3]
    moved = [line for line in moved if line]
    assert verify_lines(moved).problems[0].kind is ProblemKind.REORDERED


def test_a_gap_partly_filled_further_on_names_both(lines: list[str]) -> None:
    late = lines[11]
    del lines[10:13]  # 11, 12 and 13 gone ...
    lines.append(late)  # ... and 12 at the end
    assert problems(lines) == [
        "entry 14 does not follow entry 10: entries 11, 13 are missing",
        "entry 12 is out of order: it comes after entry 20",
    ]


def test_a_repeated_line_and_a_broken_line_are_named(lines: list[str]) -> None:
    lines.insert(5, lines[2])
    lines.insert(9, '{"id": 8, "at": "2019-10-01"')
    lines.insert(12, "")  # blank lines are nothing
    assert problems(lines) == [
        "entry 3 appears twice",
        "line 10 is not an audit entry: not JSON (Expecting ',' delimiter)",
    ]


def test_a_line_missing_fields_is_named() -> None:
    assert problems(['{"id": 1, "at": "x"}', "[1]", '{"id": true}']) == [
        "line 1 is not an audit entry: no actor, action, subject, payload, payload_hash, "
        "prev_hash, entry_hash",
        "line 2 is not an audit entry: not a JSON object",
        "line 3 is not an audit entry: no at, actor, action, subject, payload, payload_hash, "
        "prev_hash, entry_hash",
    ]


def test_a_first_entry_that_does_not_start_the_chain_is_named(lines: list[str]) -> None:
    first = json.loads(lines[0])
    first["prev_hash"] = "1" * 64
    line = json.dumps(
        [first[k] for k in ("id", "at", "actor", "action", "subject", "payload_hash")]
        + [first["prev_hash"]],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    first["entry_hash"] = sha256_hex(line)
    lines[0] = json.dumps(first, ensure_ascii=False)
    assert problems(lines)[0] == (
        "entry 1 does not start the chain: its previous hash is not 64 zeros"
    )


def run_doc_script(export_file: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "verify_audit.py"
    script.write_text(doc_script(), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(script), str(export_file)],  # -I: no fairban on the path
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def test_the_documented_script_is_short_and_plain() -> None:
    script = doc_script()
    assert len(script.strip().splitlines()) <= 22
    imports = set(re.findall(r"^import (.+)$", script, re.MULTILINE))
    assert imports == {"hashlib, json, sys"}
    assert "from " not in script


def test_the_documented_script_accepts_an_intact_export(lines: list[str], tmp_path: Path) -> None:
    export_file = tmp_path / "audit.jsonl"
    export_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_doc_script(export_file, tmp_path)
    assert done.returncode == 0, done.stderr
    last = json.loads(lines[-1])["entry_hash"]
    assert done.stdout.strip() == f"audit log intact: 20 entries, last hash {last}"


@pytest.mark.parametrize(
    ("tampering", "message"),
    [
        ("edit", "entry 17 was edited: its payload does not match its hash"),
        ("delete", "entry 18 does not follow entry 16: entries are missing or moved"),
        ("reorder", "entry 18 does not follow entry 16: entries are missing or moved"),
        ("rename", "entry 4 was edited: its fields do not match its hash"),
    ],
)
def test_the_documented_script_rejects_a_tampered_export(
    lines: list[str], tmp_path: Path, tampering: str, message: str
) -> None:
    if tampering == "edit":
        lines[16] = lines[16].replace('\\"n\\":17', '\\"n\\":71')
    elif tampering == "delete":
        del lines[16]
    elif tampering == "reorder":
        lines[16], lines[17] = lines[17], lines[16]
    else:
        lines[3] = lines[3].replace("system:enforce", "reviewer:alice")
    export_file = tmp_path / "audit.jsonl"
    export_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_doc_script(export_file, tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == message
    # and fairban agrees that something is wrong with that entry
    assert not verify_lines(lines).ok
