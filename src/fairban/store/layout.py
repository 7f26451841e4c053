"""The evidence store on disk: its folders, its manifest, and how a change commits.

```
STORE/
  store.json                          the manifest: layout version, days, files, deliveries
  accounts/g<N>.parquet               every account delivered (the latest delivery wins)
  confirmed/g<N>.parquet              every police confirmation delivered
  <table>/day=YYYY-MM-DD/g<N>.parquet one file per store day and table, generation N:
      observations, interactions        the raw rows, canonical (kept for rebuilds and
                                        partial days)
      pairs                             who dealt with whom that day (contact pairs)
      money                             transfers and payments, each kept whole
      devices                           phones per account and local day
  versions/<sha>/<table>/day=.../g<N>.parquet  rollups that depend on a directive's areas,
      near, nightcells                  per directive version (the SHA-256 of its areas)
  windows/<table>/<first>_<last>/g<N>.parquet  a window's days merged into one table
      pairs                             (kept by the judgement, updated day by day)
```

Every file is Parquet that DuckDB reads in place and Spark can read and write. A change
(an ingest, new rollups of a directive version) writes its files under new generation
numbers, then replaces ``store.json`` in one rename: that rename is the commit. Until
then readers see the old files; a crash before it leaves only files no manifest names,
which the next change removes. Writers take ``STORE/.lock`` for the whole change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fairban.errors import FairbanError

#: the layout this code reads and writes; another number is refused with one line
LAYOUT = 1
MANIFEST = "store.json"
#: the store's per-day tables that do not depend on a directive
DAY_TABLES = ("observations", "interactions", "pairs", "money", "devices")
#: the per-day rollups that depend on a directive version's areas
VERSION_TABLES = ("near", "nightcells")


class StoreError(FairbanError):
    """A store that cannot be used as asked (one line for the person)."""

    exit_code = 2


@dataclass
class Manifest:
    """What ``store.json`` says. ``days`` maps each store day to its generation;
    ``files`` each table to its files per day (names relative to the store);
    ``versions`` each directive version's rollups to the generation of each day they
    were made from; ``windows`` each kept window (a table's days merged: its file and
    the generation of each day it was made from). A store without ``windows`` (written
    before they were kept) reads as one that keeps none."""

    generation: int = 0
    created_at: str = ""
    days: dict[str, int] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    whole: dict[str, str] = field(default_factory=dict)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": LAYOUT,
            "generation": self.generation,
            "created_at": self.created_at,
            "days": dict(sorted(self.days.items())),
            "rows": {d: self.rows[d] for d in sorted(self.rows)},
            "files": {t: dict(sorted(f.items())) for t, f in sorted(self.files.items())},
            "whole": dict(sorted(self.whole.items())),
            "deliveries": self.deliveries,
            "versions": self.versions,
            "windows": dict(sorted(self.windows.items())),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Manifest:
        return cls(
            generation=int(doc["generation"]),
            created_at=str(doc.get("created_at", "")),
            days={str(k): int(v) for k, v in doc.get("days", {}).items()},
            rows={str(k): dict(v) for k, v in doc.get("rows", {}).items()},
            files={str(t): dict(f) for t, f in doc.get("files", {}).items()},
            whole=dict(doc.get("whole", {})),
            deliveries=dict(doc.get("deliveries", {})),
            versions=dict(doc.get("versions", {})),
            windows=dict(doc.get("windows", {})),
        )


class Store:
    """An evidence store folder. Opening a folder that holds no store creates one only
    with ``create``; a store of another layout is refused."""

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root
        path = root / MANIFEST
        if not path.exists():
            if not create:
                raise StoreError(
                    f"{root}: no evidence store here (store.json is missing); "
                    "`fairban ingest EVIDENCE --store STORE` makes one"
                )
            if root.exists() and not root.is_dir():
                raise StoreError(f"{root}: exists and is not a folder")
            if root.exists() and any(root.iterdir()):
                raise StoreError(
                    f"{root}: the folder is not empty and holds no store.json: "
                    "give an empty or new folder for a new store"
                )
            root.mkdir(parents=True, exist_ok=True)
            self.manifest = Manifest(created_at=datetime.now(UTC).isoformat())
            self._write_manifest()
        else:
            self.manifest = self._read_manifest()

    # -- the manifest -------------------------------------------------------------------

    def _read_manifest(self) -> Manifest:
        path = self.root / MANIFEST
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StoreError(f"{path}: not a readable store manifest ({error})") from None
        layout = doc.get("layout") if isinstance(doc, dict) else None
        if layout != LAYOUT:
            raise StoreError(
                f"{path}: store layout {layout!r}, but this fairban reads layout {LAYOUT} "
                "(ingest the evidence into a new store, or use the fairban that wrote it)"
            )
        return Manifest.from_json(doc)

    def _write_manifest(self) -> None:
        path = self.root / MANIFEST
        partial = path.with_name(MANIFEST + ".partial")
        with partial.open("w", encoding="utf-8") as fh:
            json.dump(self.manifest.to_json(), fh, indent=1, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)  # the commit
        with contextlib.suppress(OSError):  # the rename reaches the disk too
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def reload(self) -> None:
        self.manifest = self._read_manifest()

    # -- changes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def change(self) -> Iterator[Change]:
        """A change of the store under its lock: files are staged, then committed with
        the manifest, or (on any error) dropped; the store is as it was."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self.reload()
                change = Change(self, self.manifest.generation + 1)
                try:
                    yield change
                except BaseException:
                    change.drop()
                    raise
                if change.abandoned:
                    change.drop()
                else:
                    change.commit()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- reading ------------------------------------------------------------------------

    def days(self) -> list[date]:
        return sorted(date.fromisoformat(d) for d in self.manifest.days)

    def day_files(
        self, table: str, days: Iterator[date] | list[date] | tuple[date, ...]
    ) -> list[Path]:
        """The files of ``table`` for these days (days the store lacks have none)."""
        files = self.manifest.files.get(table, {})
        return [self.root / files[d.isoformat()] for d in days if d.isoformat() in files]

    def whole_file(self, table: str) -> Path | None:
        name = self.manifest.whole.get(table)
        return None if name is None else self.root / name

    def size_bytes(self) -> int:
        """The bytes of every file the manifest names."""
        names = {n for f in self.manifest.files.values() for n in f.values()}
        names |= set(self.manifest.whole.values())
        names |= {w["file"] for w in self.manifest.windows.values()}
        return sum((self.root / n).stat().st_size for n in names if (self.root / n).exists())


