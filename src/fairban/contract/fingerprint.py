"""What an evidence folder is now, in one hash: a new or changed file changes it.

Cheap (names, sizes and modification times, no contents read): used to tell whether
work done on a folder (the re-check's decisions, a preview's features) still holds.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fingerprint(data_dir: Path) -> str:
    """A hash of every file's relative path, size and modification time below
    ``data_dir``: changes when any evidence file does."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            stat = path.stat()
            rel = path.relative_to(data_dir).as_posix()
            digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
