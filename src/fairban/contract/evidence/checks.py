"""The row checks: each raw slice converted to the canonical types, with every rule
it breaks (empty required values, unreadable numbers and timestamps, bounds, allowed
values, text formats) found per row, vectorised over the batch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract.evidence.ip_only import _PLACED, _ip_only_rows, _place_ip_only, _Placement
from fairban.contract.evidence.slices import (
    Mask,
    _Converted,
    _is_text,
    _mask,
    _null_where,
    _Problem,
    _Raw,
    _says,
)
from fairban.contract.schema import STRING, Column, Table


def _canonical(
    table: Table, raw: _Raw, read: tuple[str, ...]
) -> tuple[pa.RecordBatch, list[_Problem], _Placement]:
    """Convert a raw slice to the canonical types and list every rule it breaks."""
    n = raw.num_rows
    problems: list[_Problem] = []
    columns: dict[str, _Converted] = {}
    for name in read:
        column = table.column(name)
        given = raw.arrays.get(name)
        if given is None:
            columns[name] = _Converted(pa.nulls(n).cast(column.type), np.ones(n, dtype=np.bool_))
            continue
        converted, unreadable = _convert(column, given)
        columns[name] = converted
        if unreadable is not None:
            problems.append(unreadable)
    ip_only = _ip_only_rows(table, columns)
    for name in read:
        column, converted = table.column(name), columns[name]
        if column.required:
            empty = converted.empty
            if name in _PLACED and ip_only is not None:
                empty = empty & ~ip_only
            problems.append(_Problem(empty, _says(f"{name} is empty")))
        problems.extend(_value_problems(column, converted.values))
    placed = _Placement() if ip_only is None else _place_ip_only(columns, ip_only, problems)
    arrays = []
    for name in read:
        column, values = table.column(name), columns[name].values
        if column.default is not None:
            values = values.fill_null(pa.scalar(column.default, STRING))
        arrays.append(values)
    batch = pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema(read))
    return batch, problems, placed


def _convert(column: Column, given: pa.Array[Any]) -> tuple[_Converted, _Problem | None]:
    if column.kind == "string":
        values = given if given.type == STRING else given.cast(STRING)
        blank = _mask(pc.equal(values, pa.scalar("", STRING))) | _mask(pc.utf8_is_space(values))
        empty = _mask(values.is_null()) | blank
        return _Converted(_null_where(blank, values), empty), None
    if _is_text(given.type):
        return _parse_text(column, given)
    # Parquet: any number becomes a float; any timestamp unit and zone becomes us UTC
    values = given.cast(column.type, safe=False)
    return _Converted(values, _mask(values.is_null())), None


# What fairban reads as a number or an ISO 8601 timestamp; anything Arrow then still
# cannot read is found by bisection (see _cast_isolating).
_NUMBER = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity|nan))$"
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"[T ](?:[01]\d|2[0-3])(?::[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)"
_TIMESTAMP = f"^{_DATE}{_TIME}{_OFFSET}$"
_NAIVE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?$"
_EXAMPLE_TS = "2019-09-28T21:14:00+08:00"


def _parse_text(column: Column, given: pa.Array[Any]) -> tuple[_Converted, _Problem | None]:
    """Numbers and timestamps from text (CSV, Hive folder names), locating bad values."""
    text = given if given.type == STRING else given.cast(STRING)
    empty = _mask(text.is_null())
    target = column.type
    try:  # the fast path: everything reads
        return _Converted(text.cast(target), empty), None
    except pa.ArrowInvalid:
        pass
    blank = _mask(pc.utf8_is_space(text))
    empty |= blank
    tidy = pc.utf8_trim_whitespace(_null_where(blank, text))
    if column.kind == "timestamp":
        # Arrow reads at most 6 decimals into microseconds: drop the rest (ns clocks)
        tidy = pc.replace_substring_regex(tidy, r"(\.\d{6})\d+", r"\1")
    try:
        return _Converted(tidy.cast(target), empty), None
    except pa.ArrowInvalid:
        pass
    if column.kind == "float":
        bad = ~_mask(pc.match_substring_regex(tidy, _NUMBER))
    else:
        shaped = _mask(pc.match_substring_regex(tidy, _TIMESTAMP))
        bad = ~(shaped & _real_dates(_null_where(~shaped, tidy)))
    bad &= ~empty
    values, refused = _cast_isolating(_null_where(bad, tidy), target)
    name = column.name
    if column.kind == "float":

        def describe(row: int) -> str:
            return f"{name} {text[row].as_py()!r} is not a number"
    else:

        def describe(row: int) -> str:
            return _timestamp_message(name, str(text[row].as_py()))

    return _Converted(values, empty), _Problem(bad | refused, describe)


def _real_dates(text: pa.Array[Any]) -> Mask:
    """Where the first 10 characters (shaped ``YYYY-MM-DD`` or null) are a real date."""
    date = pc.utf8_slice_codeunits(text, 0, 10)
    parsed = pc.strptime(date, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2019-02-30 over to 2 March: a real date keeps its day
    day = pc.utf8_slice_codeunits(date, 8, 10).cast(pa.int64(), safe=False)
    return _mask(pc.equal(pc.day(parsed), day))


def _timestamp_message(name: str, value: str) -> str:
    shown = value.strip()
    if re.fullmatch(_NAIVE, shown):
        return f"{name} {value!r} has no time-zone offset"
    if re.fullmatch(_TIMESTAMP, shown):
        return f"{name} {value!r} is not a real date and time"
    return f"{name} {value!r} is not an ISO 8601 timestamp with an offset (such as {_EXAMPLE_TS})"


def _cast_isolating(text: pa.Array[Any], target: pa.DataType) -> tuple[pa.Array[Any], Mask]:
    """Cast, nulling each value Arrow refuses; returns the values and where they were.

    The regular expressions above already reject what Arrow would, so the loop runs
    only for values they cannot foresee; each round costs about two casts of the batch.
    """
    refused = np.zeros(len(text), dtype=np.bool_)
    while True:
        try:
            return text.cast(target), refused
        except pa.ArrowInvalid:
            low, high = 0, len(text)
            while high - low > 1:  # the first refused value lies in [low, high)
                middle = (low + high) // 2
                try:
                    text.slice(low, middle - low).cast(target)
                    low = middle
                except pa.ArrowInvalid:
                    high = middle
            refused[low] = True
            text = _null_where(refused, text)


def _value_problems(column: Column, values: pa.Array[Any]) -> list[_Problem]:
    name = column.name
    problems: list[_Problem] = []

    def shown(row: int) -> str:
        value = values[row].as_py()
        return _number(value) if column.kind == "float" else repr(value)

    if column.allowed:
        allowed = _mask(pc.is_in(values, value_set=pa.array(column.allowed, STRING)))
        outside = ~allowed & _mask(values.is_valid())
        listed = ", ".join(column.allowed)
        problems.append(
            _Problem(outside, lambda row: f"{name} {shown(row)} is not one of {listed}")
        )
    if column.text_format is not None:
        rule = column.text_format
        fits = _mask(pc.match_substring_regex(values, f"^(?:{rule.regex})$"))
        wrong = ~fits & _mask(values.is_valid())
        problems.append(_Problem(wrong, lambda row: f"{name} {shown(row)} {rule.description}"))
    if column.kind == "float":
        finite = _mask(pc.is_finite(values))
        given = _mask(values.is_valid())
        problems.append(
            _Problem(given & ~finite, lambda row: f"{name} {shown(row)} is not a finite number")
        )
        if column.bounds is not None:
            numbers = values.to_numpy(zero_copy_only=False)
            bounds = column.bounds
            with np.errstate(invalid="ignore"):
                outside = np.zeros(len(values), dtype=np.bool_)
                if bounds.low is not None:
                    outside |= numbers <= bounds.low if bounds.low_open else numbers < bounds.low
                if bounds.high is not None:
                    outside |= numbers > bounds.high
            rule_text = bounds.describe()
            problems.append(
                _Problem(outside & finite, lambda row: f"{name} {shown(row)} {rule_text}")
            )
    return problems


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _resolve(problems: Sequence[_Problem], limit: int) -> tuple[list[tuple[int, str]], int]:
    """The first ``limit`` problems in row order (as row index, message), and how many."""
    found: list[tuple[int, int, _Problem]] = []
    total = 0
    for order, problem in enumerate(problems):
        if not problem.mask.any():
            continue
        rows = np.flatnonzero(problem.mask)
        total += len(rows)
        found.extend((int(row), order, problem) for row in rows[:limit])
    found.sort(key=lambda item: (item[0], item[1]))
    return [(row, problem.describe(row)) for row, _, problem in found[:limit]], total
