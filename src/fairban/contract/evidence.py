"""Evidence folders (data contract): find the tables, stream them as validated batches,
and validate a whole folder into a report.

Memory is bounded by the batch size plus a fixed read-ahead (about 64 MiB of CSV text,
a 4 MiB Parquet buffer), never by the size of a table. Row numbers in messages are those
a person finds in the file: in CSV the header is row 1 and the first record row 2 (a
quoted value with line breaks is still one row); in Parquet row 1 is the file's first
row. ``docs/contract.md`` lists every message.
"""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from fairban.contract.schema import FLOAT, OBSERVATIONS, STRING, TABLES, Column, Table
from fairban.errors import ErrorList, InputError
from fairban.progress import SILENT, Advance, Progress

Format = Literal["csv", "parquet", "parquet_dir"]

_MiB = 1 << 20
#: the observation columns that IP-only rows leave empty, and what placing them needs
_PLACED = ("lat", "lon", "accuracy_m")
_PLACEMENT_INPUTS = (*_PLACED, "source", "ip")


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class TableFiles:
    """Where one table of an evidence folder lives.

    ``paths`` is the one file, or for ``parquet_dir`` every ``*.parquet`` under the
    table's folder (recursively, sorted by relative path, skipping names that start
    with ``.`` or ``_`` such as ``_SUCCESS``). ``data_dir`` is the evidence folder.
    """

    name: str
    format: Format
    paths: tuple[Path, ...]
    data_dir: Path | None = None

    def display(self, path: Path) -> str:
        """``path`` as messages show it, relative to the evidence folder:
        ``observations.csv`` or ``observations/day=2019-10-01/part-0.parquet``."""
        root = self.data_dir
        if root is None:
            root = path.parent
            if self.format == "parquet_dir":
                # the table folder is the outermost ancestor named after the table
                root = next((p.parent for p in reversed(path.parents) if p.name == self.name), root)
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return str(path)


def discover(data_dir: Path) -> dict[str, TableFiles]:
    """The contract tables present in ``data_dir``, by name, in contract order.

    Each table is ``NAME.csv``, ``NAME.parquet`` (a file, or a folder as Spark writes
    it) or a folder ``NAME/`` of Parquet files. Raises ``InputError`` when the folder
    is missing, not a folder or empty, when a required table (accounts, observations,
    interactions) is missing, when a table is given twice, or when a table folder
    holds no Parquet files. ``confirmed`` is optional and then absent from the result.
    """
    errors = ErrorList(limit=1)
    found = _discover(data_dir, errors)
    if errors:
        raise errors.kept[0]
    return found


def _discover(data_dir: Path, errors: ErrorList) -> dict[str, TableFiles]:
    problem = _folder_problem(data_dir)
    if problem is not None:
        errors.add(problem)
        return {}
    found: dict[str, TableFiles] = {}
    for table in TABLES.values():
        try:
            files = _find_table(data_dir, table)
        except InputError as error:
            errors.add(error)
            continue
        if files is not None:
            found[table.name] = files
    return found


def _folder_problem(data_dir: Path) -> InputError | None:
    where = f"evidence folder {data_dir}"
    if not data_dir.exists():
        return InputError(where, "not found")
    if not data_dir.is_dir():
        return InputError(where, "is not a folder")
    if not any(data_dir.iterdir()):
        return InputError(where, "is empty")
    return None


def _find_table(data_dir: Path, table: Table) -> TableFiles | None:
    where = f"evidence folder {data_dir}"
    name = table.name
    given: list[TableFiles] = []
    shown: list[str] = []
    candidates: tuple[tuple[Path, Format], ...] = (
        (data_dir / f"{name}.csv", "csv"),
        (data_dir / f"{name}.parquet", "parquet"),
        (data_dir / name, "parquet_dir"),
    )
    for path, fmt in candidates:
        if path.is_file() and fmt != "parquet_dir":
            given.append(TableFiles(name, fmt, (path,), data_dir))
        elif path.is_dir() and fmt != "csv":
            parts = _parquet_files(path)
            if not parts:
                raise InputError(where, f"{path.name}/ holds no .parquet files")
            given.append(TableFiles(name, "parquet_dir", parts, data_dir))
        else:
            continue
        shown.append(path.name + ("/" if path.is_dir() else ""))
    if len(given) > 1:
        raise InputError(where, f"table {name!r} is given twice ({' and '.join(shown)}); keep one")
    if given:
        return given[0]
    if table.required:
        options = f"{name}.csv, {name}.parquet or {name}/"
        raise InputError(where, f"missing required table {name!r} ({options})")
    return None


