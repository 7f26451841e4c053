"""Tokens that stand for a person: random, stored as a hash, checked one way."""

from __future__ import annotations

import hashlib

from fairban.tokens import matches, new_token, same, sha256_hex


def test_tokens_are_random_and_url_safe() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    token = next(iter(tokens))
    assert len(token) == 43  # 32 random bytes, base64 without padding
    assert all(c.isalnum() or c in "-_" for c in token)
    assert len(new_token(16)) == 22


def test_a_token_matches_only_its_own_hash() -> None:
    token = new_token()
    stored = sha256_hex(token)
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert matches(token, stored)
    assert not matches(token[:-1], stored)
    assert not matches(new_token(), stored)
    assert not matches(stored, stored)  # the hash itself is no token


def test_empty_never_matches() -> None:
    assert not matches("", sha256_hex(""))
    assert not matches(None, sha256_hex("x"))
    assert not matches("x", None)
    assert not matches("x", "")
    assert not same("", "")
    assert not same(None, None)


def test_secrets_kept_as_they_are_compare_exactly() -> None:
    assert same("+8613800138000", "+8613800138000")
    assert not same("+8613800138000", "+8613800138001")
    assert same("验证", "验证")  # compared as UTF-8 bytes
