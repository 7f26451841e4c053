"""The evidence window and the local clock every feature keeps.

Beijing time (UTC+8) is the local clock: the compounds run on it, and nights are
22:00-06:00. Dates and hours are made from the epoch, not from a calendar, so both
backends compute them the same way and DuckDB skips its per-row ICU calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Window:
    start: datetime  # exclusive
    end: datetime  # inclusive

    def where(self, column: str = "ts") -> str:
        return (
            f"{column} > TIMESTAMPTZ '{self.start.isoformat()}' "
            f"AND {column} <= TIMESTAMPTZ '{self.end.isoformat()}'"
        )


def local_date(ts: str = "ts", shift_hours: int = 8) -> str:
    """``CAST(ts + INTERVAL shift_hours HOUR AS DATE)`` made from the epoch: the same
    date on the UTC clock both backends keep, without the per-row calendar (ICU) that
    DuckDB goes through for a TIMESTAMPTZ, several times the cost on big scans. Exact:
    DuckDB's epoch() is a double whose error (under 1e-6 s to year 2255) cannot carry
    a microsecond before midnight past it; Spark's is whole seconds."""
    return (
        f"(DATE '1970-01-01' + "
        f"CAST(floor((epoch({ts}) + {shift_hours * 3600}) / 86400) AS INTEGER))"
    )


def is_night(ts: str = "ts") -> str:
    """The local (UTC+8) hour is 22-05, as ``hour(ts + INTERVAL 8 HOUR)`` says, made from
    the epoch for the reason of ``local_date`` (the ``+ 24) % 24`` keeps it right before
    1970, where ``%`` of a negative number is negative)."""
    hour = f"CAST(floor((epoch({ts}) + 28800) / 3600) AS BIGINT)"
    return f"(({hour} % 24 + 24) % 24 NOT BETWEEN 6 AND 21)"


#: a night belongs to the local date it starts on: shift 22:00-06:00 into one date
NIGHT_KEY = local_date("ts", 2)
LOCAL_DAY = local_date("ts", 8)
IS_NIGHT = is_night("ts")