def _parquet_files(folder: Path) -> tuple[Path, ...]:
    def visible(path: Path) -> bool:
        # Spark and Hive leave _SUCCESS, _metadata and .crc files beside the data
        return not any(p.startswith((".", "_")) for p in path.relative_to(folder).parts)

    files = [p for p in folder.rglob("*.parquet") if p.is_file() and visible(p)]
    return tuple(sorted(files, key=lambda p: p.relative_to(folder).as_posix()))


# --------------------------------------------------------------------------- streaming


def iter_batches(
    data_dir: Path,
    table: str,
    *,
    columns: Sequence[str] | None = None,
    batch_rows: int = 1_000_000,
    progress: Progress = SILENT,
) -> Iterator[pa.RecordBatch]:
    """Stream one table as validated batches of at most ``batch_rows`` rows.

    Batches have the canonical schema (``schema.Table.arrow_schema``) of ``columns``
    (default: every contract column, in contract order): absent optional columns are
    nulls, extra columns are dropped, ``accounts.kind`` defaults to ``personal`` and
    IP-only observations carry the position placed from their address. Only the
    columns read are checked (plus those their checks need); cross-row checks, such as
    unique account ids, are ``validate_evidence``'s. Raises ``InputError`` at the first
    bad row, before yielding the batch that holds it. Yields nothing for an optional
    table that is absent. ``ValueError`` for a table or column the contract lacks.
    """
    spec = _table(table)
    names = tuple(columns) if columns is not None else spec.names
    for name in names:
        if not spec.has(name):
            raise ValueError(f"table {table!r} has no column {name!r}")
    read = _with_dependencies(spec, names)
    problem = _folder_problem(data_dir)
    if problem is not None:
        raise problem
    files = _find_table(data_dir, spec)
    if files is None:
        return
    with progress.stage(f"Reading {table}", total=_work(files)) as advance:
        for scanned in _scan(files, spec, read, batch_rows, advance, None):
            batch = scanned.batch
            yield batch if read == names else batch.select(list(names))


def _table(name: str) -> Table:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"no contract table {name!r} (known: {', '.join(TABLES)})") from None


def _with_dependencies(table: Table, names: tuple[str, ...]) -> tuple[str, ...]:
    wanted = set(names)
    if table is OBSERVATIONS and wanted & set(_PLACED):
        wanted |= set(_PLACEMENT_INPUTS)
    return tuple(n for n in table.names if n in wanted) if wanted != set(names) else names


def _work(files: TableFiles) -> float:
    """How much work a table is, in the unit its reader advances: bytes or rows."""
    if files.format == "csv":
        return float(sum(p.stat().st_size for p in files.paths))
    total = 0
    for path in files.paths:
        # an unreadable file is reported, with its name, when the reader gets there
        with contextlib.suppress(pa.ArrowException, OSError):
            total += pq.read_metadata(path).num_rows
    return float(total)


@dataclass(frozen=True)
class _Raw:
    """One slice of a file as read: contract columns only, CSV columns as strings."""

    where: str
    first_row: int  # the message row number of the slice's first row
    num_rows: int
    arrays: dict[str, pa.Array[Any]]


@dataclass(frozen=True)
class _Scanned:
    batch: pa.RecordBatch
    raw: _Raw
    placed: int


