"""The preview report in headless Chromium: it opens from file:// with the network
blocked, asks for nothing outside itself, shows its headings and maps, fits a phone's
width, and leaves full-page screenshots in tmp_path and in .artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fairban.contract import load_directive
from fairban.preview import write_report
from fairban.world import WorldConfig, simulate_world
from tests.support.browser import SCROLLING_BOXES, serious_violations
from tests.support.preview_decisions import fixture_decisions

pytestmark = pytest.mark.e2e

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
HEADINGS = (
    "At a glance",
    "What would happen",
    "Where the people live",
    "On what evidence",
    "Compared with the 2019 presence rule",
    "Checked against the simulator's truth",
)
HEADINGS_ZH = (
    "概览",
    "将会发生什么",
    "这些人住在哪里",
    "依据什么证据",
    "与2019年“在场”规则的对比",
    "与模拟器真实情况的核对",
)
MAPS = ("map-china", "map-border", "map-naive", "map-fairban")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    world = root / "world"
    simulate_world(WorldConfig(accounts=1000, seed=5, days=60), world)
    out = root / "report"
    write_report(
        load_directive(world / "directive.yaml"),
        world / "evidence",
        fixture_decisions(world),
        out,
        truth=world / "truth.csv",
    )
    return out / "index.html"


@needs_chromium
@pytest.mark.parametrize(
    ("device", "width", "height"), [("phone", 390, 844), ("desktop", 1280, 900)]
)
def test_report_in_a_browser(
    report: Path, tmp_path: Path, device: str, width: int, height: int
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    blocked: list[str] = []
    requested: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.route("**/*", only_local)
            page.on("request", lambda request: requested.append(request.url))
            page.goto(report.as_uri(), wait_until="load")

            for heading in HEADINGS:
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            for name in MAPS:
                figure = page.locator(f"svg#{name}")
                figure.scroll_into_view_if_needed()
                expect(figure).to_be_visible()
                box = figure.bounding_box()
                assert box is not None
                assert box["width"] >= min(width - 60, 400), (name, box)
            # nothing wider than the screen: wide tables scroll inside their own box
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the page is {overflow}px wider than a {width}px screen"
            # and each such box is a named region the keyboard can reach (scrolls visibly:
            # its edge shadows, tested by eye in the screenshots)
            wide = page.evaluate(SCROLLING_BOXES, "div.table-wrap")
            if device == "phone":
                assert wide, "some table should need scrolling on a phone"
            assert all(t == 0 and r == "region" and name for t, r, name in wide), wide
            assert serious_violations(page) == []

            # the same report in Chinese, reached by its link, held to the same
            page.get_by_role("link", name="中文").click()
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            for heading in HEADINGS_ZH:
                expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"the Chinese page is {overflow}px wider than {width}px"
            wide = page.evaluate(SCROLLING_BOXES, "div.table-wrap")
            assert all(t == 0 and r == "region" and name for t, r, name in wide), wide
            assert serious_violations(page) == []
            page.screenshot(path=str(tmp_path / f"preview-zh-{device}.png"), full_page=True)
            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", name=HEADINGS[0], exact=True)).to_be_visible()

            shot = tmp_path / f"preview-{device}.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert blocked == []
    assert all(url.startswith(("file://", "data:")) for url in requested), requested
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    for made in tmp_path.glob("preview-*.png"):
        shutil.copy(made, ARTIFACTS / made.name)
