"""What fairban hashes, and how: one canonical JSON text and its SHA-256.

The audit log's entries, a directive version's identity and a decision's evidence are
all identified by the SHA-256 of the same canonical JSON, so two writers of the same
facts always agree on the hash. Pure: no database.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """The one JSON text of ``obj`` that is hashed: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sha256_hex(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), as 64 hex digits."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
