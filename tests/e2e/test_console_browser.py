"""A reviewer who works in Chinese, in a real browser against ``fairban serve``: signs
in (in English), switches to 中文, claims F1's queued appeal, reads the map, proposes to
uphold the suspension with a reason; a senior approves it in Chinese ("批准：维持暂停
使用"); an operator reads the dashboard and pauses the directive with a reason. axe-core
finds no violation of impact serious or critical on any console page.

Phone viewport (390x844) for the reviewer, a laptop's (1366x768) for the others.
Screenshots go to tmp_path and .artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.appeal_world import F1, build_world, last_code, seed, settings_for
from tests.support.servers import free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORD = "correct horse battery"
#: one person's two restricted accounts (the Dongguan mule): a group in the queue
MULE = ("alipay:2088f2muledongguan", "wechat:wxid_f2_mule_dongguan")
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


def _add_users(url: str) -> None:
    from fairban.db import make_engine, session_factory
    from fairban.review.models import Role
    from fairban.review.users import add_user

    engine = make_engine(url)
    try:
        with session_factory(engine)() as session, session.begin():
            now = datetime.now(UTC)
            for name, role in (
                ("rita", Role.REVIEWER),
                ("sam", Role.SENIOR),
                ("olga", Role.OPERATOR),
                ("aude", Role.AUDITOR),
            ):
                add_user(session, name, role, PASSWORD, now)
    finally:
        engine.dispose()


def _file_appeal(api: httpx.Client, home: Path, seeded: Any, account: str) -> None:
    """``account``'s appeal filed through the API ("never been there"), then queued."""
    number = seeded.numbers[account]
    session = api.post(
        "/api/v1/access/link", json={"case_number": number, "token": seeded.tokens[account]}
    ).json()["session"]
    auth = {"Authorization": f"Bearer {session}"}
    assert api.post("/api/v1/access/code", headers=auth).status_code == 202
    code = last_code(home, number)
    assert api.post("/api/v1/access/verify", json={"code": code}, headers=auth).is_success
    filed = api.post(
        "/api/v1/case/appeals",
        headers=auth,
        json={
            "grounds": ["never_been_there"],
            "statement": "我从没去过缅甸。",
            "submit_key": f"e2e-console-{number}",
        },
    )
    assert filed.status_code == 201
    wait_for(
        lambda: api.get("/api/v1/case/appeal", headers=auth).json()["state"] == "queued",
        f"{account}'s appeal queued",
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Path]]:
    """``fairban serve`` (its own re-check loop) on the appeal world, F1's appeal queued."""
    root = tmp_path_factory.mktemp("e2e-console")
    world = build_world(root)
    home, url, port = root / "home", f"sqlite:///{root / 'fairban.db'}", free_port()
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(home, url, world, secret_key="e2e-secret-key", public_url=base)
    seeded = seed(url, world, settings)
    _add_users(url)
    env = {
        **os.environ,
        "FAIRBAN_HOME": str(home),
        "FAIRBAN_DATABASE_URL": url,
        "FAIRBAN_SECRET_KEY": "e2e-secret-key",
        "FAIRBAN_PUBLIC_URL": base,
    }
    log = (root / "serve.log").open("wb")
    command = ["serve", "--port", str(port), "--data", str(world.evidence)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fairban.cli", *command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    try:
        wait_for(lambda: httpx.get(f"{base}/api/v1/health").is_success, "serve", 120.0)
        api = httpx.Client(base_url=base)
        for account in (F1, *MULE):
            _file_appeal(api, home, seeded, account)
        yield base, seeded, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _axe(page: Any, name: str) -> None:
    """axe-core on the page: no violation of impact serious or critical."""
    import axe_playwright_python

    script = Path(axe_playwright_python.__file__).parent / "axe.min.js"
    page.evaluate(script.read_text(encoding="utf-8"))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {json.dumps(bad, ensure_ascii=False)}"


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


def _sign_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/console/login")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


@needs_chromium
def test_a_reviewer_decides_in_chinese_and_an_operator_reads_the_dashboard(
    server: tuple[str, Any, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, seeded, _root = server
    number = seeded.numbers[F1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            rita = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
            # she starts in English, then switches to Chinese
            rita.goto(f"{base}/lang/en?next=/console/login")
            expect(rita.get_by_role("heading", name="Reviewer console: sign in")).to_be_visible()
            _axe(rita, "login (en)")
            rita.get_by_label("Name").fill("rita")
            rita.get_by_label("Password").fill(PASSWORD)
            rita.get_by_role("button", name="Sign in").click()
            expect(rita.get_by_role("heading", name="Appeal queue")).to_be_visible()
            rita.get_by_role("link", name="中文").click()
            expect(rita.get_by_role("heading", name="申诉队列")).to_be_visible()
            expect(rita.locator("html")).to_have_attribute("lang", "zh-Hans")
            expect(rita.get_by_text("北京时间").first).to_be_visible()
            _shoot(rita, tmp_path, "console-queue-zh")
            _axe(rita, "queue")
            rita.get_by_role("link", name=number).click()
            rita.get_by_role("button", name="认领").click()
            expect(rita.locator("svg.map").first).to_be_visible()
            expect(rita.locator("#deadline")).to_contain_text("北京时间")
            _shoot(rita, tmp_path, "console-case-zh")
            _axe(rita, "case")
            rita.get_by_label("维持：保持暂停使用", exact=False).check()
            rita.get_by_label("书面理由", exact=False).fill(
                "多个夜晚的GPS定位都在老街园区内，与“从未去过”不符。"
            )
            rita.get_by_role("button", name="作出决定").click()
            expect(rita.locator("#proposal")).to_contain_text("维持暂停使用")
            # a senior approves, in Chinese (the language cookie is the browser's)
            sam = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
            _sign_in(sam, base, "sam")
            sam.get_by_role("link", name="双人复核").click()
            expect(sam.get_by_role("cell", name="维持暂停使用")).to_be_visible()
            _axe(sam, "four eyes")
            sam.get_by_role("link", name=number).click()
            sam.get_by_role("button", name="批准：维持暂停使用").click()
            expect(sam.get_by_role("heading", name="等待第二位审核人员的决定")).to_be_visible()
            sam.get_by_role("link", name="指令").click()
            expect(sam.get_by_role("heading", name="指令")).to_be_visible()
            _axe(sam, "directives")
            # the operator's dashboard: the decision is in today's numbers
            olga = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
            _sign_in(olga, base, "olga")
            expect(olga.get_by_role("heading", name="仪表盘")).to_be_visible()
            today = olga.locator("#by-day tbody tr").last
            expect(today.locator("td").nth(4)).to_have_text("1")  # decided today
            expect(olga.locator("svg.chart")).to_have_count(3)
            _shoot(olga, tmp_path, "console-dashboard-zh")
            _axe(olga, "dashboard")
            olga.get_by_label("理由（记入审计日志）").first.fill("县里反映误伤，先暂停核查。")
            olga.get_by_role("button", name="暂停").first.click()
            expect(olga.get_by_text("指令已暂停。")).to_be_visible()
            expect(olga.locator(".directive-state").first).to_contain_text("县里反映误伤")
            _axe(olga, "dashboard after the pause")
            aude = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
            _sign_in(aude, base, "aude")
            expect(aude.get_by_role("heading", name="审计日志")).to_be_visible()
            expect(aude.get_by_text("directive:pause").first).to_be_visible()
            _axe(aude, "audit log")
        finally:
            browser.close()


@needs_chromium
def test_a_reviewer_walks_a_group_by_keyboard(
    server: tuple[str, Any, Path], tmp_path: Path
) -> None:
    """The mule's two accounts are one group: opened from the queue, each case decided
    in turn from the keyboard, the first reason the second's draft; axe-clean."""
    from playwright.sync_api import expect, sync_playwright

    base, seeded, _root = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            rita = browser.new_context(viewport=PHONE, locale="zh-CN").new_page()
            _sign_in(rita, base, "rita")
            expect(rita.locator("#staffing")).to_contain_text("所需审核人员")
            rita.locator("#groups a").first.click()
            expect(rita.get_by_role("heading", name="申诉组")).to_be_visible()
            _shoot(rita, tmp_path, "console-group-zh")
            _axe(rita, "group")
            reason = "一次性收款后一小时内转出，与“从未去过”无关，维持限制。"
            for step in range(2):
                current = rita.locator("#current-h")
                expect(current).to_contain_text("案件")
                rita.get_by_label("维持：保持功能受限", exact=False).check()
                box = rita.get_by_label("本案的书面理由", exact=False)
                if step == 0:
                    box.fill(reason)
                else:  # the draft is the reason just given, to adapt
                    expect(box).to_have_value(reason)
                    _axe(rita, "group, second case")
                    box.press("End")
                    box.type("第二个账号同样。")
                box.focus()
                rita.keyboard.press("Tab")  # the decide button follows the reason
                rita.keyboard.press("Enter")
            expect(rita.locator("#group-done")).to_be_visible()
            numbers = {seeded.numbers[a] for a in MULE}
            rita.goto(f"{base}/console/queue")
            for n in numbers:
                expect(rita.get_by_role("link", name=n)).to_have_count(0)
        finally:
            browser.close()
