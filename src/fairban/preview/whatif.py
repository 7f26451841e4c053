"""What-if: the dry run again under other thresholds, in seconds, without the evidence.

The first preview of a directive over an evidence folder keeps what does not depend on
the thresholds: the feature tables scoring reads (``targeting.engine.keep_scored``)
and the report's ledger (the naive rule's hits, the homes). They are kept under
``FAIRBAN_HOME/preview/<key>``, where the key is the folder's fingerprint (names, sizes,
modification times: a changed file is a new key) and the directive without its
thresholds. A later preview with ``--thresholds FILE`` (or new thresholds in the
directive) re-scores the kept features and re-draws the report; the evidence is not
read again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from shapely.geometry import mapping

from fairban.contract import Directive
from fairban.contract.directive import RiskThresholds
from fairban.contract.fingerprint import fingerprint
from fairban.digests import canonical_json, sha256_hex
from fairban.errors import InputError

#: what a what-if keeps, below its key's folder
SCORED_DIR = "scored"
LEDGER_DIR = "ledger"


@dataclass(frozen=True)
class Kept:
    """Where a preview's thresholds-free work is kept, and whether it is complete."""

    folder: Path

    @property
    def scored(self) -> Path:
        return self.folder / SCORED_DIR

    @property
    def ledger(self) -> Path:
        return self.folder / LEDGER_DIR

    @property
    def complete(self) -> bool:
        return (self.ledger / "ledger.parquet").is_file() and (
            self.scored / "features.parquet"
        ).is_file()


def kept_for(cache_root: Path, directive: Directive, data_dir: Path) -> Kept:
    """The folder a preview of ``directive`` over ``data_dir`` keeps its work in."""
    from fairban.targeting.engine import KEPT_VERSION  # numpy and Arrow: when needed

    doc: dict[str, Any] = {
        # what an older fairban kept is judged again, not re-scored
        "kept_version": KEPT_VERSION,
        "evidence": fingerprint(data_dir),
        "issued_at": directive.issued_at.isoformat(),
        "lookback_days": directive.lookback_days,
        "platforms": list(directive.platforms),
        "areas": [{"name": a.name, "geometry": mapping(a.geometry)} for a in directive.areas],
    }
    return Kept(cache_root / "preview" / sha256_hex(canonical_json(doc))[:24])


def with_thresholds(directive: Directive, path: Path | None) -> Directive:
    """``directive`` with the thresholds of the YAML file ``path`` over its own (keys as
    the directive's ``thresholds`` key); ``InputError`` naming the file and key."""
    if path is None:
        return directive
    name = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(str(path), f"cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InputError(name, f"could not parse YAML: {error}") from None
    if isinstance(raw, dict) and set(raw) == {"thresholds"}:
        raw = raw["thresholds"]  # a directive-like file with just the key
    if not isinstance(raw, dict):
        raise InputError(name, "expected a mapping of thresholds (monitor: 0.1, ...)")
    given = dict(directive.thresholds.given()) if directive.thresholds is not None else {}
    try:
        merged = RiskThresholds.model_validate({**given, **raw})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "?"
        what = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].lower()
        if first["type"] == "value_error":
            what = str(first["ctx"]["error"])
        raise InputError(f"{name} key {key!r}", what) from None
    return directive.model_copy(update={"thresholds": merged})
