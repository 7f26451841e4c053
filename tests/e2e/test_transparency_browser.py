"""The transparency report in headless Chromium, in both languages, at phone and desktop
size: it opens from file:// with the network blocked, shows its sections, switches
language without a server, lets wide tables scroll inside a box a keyboard can reach, and
axe-core finds no violation at all (the bar is serious or critical; this page has none)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.config import Settings
from fairban.contract import Directive
from fairban.reports.numbers import Period, compute
from fairban.reports.render import write
from tests.support.browser import ANY, SCROLLING_BOXES, serious_violations
from tests.support.cases import Decide
from tests.support.transparency import END, START, build

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PAGES = {
    "index.html": ("zh-CN", "透明度报告", ("采取的措施", "申诉", "熔断与暂停", "审计日志")),
    "index.en.html": (
        "en",
        "Transparency report",
        ("Measures taken", "Appeals", "Circuit breaker and pauses", "Audit log"),
    ),
}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)


@pytest.fixture
def report(
    session: Session,
    directive: Directive,
    decide: Decide,
    blobs: BlobStore,
    tmp_path: Path,
    db_kind: str,
) -> Path:
    if db_kind != "sqlite":
        pytest.skip("the pages are the same on PostgreSQL (tests/unit/reports runs both)")
    build(session, directive, decide, blobs, tmp_path)
    settings = Settings(home=tmp_path / "home", public_url="https://fb.example")
    out = tmp_path / "report"
    write(compute(session, settings, Period(START, END), now=datetime.now(UTC)), out)
    return out


@needs_chromium
@pytest.mark.parametrize(
    ("device", "width", "height"), [("phone", 390, 844), ("desktop", 1366, 768)]
)
def test_both_languages_in_a_browser(
    report: Path, tmp_path: Path, device: str, width: int, height: int
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    blocked: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(("file://", "data:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.route("**/*", only_local)
            for name, (lang, title, headings) in PAGES.items():
                page.goto((report / name).as_uri(), wait_until="load")
                assert page.evaluate("document.documentElement.lang") == lang
                expect(page.get_by_role("heading", level=1)).to_have_text(title)
                for heading in headings:
                    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_attached()
                for chart in ("chart-platform", "chart-measure", "chart-ground", "chart-outcome"):
                    expect(page.locator(f"svg#{chart}")).to_be_attached()
                # the page never scrolls sideways; a wide table scrolls in its own box,
                # which the keyboard can reach and which says what it holds
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"
                boxes = page.locator("div.scroll")
                assert boxes.count() >= 8
                wide = page.evaluate(SCROLLING_BOXES, "div.scroll")
                if device == "phone":
                    assert wide, "the directives' table should need scrolling on a phone"
                assert all(t == 0 and r == "region" and by for t, r, by in wide), wide
                # none at all, of any impact: the page is fairban's own from the start
                assert serious_violations(page, ANY) == [], name
                page.screenshot(
                    path=str(tmp_path / f"transparency-{lang}-{device}.png"), full_page=True
                )
            # the switch goes from one language to the other without a server
            page.goto((report / "index.html").as_uri(), wait_until="load")
            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Transparency report")
            page.get_by_role("link", name="中文").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("透明度报告")
        finally:
            browser.close()
    assert blocked == []
    ARTIFACTS.mkdir(exist_ok=True)
    for shot in tmp_path.glob("transparency-*.png"):
        shutil.copy(shot, ARTIFACTS / shot.name)
