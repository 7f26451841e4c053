"""The report's tables: counts over the ledger, as Arrow tables ready to be written as
CSV and shown as HTML.

Every count is of accounts unless the column says people; people are distinct
person_id, an account with no person_id counting as a person of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairban.preview.decisions import ENFORCED, MEASURES, STRENGTHS
from fairban.preview.ledger import source_names
from fairban.preview.naive import SOURCE_BITS
from fairban.preview.regions import (
    ABROAD,
    UNKNOWN,
    prefecture_name,
    province_english,
    province_name,
    province_of,
)

Row = dict[str, Any]


def _table(rows: Sequence[Row], columns: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    schema = pa.schema(list(columns))
    return pa.Table.from_pylist(list(rows), schema=schema)


_MEASURE_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("accounts", pa.int64()),
    *((m, pa.int64()) for m in MEASURES),
    ("people_enforced", pa.int64()),
]


def with_places(table: pa.Table) -> pa.Table:
    """The ledger with home_province_gb and a 'located' flag (a position but no code
    means abroad)."""
    gb = table.column("home_gb")
    blank = pa.scalar("", pa.string())
    province = pc.if_else(
        pc.equal(gb, blank), blank, pc.utf8_replace_slice(gb, start=2, stop=6, replacement="0000")
    )
    located = pc.is_valid(table.column("home_lat"))
    return table.append_column("home_province_gb", province).append_column("located", located)


def _place_key(gb: str, located: bool) -> str:
    return gb if gb else ("~abroad" if located else "~unknown")


def measure_crosstab(table: pa.Table, keys: Sequence[str]) -> dict[tuple[Any, ...], Row]:
    """Per value of ``keys``: accounts, one count per measure, people_enforced."""
    out: dict[tuple[Any, ...], Row] = {}
    counts = table.group_by([*keys, "measure"]).aggregate([("account_id", "count")])
    for row in counts.to_pylist():
        key = tuple(row[k] for k in keys)
        entry = out.setdefault(
            key, {"accounts": 0, **dict.fromkeys(MEASURES, 0), "people_enforced": 0}
        )
        entry[row["measure"]] += row["account_id_count"]
        entry["accounts"] += row["account_id_count"]
    enforced = table.filter(pc.is_in(table.column("measure"), value_set=pa.array(ENFORCED)))
    people = enforced.group_by(list(keys)).aggregate([("person", "count_distinct")])
    for row in people.to_pylist():
        out[tuple(row[k] for k in keys)]["people_enforced"] = row["person_count_distinct"]
    return out


def _order(entry: Row) -> tuple[int, int, int]:
    return (-(entry["restrict"] + entry["suspend"]), -entry["monitor"], -entry["accounts"])


def by_measure(decided: pa.Table) -> pa.Table:
    total = decided.num_rows
    rows = []
    for measure in MEASURES:
        part = decided.filter(pc.equal(decided.column("measure"), pa.scalar(measure)))
        risk = pc.mean(part.column("risk")).as_py() if part.num_rows else None
        rows.append(
            {
                "measure": measure,
                "accounts": part.num_rows,
                "people": pc.count_distinct(part.column("person")).as_py() if part.num_rows else 0,
                "share": part.num_rows / total if total else 0.0,
                "mean_risk": risk,
            }
        )
    return _table(
        rows,
        [
            ("measure", pa.string()),
            ("accounts", pa.int64()),
            ("people", pa.int64()),
            ("share", pa.float64()),
            ("mean_risk", pa.float64()),
        ],
    )


def by_platform(decided: pa.Table, platforms: Sequence[str]) -> pa.Table:
    cross = measure_crosstab(decided, ["platform"])
    names = [*platforms, *sorted({k[0] for k in cross} - set(platforms))]
    empty = {"accounts": 0, **dict.fromkeys(MEASURES, 0), "people_enforced": 0}
    rows = [{"platform": name, **cross.get((name,), empty)} for name in names]
    return _table(rows, [("platform", pa.string()), *_MEASURE_COLUMNS])


def by_strength(decided: pa.Table) -> pa.Table:
    cross = measure_crosstab(decided, ["strength"])
    empty = {"accounts": 0, **dict.fromkeys(MEASURES, 0), "people_enforced": 0}
    rows = [{"strength": s, **cross.get((s,), empty)} for s in STRENGTHS]
    return _table(rows, [("strength", pa.string()), *_MEASURE_COLUMNS])


def by_province(decided: pa.Table) -> pa.Table:
    cross = measure_crosstab(decided, ["home_province_gb", "located"])
    merged: dict[str, Row] = {}
    for (gb, located), entry in cross.items():
        key = _place_key(gb, located)
        if key in merged:
            for name, value in entry.items():
                merged[key][name] += value
        else:
            merged[key] = dict(entry)
    rows = []
    for key, entry in sorted(merged.items(), key=lambda item: (_order(item[1]), item[0])):
        gb = "" if key.startswith("~") else key
        name = province_name(gb) if gb else (ABROAD if key == "~abroad" else UNKNOWN)
        english = province_english(gb) if gb else name
        rows.append({"province_gb": gb, "province": name, "province_en": english, **entry})
    return _table(
        rows,
        [
            ("province_gb", pa.string()),
            ("province", pa.string()),
            ("province_en", pa.string()),
            *_MEASURE_COLUMNS,
        ],
    )


def by_prefecture(decided: pa.Table) -> pa.Table:
    cross = measure_crosstab(decided, ["home_gb", "located"])
    merged: dict[str, Row] = {}
    for (gb, located), entry in cross.items():
        key = _place_key(gb, located)
        if key in merged:
            for name, value in entry.items():
                merged[key][name] += value
        else:
            merged[key] = dict(entry)
    rows = []
    for key, entry in sorted(merged.items(), key=lambda item: (_order(item[1]), item[0])):
        gb = "" if key.startswith("~") else key
        label = ABROAD if key == "~abroad" else UNKNOWN
        province = province_of(gb)
        rows.append(
            {
                "prefecture_gb": gb,
                "prefecture": prefecture_name(gb) if gb else label,
                "province_gb": province,
                "province": province_name(province) if gb else label,
                "province_en": province_english(province) if gb else label,
                **entry,
            }
        )
    return _table(
        rows,
        [
            ("prefecture_gb", pa.string()),
            ("prefecture", pa.string()),
            ("province_gb", pa.string()),
            ("province", pa.string()),
            ("province_en", pa.string()),
            *_MEASURE_COLUMNS,
        ],
    )


# --------------------------------------------------------------------------- naive rule


@dataclass(frozen=True)
class Comparison:
    """The naive rule's hits against fairban's restrict/suspend set, over the ledger."""

    naive_accounts: int
    naive_people: int
    naive_provinces: int
    fairban_accounts: int
    fairban_people: int
    fairban_provinces: int
    both: int
    naive_only: int
    fairban_only: int
    naive_only_people: int
    table: pa.Table  # naive_rule.csv
    hits: pa.Table  # naive_hits.csv


_COMPARISON_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("group", pa.string()),
    ("key", pa.string()),
    ("name", pa.string()),
    ("naive_accounts", pa.int64()),
    ("naive_people", pa.int64()),
    ("fairban_accounts", pa.int64()),
    ("fairban_people", pa.int64()),
    ("both_accounts", pa.int64()),
    ("naive_only_accounts", pa.int64()),
    ("fairban_only_accounts", pa.int64()),
]


def compare_naive(ledger: pa.Table) -> Comparison:
    """``ledger`` as given by ``with_places(Ledger.table)``."""
    naive = ledger.column("naive_touches").to_numpy() > 0
    enforced = pc.is_in(ledger.column("measure"), value_set=pa.array(ENFORCED)).to_numpy(
        zero_copy_only=False
    )
    person = ledger.column("person").to_numpy(zero_copy_only=False)
    province = ledger.column("home_province_gb").to_numpy(zero_copy_only=False).astype(str)
    bits = ledger.column("naive_sources").to_numpy()
    platform = ledger.column("platform").to_numpy(zero_copy_only=False).astype(str)
    located = ledger.column("located").to_numpy(zero_copy_only=False)

    def row(group: str, key: str, name: str, member: np.ndarray[Any, Any]) -> Row:
        n, f = naive & member, enforced & member
        return {
            "group": group,
            "key": key,
            "name": name,
            "naive_accounts": int(n.sum()),
            "naive_people": len(set(person[n])),
            "fairban_accounts": int(f.sum()),
            "fairban_people": len(set(person[f])),
            "both_accounts": int((n & f).sum()),
            "naive_only_accounts": int((n & ~enforced).sum()),
            "fairban_only_accounts": int((f & ~naive).sum()),
        }

    everyone = np.ones(len(naive), dtype=np.bool_)
    rows = [row("all", "all", "all accounts in scope", everyone)]
    for source, bit in SOURCE_BITS.items():
        rows.append(row("source", source, f"touched through {source}", (bits & bit) > 0))
    for source, bit in SOURCE_BITS.items():
        rows.append(row("source_only", source, f"touched through {source} only", bits == bit))
    for name in sorted(set(platform[naive | enforced])):
        rows.append(row("platform", name, name, platform == name))
    keys = sorted(
        {
            _place_key(p, bool(loc))
            for p, loc in zip(province[naive | enforced], located[naive | enforced], strict=True)
        }
    )
    province_rows = []
    for key in keys:
        if key.startswith("~"):
            abroad = key == "~abroad"
            member = (province == "") & (located if abroad else ~located)
            name = ABROAD if abroad else UNKNOWN
            province_rows.append(row("province", "", name, member))
        else:
            province_rows.append(
                row(
                    "province",
                    key,
                    f"{province_english(key)} {province_name(key)}",
                    province == key,
                )
            )
    province_rows.sort(key=lambda r: (-r["naive_accounts"], -r["fairban_accounts"], r["name"]))
    rows.extend(province_rows)
    table = _table(rows, _COMPARISON_COLUMNS)

    chinese = province != ""
    union = naive | enforced
    hits = ledger.filter(pa.array(union))
    sources = [source_names(int(b)) for b in hits.column("naive_sources").to_numpy()]
    columns: dict[str, Any] = {
        "account_id": hits.column("account_id"),
        "platform": hits.column("platform"),
        "person_id": hits.column("person_id"),
        "measure": hits.column("measure"),
        "naive_hit": pc.greater(hits.column("naive_touches"), pa.scalar(0)),
        "naive_sources": pa.array(sources, pa.string()),
        "naive_touches": hits.column("naive_touches"),
        "naive_first": _iso_utc(hits.column("naive_first")),
        "home_gb": hits.column("home_gb"),
        "home_province_gb": hits.column("home_province_gb"),
        "home_from": hits.column("home_from"),
    }
    hits_table = pa.table(columns).sort_by("account_id")
    return Comparison(
        naive_accounts=int(naive.sum()),
        naive_people=len(set(person[naive])),
        naive_provinces=len(set(province[naive & chinese])),
        fairban_accounts=int(enforced.sum()),
        fairban_people=len(set(person[enforced])),
        fairban_provinces=len(set(province[enforced & chinese])),
        both=int((naive & enforced).sum()),
        naive_only=int((naive & ~enforced).sum()),
        fairban_only=int((enforced & ~naive).sum()),
        naive_only_people=len(set(person[naive & ~enforced]) - set(person[enforced])),
        table=table,
        hits=hits_table,
    )


def _iso_utc(ts: pa.ChunkedArray[Any]) -> pa.Array[Any]:
    """'2019-07-05T11:34:10Z', to the second, as the contract writes times."""
    # typed Any: the stubs do not let strftime take a timestamp with a time zone
    seconds: Any = pc.cast(ts.combine_chunks(), pa.timestamp("s", tz="UTC"), safe=False)
    text: pa.Array[Any] = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    return text
