"""Secrets that stand for a person: random tokens, and the one way to check one.

Only a token's SHA-256 is ever stored (notice links, portal and console sessions);
:func:`matches` compares a presented token with a stored hash in constant time. Pure:
no database, no web.
"""

from __future__ import annotations

import hmac
import secrets

from fairban.digests import sha256_hex

__all__ = ["TOKEN_MASK", "matches", "new_token", "same", "sha256_hex"]

#: what stands for a one-time token in anything stored or shown after it went out
TOKEN_MASK = "…"


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token of ``nbytes`` random bytes (256 bits by default)."""
    return secrets.token_urlsafe(nbytes)


def matches(token: str | None, stored_hash: str | None) -> bool:
    """Whether ``token`` is the one whose SHA-256 is ``stored_hash`` (constant time);
    an empty token or hash never matches."""
    if not token or not stored_hash:
        return False
    return hmac.compare_digest(sha256_hex(token), stored_hash)


def same(given: str | None, expected: str | None) -> bool:
    """Whether two secrets kept as they are (a CSRF token, a phone) are equal, in
    constant time; empty never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
