"""Files outside the database, named by the SHA-256 of their bytes.

Appeal uploads and data exports are written once to ``HOME/blobs/ab/abcdef...``; the
same bytes twice are one file. Types are sniffed from the bytes (magic numbers), never
taken from the file name or the client's ``Content-Type``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: what an appellant may upload: images and PDF, told apart by their first bytes
ALLOWED_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heif", "application/pdf")
#: the ISO base media file brands of HEIF pictures (an iPhone's HEIC, Android's HEIF)
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are (PNG, JPEG, WebP, HEIF, PDF), else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "image/heif"
    # a PDF header may follow a little junk; readers look within the first 1024 bytes
    if b"%PDF-" in data[:1024]:
        return "application/pdf"
    return None


@dataclass(frozen=True)
class BlobStore:
    """Content-addressed files under ``root``."""

    root: Path

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (atomically, fsynced) and return its SHA-256; storing the
        same bytes again writes nothing."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()
