"""What a simulated world looks like: its size, seed, noise levels and calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

#: The 2019 directive: issued 14 October 2019, Beijing time; six months of evidence.
ISSUED_AT = datetime(2019, 10, 14, tzinfo=UTC) - timedelta(hours=8)
LOOKBACK_DAYS = 180
#: Local (UTC+8) calendar days simulated: the directive's whole window.
FIRST_DAY = date(2019, 10, 13) - timedelta(days=LOOKBACK_DAYS - 1)
LOCAL_OFFSET_S = 8 * 3600
#: the longest continuation ``simulate --after`` makes, and the longest lookback
MAX_AFTER = 366
MAX_LOOKBACK = 366

#: Chinese public holidays of 2019 inside the window (local dates, inclusive).
HOLIDAYS: tuple[tuple[date, date], ...] = (
    (date(2019, 5, 1), date(2019, 5, 4)),  # Labour Day
    (date(2019, 6, 7), date(2019, 6, 9)),  # Dragon Boat
    (date(2019, 9, 13), date(2019, 9, 15)),  # Mid-Autumn
    (date(2019, 10, 1), date(2019, 10, 7)),  # National Day
)


@dataclass(frozen=True)
class WorldConfig:
    """Size, seed and noise of a world; the same config always gives the same world."""

    accounts: int = 10_000
    seed: int = 1
    #: multiplier on IP geolocation errors (carrier gateways, ranges placed in Myanmar)
    ip_error: float = 1.0
    #: multiplier on the chance a border phone is served by a tower across the border
    border_spill: float = 1.0
    #: multiplier on the share of GPS fixes among observations
    gps_rate: float = 1.0
    #: simulated days, ending the day before the directive was issued
    days: int = LOOKBACK_DAYS
    #: days the world goes on after the directive was issued (``simulate --after``)
    after: int = 0
    #: the directive's ``lookback_days`` (``simulate --lookback``)
    lookback: int = LOOKBACK_DAYS

    def __post_init__(self) -> None:
        if self.accounts < 100:
            raise ValueError("a world needs at least 100 accounts")
        if not 7 <= self.days <= LOOKBACK_DAYS:
            raise ValueError(f"days must be between 7 and {LOOKBACK_DAYS}")
        if not 0 <= self.after <= MAX_AFTER:
            raise ValueError(f"after must be between 0 and {MAX_AFTER} days")
        if not 1 <= self.lookback <= MAX_LOOKBACK:
            raise ValueError(f"lookback must be between 1 and {MAX_LOOKBACK} days")
        for name in ("ip_error", "border_spill", "gps_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @property
    def horizon(self) -> int:
        """Simulated days in all: the window's, then the days after the directive."""
        return self.days + self.after

    @property
    def first_day(self) -> date:
        return date(2019, 10, 13) - timedelta(days=self.days - 1)

    @property
    def day0_utc_s(self) -> int:
        """UTC seconds of local midnight starting the first simulated day."""
        midnight = datetime(
            self.first_day.year, self.first_day.month, self.first_day.day, tzinfo=UTC
        )
        return int(midnight.timestamp()) - LOCAL_OFFSET_S
