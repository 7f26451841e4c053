"""Webhook signatures: what a platform accepts and every reason it refuses."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest

from fairban.platforms.signing import (
    SignatureError,
    parse_header,
    sign,
    signature,
    verify,
    webhook_headers,
)

SECRET = "whsec-test-0123456789"
BODY = '{"account_id":"wxid_边境","id":"k1","type":"measure.apply"}'


def test_a_signed_body_verifies_and_gives_its_time() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, header, BODY.encode(), now=1_700_000_010) == 1_700_000_000


def test_the_rule_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # what docs/platforms.md tells a platform to compute, written out by hand
    expected = hmac.new(
        SECRET.encode(), b"1700000000." + BODY.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    assert signature(SECRET, 1_700_000_000, BODY) == expected
    assert sign(SECRET, BODY, timestamp=1_700_000_000) == f"t=1700000000,v1={expected}"


def test_webhook_headers() -> None:
    headers = webhook_headers(SECRET, BODY, "k1")
    assert headers["Idempotency-Key"] == "k1"
    assert headers["Content-Type"] == "application/json"
    assert verify(SECRET, headers["Fairban-Signature"], BODY) <= time.time()


def test_a_rotated_secret_and_several_signatures() -> None:
    header = sign("old-secret-0123456789", BODY)
    assert verify(["new-secret-0123456789", "old-secret-0123456789"], header, BODY)
    t, sigs = parse_header(header)
    both = f"t={t},v1={'0' * 64},v1={sigs[0]},v0=ignored"
    assert verify("old-secret-0123456789", both, BODY) == t


NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("header", "body", "reason"),
    [
        (None, BODY, "no Fairban-Signature header"),
        ("", BODY, "no Fairban-Signature header"),
        ("garbage", BODY, "malformed Fairban-Signature header"),
        (f"v1={signature(SECRET, NOW, BODY)}", BODY, "no timestamp"),
        (f"t={NOW}", BODY, "no v1 signature"),
        (f"t=soon,v1={signature(SECRET, NOW, BODY)}", BODY, "not a whole number"),
        (f"t=-5,v1={signature(SECRET, NOW, BODY)}", BODY, "not a whole number"),
        (sign(SECRET, BODY, timestamp=NOW), BODY.replace("apply", "lift"), "does not match"),
        (sign(SECRET, BODY, timestamp=NOW), BODY + " ", "does not match"),
        (sign("another-secret-0123", BODY, timestamp=NOW), BODY, "does not match"),
        (f"t={NOW},v1={'g' * 64}", BODY, "does not match"),
        (f"t={NOW},v1=边境", BODY, "does not match"),
        (f"t={NOW + 1},v1={signature(SECRET, NOW, BODY)}", BODY, "does not match"),
        (sign(SECRET, BODY, timestamp=NOW - 301), BODY, "outside the 300 s replay window"),
        (sign(SECRET, BODY, timestamp=NOW + 301), BODY, "outside the 300 s replay window"),
    ],
)
def test_refusals(header: str | None, body: str, reason: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, header, body, now=NOW)
    assert reason in caught.value.reason
    assert str(caught.value).startswith("bad signature: ")


def test_the_window_is_inclusive_and_adjustable() -> None:
    assert verify(SECRET, sign(SECRET, BODY, timestamp=NOW - 300), BODY, now=NOW)
    with pytest.raises(SignatureError, match="outside the 5 s"):
        verify(SECRET, sign(SECRET, BODY, timestamp=NOW - 6), BODY, now=NOW, tolerance_s=5)


def test_the_snippet_in_the_docs_verifies_as_written() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "platforms.md").read_text(encoding="utf-8")
    snippet = doc.split("<!-- verify-snippet -->\n```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) <= 10  # what the docs promise
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    check = namespace["verify"]
    body = BODY.encode()
    assert check(SECRET, sign(SECRET, body), body) is True
    assert check(SECRET, webhook_headers(SECRET, body, "k1")["Fairban-Signature"], body)
    assert check(SECRET, sign(SECRET, body), body + b" ") is False
    assert check("another-secret-0123", sign(SECRET, body), body) is False
    assert check(SECRET, sign(SECRET, body, timestamp=int(time.time()) - 301), body) is False
    assert check(SECRET, "t=,v1=", body) is False
    assert check(SECRET, "garbage", body) is False
