"""What a reader hands the checks and what the checks say about its rows.

A ``_Raw`` is one slice of a file as read (CSV as text, Parquet as typed); a ``Mask``
marks rows of it, a ``_Problem`` is the rows that break one rule with their message, a
``_Converted`` is a column in its canonical type with where it was empty.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairban.contract.schema import Table

_MiB = 1 << 20


@dataclass(frozen=True)
class _Raw:
    """One slice of a file as read: contract columns only, CSV columns as strings."""

    where: str
    first_row: int  # the message row number of the slice's first row
    num_rows: int
    arrays: dict[str, pa.Array[Any]]


#: a numpy boolean mask over the rows of a batch
Mask = npt.NDArray[np.bool_]


def _mask(flags: pa.Array[Any]) -> Mask:
    """Arrow booleans as a numpy mask; null counts as False."""
    return np.asarray(flags.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


@dataclass(frozen=True)
class _Problem:
    """Rows of a batch that break one rule, and the message for one such row."""

    mask: Mask
    describe: Callable[[int], str]


@dataclass
class _Converted:
    values: pa.Array[Any]  # canonical type; nulls where empty or unreadable
    empty: Mask  # the value was not given


def _says(what: str) -> Callable[[int], str]:
    return lambda _row: what


def _null_where(mask: Mask, values: pa.Array[Any]) -> pa.Array[Any]:
    """``values`` with nulls where ``mask`` is set."""
    if not mask.any():
        return values
    nulls = pa.nulls(len(values)).cast(values.type)
    chosen: pa.Array[Any] = pc.if_else(pa.array(mask), nulls, values)
    return chosen


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _present(table: Table, read: Sequence[str], given: Collection[str]) -> list[str]:
    """The columns to read from a file: those wanted that it has, and never none, so
    that rows are counted even when every wanted column is absent (a required column
    is always there: its absence was reported before)."""
    present = [n for n in read if n in given]
    return present or [n for n in table.required_names if n in given][:1]
