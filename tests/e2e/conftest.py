"""End-to-end tests: real browsers on real reports. Marked ``e2e`` (registered here, so
that pyproject.toml stays as it is); run them alone with ``pytest -m e2e``."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end tests that drive a real browser (needs /usr/bin/chromium)"
    )
