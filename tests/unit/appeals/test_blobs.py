"""Uploads are typed by their bytes and stored once by content hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairban.appeals.blobs import BlobStore, sniff


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
