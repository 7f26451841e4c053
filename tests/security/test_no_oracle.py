"""No oracle: whether a case number and phone match tells an outsider nothing, on the
portal (``/start``, ``/verify``) and the API (``/api/v1/access/...``): the same status,
body (but for per-request random values), cookie, next steps and timing.

The server sends codes through a real HTTP SMS gateway (a local one of the test's own,
which answers after a while, as real gateways do), so a code sent while the client
waits would show in the timing."""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.security.conftest import Live, start_live
from tests.support.appeal_world import P4, World
from tests.support.db import DATABASES, new_database

GATEWAY_DELAY_S = 0.25
TRIES = 25


class Gateway(ThreadingHTTPServer):
    sent: list[bytes]


class _Slow(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(GATEWAY_DELAY_S)
        self.server.sent.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, appeal_world: World
) -> Iterator[tuple[Live, Gateway]]:
    gateway = Gateway(("127.0.0.1", 0), _Slow)
    gateway.sent = []
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    root: Path = tmp_path_factory.mktemp("oracle")
    env = {
        "FAIRBAN_OTP_SENDER": "http",
        "FAIRBAN_SMS_GATEWAY_URL": f"http://127.0.0.1:{gateway.server_address[1]}/sms",
        "FAIRBAN_OTP_REQUESTS_PER_WINDOW": "100000",  # the limits are not under test here
    }
    try:
        with new_database(request.param, root) as url:
            live = start_live(root, url, appeal_world, env=env)
            try:
                yield live, gateway
            finally:
                live.stop()
    finally:
        gateway.shutdown()


def _pairs(live: Live) -> dict[str, tuple[str, str]]:
    """A matching pair, the right number with a wrong phone (same last four digits, so
    the masked phone a page shows is the same), and a number that does not exist."""
    number, phone = live.seeded.numbers[P4], live.seeded.phones[P4]
    wrong = phone[:-5] + ("1" if phone[-5] != "1" else "2") + phone[-4:]
    return {"match": (number, phone), "wrong": (number, wrong), "none": ("FB-2019-999999", phone)}


RANDOM = [
    (re.compile(r'name="csrf" value="[^"]*"'), 'name="csrf" value=""'),
    (re.compile(r'"session":"[^"]*"'), '"session":""'),
]


def _same(text: str) -> str:
    for pattern, blank in RANDOM:
        text = pattern.sub(blank, text)
    return text


def _portal_walk(live: Live, number: str, phone: str) -> list[object]:
    """Everything an outsider sees: /start, the verify page, a wrong code, a resend."""
    c = live.client()
    r = c.post("/start", data={"case_number": number, "phone": phone})
    seen: list[object] = [r.status_code, r.headers.get("location"), _same(r.text)]
    seen.append(sorted(k for k in r.cookies))  # which cookies are set
    page = c.get("/verify")
    seen += [page.status_code, _same(page.text)]
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    token = csrf.group(1) if csrf else ""
    r = c.post("/verify", data={"csrf": token, "code": "1234567"})  # 7 digits: never a code
    seen += [r.status_code, _same(r.text)]
    r = c.post("/verify/send", data={"csrf": token})
    seen += [r.status_code, r.headers.get("location")]
    return seen


def _api_walk(live: Live, number: str, phone: str) -> list[object]:
    c = live.client()
    r = c.post("/api/v1/access/phone", json={"case_number": number, "phone": phone})
    seen: list[object] = [r.status_code, _same(r.text), sorted(k for k in r.cookies)]
    auth = {"Authorization": f"Bearer {r.json().get('session', '')}"}
    r = c.post("/api/v1/access/code", headers=auth)
    seen += [r.status_code, r.text]
    for _ in range(live.settings.otp_max_tries):  # wrong, wrong, ... locked
        r = c.post("/api/v1/access/verify", headers=auth, json={"code": "1234567"})
        seen += [r.status_code, r.text]
    return seen


def test_the_portal_answers_a_match_and_a_mismatch_alike(server: tuple[Live, Gateway]) -> None:
    live, _ = server
    walks = {kind: _portal_walk(live, *pair) for kind, pair in _pairs(live).items()}
    assert walks["match"][3] == ["fb_portal"]  # a session cookie...
    assert walks["match"] == walks["wrong"] == walks["none"]  # ... for everyone


