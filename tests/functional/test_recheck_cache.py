"""The re-check runs the engine once per directive version and evidence state, not
once per appeal; new evidence makes a new run."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from fairban.appeals.recheck import DecisionCache
from fairban.directives.content import directive_content, directive_from_content
from tests.support.appeal_world import F1, P4


def test_decisions_are_computed_once_and_shared(appeal_world: Any, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(appeal_world.evidence, evidence)
    content, digest = directive_content(appeal_world.directive)
    directive = directive_from_content(content)
    key = f"{directive.id}@{digest}"

    cache = DecisionCache(evidence, tmp_path / "recheck")
    first = cache.decisions(directive, key)
    assert cache.decisions(directive, key) is first
    assert cache.runs == 1
    assert first[F1].holds  # the Laukkai operator is still suspended
    assert P4 not in first  # P4 is not even linked to the areas: measure none

    other_worker = DecisionCache(evidence, tmp_path / "recheck")
    assert other_worker.decisions(directive, key) == first
    assert other_worker.runs == 0  # read from the shared Parquet

    time.sleep(1.1)  # the fingerprint is taken at most once a second
    accounts = next(evidence.glob("accounts*"))
    stat = accounts.stat()
    os.utime(accounts, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    cache.decisions(directive, key)
    assert cache.runs == 2
