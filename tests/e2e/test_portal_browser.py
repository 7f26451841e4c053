"""The appeal in a real browser against real processes: ``fairban serve``, ``fairban
worker`` and one ``fairban platform-sim`` per platform.

P4, the Chongqing woman whose QQ account the 2019 presence rule suspended, opens her
notice link in headless Chromium, proves her phone with the one-time code, reads the
notice, appeals, and the automatic re-check lifts the measure; the reference platform
then shows her account active again, and her data export comes from it. Then a
reviewer works F1's queued appeal and a senior reviewer approves the four-eyes lift.
Screenshots of each page go to tmp_path and .artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fairban.platforms.client import PlatformClient
from tests.support.appeal_world import F1, P3, P4, build_world, last_code, seed, settings_for
from tests.support.servers import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SECRET = "platform-secret"
PLATFORMS = ("qq", "wechat", "alipay", "pos")
PASSWORD = "correct horse battery"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


class Stack:
    """The processes of one test run; stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, root: Path, world: Any) -> None:
        self.root = root
        self.world = world
        self.home = root / "home"
        self.url = f"sqlite:///{root / 'fairban.db'}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sims = {name: free_port() for name in PLATFORMS}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "FAIRBAN_HOME": str(self.home),
            "FAIRBAN_DATABASE_URL": self.url,
            "FAIRBAN_SECRET_KEY": "e2e-secret-key",
            "FAIRBAN_PUBLIC_URL": self.base,
            "FAIRBAN_SIM_SECRET": SECRET,
        }

    def start(self, *args: str, log: str) -> None:
        out = (self.root / f"{log}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "fairban.cli", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        )

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    def platform(self, name: str) -> PlatformClient:
        return PlatformClient(name, f"http://127.0.0.1:{self.sims[name]}/webhook", SECRET)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Any]]:
    root = tmp_path_factory.mktemp("e2e-appeal")
    world = build_world(root)
    s = Stack(root, world)
    for name, port in s.sims.items():
        s.start(
            "platform-sim",
            "--name",
            name,
            "--port",
            str(port),
            "--db",
            str(root / f"sim-{name}.db"),
            log=f"sim-{name}",
        )
    hooks = {name: f"http://127.0.0.1:{port}/webhook" for name, port in s.sims.items()}
    settings = settings_for(s.home, s.url, world, secret_key="e2e-secret-key", public_url=s.base)
    seeded = seed(s.url, world, settings, platforms=hooks)
    _add_users(s.url)
    try:
        for name, port in s.sims.items():
            wait_for(
                lambda port=port: httpx.get(f"http://127.0.0.1:{port}/health").is_success,
                f"platform-sim {name}",
                timeout_s=120.0,  # a start, not a timing: a busy machine takes a while
            )
        s.start("worker", "--poll", "0.05", "--quiet", log="worker")
        s.start("serve", "--port", str(s.port), "--data", str(world.evidence), log="serve")
        # a server's start, not a timing: a busy CI machine may take a while
        wait_for(
            lambda: httpx.get(f"{s.base}/api/v1/health").is_success,
            "fairban serve",
            timeout_s=120.0,
        )
        yield s, seeded
    finally:
        s.stop()


def _add_users(url: str) -> None:
    from fairban.db import make_engine, session_factory
    from fairban.review.models import Role
    from fairban.review.users import add_user

    engine = make_engine(url)
    try:
        with session_factory(engine)() as session, session.begin():
            now = datetime.now(UTC)
            add_user(session, "rita", Role.REVIEWER, PASSWORD, now)
            add_user(session, "sam", Role.SENIOR, PASSWORD, now)
    finally:
        engine.dispose()


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


def _state_at_platform(stack: Stack, platform: str, account: str) -> str:
    with stack.platform(platform) as client:
        found = client.account(account)
    return str(found["state"]) if found else "unknown"


