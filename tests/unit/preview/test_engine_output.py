"""The targeting engine's own dry run goes straight into the report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from fairban.preview import write_report
from fairban.targeting.engine import target

from .conftest import PreviewCase
from .test_report import MEASURES, read


def test_engine_decisions_make_a_report(preview_case: PreviewCase, tmp_path: Path) -> None:
    decisions = target(preview_case.directive, preview_case.evidence).decisions
    out = tmp_path / "report"
    summary = write_report(preview_case.directive, preview_case.evidence, decisions, out)
    expected = Counter(decisions.column("measure").to_pylist())
    assert summary.measures == {m: expected[m] for m in MEASURES}
    by_province = read(out, "by_province.csv")
    assert pc.sum(by_province["accounts"]).as_py() == decisions.num_rows
    # the engine and the presence rule see the same evidence
    assert summary.naive_accounts > 0
    assert summary.naive_only > 0
