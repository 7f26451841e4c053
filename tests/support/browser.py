"""What the browser tests share: axe-core's verdict on a page (the axe-playwright-python
package carries axe-core itself, so nothing is fetched)."""

from __future__ import annotations

from typing import Any

SERIOUS = ("serious", "critical")
ANY = ("minor", "moderate", *SERIOUS)

#: every scrolling box that is wider than it shows: [tabIndex, role, its name]
SCROLLING_BOXES = """
sel => [...document.querySelectorAll(sel)]
  .filter(e => e.scrollWidth > e.clientWidth)
  .map(e => [e.tabIndex, e.getAttribute('role'),
             e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')])
"""


def serious_violations(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[str]:
    """axe-core's violations of these ``impacts`` (serious or critical) on ``page``, one
    line each."""
    from axe_playwright_python.sync_playwright import Axe

    violations: list[dict[str, Any]] = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']}"
        for v in violations
        if v.get("impact") in impacts
    ]
