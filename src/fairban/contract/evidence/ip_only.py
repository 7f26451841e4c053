"""IP-only observations: rows with source ``ip``, an address and no position are
placed from the address (ip2region) before the checks that need a position; an
address that cannot be placed leaves the row without a position, counted by why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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


@dataclass
class _Placement:
    """What placing one batch's IP-only rows came to."""

    placed: int = 0
    #: rows kept without a position, by why (``Unplaced``'s words); never "not an IP
    #: address", which is an error
    unplaced: Counter[str] = field(default_factory=Counter)


def _place_ip_only(
    columns: dict[str, _Converted], ip_only: Mask, problems: list[_Problem]
) -> _Placement:
    """Fill lat, lon and accuracy_m of IP-only rows from ip2region.

    A given accuracy_m is kept where it is wider than the placement's own. A row whose
    address cannot be placed (IPv6, private or reserved, unknown to ip2region) keeps
    null lat and lon and its own accuracy_m: it is still evidence (its account, time
    and device), just not of where. A value that is no address at all is an error: the
    row then has no position and nothing to place it by.
    """
    rows = np.flatnonzero(ip_only)
    if not len(rows):
        return _Placement()
    from fairban.geo.iplocate import IpLocator, Unplaced  # loads ip2region: only if needed

    locator = IpLocator.default()
    ip_values = columns["ip"].values
    lat, lon, accuracy = locator.place(ip_values.take(rows).to_pylist())
    placed = ~(np.isnan(lat) | np.isnan(lon) | np.isnan(accuracy))
    outcome = _Placement(placed=int(placed.sum()))
    if not placed.all():
        failed = rows[~placed]
        why = locator.why_unplaced(ip_values.take(failed).to_pylist())
        wrong = np.array([w is Unplaced.NOT_AN_ADDRESS for w in why], dtype=np.bool_)
        if wrong.any():
            not_address = np.zeros(len(ip_only), dtype=np.bool_)
            not_address[failed[wrong]] = True
            problems.append(
                _Problem(
                    not_address, lambda row: f"ip {ip_values[row].as_py()!r} is not an IP address"
                )
            )
        outcome.unplaced.update(str(w) for w in why if w is not Unplaced.NOT_AN_ADDRESS)
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
    return outcome
