"""The re-check's evidence state and its hints: a changed evidence file is a new state;
grounds become hints from the reasons, never proof."""

from __future__ import annotations

import json
from pathlib import Path

from fairban.appeals.recheck import hints
from fairban.contract.fingerprint import fingerprint


def test_fingerprint_changes_with_any_evidence_file(tmp_path: Path) -> None:
    (tmp_path / "observations").mkdir()
    f = tmp_path / "observations" / "part-0.parquet"
    f.write_bytes(b"a")
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before
    f.write_bytes(b"ab")
    assert fingerprint(tmp_path) != before


REASONS = json.dumps(
    [
        {"code": "PRESENCE_SUSTAINED", "text": "46 nights in Laukkai", "weight": 2.0},
        {"code": "CONTACT_CONFIRMED", "text": "messages with confirmed accounts", "weight": 0.0},
        {"code": "DEVICE_FARM", "text": "shared phones", "weight": 3.0},
    ]
)


def test_never_been_there_is_contradicted_by_presence() -> None:
    (hint,) = hints(["never_been_there"], REASONS)
    assert hint["contradicted_by"] == ["PRESENCE_SUSTAINED: 46 nights in Laukkai"]


def test_grounds_without_contrary_evidence_are_consistent() -> None:
    (hint,) = hints(["never_been_there"], "[]")
    assert "contradicted_by" not in hint
    (knows,) = hints(["know_the_person"], REASONS)
    assert knows["contradicted_by"] == []
    assert knows["consistent_with"] == ["CONTACT_CONFIRMED: messages with confirmed accounts"]
