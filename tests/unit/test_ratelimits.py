"""The fixed-window rate limit every public form shares, on a real database (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from fairban.ratelimits import allow


def test_rate_limit_counts_per_key_and_window(session: Session) -> None:
    t = datetime(2019, 10, 15, 9, tzinfo=UTC)
    assert [allow(session, "code:case:1", limit=3, window_s=60, now=t) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert allow(session, "code:case:2", limit=3, window_s=60, now=t)  # another key
    later = t + timedelta(seconds=61)
    assert allow(session, "code:case:1", limit=3, window_s=60, now=later)  # a new window


def test_a_window_restarts_after_many_windows(session: Session) -> None:
    t = datetime(2019, 10, 15, 9, tzinfo=UTC)
    for _ in range(3):
        allow(session, "k", limit=3, window_s=60, now=t)
    for later in (t + timedelta(minutes=5), t + timedelta(minutes=10)):
        assert [allow(session, "k", limit=1, window_s=60, now=later) for _ in range(2)] == [
            True,
            False,
        ]
