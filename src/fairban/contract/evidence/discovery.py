"""Finding the tables of an evidence folder: which file or folder holds each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fairban.contract.schema import TABLES, Table
from fairban.errors import ErrorList, InputError

Format = Literal["csv", "parquet", "parquet_dir"]


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
