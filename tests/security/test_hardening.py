"""The smaller safeguards, each tried against the running server: ids that cannot
exist, the security headers on every answer (errors included), sign-out, console
sign-in under attack, the API docs without a CDN, upload polyglots, and the dev code
sender on a public address."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from sqlalchemy import text

from fairban.db import make_engine, session_factory
from fairban.review.models import Role
from fairban.review.users import add_user
from tests.security.conftest import Live, free_port, start_live, wait_for
from tests.support.appeal_world import P4, World, csrf_of, field_of
from tests.support.db import DATABASES, new_database


def assert_guarded(r: httpx.Response) -> None:
    """The headers every answer carries (``fairban.web.app.SECURITY_HEADERS``)."""
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, (r.status_code, r.request.url)
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_ids_that_cannot_exist_are_404(live: Live) -> None:
    c = live.client()
    live.sign_in(c, P4)
    huge = "99999999999999999999"
    for path in (
        f"/case/export/{huge}",
        f"/case/export/{huge}/download",
        f"/case/export/{2**31}",
        "/case/export/-1",
        "/case/export/x",
        f"/console/appeals/{huge}",
        f"/console/uploads/{huge}",
    ):
        r = c.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert_guarded(r)
    r = c.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert_guarded(r)
    r = c.post("/api/v1/access/link", content=b"x" * 100_000)
    assert r.status_code == 413
    assert_guarded(r)


@pytest.fixture(params=DATABASES)
def breakable(
    request: pytest.FixtureRequest, tmp_path: Path, appeal_world: World
) -> Iterator[Live]:
    """A server of the test's own: its database is broken under it."""
    with new_database(request.param, tmp_path) as url:
        server = start_live(tmp_path, url, appeal_world)
        try:
            yield server
        finally:
            server.stop()


def test_a_server_error_carries_the_security_headers(breakable: Live) -> None:
    c = breakable.client()
    breakable.sign_in(c, P4)
    engine = make_engine(breakable.url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE portal_sessions RENAME TO portal_sessions_gone"))
    finally:
        engine.dispose()
    r = c.get("/case")
    assert r.status_code == 500
    assert_guarded(r)
    assert "portal_sessions" not in r.text  # no database error for the visitor


def test_sign_out_ends_the_session_on_the_server(live: Live) -> None:
    c = live.client()
    live.sign_in(c, P4)
    cookie = c.cookies["fb_portal"]
    page = c.get("/case")
    assert page.status_code == 200
    assert c.post("/signout", data={"csrf": csrf_of(page.text)}).status_code == 303
    replay = live.client(cookies={"fb_portal": cookie})
    r = replay.get("/case")
    assert r.status_code == 303
    assert r.headers["location"] == "/verify"


def console_login(c: httpx.Client, name: str, password: str) -> httpx.Response:
    c.cookies.set("fb_lang", "en")  # the console's words in English
    csrf = csrf_of(c.get("/console/login").text)
    return c.post("/console/login", data={"name": name, "password": password, "csrf": csrf})


def test_wrong_passwords_elsewhere_do_not_lock_a_user_out(live: Live) -> None:
    engine = make_engine(live.url)
    try:
        with session_factory(engine)() as session, session.begin():
            add_user(session, "alice", Role.REVIEWER, "alice's long password", datetime.now(UTC))
    finally:
        engine.dispose()
    # the attacker's own address (another loopback one: a real, different socket)
    attacker = live.client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    answers = [console_login(attacker, "alice", f"guess {i}").text for i in range(15)]
    assert all("Wrong name or password" in a for a in answers[:10])
    assert all("Too many tries" in a for a in answers[10:])
    # even the right password, from the attacker's address, waits
    assert "Too many tries" in console_login(attacker, "alice", "alice's long password").text
    # alice, from her own address, signs in
    r = console_login(live.client(), "alice", "alice's long password")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/queue"


def test_the_api_docs_load_nothing_from_elsewhere(live: Live) -> None:
    c = live.client()
    page = c.get("/api/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset  # same origin, no CDN
        assert c.get(asset).status_code == 200, asset
    assert c.get("/api/openapi.json").json()["info"]["title"] == "fairban"


def pdf_with_javascript() -> bytes:
    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(width=72, height=72)
    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    writer.write(out)
    return out.getvalue()


POLYGLOTS = {
    "polyglot.pdf": b"%PDF-1.4\n<html><body><script>alert(document.domain)</script>",
    "junk-first.pdf": b"<html><script>alert(1)</script></html>\n%PDF-1.4\n",
    "active.pdf": pdf_with_javascript(),
    "photo.png": b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
}


def test_upload_polyglots_are_refused(live: Live) -> None:
    c = live.client()
    live.sign_in(c, P4)
    for name, data in POLYGLOTS.items():
        page = c.get("/case").text
        r = c.post(
            "/case/appeal",
            data={
                "csrf": csrf_of(page),
                "submit_key": field_of(page, "submit_key"),
                "grounds": ["never_been_there"],
            },
            files=[("files", (name, data, "application/octet-stream"))],
        )
        assert r.status_code == 400, (name, r.status_code)
        assert name in r.text  # the page says which file


def serve(host: str, port: int, home: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FAIRBAN_HOME": str(home),
        "FAIRBAN_OTP_SENDER": "dev",
        "FAIRBAN_DATABASE_URL": f"sqlite:///{home / 'fairban.db'}",
        "FAIRBAN_SECRET_KEY": "hardening-test-key",
    }
    env.pop("FAIRBAN_EVIDENCE_DIR", None)
    cmd = [sys.executable, "-m", "fairban.cli", "serve", "--host", host, "--port", str(port)]
    return subprocess.Popen(
        [*cmd, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=home
    )


def test_serve_on_a_public_address_refuses_the_dev_code_sender(tmp_path: Path) -> None:
    proc = serve("0.0.0.0", free_port(), tmp_path)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "FAIRBAN_OTP_SENDER=dev" in lines[0]
    assert "--dev" in lines[0]
    # told --dev, it serves
    port = free_port()
    proc = serve("0.0.0.0", port, tmp_path, "--dev")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/health"
        wait_for(lambda: httpx.get(url).is_success, "fairban serve --dev")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
