"""What ``fairban enforce`` reads: the decisions of ``fairban target``, the evidence's
accounts, and the stage (which accounts a share of the rollout reaches).

Pure: files in, checked values out (no database). Every problem is an ``InputError``
naming the file and row (``decisions.csv row 12: platform 'tiktok' is not one of the
directive's platforms (qq, wechat)``), raised before anything is written anywhere.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fairban.contract import Directive, iter_batches
from fairban.digests import canonical_json, sha256_hex
from fairban.errors import InputError, first_line
from fairban.measures import DECISION_MEASURES, VISIBLE_VALUES
from fairban.progress import SILENT, Progress

#: a stage of p enforces the accounts whose bucket is below p x STAGE_BUCKETS
STAGE_BUCKETS = 10_000
#: the columns ``fairban target`` writes; ``person_id`` may be missing (unknown person)
COLUMNS = ("account_id", "platform", "person_id", "measure", "risk", "reasons")
REQUIRED = ("account_id", "platform", "measure", "risk", "reasons")

_STAGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


# --- the stage ------------------------------------------------------------------------


def parse_stage(text: str) -> float:
    """``1%``, ``10%``, ``0.5%`` or ``all`` as a share in (0, 1]; ``InputError`` otherwise.

    The smallest stage is 0.01% (one bucket of 10,000)."""
    value = text.strip().lower()
    if value == "all":
        return 1.0
    found = _STAGE.match(value)
    if found is None:
        raise InputError("--stage", f"expected a share such as 1%, 10% or all, got {text!r}")
    share = float(found.group(1)) / 100
    if not 0 < share <= 1:
        raise InputError("--stage", f"{text!r} is not a share between 0% and 100%")
    if stage_limit(share) < 1:
        raise InputError("--stage", f"{text!r} is smaller than the smallest stage, 0.01%")
    return share


def stage_limit(stage: float) -> int:
    """The buckets a stage enforces: those below this number (0..10,000)."""
    return min(STAGE_BUCKETS, math.floor(stage * STAGE_BUCKETS + 1e-9))


def stage_label(stage: float) -> str:
    """``all``, ``10%``, ``0.5%``: a stage as a person writes it."""
    if stage >= 1:
        return "all"
    return f"{stage * 100:.4f}".rstrip("0").rstrip(".") + "%"


def stage_bucket(directive_id: str, account_id: str) -> int:
    """A stable random number in 0..9,999 for an account under a directive: the same on
    every run and machine, independent between directives (SHA-256 of both ids)."""
    digest = hashlib.sha256(f"{directive_id}\n{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % STAGE_BUCKETS


# --- decisions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One account's decision, checked. ``reasons`` is canonical JSON; ``evidence`` the
    facts the decision rests on (each reason's ``code`` and ``data``, sorted), and
    ``evidence_hash`` its SHA-256: the same facts give the same hash whatever the
    weights, thresholds or wording."""

    row: int
    account_id: str
    platform: str
    person_id: str | None
    measure: str
    risk: float
    reasons: str
    evidence: str
    evidence_hash: str