@needs_chromium
def test_p4_appeals_in_a_browser_and_is_lifted_everywhere(
    stack: tuple[Stack, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    s, seeded = stack
    # the measure reached the platform first (the worker delivers the outbox)
    wait_for(lambda: _state_at_platform(s, "qq", P4) == "suspend", "P4 suspended at qq")
    link = f"{s.base}/c/{seeded.numbers[P4]}?t={seeded.tokens[P4]}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            page.goto(link)
            expect(page.get_by_role("heading", name="验证您的手机")).to_be_visible()
            _shoot(page, tmp_path, "portal-verify")
            page.get_by_role("button", name="发送验证码").click()
            page.get_by_label("短信中的验证码").fill(last_code(s.home, seeded.numbers[P4]))
            page.get_by_role("button", name="验证", exact=True).click()
            expect(page.get_by_role("heading", name="您的案件")).to_be_visible()
            expect(page.locator("#measure")).to_be_visible()  # the notice's long form
            _shoot(page, tmp_path, "portal-case")
            page.get_by_label("我从未去过这些地区").check()
            page.get_by_label("用您自己的话说明（可选）").fill(
                "我在重庆，从没去过云南，QQ只用来存照片。"
            )
            page.get_by_role("button", name="提交申诉").click()
            expect(page.get_by_role("heading", name="您的申诉")).to_be_visible()
            _shoot(page, tmp_path, "portal-status-received")
            deadline = time.monotonic() + 60
            while page.locator("#appeal-state").get_attribute("data-state") != "granted":
                assert time.monotonic() < deadline, "the re-check did not grant the appeal"
                time.sleep(0.5)
                page.reload()
            expect(page.get_by_text("措施已在所有平台、所有关联账号上解除。")).to_be_visible()
            _shoot(page, tmp_path, "portal-status-granted")
            # English, and the lift notice on the case page
            page.goto(f"{s.base}/lang/en?next=/case")
            expect(page.locator("h1")).to_contain_text("Your case")
            _shoot(page, tmp_path, "portal-case-lifted-en")
            # her data, from the platform
            page.get_by_role("button", name="Request a copy of my data").click()
            expect(page.get_by_text("Your copy is ready.")).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
        finally:
            browser.close()
    wait_for(lambda: _state_at_platform(s, "qq", P4) == "none", "P4 active again at qq")


@needs_chromium
def test_a_reviewer_and_a_senior_lift_a_queued_appeal(
    stack: tuple[Stack, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    s, seeded = stack
    api = httpx.Client(base_url=s.base)
    number = seeded.numbers[F1]
    session = api.post(
        "/api/v1/access/link", json={"case_number": number, "token": seeded.tokens[F1]}
    ).json()["session"]
    auth = {"Authorization": f"Bearer {session}"}
    assert api.post("/api/v1/access/code", headers=auth).status_code == 202
    code = last_code(s.home, number)
    assert api.post("/api/v1/access/verify", json={"code": code}, headers=auth).is_success
    r = api.post(
        "/api/v1/case/appeals",
        headers=auth,
        json={
            "grounds": ["other"],
            "statement": "The phone was sold.",
            "submit_key": "e2e-f1-appeal-1",
        },
    )
    assert r.status_code == 201
    wait_for(
        lambda: api.get("/api/v1/case/appeal", headers=auth).json()["state"] == "queued",
        "F1's appeal queued",
        timeout_s=60,
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            rita = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            rita.goto(f"{s.base}/lang/en?next=/console/login")  # the console in English
            rita.get_by_label("Name").fill("rita")
            rita.get_by_label("Password").fill(PASSWORD)
            rita.get_by_role("button", name="Sign in").click()
            expect(rita.get_by_role("heading", name="Appeal queue")).to_be_visible()
            _shoot(rita, tmp_path, "console-queue")
            rita.get_by_role("link", name=number).click()
            rita.get_by_role("button", name="Claim").click()
            expect(rita.locator("svg.map").first).to_be_visible()
            _shoot(rita, tmp_path, "console-case")
            rita.get_by_label("Lift on every account", exact=False).check()
            rita.get_by_label("Written reason").fill(
                "The phone was sold in July 2019; receipt checked."
            )
            rita.get_by_role("button", name="Decide").click()
            expect(rita.locator("#proposal")).to_be_visible()
            sam = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            sam.goto(f"{s.base}/lang/en?next=/console/login")
            sam.get_by_label("Name").fill("sam")
            sam.get_by_label("Password").fill(PASSWORD)
            sam.get_by_role("button", name="Sign in").click()
            sam.get_by_role("link", name="Four eyes").click()
            sam.get_by_role("link", name=number).click()
            _shoot(sam, tmp_path, "console-four-eyes")
            sam.get_by_role("button", name="Approve: lift").click()
            expect(
                sam.get_by_role("heading", name="Decisions waiting for a second reviewer")
            ).to_be_visible()
        finally:
            browser.close()
    assert api.get("/api/v1/case/appeal", headers=auth).json()["state"] == "granted"
    wait_for(lambda: _state_at_platform(s, "wechat", F1) == "none", "F1 lifted at wechat")


PHONE = {"width": 390, "height": 844}


def _axe(page: Any, where: str) -> None:
    """axe-core on the page as it is: the portal stays at zero violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


@needs_chromium
def test_p3_with_only_the_sms_appeals_on_a_phone_and_reads_the_answer(
    stack: tuple[Stack, Any], tmp_path: Path
) -> None:
    """The SMS's bare link, one code, the notice's appeal button, a refused upload
    that keeps what was typed, the appeal, the reasoned answer; axe-core on each page."""
    from playwright.sync_api import expect, sync_playwright

    s, seeded = stack
    account = P3[0]
    number, phone = seeded.numbers[account], seeded.phones[account]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport=PHONE, locale="zh-CN", bypass_csp=True)
            page = context.new_page()
            page.goto(f"{s.base}/c/{number}")  # what the SMS carries: no token
            expect(page.get_by_role("heading", name="登录您的案件")).to_be_visible()
            expect(page.locator("#case-number")).to_have_text(number)
            expect(page.locator("#masked-phone")).to_have_text("•••• " + phone[-4:])
            _axe(page, "sign-in by link")
            _shoot(page, tmp_path, "portal-link-signin")
            page.get_by_role("button", name="发送验证码").click()
            expect(page.get_by_role("heading", name="验证您的手机")).to_be_visible()
            expect(page.get_by_role("status")).to_contain_text("•••• " + phone[-4:])
            _axe(page, "code page")
            page.get_by_label("短信中的验证码").fill(last_code(s.home, number))
            page.get_by_role("button", name="验证", exact=True).click()
            expect(page.get_by_role("heading", name="您的案件")).to_be_visible()
            expect(page.locator("#summary")).to_contain_text("暂停")
            expect(page.locator("#answer")).to_contain_text("您提交申诉后，最迟48小时内")
            _axe(page, "case page")
            page.get_by_role("link", name="立即申诉").click()  # the notice's first button
            expect(page.locator("#appeal-form")).to_be_in_viewport()
            page.get_by_label("我住在边境附近").check()
            statement = "我住在瑞丽，在姐告做边贸，从不搞诈骗。"
            page.get_by_label("用您自己的话说明（可选）").fill(statement)
            page.set_input_files(
                "#files",
                files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"MZ\x90 x"}],
            )
            page.get_by_role("button", name="提交申诉").click()
            error = page.locator("#files-error")
            expect(error).to_contain_text("不是照片或PDF")
            expect(error).to_be_in_viewport()  # beside the field, where the person is
            expect(page.get_by_label("用您自己的话说明（可选）")).to_have_value(statement)
            expect(page.get_by_label("我住在边境附近")).to_be_checked()
            _axe(page, "refused upload")
            _shoot(page, tmp_path, "portal-upload-refused")
            page.get_by_role("button", name="提交申诉").click()  # no file this time
            expect(page.get_by_role("heading", name="您的申诉")).to_be_visible()
            _axe(page, "status received")
            deadline = time.monotonic() + 60
            while page.locator("#appeal-state").get_attribute("data-state") != "granted":
                assert time.monotonic() < deadline, "the re-check did not grant the appeal"
                time.sleep(0.5)
                page.reload()
            decision = page.locator("#decision")
            expect(decision).to_contain_text("您的申诉成立")
            for other in P3:  # both of his accounts, as they are now
                expect(page.locator("#decision-accounts")).to_contain_text(other)
            _axe(page, "decision")
            _shoot(page, tmp_path, "portal-decision")
            page.get_by_role("link", name="English").click()
            expect(page.locator("#appeal-state")).not_to_have_text("granted")  # no raw word
            expect(page.locator("#decision")).to_contain_text("Your appeal was granted")
            _axe(page, "decision in English")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0
        finally:
            browser.close()


@needs_chromium
def test_a_rate_limit_says_how_long_and_the_language_switch_loads(
    stack: tuple[Stack, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    s, _seeded = stack
    link = f"{s.base}/c/FB-2019-999999"  # no such case: a decoy, with its own limit
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
            for _ in range(5):
                page.goto(link)
                page.get_by_role("button", name="发送验证码").click()
                expect(page.get_by_role("heading", name="验证您的手机")).to_be_visible()
            page.goto(link)
            _axe(page, "sign-in by link, a decoy")
            page.get_by_role("button", name="发送验证码").click()
            expect(page.get_by_role("heading", name="请求过于频繁，请稍后再试。")).to_be_visible()
            expect(page.locator("main")).to_contain_text("分钟后")
            _axe(page, "rate limit")
            _shoot(page, tmp_path, "portal-rate-limit")
            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", name="Sign in to your case")).to_be_visible()
        finally:
            browser.close()
