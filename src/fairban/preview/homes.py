"""Where an account lives, estimated from the evidence, for accounts the engine gave no
home (those it did not link to the directive, which the naive rule may still hit).

The home is the 0.1-degree cell (about 10 km) where the account was seen most at night
(22:00-06:00 Beijing time) with a precise fix (not IP, accuracy <= 20 km); failing
night fixes, most often with any precise fix; failing those, most often with an IP
address placed to a prefecture (accuracy <= 300 km). The position is the mean of
those fixes in that cell. Partial counts are merged as they grow, so memory follows
the number of (account, cell) pairs, not the number of observations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

_GRID_DEG = 0.1
_LON_CELLS = int(360 / _GRID_DEG) + 1
_CELLS = (int(180 / _GRID_DEG) + 1) * _LON_CELLS
_PRECISE_M = 20_000.0
_IP_PREFECTURE_M = 300_000.0
#: Beijing time is UTC+8: 22:00-06:00 local is 14:00-22:00 UTC
_NIGHT_UTC_HOURS = (14, 22)
_US_PER_HOUR = 3_600_000_000

_SUMS = ("night", "precise", "ip", "lat_p", "lon_p", "lat_i", "lon_i")


class NightHomes:
    """Accumulates fixes batch by batch; ``homes()`` gives each account's position."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0
        self._compacted = 0

    def add(
        self,
        account: npt.NDArray[np.int64],
        lon: npt.NDArray[np.float64],
        lat: npt.NDArray[np.float64],
        accuracy_m: npt.NDArray[np.float64],
        is_ip: npt.NDArray[np.bool_],
        ts_us: npt.NDArray[np.int64],
    ) -> None:
        with np.errstate(invalid="ignore"):
            precise = ~is_ip & (accuracy_m <= _PRECISE_M)
            coarse = is_ip & (accuracy_m <= _IP_PREFECTURE_M)
        used = (precise | coarse) & np.isfinite(lon) & np.isfinite(lat)
        if not used.any():
            return
        account, lon, lat = account[used], lon[used], lat[used]
        precise, coarse, ts_us = precise[used], coarse[used], ts_us[used]
        hour = (ts_us // _US_PER_HOUR) % 24
        night = precise & (hour >= _NIGHT_UTC_HOURS[0]) & (hour < _NIGHT_UTC_HOURS[1])
        row = np.clip(np.floor((lat + 90.0) / _GRID_DEG), 0, 180 / _GRID_DEG).astype(np.int64)
        col = np.clip(np.floor((lon + 180.0) / _GRID_DEG), 0, 360 / _GRID_DEG).astype(np.int64)
        part = pa.table(
            {
                "key": account * _CELLS + row * _LON_CELLS + col,
                "night": night.astype(np.int64),
                "precise": precise.astype(np.int64),
                "ip": coarse.astype(np.int64),
                "lat_p": np.where(precise, lat, 0.0),
                "lon_p": np.where(precise, lon, 0.0),
                "lat_i": np.where(coarse, lat, 0.0),
                "lon_i": np.where(coarse, lon, 0.0),
            }
        )
        self._parts.append(_summed(part))
        self._rows += self._parts[-1].num_rows
        # re-merge once the parts hold twice what the last merge kept
        if self._rows > 2 * max(self._compacted, 1 << 18):
            self._compact()

    def _compact(self) -> None:
        merged = _summed(pa.concat_tables(self._parts)) if self._parts else _empty()
        self._parts = [merged]
        self._rows = self._compacted = merged.num_rows

    def homes(self, accounts: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Longitude and latitude of each account's home, NaN where nothing placed it."""
        self._compact()
        table = self._parts[0]
        lon = np.full(accounts, np.nan)
        lat = np.full(accounts, np.nan)
        if table.num_rows == 0:
            return lon, lat
        cols: dict[str, Any] = {name: table.column(name).to_numpy() for name in table.column_names}
        key = cols["key"]
        account = key // _CELLS
        # per account, the cell with most night fixes, then precise fixes, then IP fixes
        order = np.lexsort((-cols["ip"], -cols["precise"], -cols["night"], account))
        first = order[np.unique(account[order], return_index=True)[1]]
        chosen = account[first]
        precise = cols["precise"][first]
        with np.errstate(invalid="ignore", divide="ignore"):
            lon[chosen] = np.where(
                precise > 0,
                cols["lon_p"][first] / precise,
                cols["lon_i"][first] / cols["ip"][first],
            )
            lat[chosen] = np.where(
                precise > 0,
                cols["lat_p"][first] / precise,
                cols["lat_i"][first] / cols["ip"][first],
            )
        return lon, lat


def _summed(table: pa.Table) -> pa.Table:
    grouped = table.group_by("key").aggregate([(name, "sum") for name in _SUMS])
    return grouped.rename_columns([name.removesuffix("_sum") for name in grouped.column_names])


def _empty() -> pa.Table:
    schema = [("key", pa.int64()), *((name, pa.float64()) for name in _SUMS)]
    return pa.table({name: pa.array([], kind) for name, kind in schema})