def _scan(
    files: TableFiles,
    table: Table,
    read: tuple[str, ...],
    batch_rows: int,
    advance: Advance,
    errors: ErrorList | None,
) -> Iterator[_Scanned]:
    """Canonical batches of every file of a table.

    With ``errors`` None the first problem raises; otherwise problems are collected, a
    file-level problem (missing column, malformed CSV) ends that file only, and batches
    still come (values that could not be read are nulls) so statistics can go on.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    for path in files.paths:
        reader = _read_csv if files.format == "csv" else _read_parquet
        try:
            for raw in reader(files, path, table, read, batch_rows, advance):
                batch, problems, placed = _canonical(table, raw, read)
                room = 1 if errors is None else max(errors.limit - len(errors.kept), 0)
                found, total = _resolve(problems, room)
                if total and errors is None:
                    row, what = found[0]
                    raise InputError(f"{raw.where} row {raw.first_row + row}", what)
                if total and errors is not None:
                    for row, what in found:
                        errors.add(InputError(f"{raw.where} row {raw.first_row + row}", what))
                    errors.total += total - len(found)
                yield _Scanned(batch, raw, placed)
        except InputError as error:
            if errors is None:
                raise
            errors.add(error)


# --------------------------------------------------------------------------- CSV


#: CSV read block. Arrow's reader keeps up to 32 blocks read ahead in the background,
#: so this, not batch_rows, bounds the text held; blocks are joined into batches.
_CSV_BLOCK = 2 * _MiB


class _CountingFile(io.RawIOBase):
    """A binary file that counts bytes (for progress) and '"' (for quote balance)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("rb", buffering=0)
        self.bytes = 0
        self.quotes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.bytes += len(data)
        self.quotes += data.count(b'"')
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def _read_csv(
    files: TableFiles,
    path: Path,
    table: Table,
    read: tuple[str, ...],
    batch_rows: int,
    advance: Advance,
) -> Iterator[_Raw]:
    where = files.display(path)
    header = _csv_header(path, where)
    _check_csv_header(header, table, where)
    present = _present(table, read, header)
    source = _CountingFile(path)
    try:
        row = 2  # the header is row 1
        reported = 0
        for batch in _joined(_csv_blocks(source, present, where), batch_rows):
            yield _Raw(where, row, batch.num_rows, {n: batch.column(n) for n in present})
            row += batch.num_rows
            advance(source.bytes - reported)
            reported = source.bytes
    finally:
        source.close()
    if source.quotes % 2:
        raise InputError(
            where,
            "unbalanced quotes: a quoted value is never closed, or a '\"' stands outside quotes",
        )


def _present(table: Table, read: Sequence[str], given: Collection[str]) -> list[str]:
    """The columns to read from a file: those wanted that it has, and never none, so
    that rows are counted even when every wanted column is absent (a required column
    is always there: its absence was reported before)."""
    present = [n for n in read if n in given]
    return present or [n for n in table.required_names if n in given][:1]