def test_the_api_answers_a_match_and_a_mismatch_alike(server: tuple[Live, Gateway]) -> None:
    live, _ = server
    walks = {kind: _api_walk(live, *pair) for kind, pair in _pairs(live).items()}
    assert walks["match"][0] == 202
    assert walks["match"] == walks["wrong"] == walks["none"]


def test_a_match_takes_no_longer_than_a_mismatch(server: tuple[Live, Gateway]) -> None:
    live, _ = server
    pairs = _pairs(live)
    c = live.client()
    took: dict[str, list[float]] = {"match": [], "wrong": [], "none": []}
    for _ in range(TRIES):  # alternating, so that a slow spell of the machine hits all
        for kind in took:
            number, phone = pairs[kind]
            started = time.perf_counter()
            r = c.post("/api/v1/access/phone", json={"case_number": number, "phone": phone})
            took[kind].append(time.perf_counter() - started)
            assert r.status_code == 202
    median = {kind: statistics.median(times) for kind, times in took.items()}
    # a generous factor, and 50 ms for a busy machine's scheduling: a code sent while
    # the client waits (the gateway takes GATEWAY_DELAY_S) makes it many times slower
    assert max(median.values()) < 3 * min(median.values()) + 0.05, median


def test_the_code_still_reaches_the_phone(server: tuple[Live, Gateway]) -> None:
    live, gateway = server
    number, phone = _pairs(live)["match"]
    c = live.client()
    before = -1
    while before != len(gateway.sent):  # the earlier tests' codes are all out
        before = len(gateway.sent)
        time.sleep(4 * GATEWAY_DELAY_S)
    session = c.post("/api/v1/access/phone", json={"case_number": number, "phone": phone})
    deadline = time.monotonic() + 30
    while len(gateway.sent) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    sms = gateway.sent[-1].decode()
    assert phone in sms
    code = re.search(r"(\d{6})", sms.split("验证码")[1]).group(1)  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {session.json()['session']}"}
    r = c.post("/api/v1/access/verify", headers=auth, json={"code": code})
    assert r.json() == {"verified": True}


MASK = re.compile(r"•••• \d{4}")


def _link_walk(live: Live, number: str) -> list[object]:
    """The SMS's bare link as an outsider sees it: its page, the button, the code page
    and a wrong code; the number and the masked digits blanked (they differ anyway)."""

    def blank(text: str) -> str:
        return MASK.sub("•••• ____", _same(text).replace(number, "NUMBER"))

    c = live.client()
    page = c.get(f"/c/{number}")
    seen: list[object] = [page.status_code, blank(page.text), sorted(k for k in page.cookies)]
    r = c.post(f"/c/{number}")
    seen += [r.status_code, r.headers.get("location"), sorted(k for k in r.cookies)]
    verify = c.get("/verify?sent=link")
    seen += [verify.status_code, blank(verify.text)]
    shown = MASK.findall(page.text) + MASK.findall(verify.text)
    seen.append(len(set(shown)))  # the code page shows the phone the link page showed
    csrf = re.search(r'name="csrf" value="([^"]*)"', verify.text)
    r = c.post("/verify", data={"csrf": csrf.group(1) if csrf else "", "code": "1234567"})
    seen += [r.status_code, blank(r.text)]
    return seen


def test_the_bare_link_answers_a_real_and_a_made_up_number_alike(
    server: tuple[Live, Gateway],
) -> None:
    live, _ = server
    real, made_up = live.seeded.numbers[P4], "FB-2019-999999"
    walks = {number: _link_walk(live, number) for number in (real, made_up)}
    assert walks[real][5] == ["fb_portal"]
    assert walks[real][-3] == 1
    assert walks[real] == walks[made_up]
    # a made-up number shows the same digits on every visit, as a real phone would
    again = live.client().get(f"/c/{made_up}").text
    assert MASK.findall(again) == MASK.findall(live.client().get(f"/c/{made_up}").text)


def test_the_bare_links_button_takes_as_long_for_a_made_up_number(
    server: tuple[Live, Gateway],
) -> None:
    live, _ = server
    numbers = {"real": live.seeded.numbers[P4], "none": "FB-2019-999998"}
    took: dict[str, list[float]] = {"real": [], "none": []}
    for _ in range(TRIES):
        for kind, number in numbers.items():
            c = live.client()
            started = time.perf_counter()
            r = c.post(f"/c/{number}")
            took[kind].append(time.perf_counter() - started)
            assert r.status_code == 303
    median = {kind: statistics.median(times) for kind, times in took.items()}
    assert max(median.values()) < 3 * min(median.values()) + 0.05, median
