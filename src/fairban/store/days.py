"""Days as the evidence store keeps them, and how a window is cut into them.

A store day ``D`` holds the evidence of the 24 hours that end at the midnight after
``D``, Beijing time, that midnight included: ``(D 00:00, D+1 00:00]`` (UTC+8). It is the
window's own convention (``(as_of - lookback_days, as_of]``), so a window that ends at a
midnight is a whole number of store days; a window that ends at another instant has one
partial day at each end, judged from that day's raw rows. Pure: no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from fairban.clock import BEIJING
from fairban.targeting.features import Window, local_date

#: the SQL expression of a row's store day (both backends: see ``features.local_date``;
#: the microsecond taken off puts a midnight into the day it ends)
STORE_DAY = local_date("(ts - INTERVAL 1 MICROSECOND)", 8)


def store_day(at: datetime) -> date:
    """The store day an instant belongs to."""
    return (at.astimezone(BEIJING) - timedelta(microseconds=1)).date()


def day_start(day: date) -> datetime:
    """The instant a store day starts after (exclusive), in UTC."""
    return datetime.combine(day, time(), BEIJING).astimezone(UTC)


def day_end(day: date) -> datetime:
    """The instant a store day ends at (inclusive), in UTC."""
    return day_start(day + timedelta(days=1))


def span(days: list[date]) -> Window:
    """The window ``(start of the first day, end of the last]`` of consecutive days."""
    return Window(day_start(days[0]), day_end(days[-1]))


@dataclass(frozen=True)
class Cut:
    """A window cut into store days: ``whole`` lie inside it entirely; ``partial``
    (at most two, the first and the last) only in part."""

    whole: tuple[date, ...]
    partial: tuple[date, ...]

    @property
    def days(self) -> tuple[date, ...]:
        return tuple(sorted((*self.whole, *self.partial)))


def cut(window: Window) -> Cut:
    """The store days of ``window`` = ``(start, end]``."""
    first, last = store_day(window.start + timedelta(microseconds=1)), store_day(window.end)
    whole: list[date] = []
    partial: list[date] = []
    day = first
    while day <= last:
        inside = day_start(day) >= window.start and day_end(day) <= window.end
        (whole if inside else partial).append(day)
        day += timedelta(days=1)
    return Cut(tuple(whole), tuple(partial))
