"""Resident population of mainland China's 31 provincial units, 2020 census.

The figures are the published ones (NBS, Seventh National Population Census
Communiqué No. 3, 11 May 2021), shipped as ``data/census_2020.csv`` inside the
package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

# The communiqué's national figure counts 2,000,000 active-duty servicemen who are
# in no province, so the 31 provincial figures sum to this minus ACTIVE_SERVICEMEN_2020.
MAINLAND_TOTAL_2020 = 1_411_778_724
ACTIVE_SERVICEMEN_2020 = 2_000_000


@dataclass(frozen=True)
class Province:
    """One provincial-level unit with its 2020 census population (persons)."""

    gb: str
    name_zh: str
    name_en: str
    population: int


@functools.cache
def provinces() -> tuple[Province, ...]:
    """The 31 mainland provincial units, sorted by 6-digit GB/T 2260 code.

    Hong Kong, Macao and Taiwan are not in the census and not in this table.
    """
    text = resources.files("fairban.geo").joinpath("data/census_2020.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    units = [
        Province(
            gb=row["gb"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            population=int(row["population"]),
        )
        for row in rows
    ]
    return tuple(sorted(units, key=lambda p: p.gb))
