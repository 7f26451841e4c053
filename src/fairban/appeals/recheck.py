"""The automatic re-check: targeting re-run on the latest evidence under the
directive's current version, looked up for one person's accounts.

Running the engine per appeal would take seconds to minutes; instead the decisions of
one (directive version, evidence folder state) are computed once and kept, in memory
and as Parquet under ``HOME/recheck`` for other worker processes. The evidence folder's
state is a fingerprint of its files' names, sizes and modification times: a changed
file makes a new run. An account absent from the decisions is not linked to the
directive at all, which is measure ``none``.

The appellant's grounds are hints for the reviewer (which evidence contradicts or
supports them), never proof: only the engine's measure decides the automatic outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fairban.appeals.models import Ground
from fairban.contract import Directive
from fairban.contract.fingerprint import fingerprint
from fairban.directives.content import directive_from_content
from fairban.measures import VISIBLE_VALUES

#: measures that hold an account back; monitor and none do not
HOLDING = VISIBLE_VALUES


@dataclass(frozen=True)
class NewDecision:
    """What the engine says about an account now."""

    measure: str
    risk: float
    reasons: str  # JSON array, as ``fairban target`` writes it

    @property
    def holds(self) -> bool:
        return self.measure in HOLDING


NONE = NewDecision("none", 0.0, "[]")


class DecisionCache:
    """The engine's decisions per (directive version, evidence state), computed once.

    Thread-safe: one run per key at a time, others wait for it. ``runs`` counts engine
    runs (tests check that a second appeal does not run the engine again)."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path | None = None,
        *,
        duckdb_memory_limit: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        #: the engine's DuckDB memory limit (``Settings.duckdb_memory_limit``)
        self.duckdb_memory_limit = duckdb_memory_limit
        self.runs = 0
        self._lock = threading.Lock()
        self._tables: dict[str, dict[str, NewDecision]] = {}
        self._fingerprint: tuple[float, str] | None = None
        self._directives: dict[str, Directive] = {}

    def _evidence_state(self) -> str:
        # stat-walking the folder costs milliseconds; once a second is plenty
        now = time.monotonic()
        if self._fingerprint is None or now - self._fingerprint[0] > 1.0:
            self._fingerprint = (now, fingerprint(self.data_dir))
        return self._fingerprint[1]

    def directive(self, content_hash: str, content: str) -> Directive:
        """The directive of a stored version (``directive_versions.content``), rebuilt
        once per content hash: reading its areas costs milliseconds."""
        with self._lock:
            found = self._directives.get(content_hash)
        if found is None:
            found = directive_from_content(content)
            with self._lock:
                self._directives = {content_hash: found, **dict(list(self._directives.items())[:7])}
        return found

    def decisions(self, directive: Directive, version_key: str) -> Mapping[str, NewDecision]:
        """Every linked account's decision under ``directive`` (``version_key`` names
        its version, e.g. ``<id>@<content hash>``) on the evidence as it is now."""
        key = hashlib.sha256(f"{version_key}\0{self._evidence_state()}".encode()).hexdigest()
        with self._lock:
            found = self._tables.get(key)
            if found is None:
                found = self._load(key) or self._run(directive, key)
                self._tables = {key: found, **dict(list(self._tables.items())[:7])}
            return found

    def _load(self, key: str) -> dict[str, NewDecision] | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.parquet"
        if not path.exists():
            return None
        return _as_map(pq.read_table(path))

    def _run(self, directive: Directive, key: str) -> dict[str, NewDecision]:
        # heavy: only when a run is needed
        from fairban.targeting import target
        from fairban.targeting.backends.duckdb import DuckDBBackend

        self.runs += 1
        backend = DuckDBBackend(memory_limit=self.duckdb_memory_limit)
        try:
            table = target(directive, self.data_dir, backend=backend).decisions.select(
                ["account_id", "measure", "risk", "reasons"]
            )
        finally:
            backend.close()
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{key}.{os.getpid()}.partial"
            pq.write_table(table, tmp)
            os.replace(tmp, self.cache_dir / f"{key}.parquet")
        return _as_map(table)


def _as_map(table: pa.Table) -> dict[str, NewDecision]:
    columns = table.to_pydict()
    return {
        account: NewDecision(str(measure), float(risk), str(reasons))
        for account, measure, risk, reasons in zip(
            columns["account_id"],
            columns["measure"],
            columns["risk"],
            columns["reasons"],
            strict=True,
        )
    }


# --- hints from the grounds ----------------------------------------------------------

PRESENCE = ("PRESENCE_SUSTAINED", "PRESENCE_SOME", "COPRESENCE_CONFIRMED")
CONTACTS = ("CONTACT_CONFIRMED", "CONFIRMED_TIES", "MONEY_TO_AREA", "MONEY_FROM_MULES")


def hints(grounds: Iterable[str], reasons_json: str) -> list[dict[str, Any]]:
    """For each ground, the reasons that bear on it: ``contradicted_by`` (evidence that
    says otherwise) or ``consistent_with``; a reviewer reads them, the engine does not."""
    reasons = [r for r in json.loads(reasons_json or "[]") if isinstance(r, dict)]

    def pick(codes: tuple[str, ...], weight_positive: bool = True) -> list[str]:
        return [
            f"{r.get('code')}: {r.get('text', '')}".strip()
            for r in reasons
            if r.get("code") in codes and (float(r.get("weight", 0)) > 0) == weight_positive
        ]

    out: list[dict[str, Any]] = []
    for ground in grounds:
        if ground == Ground.NEVER_BEEN_THERE:
            against = pick(PRESENCE)
            out.append(
                {"ground": ground, "contradicted_by": against}
                if against
                else {"ground": ground, "consistent_with": ["no presence in the areas counted"]}
            )
        elif ground in (Ground.VISITED, Ground.LIVE_NEAR_BORDER):
            sustained = pick(("PRESENCE_SUSTAINED",))
            out.append(
                {"ground": ground, "contradicted_by": sustained}
                if sustained
                else {"ground": ground, "consistent_with": ["presence alone never holds"]}
            )
        elif ground in (Ground.VICTIM, Ground.KNOW_THE_PERSON):
            ties = pick(CONTACTS)
            kept = pick(("CONTACT_CONFIRMED",), weight_positive=False)
            out.append({"ground": ground, "contradicted_by": ties, "consistent_with": kept})
        else:
            out.append({"ground": ground, "consistent_with": []})
    return out