def _csv_blocks(source: _CountingFile, present: Sequence[str], where: str) -> Iterator[pa.Table]:
    """The file's records, a block at a time, every contract column as text."""
    options = pa_csv.ConvertOptions(
        include_columns=list(present),
        column_types=dict.fromkeys(present, STRING),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        # single-threaded, Arrow's messages carry the row ("Row #N", header = 1)
        reader = pa_csv.open_csv(
            cast(BinaryIO, source),  # Arrow reads any object with read()
            read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=options,
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as error:
        raise _csv_error(where, error) from None


def _joined(blocks: Iterator[pa.Table], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Regroup tables into batches of exactly ``batch_rows`` rows (the last may be short)."""
    pending: list[pa.Table] = []
    rows = 0
    for block in blocks:
        pending.append(block)
        rows += block.num_rows
        while rows >= batch_rows:
            joined = pa.concat_tables(pending)
            yield _one_batch(joined.slice(0, batch_rows))
            pending, rows = [joined.slice(batch_rows)], rows - batch_rows
    if rows:
        yield _one_batch(pa.concat_tables(pending))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    (batch,) = table.combine_chunks().to_batches()
    return batch


def _csv_header(path: Path, where: str) -> list[str]:
    with path.open("rb") as file:
        head = file.read(_MiB)
    if not head:
        raise InputError(where, "the file is empty (expected a header row)")
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where} row 1", "not valid UTF-8") from None
    header = next(csv.reader([text]), [])
    if not any(header):
        raise InputError(f"{where} row 1", "the header row is empty")
    return header


def _check_csv_header(header: list[str], table: Table, where: str) -> None:
    counts = Counter(header)
    for column in table.columns:
        if counts[column.name] > 1:
            raise InputError(where, f"column {column.name!r} appears twice in the header")
    for name in table.required_names:
        if name not in counts:
            near = [h for h in header if h.strip().lower() == name and h != name]
            hint = f" (the header has {near[0]!r})" if near else ""
            raise InputError(where, f"missing required column {name!r}{hint}")


_ARROW_ROW = re.compile(r"Row #(\d+)")
_FIELDS = re.compile(r"Expected (\d+) columns, got (\d+)")


def _csv_error(where: str, error: pa.ArrowInvalid) -> InputError:
    """One line for a malformed CSV, with the row Arrow names."""
    message = str(error)
    found = _ARROW_ROW.search(message)
    at = f"{where} row {found.group(1)}" if found else where
    if fields := _FIELDS.search(message):
        expected, got = fields.groups()
        return InputError(at, f"expected {expected} fields, got {got} (check the quoting)")
    if "invalid UTF8" in message:
        return InputError(at, "not valid UTF-8")
    if "straddl" in message:
        size = _CSV_BLOCK // _MiB
        return InputError(
            at, f"a quoted value is never closed, or a record is longer than {size} MiB"
        )
    return InputError(at, f"cannot be read as CSV: {message}")


# --------------------------------------------------------------------------- Parquet


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


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


# --------------------------------------------------------------------------- checks

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


def _canonical(
    table: Table, raw: _Raw, read: tuple[str, ...]
) -> tuple[pa.RecordBatch, list[_Problem], int]:
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
    placed = 0 if ip_only is None else _place_ip_only(columns, ip_only, problems)
    arrays = []
    for name in read:
        column, values = table.column(name), columns[name].values
        if column.default is not None:
            values = values.fill_null(pa.scalar(column.default, STRING))
        arrays.append(values)
    batch = pa.RecordBatch.from_arrays(arrays, schema=table.arrow_schema(read))
    return batch, problems, placed


def _says(what: str) -> Callable[[int], str]:
    return lambda _row: what


def _null_where(mask: Mask, values: pa.Array[Any]) -> pa.Array[Any]:
    """``values`` with nulls where ``mask`` is set."""
    if not mask.any():
        return values
    nulls = pa.nulls(len(values)).cast(values.type)
    chosen: pa.Array[Any] = pc.if_else(pa.array(mask), nulls, values)
    return chosen


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


# --------------------------------------------------------------------------- IP-only rows


def _ip_only_rows(table: Table, columns: dict[str, _Converted]) -> Mask | None:
    """Observations to place by address: source 'ip', an ip, and no lat and no lon."""
    if table is not OBSERVATIONS or not all(c in columns for c in _PLACEMENT_INPUTS):
        return None
    by_ip = _mask(pc.equal(columns["source"].values, pa.scalar("ip", STRING)))
    return columns["lat"].empty & columns["lon"].empty & by_ip & ~columns["ip"].empty


def _place_ip_only(columns: dict[str, _Converted], ip_only: Mask, problems: list[_Problem]) -> int:
    """Fill lat, lon and accuracy_m of IP-only rows from ip2region; returns rows placed.

    A given accuracy_m is kept where it is wider than the placement's own.
    """
    rows = np.flatnonzero(ip_only)
    if not len(rows):
        return 0
    from fairban.geo.iplocate import IpLocator  # loads the ip2region database: only if needed

    ip_values = columns["ip"].values
    lat, lon, accuracy = IpLocator.default().place(ip_values.take(rows).to_pylist())
    placed = ~(np.isnan(lat) | np.isnan(lon) | np.isnan(accuracy))
    if not placed.all():
        failed = np.zeros(len(ip_only), dtype=np.bool_)
        failed[rows[~placed]] = True
        problems.append(_Problem(failed, lambda row: _unplaced(ip_values[row].as_py())))
    done = rows[placed]
    given_accuracy = columns["accuracy_m"].values.take(done).to_numpy(zero_copy_only=False)
    updates = {
        "lat": lat[placed],
        "lon": lon[placed],
        "accuracy_m": np.fmax(accuracy[placed], given_accuracy),
    }
    for name, new in updates.items():
        old = columns[name].values
        data = np.array(old.to_numpy(zero_copy_only=False), dtype=np.float64)
        missing = _mask(old.is_null())
        data[done] = new
        missing[done] = False
        columns[name] = _Converted(pa.array(data, FLOAT, mask=missing), columns[name].empty)
    return int(placed.sum())


def _unplaced(ip: object) -> str:
    try:
        ipaddress.ip_address(str(ip))
    except ValueError:
        return f"ip {ip!r} is not an IP address"
    return f"ip {ip!r} cannot be placed (private, reserved or unknown range)"


# --------------------------------------------------------------------------- validation


@dataclass
class TableSummary:
    """What was read of one table."""

    name: str
    format: str
    files: int
    rows: int


@dataclass
class ValidationReport:
    """The outcome of ``validate_evidence``: statistics, and every problem found.

    ``unknown_accounts`` counts distinct observation account ids absent from
    ``accounts``: a warning, not an error.
    """

    tables: dict[str, TableSummary] = field(default_factory=dict)
    ts_min: datetime | None = None
    ts_max: datetime | None = None
    platforms: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    interaction_kinds: dict[str, int] = field(default_factory=dict)
    ip_placed: int = 0
    errors: ErrorList = field(default_factory=ErrorList)
    unknown_accounts: int = 0

    @property
    def ok(self) -> bool:
        """True when the evidence holds no error (warnings do not count)."""
        return not self.errors


def validate_evidence(
    data_dir: Path,
    *,
    progress: Progress = SILENT,
    max_errors: int = 20,
    batch_rows: int = 1_000_000,
) -> ValidationReport:
    """Check a whole evidence folder, streaming, and report on it.

    Keeps the first ``max_errors`` errors in the order found (tables in contract order,
    rows in file order, duplicate account ids right after ``accounts``) and counts the
    rest. Beyond ``iter_batches``' checks: account_id must be unique in ``accounts``.
    Never raises ``InputError``: every problem is in ``report.errors``.
    """
    report = ValidationReport(errors=ErrorList(limit=max_errors))
    found = _discover(data_dir, report.errors)
    accounts = _AccountIds()
    observed = _DistinctIds()
    stats = _Stats()
    for name, files in found.items():
        table = TABLES[name]
        summary = TableSummary(name, files.format, len(files.paths), 0)
        report.tables[name] = summary
        with progress.stage(f"Validating {name}", total=_work(files)) as advance:
            for scanned in _scan(files, table, table.names, batch_rows, advance, report.errors):
                batch = scanned.batch
                summary.rows += batch.num_rows
                report.ip_placed += scanned.placed
                if name == "accounts":
                    accounts.add(batch.column("account_id"), scanned.raw)
                    stats.count(report.platforms, batch.column("platform"))
                elif name == "observations":
                    observed.add(batch.column("account_id"))
                    stats.count(report.sources, batch.column("source"))
                    stats.span(batch.column("ts"))
                elif name == "interactions":
                    stats.count(report.interaction_kinds, batch.column("kind"))
                    stats.span(batch.column("ts"))
        if name == "accounts":
            accounts.report_duplicates(report.errors)
    report.ts_min, report.ts_max = stats.ts_min, stats.ts_max
    if "accounts" in found and "observations" in found:
        report.unknown_accounts = observed.count_outside(accounts.unique())
    return report


class _Stats:
    """Running counts and the time span, batch by batch."""

    def __init__(self) -> None:
        self.ts_min: datetime | None = None
        self.ts_max: datetime | None = None

    def count(self, into: dict[str, int], values: pa.Array[Any]) -> None:
        counts = pc.value_counts(values.drop_null())
        for value, number in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        ):
            into[str(value)] = into.get(str(value), 0) + int(number or 0)

    def span(self, ts: pa.Array[Any]) -> None:
        low, high = pc.min_max(ts).values()
        if low.is_valid:
            low_dt, high_dt = low.as_py(), high.as_py()
            self.ts_min = low_dt if self.ts_min is None else min(self.ts_min, low_dt)
            self.ts_max = high_dt if self.ts_max is None else max(self.ts_max, high_dt)


class _AccountIds:
    """account_id of every accounts row with where it was, to find duplicates at the end.

    Holds one string column of ``accounts`` (small next to observations) plus 8 bytes
    a row; duplicates are found with a hash aggregation, not a Python loop.
    """

    def __init__(self) -> None:
        self._ids: list[pa.Array[Any]] = []
        self._rows: list[npt.NDArray[np.int64]] = []  # global ordinal of each kept id
        self._slices: list[tuple[int, str, int]] = []  # (first ordinal, file, first row)
        self._next = 0

    def add(self, ids: pa.Array[Any], raw: _Raw) -> None:
        valid = _mask(ids.is_valid())
        self._ids.append(ids.drop_null())
        self._rows.append(self._next + np.flatnonzero(valid))
        self._slices.append((self._next, raw.where, raw.first_row))
        self._next += len(ids)

    def _table(self) -> pa.Table:
        ordinals = np.concatenate(self._rows) if self._rows else np.zeros(0, np.int64)
        ids = pa.chunked_array(self._ids, STRING)
        return pa.table({"id": ids, "ordinal": pa.array(ordinals, pa.int64())})

    def unique(self) -> pa.Array[Any]:
        return _unique(self._ids)

    def _where(self, ordinal: int) -> tuple[str, int]:
        starts = [start for start, _, _ in self._slices]
        index = int(np.searchsorted(starts, ordinal, side="right")) - 1
        start, where, first_row = self._slices[index]
        return where, first_row + ordinal - start

    def report_duplicates(self, errors: ErrorList) -> None:
        table = self._table()
        if not len(table):
            return
        groups = table.group_by("id").aggregate([("ordinal", "min"), ("ordinal", "count")])
        repeated = groups.filter(pc.greater(groups["ordinal_count"], pa.scalar(1, pa.int64())))
        if not len(repeated):
            return
        later = pc.and_(
            pc.is_in(table["id"], value_set=repeated["id"]),
            pc.invert(pc.is_in(table["ordinal"], value_set=repeated["ordinal_min"])),
        )
        hits = np.flatnonzero(later.to_numpy())
        room = max(errors.limit - len(errors.kept), 0)
        firsts = dict(
            zip(repeated["id"].to_pylist(), repeated["ordinal_min"].to_pylist(), strict=True)
        )
        ids, ordinals = table["id"], table["ordinal"]
        for hit in hits[:room]:
            account = ids[int(hit)].as_py()
            where, row = self._where(int(ordinals[int(hit)].as_py()))
            first_where, first_row = self._where(int(firsts[account] or 0))
            first = f"row {first_row}" if first_where == where else f"{first_where} row {first_row}"
            errors.add(InputError(f"{where} row {row}", f"account_id {account!r} repeats {first}"))
        errors.total += len(hits) - min(len(hits), room)


class _DistinctIds:
    """Distinct ids seen across batches, compacted as they grow (bounded by distinct ids)."""

    def __init__(self) -> None:
        self._chunks: list[pa.Array[Any]] = []
        self._size = 0
        self._compacted = 0

    def add(self, ids: pa.Array[Any]) -> None:
        unique = ids.drop_null().unique()
        self._chunks.append(unique)
        self._size += len(unique)
        # merge once the chunks hold twice the distinct ids: memory stays within ~3x those
        if self._size > 2 * max(self._compacted, 1 << 16):
            self._compact()

    def _compact(self) -> None:
        merged = _unique(self._chunks)
        self._chunks = [merged]
        self._size = self._compacted = len(merged)

    def count_outside(self, known: pa.Array[Any]) -> int:
        self._compact()
        seen = self._chunks[0]
        return int(len(seen) - np.count_nonzero(_mask(pc.is_in(seen, value_set=known))))


def _unique(chunks: list[pa.Array[Any]]) -> pa.Array[Any]:
    return pa.chunked_array(chunks, STRING).combine_chunks().unique()
