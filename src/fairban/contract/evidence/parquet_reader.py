"""Reading Parquet tables: one file or a (Hive-partitioned) folder of them, with
the column types checked against the contract before any row is read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from fairban.contract.evidence.discovery import TableFiles
from fairban.contract.evidence.slices import _is_text, _MiB, _present, _Raw
from fairban.contract.schema import STRING, Column, Table
from fairban.errors import InputError
from fairban.progress import Advance


def _read_parquet(
    files: TableFiles,
    path: Path,
    table: Table,
    read: tuple[str, ...],
    batch_rows: int,
    advance: Advance,
) -> Iterator[_Raw]:
    where = files.display(path)
    try:
        # a buffered stream instead of whole column chunks keeps big row groups bounded
        parquet = pq.ParquetFile(path, buffer_size=4 * _MiB, pre_buffer=False)
    except (pa.ArrowException, OSError) as error:
        raise InputError(where, f"not a readable Parquet file ({error})") from None
    with parquet:
        schema = parquet.schema_arrow
        partition = _hive_values(files, path, table) if files.format == "parquet_dir" else {}
        in_file = set(schema.names)
        for name in table.required_names:
            if name not in in_file and name not in partition:
                raise InputError(where, f"missing required column {name!r}")
        for name in read:
            if len(schema.get_all_field_indices(name)) > 1:
                raise InputError(where, f"column {name!r} appears twice")
            if name in in_file:
                _check_parquet_type(table.column(name), schema.field(name).type, where)
        present = _present(table, read, in_file)
        from_path = [n for n in read if n not in in_file and n in partition]
        row = 1
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=present):
                arrays = {n: batch.column(n) for n in present}
                for name in from_path:
                    arrays[name] = pa.array([partition[name]] * batch.num_rows, STRING)
                yield _Raw(where, row, batch.num_rows, arrays)
                row += batch.num_rows
                advance(batch.num_rows)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{where} row {row}", f"cannot be read: {error}") from None


def _hive_values(files: TableFiles, path: Path, table: Table) -> dict[str, str]:
    """Contract columns given by ``key=value`` folders (Hive partitioning) of ``path``."""
    values: dict[str, str] = {}
    for part in Path(files.display(path)).parts[1:-1]:
        key, sep, value = part.partition("=")
        if sep and table.has(key) and value != "__HIVE_DEFAULT_PARTITION__":
            values[key] = unquote(value)
    return values


def _check_parquet_type(column: Column, actual: pa.DataType, where: str) -> None:
    if pa.types.is_null(actual):
        return  # a column written with no value at all: nulls of any type
    if column.kind == "float":
        ok = pa.types.is_integer(actual) or pa.types.is_floating(actual)
        ok = ok or pa.types.is_decimal(actual)
    elif column.kind == "timestamp":
        ok = pa.types.is_timestamp(actual)
    else:
        value_type = actual.value_type if pa.types.is_dictionary(actual) else actual
        ok = _is_text(value_type)
    if not ok:
        raise InputError(
            f"{where} column {column.name}", f"type {actual}, expected a {column.kind}"
        )