@dataclass(frozen=True)
class DecisionRows:
    """The decisions of one ``fairban target`` run, checked against a directive.

    ``source`` is the file read; ``kinds`` the evidence's account kinds (only those not
    ``personal``) when the evidence was read (``--data``), else None: unknown."""

    source: Path
    rows: tuple[DecisionRow, ...]
    kinds: Mapping[str, str] | None = None

    def __iter__(self) -> Iterator[DecisionRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def kind_of(self, account_id: str) -> str:
        return (self.kinds or {}).get(account_id, "personal")


@dataclass(frozen=True, slots=True)
class Account:
    platform: str
    person_id: str | None
    kind: str


def read_accounts(data_dir: Path, *, progress: Progress = SILENT) -> dict[str, Account]:
    """The evidence folder's accounts (platform, person, kind), streamed and checked by
    the data contract."""
    accounts: dict[str, Account] = {}
    columns = ["account_id", "platform", "person_id", "kind"]
    for batch in iter_batches(data_dir, "accounts", columns=columns, progress=progress):
        for account_id, platform, person_id, kind in zip(
            *(batch.column(c).to_pylist() for c in columns), strict=True
        ):
            accounts[account_id] = Account(platform, person_id or None, kind or "personal")
    return accounts


def decisions_file(path: Path) -> Path:
    """The decisions table in ``path``: the file itself, or the folder's
    ``decisions.csv`` (the contract's file), else its ``decisions.parquet``."""
    if not path.exists():
        raise InputError(str(path), "not found: give the folder `fairban target --out` wrote")
    if path.is_file():
        if path.suffix not in (".csv", ".parquet"):
            raise InputError(str(path), "is neither a .csv nor a .parquet decisions table")
        return path
    for name in ("decisions.csv", "decisions.parquet"):
        if (path / name).is_file():
            return path / name
    raise InputError(
        str(path), "holds no decisions.csv or decisions.parquet (write them with `fairban target`)"
    )


def read_decisions(
    path: Path, directive: Directive, *, accounts: Mapping[str, Account] | None = None
) -> DecisionRows:
    """Read and check the decisions in ``path`` (a folder or the file) for ``directive``.

    Refused, with the file and row: a missing column, an empty account, an account twice,
    a platform the directive does not name, a measure that is not none, monitor, restrict
    or suspend, a risk outside [0, 1], reasons that are not a JSON array of objects with
    a ``code``, a measure without a reason; with ``accounts`` (the evidence's), an
    account it lacks or places on another platform. Rows are returned by account id.
    """
    file = decisions_file(path)
    table, first_row = _read_table(file)
    name = file.name
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InputError(
            name,
            f"missing column {missing[0]!r} (decisions have the columns {', '.join(COLUMNS)})",
        )
    values = {c: table.column(c).to_pylist() for c in COLUMNS if c in table.column_names}
    persons = values.get("person_id", [None] * table.num_rows)
    platforms = set(directive.platforms)
    seen: dict[str, int] = {}
    rows: list[DecisionRow] = []
    for i in range(table.num_rows):
        row = first_row + i
        where = f"{name} row {row}"
        account_id = _text(values["account_id"][i])
        if not account_id:
            raise InputError(where, "account_id is empty")
        if account_id in seen:
            raise InputError(
                where, f"account {account_id!r} appears twice (first at row {seen[account_id]})"
            )
        seen[account_id] = row
        platform = _text(values["platform"][i])
        if platform not in platforms:
            raise InputError(
                where,
                f"platform {platform!r} is not one of the directive's platforms "
                f"({', '.join(directive.platforms)})",
            )
        measure = _text(values["measure"][i])
        if measure not in DECISION_MEASURES:
            raise InputError(
                where, f"measure {measure!r} is not one of {', '.join(DECISION_MEASURES)}"
            )
        risk = _risk(values["risk"][i], where)
        reasons = _reasons(values["reasons"][i], where)
        # a measure the person sees rests on evidence against the account; monitor on
        # any recorded reason (a link to another account's measure has weight 0)
        grounded = (
            any(r["weight"] > 0 for r in reasons) if measure in VISIBLE_VALUES else bool(reasons)
        )
        if measure != "none" and not grounded:
            raise InputError(
                where, f"a {measure} decision without a reason (every measure explains itself)"
            )
        if accounts is not None:
            known = accounts.get(account_id)
            if known is None:
                raise InputError(where, f"account {account_id!r} is not in the evidence's accounts")
            if known.platform != platform:
                raise InputError(
                    where,
                    f"account {account_id!r} is on platform {known.platform!r} in the evidence, "
                    f"not {platform!r}",
                )
        evidence = canonical_json(
            sorted(
                ({"code": r["code"], "data": r["data"]} for r in reasons),
                key=canonical_json,
            )
        )
        rows.append(
            DecisionRow(
                row=row,
                account_id=account_id,
                platform=platform,
                person_id=_text(persons[i]) or None,
                measure=measure,
                risk=risk,
                reasons=canonical_json(reasons),
                evidence=evidence,
                evidence_hash=sha256_hex(evidence),
            )
        )
    rows.sort(key=lambda r: r.account_id)
    kinds = None
    if accounts is not None:
        kinds = {a: acc.kind for a, acc in accounts.items() if acc.kind != "personal"}
    return DecisionRows(file, tuple(rows), kinds)


def _read_table(file: Path) -> tuple[pa.Table, int]:
    """The table and the row number of its first record (CSV: the header is row 1)."""
    if file.suffix == ".parquet":
        try:
            return pq.read_table(file), 1
        except (pa.ArrowException, OSError) as error:
            raise InputError(file.name, f"cannot be read as Parquet: {error}") from None
    try:
        header = _csv_header(file)
    except UnicodeDecodeError:
        raise InputError(f"{file.name} row 1", "not valid UTF-8") from None
    except OSError as error:
        raise InputError(file.name, f"cannot be read: {error.strerror}") from None
    # every column as text: fairban checks the values itself and names the row
    types = {name: pa.string() for name in header}
    try:
        table = pa_csv.read_csv(
            file,
            convert_options=pa_csv.ConvertOptions(
                column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowException, OSError) as error:
        raise InputError(file.name, f"cannot be read as CSV: {first_line(error)}") from None
    return table, 2


def _csv_header(file: Path) -> list[str]:
    with file.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _risk(value: object, where: str) -> float:
    risk = math.nan
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            risk = float(value)
    if not 0 <= risk <= 1:  # NaN fails too
        raise InputError(where, f"risk {value!r} is not a number in [0, 1]")
    return risk


def _reasons(value: object, where: str) -> list[dict[str, Any]]:
    bad = InputError(
        where, "reasons is not a JSON array of objects each with a 'code' and a 'text'"
    )
    try:
        items = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list):
        raise bad
    reasons: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"]:
            raise bad
        if not isinstance(item.get("text", ""), str):
            raise bad
        weight = item.get("weight", 0.0)
        data = item.get("data") or {}
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not isinstance(data, dict)
        ):
            raise bad
        reasons.append(
            {
                "code": item["code"],
                "text": item.get("text", ""),
                "weight": float(weight),
                "data": data,
            }
        )
    return reasons
