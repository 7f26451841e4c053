"""The evidence contract: load and validate evidence folders and directives.

Everything here is pure (no UI, web or database): callers get canonical Arrow batches,
frozen directives, and ``InputError``s that read as one line naming file, row or key.
"""

from fairban.contract.directive import (
    Area,
    Directive,
    areas_from_geojson,
    load_areas,
    load_directive,
)
from fairban.contract.evidence import (
    TableFiles,
    TableSummary,
    ValidationReport,
    discover,
    iter_batches,
    validate_evidence,
)
from fairban.contract.schema import (
    ACCOUNT_KINDS,
    ACCOUNTS,
    CONFIRMED,
    INTERACTION_KINDS,
    INTERACTIONS,
    OBSERVATIONS,
    SOURCES,
    TABLES,
    Column,
    Table,
)

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_KINDS",
    "CONFIRMED",
    "INTERACTIONS",
    "INTERACTION_KINDS",
    "OBSERVATIONS",
    "SOURCES",
    "TABLES",
    "Area",
    "Column",
    "Directive",
    "Table",
    "TableFiles",
    "TableSummary",
    "ValidationReport",
    "areas_from_geojson",
    "discover",
    "iter_batches",
    "load_areas",
    "load_directive",
    "validate_evidence",
]
