"""Client addresses come from the configured trusted proxies only: by default a forged
``X-Forwarded-For`` is ignored (the connection's address is the one limited); with
``FAIRBAN_TRUSTED_PROXIES=127.0.0.1`` the forwarded address is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import Live, start_live
from tests.support.appeal_world import World
from tests.support.db import DATABASES, new_database


def starts(c: httpx.Client, n: int, forwarded: list[str], offset: int = 0) -> list[int]:
    """``n`` case-number starts, each for another (unknown) case number, so that only
    the per-address limit can stop them; the i-th says it is from ``forwarded[i]``."""
    return [
        c.post(
            "/start",
            data={"case_number": f"FB-2019-{900_000 + offset + i}", "phone": "+8613800000000"},
            headers={"X-Forwarded-For": forwarded[i]},
        ).status_code
        for i in range(n)
    ]


def per_address(live: Live) -> int:
    return live.settings.otp_requests_per_window * 4  # appeals.sessions.allow_start


def test_a_forged_forwarded_for_does_not_escape_the_limit(live: Live) -> None:
    n = per_address(live)
    rotating = [f"203.0.113.{i}" for i in range(n + 1)]
    codes = starts(live.client(), n + 1, rotating)
    assert codes[:n] == [303] * n
    assert codes[n] == 429


@pytest.fixture(params=DATABASES)
def behind_proxy(
    request: pytest.FixtureRequest, tmp_path: Path, appeal_world: World
) -> Iterator[Live]:
    with new_database(request.param, tmp_path) as url:
        server = start_live(
            tmp_path, url, appeal_world, env={"FAIRBAN_TRUSTED_PROXIES": "127.0.0.1"}
        )
        try:
            yield server
        finally:
            server.stop()


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(behind_proxy: Live) -> None:
    n = per_address(behind_proxy)
    c = behind_proxy.client()
    # each forwarded address has its own budget ...
    rotating = [f"203.0.113.{i}" for i in range(n + 5)]
    assert set(starts(c, n + 5, rotating)) == {303}
    # ... and one address is limited, whichever proxy hop it came through
    one = ["198.51.100.7"] * n + ["198.51.100.7, 127.0.0.1"]
    codes = starts(c, n + 1, one, offset=1000)
    assert codes[:n] == [303] * n
    assert codes[n] == 429
