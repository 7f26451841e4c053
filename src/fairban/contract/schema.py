"""The four evidence tables of the data contract, as data.

Everything that reads, checks or documents evidence takes its column names, types and
rules from here, so the contract lives in one place. Canonical Arrow types: strings are
``pa.string()``, floats ``pa.float64()``, timestamps ``pa.timestamp("us", tz="UTC")``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import pyarrow as pa

STRING = pa.string()
FLOAT = pa.float64()
TIMESTAMP = pa.timestamp("us", tz="UTC")

SOURCES = ("gps", "wifi", "cell", "ip")
INTERACTION_KINDS = ("call", "message", "friend_add", "transfer", "payment")
ACCOUNT_KINDS = ("personal", "merchant")


@dataclass(frozen=True)
class Bounds:
    """A closed or half-open numeric range; every float must also be finite."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def describe(self) -> str:
        """The rule as it ends an error message: ``is outside [-90, 90]``, ``must be > 0``."""
        if self.low is not None and self.high is not None:
            return f"is outside [{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"must be {'>' if self.low_open else '>='} {self.low:g}"
        assert self.high is not None
        return f"must be <= {self.high:g}"


@dataclass(frozen=True)
class TextFormat:
    """A regular expression a whole string value must match, and how to say so."""

    regex: str
    description: str

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.regex, value) is not None


PLATFORM_NAME = TextFormat(
    r"[a-z0-9_-]+", "is not a lowercase name (letters a-z, digits, '_' or '-')"
)
PHONE_REGION = TextFormat(
    r"[0-9]{6}|[A-Z]{2}",
    "is neither a 6-digit region code (GB/T 2260) nor a 2-letter country code (ISO 3166-1)",
)


@dataclass(frozen=True)
class Column:
    """One contract column.

    ``required`` means the column must be present and every value non-empty.
    ``allowed`` (when not empty) lists every accepted value; ``default`` replaces an
    empty value in canonical batches. ``unplaced_null``: required, yet null in canonical
    batches on an IP-only observation whose address cannot be placed (a position).
    """

    name: str
    type: pa.DataType
    required: bool
    meaning: str = ""
    allowed: tuple[str, ...] = ()
    default: str | None = None
    text_format: TextFormat | None = None
    bounds: Bounds | None = None
    unplaced_null: bool = False

    @property
    def kind(self) -> str:
        """``'string'``, ``'float'`` or ``'timestamp'``: the words error messages use."""
        if pa.types.is_timestamp(self.type):
            return "timestamp"
        if pa.types.is_floating(self.type):
            return "float"
        return "string"


@dataclass(frozen=True)
class Table:
    """One contract table: its columns in canonical order and whether it must exist."""

    name: str
    required: bool
    columns: tuple[Column, ...]
    meaning: str = ""
    _by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({c.name: c for c in self.columns}))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        """The column called ``name``; ``KeyError`` when the contract has none."""
        return self._by_name[name]

    def has(self, name: str) -> bool:
        return name in self._by_name

    def arrow_schema(self, names: Sequence[str] | None = None) -> pa.Schema:
        """The canonical schema, of all columns or of ``names`` in the order given."""
        cols = self.columns if names is None else tuple(self.column(n) for n in names)
        return pa.schema(
            [pa.field(c.name, c.type, nullable=not c.required or c.unplaced_null) for c in cols]
        )


ACCOUNTS = Table(
    "accounts",
    required=True,
    meaning="accounts on every platform",
    columns=(
        Column("account_id", STRING, True, "unique across all platforms"),
        Column("platform", STRING, True, "the service", text_format=PLATFORM_NAME),
        Column("person_id", STRING, False, "pseudonymous real-name identity"),
        Column(
            "phone_region", STRING, False, "where the phone is registered", text_format=PHONE_REGION
        ),
        Column(
            "kind", STRING, False, "personal or merchant", allowed=ACCOUNT_KINDS, default="personal"
        ),
        Column("registered_at", TIMESTAMP, False, "when the account was opened"),
    ),
)

OBSERVATIONS = Table(
    "observations",
    required=True,
    meaning="where an account was seen",
    columns=(
        Column("account_id", STRING, True),
        Column("ts", TIMESTAMP, True),
        Column("lat", FLOAT, True, "WGS-84 latitude", bounds=Bounds(-90, 90), unplaced_null=True),
        Column(
            "lon", FLOAT, True, "WGS-84 longitude", bounds=Bounds(-180, 180), unplaced_null=True
        ),
        Column(
            "accuracy_m",
            FLOAT,
            True,
            "95% radius in metres",
            bounds=Bounds(0, low_open=True),
            unplaced_null=True,
        ),
        Column("source", STRING, True, allowed=SOURCES),
        Column("ip", STRING, False, "client IP address"),
        Column("cell_id", STRING, False, "MCC-MNC-LAC-CI"),
        Column("device_id", STRING, False, "device fingerprint"),
    ),
)

INTERACTIONS = Table(
    "interactions",
    required=True,
    meaning="who dealt with whom",
    columns=(
        Column("src", STRING, True, "account that initiated"),
        Column("dst", STRING, True, "account on the other side"),
        Column("ts", TIMESTAMP, True),
        Column("kind", STRING, True, allowed=INTERACTION_KINDS),
        Column("amount", FLOAT, False, "CNY", bounds=Bounds(0)),
    ),
)

CONFIRMED = Table(
    "confirmed",
    required=False,
    meaning="accounts a police case has confirmed as used for fraud",
    columns=(
        Column("account_id", STRING, True),
        Column("case_id", STRING, True),
        Column("confirmed_at", TIMESTAMP, False),
    ),
)

#: every contract table by name, in the order fairban validates them
TABLES: Mapping[str, Table] = MappingProxyType(
    {t.name: t for t in (ACCOUNTS, OBSERVATIONS, INTERACTIONS, CONFIRMED)}
)
