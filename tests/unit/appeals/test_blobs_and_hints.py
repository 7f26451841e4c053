"""Uploads are typed by their bytes and stored once by content hash; grounds become
hints from the reasons, never proof."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fairban.appeals.blobs import BlobStore, sniff
from fairban.appeals.recheck import fingerprint, hints
from fairban.web.i18n import ZH

TEMPLATES = Path(__file__).resolve().parents[3] / "src" / "fairban" / "web" / "templates"
PORTAL_VIEWS = Path(__file__).resolve().parents[3] / "src" / "fairban" / "web" / "portal"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\n\n%PDF-1.4 after junk", "application/pdf"),
        (b"MZ\x90\x00", None),  # a Windows program named photo.png
        (b"<svg onload=alert(1)>", None),  # SVG can carry script: not accepted
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_types_come_from_the_bytes(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


def test_the_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    a = store.put(b"%PDF-1.4 one")
    assert store.put(b"%PDF-1.4 one") == a
    assert store.read(a) == b"%PDF-1.4 one"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [a]
    with pytest.raises(ValueError, match="SHA-256"):
        store.path("../../etc/passwd")


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


def test_every_portal_string_has_its_chinese() -> None:
    """Every _("...") of the portal's templates and views is in web/i18n.ZH."""
    pattern = re.compile(r'_\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
    files = [
        *TEMPLATES.glob("*.html"),
        *(TEMPLATES / "portal").glob("*.html"),
        *PORTAL_VIEWS.glob("*.py"),
    ]
    found = {m for f in files for m in pattern.findall(f.read_text(encoding="utf-8"))}
    routes = (PORTAL_VIEWS / "routes.py").read_text(encoding="utf-8")
    # the labels and messages the views pass to _() indirectly
    found |= set(re.findall(r'^\s+\(Ground\.\w+, "([^"]+)"\),$', routes, re.M))
    found |= set(re.findall(r'^\s+"\w+": "([^"]+)",$', routes, re.M))
    missing = sorted(s for s in found if s not in ZH)
    assert missing == []
    assert len(found) > 50
