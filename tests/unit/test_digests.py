"""One canonical JSON text and its SHA-256: two writers of the same facts agree."""

from __future__ import annotations

import hashlib

import pytest

from fairban.digests import canonical_json, sha256_hex


def test_the_same_facts_give_the_same_text_whatever_the_key_order() -> None:
    one = canonical_json({"b": 1, "a": {"y": [1, 2], "x": "老街"}})
    other = canonical_json({"a": {"x": "老街", "y": [1, 2]}, "b": 1})
    assert one == other == '{"a":{"x":"老街","y":[1,2]},"b":1}'  # no spaces, UTF-8 as is


def test_what_json_cannot_say_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"risk": float("nan")})


def test_sha256_of_the_utf8_text() -> None:
    assert sha256_hex("") == hashlib.sha256(b"").hexdigest()
    assert sha256_hex("老街") == hashlib.sha256("老街".encode()).hexdigest()
    assert len(sha256_hex("x")) == 64
    assert sha256_hex(canonical_json({"a": 1, "b": 2})) == sha256_hex('{"a":1,"b":2}')
