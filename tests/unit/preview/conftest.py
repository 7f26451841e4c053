"""A small simulated world, a fixture decisions table for it (see
tests/support/preview_decisions.py: made from the truth, standing in for the engine)
and the report written from them, once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from fairban.contract import Directive, load_directive
from fairban.preview import ReportSummary, write_report
from fairban.world import WorldConfig, simulate_world
from tests.support.preview_decisions import fixture_decisions


@dataclass(frozen=True)
class PreviewCase:
    world: Path
    directive: Directive
    decisions: pa.Table
    report: Path
    summary: ReportSummary
    plain_report: Path  # the same, written without truth
    plain_summary: ReportSummary

    @property
    def evidence(self) -> Path:
        return self.world / "evidence"


@pytest.fixture(scope="session")
def preview_case(tmp_path_factory: pytest.TempPathFactory) -> PreviewCase:
    root = tmp_path_factory.mktemp("preview")
    world = root / "world"
    # 30 days keep the world small; every role and persona is still there
    simulate_world(WorldConfig(accounts=600, seed=5, days=30), world)
    directive = load_directive(world / "directive.yaml")
    decisions = fixture_decisions(world)
    report = root / "report"
    summary = write_report(
        directive, world / "evidence", decisions, report, truth=world / "truth.csv"
    )
    plain = root / "plain"
    plain_summary = write_report(directive, world / "evidence", decisions, plain)
    return PreviewCase(world, directive, decisions, report, summary, plain, plain_summary)
