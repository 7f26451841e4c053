"""Instants kept in UTC, read in Beijing time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fairban.clock import BEIJING, aware_now, iso_utc, iso_utc_or_none


def test_beijing_is_eight_hours_ahead_and_named() -> None:
    at = datetime(2019, 10, 14, 0, 0, tzinfo=BEIJING)
    assert at.utcoffset() == timedelta(hours=8)
    assert at.tzname() == "Asia/Shanghai"
    assert at.astimezone(UTC) == datetime(2019, 10, 13, 16, 0, tzinfo=UTC)


def test_instants_are_written_in_utc_with_a_z() -> None:
    assert iso_utc(datetime(2019, 10, 14, 10, 0, tzinfo=BEIJING)) == "2019-10-14T02:00:00Z"
    assert iso_utc(datetime(2019, 10, 14, 2, 0, 0, 5, tzinfo=UTC)) == (
        "2019-10-14T02:00:00.000005Z"
    )
    assert iso_utc_or_none(None) is None
    assert iso_utc_or_none(datetime(2019, 10, 14, tzinfo=UTC)) == "2019-10-14T00:00:00Z"


def test_now_is_aware_or_refused() -> None:
    given = datetime(2019, 10, 15, 4, 0, tzinfo=BEIJING)
    assert aware_now(given) is given
    before = datetime.now(UTC)
    current = aware_now(None)
    assert current.tzinfo is UTC
    assert before <= current <= datetime.now(UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        aware_now(datetime(2019, 10, 15, 4, 0))
