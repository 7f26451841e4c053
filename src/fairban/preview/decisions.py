"""The decisions table the preview reads: the contract's columns plus what the engine
adds for the report (strength of evidence and each account's home).

The table comes from the targeting engine's dry run, or from a ``decisions.csv`` read
back; either way it is checked here once, so that the rest of the preview can rely on
its columns and values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fairban.errors import InputError
from fairban.measures import DECISION_MEASURES, VISIBLE_VALUES

#: every measure a decision may say, weakest first
MEASURES: tuple[str, ...] = DECISION_MEASURES
#: the measures a person notices (monitor is invisible to them)
ENFORCED: tuple[str, ...] = VISIBLE_VALUES
#: strongest first, the order tables and charts use
STRENGTHS: tuple[str, ...] = ("strong", "moderate", "weak", "none")

_STRINGS = ("account_id", "platform", "person_id", "measure", "reasons", "strength", "home_gb")
_FLOATS = ("risk", "home_lat", "home_lon")
COLUMNS: tuple[str, ...] = (
    "account_id",
    "platform",
    "person_id",
    "measure",
    "risk",
    "reasons",
    "strength",
    "home_lat",
    "home_lon",
    "home_gb",
)

_WHERE = "decisions"


def checked_decisions(decisions: pa.Table) -> pa.Table:
    """``decisions`` with exactly ``COLUMNS`` in canonical types, or ``InputError``.

    Empty person_id and home_gb become '', an empty strength 'none'; a measure or
    strength outside the known values, a risk outside [0, 1], an empty or repeated
    account_id are errors naming the first row (counted from 1).
    """
    missing = [name for name in COLUMNS if name not in decisions.column_names]
    if missing:
        raise InputError(_WHERE, f"missing column(s) {', '.join(map(repr, missing))}")
    columns: dict[str, pa.ChunkedArray[Any]] = {}
    for name in COLUMNS:
        target = pa.string() if name in _STRINGS else pa.float64()
        try:
            columns[name] = decisions.column(name).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kind = "strings" if name in _STRINGS else "numbers"
            raise InputError(_WHERE, f"column {name!r} does not hold {kind}") from None
    for name, default in (("person_id", ""), ("home_gb", ""), ("strength", "none")):
        filled = pa.chunked_array([pa.array([default] * len(decisions), pa.string())])
        columns[name] = pc.coalesce(columns[name], filled)
    table = pa.table(columns)

    _check_values(table, "measure", MEASURES)
    _check_values(table, "strength", STRENGTHS)
    ids = table.column("account_id").to_numpy(zero_copy_only=False)
    _fail_first(np.array([not value for value in ids], dtype=np.bool_), "account_id is empty")
    unique, counts = np.unique(ids.astype(str), return_counts=True)
    if (counts > 1).any():
        raise InputError(_WHERE, f"account_id {str(unique[counts > 1][0])!r} has more than one row")
    risk = table.column("risk").to_numpy(zero_copy_only=False).astype(np.float64)
    with np.errstate(invalid="ignore"):
        _fail_first(~((risk >= 0.0) & (risk <= 1.0)), "risk must be a number in [0, 1]")
    return table


def _check_values(table: pa.Table, name: str, allowed: tuple[str, ...]) -> None:
    values = table.column(name).to_numpy(zero_copy_only=False)
    bad = np.array([value not in allowed for value in values], dtype=np.bool_)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            f"{_WHERE} row {row + 1}",
            f"{name} {values[row]!r} is not one of {', '.join(allowed)}",
        )


def _fail_first(mask: npt.NDArray[np.bool_], what: str) -> None:
    if mask.any():
        raise InputError(f"{_WHERE} row {int(np.argmax(mask)) + 1}", what)
