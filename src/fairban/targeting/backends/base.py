"""What the engine asks of a backend: the whole contract between ``targeting.engine``
and the engines that run the feature SQL (``duckdb.py`` on one machine, ``spark.py``
on a cluster).

A backend exposes the evidence tables as the views ``accounts``, ``observations``,
``interactions`` and ``confirmed`` with the contract's canonical columns and types
(IP-only observations already placed; lat and lon NULL where an address cannot be
placed), runs SQL written in DuckDB's dialect
(``targeting.features``; a backend of another dialect transpiles it), and applies a
Python function to Arrow batches of a query's rows (the presence stage's geometry),
keeping the result as a table for later SQL. Tables made by ``create``, ``register``
and ``map_batches`` live until ``close``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from fairban.progress import Advance

if TYPE_CHECKING:
    from fairban.targeting.features import Window


@dataclass(frozen=True)
class TableCheck:
    """What a backend's aggregate scan proved of one evidence table.

    ``ip_unplaced``: IP-only observations kept without a position, by why
    (``geo.iplocate.Unplaced``'s words), as ``ValidationReport.ip_unplaced`` counts them.
    """

    proven: bool
    ip_unplaced: Mapping[str, int] = field(default_factory=dict)


NOT_PROVEN = TableCheck(proven=False)

#: a pure function of one Arrow batch (it may drop rows and add columns); it must be
#: picklable by reference or by value for backends that run it on other machines
BatchFunction = Callable[[pa.RecordBatch], pa.RecordBatch]


class Backend(Protocol):
    """A SQL engine over one evidence folder, driven by ``targeting.engine.target``."""

    #: the SQL dialect the engine's own text is written in, or the one transpiled to
    dialect: str
    #: exceptions that mean "the engine could not read the evidence as given": the
    #: caller then runs the row-precise validator, whose message names the bad row
    errors: tuple[type[BaseException], ...]

    def open_evidence(self, data_dir: Path, window: Window | None = None) -> None:
        """Create the evidence views over ``data_dir``. With ``window``, a backend may
        skip files that cannot hold rows of it (day partitions); every query still
        filters on the window itself, so results do not depend on this."""
        ...

    def open_files(self, name: str, paths: Sequence[Path], schema: pa.Schema) -> None:
        """The view ``name`` over Parquet files that share ``schema`` (an evidence
        store's day files); no files: an empty view of ``schema``."""
        ...

    def view(self, name: str, sql: str) -> None:
        """``sql`` (DuckDB dialect) as the view ``name``, computed where it is read
        (``create`` computes it once)."""
        ...

    def check_table(self, name: str) -> TableCheck:
        """Whether one aggregate scan proves the table ``name`` (of the evidence opened)
        meets the contract: ``proven`` False means "not proven", and the caller then
        runs the row-precise validator over that table alone (never raises)."""
        ...

    def create(self, name: str, sql: str) -> None:
        """Materialise ``sql`` (DuckDB dialect) as the table ``name``."""
        ...

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table available to SQL as the table ``name``."""
        ...

    def query(self, sql: str) -> pa.Table:
        """Run ``sql`` (DuckDB dialect) and return its rows, in its ORDER BY if any."""
        ...

    def map_batches(
        self,
        name: str,
        sql: str,
        function: BatchFunction,
        schema: pa.Schema,
        advance: Advance,
    ) -> int:
        """Materialise as table ``name`` the batches ``function`` makes of the rows of
        ``sql``; ``schema`` is what it returns. Calls ``advance`` with rows read (at
        least once, at the end); returns the rows kept."""
        ...

    def close(self) -> None:
        """Drop the tables and release what the backend holds."""
        ...


__all__ = ["NOT_PROVEN", "Backend", "BatchFunction", "TableCheck"]
