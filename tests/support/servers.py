"""Waiting for servers the tests start as their own processes (``fairban serve``,
``fairban platform-sim``): a free loopback port, and a wait for the start that is not a
timing (a busy CI machine is slow)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    """Wait for ``check`` (a server's start, not a timing: a busy CI machine is slow)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
