"""An appellant sees only their own case: other case numbers, wrong and replayed
tokens, wrong codes, expired sessions; rate limits; security headers; no personal data
in the server's log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.appeal_world import F1, P3, P4, csrf_of


def test_wrong_or_other_tokens_open_nothing(portal: Any) -> None:
    c, seeded = portal.client, portal.seeded
    p4, f1 = seeded.numbers[P4], seeded.numbers[F1]
    # one character changed (a token that already ended in "x" was once left as it was)
    tampered = seeded.tokens[P4][:-1] + ("y" if seeded.tokens[P4].endswith("x") else "x")
    for number, token in (
        (p4, seeded.tokens[F1]),  # someone else's token
        (f1, seeded.tokens[P4]),
        (p4, ""),
        (p4, tampered),
        ("FB-2019-999999", seeded.tokens[P4]),
    ):
        # the case's sign-in by code (the SMS's bare link), never the case itself
        r = c.get(f"/c/{number}", params={"t": token}, follow_redirects=False)
        assert r.status_code == 200, (number, token)
        assert 'action="/c/' in r.text
        assert "fb_portal" not in r.cookies
    r = c.get(f"/c/{'x' * 500}", params={"t": "y"}, follow_redirects=False)
    assert r.status_code == 404
    assert "fb_portal" not in r.cookies
    assert c.get("/case", follow_redirects=False).headers["location"] == "/verify"


def test_a_verified_session_sees_its_own_case_only(portal: Any) -> None:
    portal.sign_in(P4)
    c = portal.client
    page = c.get("/case")
    assert portal.seeded.numbers[P4] in page.text
    assert portal.seeded.numbers[F1] not in page.text
    # the API with the same kind of session: the session's case, never another
    r = c.get("/api/v1/case")
    assert r.status_code == 401  # the cookie is not a bearer token
    # someone else's export id
    assert c.get("/case/export/1").status_code == 404


def test_phone_route_reveals_nothing_and_wrong_phone_never_verifies(portal: Any) -> None:
    c, seeded = portal.client, portal.seeded
    number = seeded.numbers[P4]
    r_ok = c.post(
        "/start",
        data={"case_number": number, "phone": seeded.phones[P4]},
        follow_redirects=False,
    )
    c.cookies.clear()
    r_bad = c.post(
        "/start", data={"case_number": number, "phone": "+8613999999999"}, follow_redirects=False
    )
    r_none = c.post(
        "/start", data={"case_number": "FB-0000-000000", "phone": "+861"}, follow_redirects=False
    )
    assert r_ok.status_code == r_bad.status_code == r_none.status_code == 303
    assert r_ok.headers["location"] == r_bad.headers["location"] == "/verify?sent=1"
    assert c.get("/case", follow_redirects=False).status_code == 303


def test_wrong_codes_lock_and_a_used_code_cannot_be_replayed(portal: Any) -> None:
    c, seeded = portal.client, portal.seeded
    c.get(f"/c/{seeded.numbers[P4]}", params={"t": seeded.tokens[P4]})
    csrf = csrf_of(c.get("/verify").text)
    c.post("/verify/send", data={"csrf": csrf})
    right = portal.code(P4)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(portal.settings.otp_max_tries - 1):
        r = c.post("/verify", data={"csrf": csrf, "code": wrong})
        assert r.status_code == 400
        assert "验证码错误" in r.text
    r = c.post("/verify", data={"csrf": csrf, "code": wrong})
    assert "错误次数过多" in r.text
    # locked: even the right code no longer works
    r = c.post("/verify", data={"csrf": csrf, "code": right})
    assert r.status_code == 400
    # a new code works once; replaying it does not
    c.post("/verify/send", data={"csrf": csrf})
    fresh = portal.code(P4)
    assert (
        c.post("/verify", data={"csrf": csrf, "code": fresh}, follow_redirects=False).status_code
        == 303
    )
    c2 = portal.client.__class__(portal.client.app)
    c2.get(f"/c/{seeded.numbers[P4]}", params={"t": seeded.tokens[P4]})
    csrf2 = csrf_of(c2.get("/verify").text)
    r = c2.post("/verify", data={"csrf": csrf2, "code": fresh})
    assert r.status_code == 400


def test_code_requests_are_rate_limited(portal: Any) -> None:
    c, seeded = portal.client, portal.seeded
    c.get(f"/c/{seeded.numbers[P4]}", params={"t": seeded.tokens[P4]})
    csrf = csrf_of(c.get("/verify").text)
    codes = [
        c.post("/verify/send", data={"csrf": csrf}, follow_redirects=False).status_code
        for _ in range(portal.settings.otp_requests_per_window + 2)
    ]
    assert codes[: portal.settings.otp_requests_per_window] == [303] * 5
    assert codes[-1] == 429


def test_forms_without_the_session_csrf_are_refused(portal: Any) -> None:
    portal.sign_in(P4)
    r = portal.client.post(
        "/case/appeal", data={"csrf": "forged", "submit_key": "k" * 20, "grounds": ["other"]}
    )
    assert r.status_code == 400


def test_security_headers_on_every_page(portal: Any) -> None:
    for path in ("/", "/verify", "/console/login", "/api/v1/health", "/c/FB-1?t=x"):
        r = portal.client.get(path)
        h = r.headers
        assert "default-src 'self'" in h["content-security-policy"], path
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="fairban.web")
    return caplog


def test_the_log_holds_no_token_phone_or_case_number(portal: Any, log_lines: Any) -> None:
    seeded = portal.seeded
    portal.client.post(
        "/start", data={"case_number": seeded.numbers[P3[0]], "phone": seeded.phones[P3[0]]}
    )
    portal.sign_in(P4)
    text = "\n".join(r.getMessage() for r in log_lines.records if r.name == "fairban.web")
    assert "/c/{number}" in text  # the route template is logged
    for secret in (
        seeded.tokens[P4],
        seeded.numbers[P4],
        seeded.phones[P3[0]],
        seeded.numbers[P3[0]],
    ):
        assert secret not in text


def test_secret_key_is_written_once_when_not_in_the_environment(tmp_path: Path) -> None:
    from fairban.appeals.codes import secret_key
    from fairban.config import Settings

    s = Settings(home=tmp_path)
    first = secret_key(s)
    assert len(first) == 64
    assert secret_key(s) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert secret_key(Settings(home=tmp_path, secret_key="from-env")) == "from-env"


def test_nul_characters_are_refused_not_a_server_error(portal: Any) -> None:
    """Found by Schemathesis: PostgreSQL refuses NUL in any text."""
    c = portal.client
    assert c.get("/c/FB-2019-000011%00", params={"t": "x"}).status_code == 404
    r = c.post("/api/v1/access/link", json={"case_number": "FB\x00", "token": "t"})
    assert r.status_code == 422
    assert (
        c.post(
            "/start", data={"case_number": "FB\x00", "phone": "1"}, follow_redirects=False
        ).status_code
        == 303
    )
    page = c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"name": "a\x00b", "password": "p" * 12, "csrf": csrf_of(page.text)},
    )
    assert r.status_code == 401
