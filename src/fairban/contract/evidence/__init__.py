"""Evidence folders (data contract): find the tables, stream them as validated batches,
and validate a whole folder into a report.

Memory is bounded by the batch size plus a fixed read-ahead (about 64 MiB of CSV text,
a 4 MiB Parquet buffer), never by the size of a table. Row numbers in messages are those
a person finds in the file: in CSV the header is row 1 and the first record row 2 (a
quoted value with line breaks is still one row); in Parquet row 1 is the file's first
row. ``docs/contract.md`` lists every message.

The modules, in the order a table passes through them: ``discovery`` (which files hold
each table), ``streaming`` (``iter_batches`` and the scan over a table's files),
``csv_reader`` and ``parquet_reader`` (raw slices of a file), ``checks`` (canonical
types and every rule a row breaks), ``ip_only`` (placing IP-only observations) and
``validation`` (a whole folder into a report). ``slices`` holds the types they share.
"""

from fairban.contract.evidence.discovery import TableFiles, discover
from fairban.contract.evidence.streaming import iter_batches
from fairban.contract.evidence.validation import TableSummary, ValidationReport, validate_evidence

__all__ = [
    "TableFiles",
    "TableSummary",
    "ValidationReport",
    "discover",
    "iter_batches",
    "validate_evidence",
]
