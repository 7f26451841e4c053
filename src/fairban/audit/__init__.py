"""The audit log: every action, append-only and hash-chained, verifiable by anyone with
an export (principle 9; the entry format and hash rule are in docs/audit.md)."""

from fairban.audit.actions import Action
from fairban.audit.log import (
    ACTION,
    FIELDS,
    GENESIS_HASH,
    Exported,
    Problem,
    ProblemKind,
    VerifyReport,
    append,
    batched,
    entry_line,
    entry_record,
    export,
    format_at,
    history,
    is_batched,
    verify,
    verify_lines,
)
from fairban.audit.models import AuditEntry

__all__ = [
    "ACTION",
    "FIELDS",
    "GENESIS_HASH",
    "Action",
    "AuditEntry",
    "Exported",
    "Problem",
    "ProblemKind",
    "VerifyReport",
    "append",
    "batched",
    "entry_line",
    "entry_record",
    "export",
    "format_at",
    "history",
    "is_batched",
    "verify",
    "verify_lines",
]
