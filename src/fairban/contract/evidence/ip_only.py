"""IP-only observations: rows with source ``ip``, an address and no position are
placed from the address (ip2region) before the checks that need a position."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract.evidence.slices import Mask, _Converted, _mask, _Problem
from fairban.contract.schema import FLOAT, OBSERVATIONS, STRING, Table

#: the observation columns that IP-only rows leave empty, and what placing them needs
_PLACED = ("lat", "lon", "accuracy_m")
_PLACEMENT_INPUTS = (*_PLACED, "source", "ip")


def _ip_only_rows(table: Table, columns: dict[str, _Converted]) -> Mask | None:
    """Observations to place by address: source 'ip', an ip, and no lat and no lon."""
    if table is not OBSERVATIONS or not all(c in columns for c in _PLACEMENT_INPUTS):
        return None
    by_ip = _mask(pc.equal(columns["source"].values, pa.scalar("ip", STRING)))
    return columns["lat"].empty & columns["lon"].empty & by_ip & ~columns["ip"].empty


def _place_ip_only(columns: dict[str, _Converted], ip_only: Mask, problems: list[_Problem]) -> int:
    """Fill lat, lon and accuracy_m of IP-only rows from ip2region; returns rows placed.

    A given accuracy_m is kept where it is wider than the placement's own.
    """
    rows = np.flatnonzero(ip_only)
    if not len(rows):
        return 0
    from fairban.geo.iplocate import IpLocator  # loads the ip2region database: only if needed

    ip_values = columns["ip"].values
    lat, lon, accuracy = IpLocator.default().place(ip_values.take(rows).to_pylist())
    placed = ~(np.isnan(lat) | np.isnan(lon) | np.isnan(accuracy))
    if not placed.all():
        failed = np.zeros(len(ip_only), dtype=np.bool_)
        failed[rows[~placed]] = True
        problems.append(_Problem(failed, lambda row: _unplaced(ip_values[row].as_py())))
    done = rows[placed]
    given_accuracy = columns["accuracy_m"].values.take(done).to_numpy(zero_copy_only=False)
    updates = {
        "lat": lat[placed],
        "lon": lon[placed],
        "accuracy_m": np.fmax(accuracy[placed], given_accuracy),
    }
    for name, new in updates.items():
        old = columns[name].values
        data = np.array(old.to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = _mask(old.is_null())
        data[done] = new
        missing[done] = False
        columns[name] = _Converted(pa.array(data, FLOAT, mask=missing), columns[name].empty)
    return int(placed.sum())


def _unplaced(ip: object) -> str:
    try:
        ipaddress.ip_address(str(ip))
    except ValueError:
        return f"ip {ip!r} is not an IP address"
    return f"ip {ip!r} cannot be placed (private, reserved or unknown range)"
