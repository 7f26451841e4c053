"""Webhook signatures: HMAC-SHA256 over the timestamp and the body.

The rule (docs/platforms.md shows a platform's side in ten lines):

- the signed text is ``f"{t}.{body}"``: ``t`` the Unix time in seconds when it was
  sent, ``body`` the exact bytes of the request body; a request without a body (a GET)
  signs its path and query (``/accounts?after=x``) in the body's place;
- the signature is the lowercase hex HMAC-SHA256 of those bytes, keyed with the
  platform's secret (UTF-8);
- it travels as ``Fairban-Signature: t=<t>,v1=<hex>``; several ``v1=`` may be given
  (secret rotation), one matching is enough;
- a receiver accepts it only when ``|now - t|`` is within the replay window (300 s by
  default) and compares signatures in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from fairban.errors import FairbanError

SIGNATURE_HEADER = "Fairban-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: seconds a signature stays acceptable, either side of the receiver's clock
DEFAULT_TOLERANCE_S = 300
SCHEME = "v1"


class SignatureError(FairbanError):
    """A signature that must be refused; ``reason`` says why in a few words (what a
    platform answers with its 401)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"bad signature: {reason}")


def _bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def signature(secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + _bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes | str, *, timestamp: int | None = None) -> str:
    """The ``Fairban-Signature`` header value for ``body``, signed now (or at
    ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={signature(secret, t, body)}"


def webhook_headers(
    secret: str, body: bytes | str, idempotency_key: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """Every header a webhook carries besides the transport's own."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body, timestamp=timestamp),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """``(t, [signatures])`` from a header value; raises :class:`SignatureError` when it
    is missing or malformed."""
    if header is None or not header.strip():
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header")
        if name == "t":
            if not value.isascii() or not value.isdigit():
                raise SignatureError("timestamp is not a whole number of seconds")
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value)
        # other schemes are ignored: a newer sender may add some beside v1
    if timestamp is None:
        raise SignatureError("no timestamp")
    if not signatures:
        raise SignatureError(f"no {SCHEME} signature")
    return timestamp, signatures


def verify(
    secret: str | Sequence[str],
    header: str | None,
    body: bytes | str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a ``Fairban-Signature`` header against ``body``; returns its timestamp.

    ``secret`` may be several (during a rotation, any one may have signed). Raises
    :class:`SignatureError` for a missing or malformed header, a timestamp outside the
    replay window, or no matching signature. Comparison is constant-time.
    """
    timestamp, given = parse_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            f"timestamp {timestamp} is outside the {tolerance_s:g} s replay window"
        )
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [signature(s, timestamp, body) for s in secrets]
    matched = False
    for candidate in given:
        for wanted in expected:
            # no early exit: the time taken does not say which part matched
            matched |= hmac.compare_digest(candidate.encode("ascii", "replace"), wanted.encode())
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
