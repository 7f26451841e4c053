"""Time as fairban states it: instants are kept in UTC, people read them in Beijing time.

Pure: no database, no web.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

#: the local clock of the 2019 directive's people and notices (China has one time zone);
#: named so that Babel's patterns with a zone say it
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def iso_utc(at: datetime) -> str:
    """``2019-10-14T02:00:00Z``: an aware instant in UTC, as webhooks and audit entries
    carry it."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_utc_or_none(at: datetime | None) -> str | None:
    """:func:`iso_utc`, or ``None`` for no instant."""
    return None if at is None else iso_utc(at)


def aware_now(now: datetime | None) -> datetime:
    """``now`` as given (it must be aware), or the current instant in UTC."""
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now
