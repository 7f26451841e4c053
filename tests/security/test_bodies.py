"""Request bodies are bounded while they stream: a huge chunked upload or JSON body is
answered 413 after a bounded read, the server's memory barely moves, a 422 never
echoes the input, and refused requests count against the client's address."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import Live, start_live
from tests.support.appeal_world import P4, World
from tests.support.db import DATABASES, new_database

MiB = 1024 * 1024
BOUNDARY = "fairbanboundary"


class Body:
    """A body of ``total`` bytes made as it is sent (never in memory): ``head``, then
    filler; ``sent`` says how much the client got to send."""

    def __init__(self, head: bytes, total: int, filler: bytes = b"A") -> None:
        self.head, self.total, self.filler, self.sent = head, total, filler, 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = self.filler * MiB
        yield self.head
        self.sent = len(self.head)
        while self.sent < self.total:
            yield chunk
            self.sent += len(chunk)


def multipart(total: int) -> Body:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
        'filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\n'
    ).encode()
    return Body(head, total)


def post_streamed(live: Live, path: str, body: Body, content_type: str, **kw: object) -> tuple:
    """POST ``body`` chunked (no Content-Length); returns (response, seconds, RSS growth)."""
    before = live.rss()
    started = time.monotonic()
    with live.client() as c:
        r = c.post(path, content=iter(body), headers={"Content-Type": content_type}, **kw)  # type: ignore[arg-type]
    return r, time.monotonic() - started, live.rss() - before


def test_a_200_mib_chunked_upload_without_a_cookie_is_refused_unread(live: Live) -> None:
    body = multipart(200 * MiB)
    r, seconds, grown = post_streamed(
        live, "/case/appeal", body, f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert r.status_code == 413
    assert seconds < 10
    # without a session the appeal form is bounded like any form: the server stopped
    # reading long before the end (what it had not read, the client could not send)
    assert body.sent < 32 * MiB, body.sent
    assert grown < 40 * MiB, grown
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_a_signed_in_upload_is_bounded_by_the_stated_limit(live: Live) -> None:
    s = live.settings
    stated = s.upload_max_files * s.upload_max_bytes
    c = live.client()
    live.sign_in(c, P4)
    body = multipart(200 * MiB)
    before = live.rss()
    started = time.monotonic()
    r = c.post(
        "/case/appeal",
        content=iter(body),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=60.0,
    )
    assert r.status_code == 413
    assert time.monotonic() - started < 20
    assert body.sent < stated + 32 * MiB, body.sent
    assert live.rss() - before < 40 * MiB


def test_a_100_mib_chunked_json_body_is_refused_unread(live: Live) -> None:
    body = Body(b'{"case_number": "', 100 * MiB)
    r, seconds, grown = post_streamed(live, "/api/v1/access/link", body, "application/json")
    assert r.status_code == 413
    assert seconds < 10
    assert body.sent < 32 * MiB, body.sent
    assert grown < 40 * MiB, grown


def test_a_declared_length_over_the_bound_is_refused_before_reading(live: Live) -> None:
    c = live.client()
    r = c.post(
        "/api/v1/access/link",
        content=b"{" + b" " * 10_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json() == {"detail": "request too large"}


def test_a_422_does_not_echo_the_input(live: Live) -> None:
    c = live.client()
    marker = "ECHO-" + "x" * 100
    r = c.post("/api/v1/access/link", json={"case_number": marker, "token": ["ECHO-TOKEN"]})
    assert r.status_code == 422
    assert "ECHO" not in r.text
    errors = r.json()["detail"]
    assert {tuple(e["loc"]) for e in errors} == {("body", "case_number"), ("body", "token")}
    assert all(set(e) == {"loc", "msg", "type"} for e in errors)
    # the portal's broken form: a page, and no echo either
    r = c.post("/start", data={"case_number": "ECHO-" + "y" * 100, "phone": "1"})
    assert r.status_code == 400
    assert "ECHO" not in r.text


@pytest.fixture(params=DATABASES)
def strict(request: pytest.FixtureRequest, tmp_path: Path, appeal_world: World) -> Iterator[Live]:
    """A server of the test's own (its address gets refused) with 3 refusals a window."""
    with new_database(request.param, tmp_path) as url:
        server = start_live(tmp_path, url, appeal_world, env={"FAIRBAN_REFUSALS_PER_WINDOW": "3"})
        try:
            yield server
        finally:
            server.stop()


def test_refused_requests_count_against_the_address(strict: Live) -> None:
    c = strict.client()
    number, phone = strict.seeded.numbers[P4], strict.seeded.phones[P4]
    assert c.post("/start", data={"case_number": number, "phone": phone}).status_code == 303
    refusals = [
        c.post("/api/v1/access/link", json={"case_number": 1}),  # 422
        c.post("/api/v1/access/link", content=b"x" * 10_000),  # 413
        c.post("/start", data={"case_number": "x" * 100}),  # 400, a broken form
        c.post(
            "/case/appeal",
            content=iter(multipart(40 * MiB)),  # type: ignore[arg-type]
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        ),
    ]
    assert [r.status_code for r in refusals] == [422, 413, 400, 413]
    # over the limit: the address's writes are refused unread, even a right one ...
    r = c.post("/start", data={"case_number": number, "phone": phone})
    assert r.status_code == 429
    assert "default-src 'self'" in r.headers["content-security-policy"]
    # ... its reads are not (a carrier's NAT puts many people behind one address)
    assert c.get("/").status_code == 200