class Change:
    """One staged change: new files go to ``staged`` paths; ``commit`` moves them into
    place and writes the manifest; anything no manifest names is then removed."""

    def __init__(self, store: Store, generation: int) -> None:
        self.store = store
        self.generation = generation
        self.manifest = store.manifest
        self.stage_dir = store.root / f".staging-{generation}-{os.getpid()}"
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        self.stage_dir.mkdir(parents=True)
        self._moves: list[tuple[Path, Path]] = []
        self.abandoned = False

    def abandon(self) -> None:
        """Nothing to change after all: the change ends without a commit."""
        self.abandoned = True

    def staging(self, name: str) -> Path:
        """A fresh folder under the staging area."""
        path = self.stage_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def put_day(self, table: str, day: date, staged: Path, *, prefix: str = "") -> str:
        """Place a staged file as ``table``'s file of ``day`` (under ``prefix``, for a
        directive version's rollups); returns its name in the store."""
        name = f"{prefix}{table}/day={day.isoformat()}/g{self.generation}.parquet"
        self._moves.append((staged, self.store.root / name))
        return name

    def put_whole(self, table: str, staged: Path) -> str:
        name = f"{table}/g{self.generation}.parquet"
        self._moves.append((staged, self.store.root / name))
        self.manifest.whole[table] = name
        return name

    def put_window(self, table: str, first: date, last: date, staged: Path) -> str:
        """Place a staged file as a kept window of ``table`` (days ``first`` .. ``last``)."""
        name = f"windows/{table}/{first.isoformat()}_{last.isoformat()}/g{self.generation}.parquet"
        self._moves.append((staged, self.store.root / name))
        return name

    def commit(self) -> None:
        for staged, final in self._moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        self.manifest.generation = self.generation
        self.store.manifest = self.manifest
        self.store._write_manifest()
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        self._sweep()

    def drop(self) -> None:
        shutil.rmtree(self.stage_dir, ignore_errors=True)
        self.store.reload()

    def _sweep(self) -> None:
        """Remove the files no manifest names (replaced generations, crashed changes)."""
        live = {n for f in self.manifest.files.values() for n in f.values()}
        live |= set(self.manifest.whole.values())
        for version in self.manifest.versions.values():
            live |= {n for f in version.get("files", {}).values() for n in f.values()}
        live |= {w["file"] for w in self.manifest.windows.values()}
        for path in self.store.root.rglob("g*.parquet"):
            name = path.relative_to(self.store.root).as_posix()
            if name not in live:
                path.unlink(missing_ok=True)
        for stale in self.store.root.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
