"""Reading CSV tables: the header's checks, records as text a block at a time, and
Arrow's parse errors turned into one line with the row a person finds in the file."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.csv as pa_csv

from fairban.contract.evidence.discovery import TableFiles
from fairban.contract.evidence.slices import _MiB, _present, _Raw
from fairban.contract.schema import STRING, Table
from fairban.errors import InputError
from fairban.progress import Advance

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
