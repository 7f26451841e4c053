"""The dry-run impact report (product principle 5: preview before enforcing).

``write_report`` takes a directive, its evidence folder and the targeting engine's dry
run (``decisions``), replays the naive presence rule of 2019 on the same evidence, and
writes a self-contained HTML report with the CSV files behind every number.
"""

from fairban.preview.decisions import COLUMNS as DECISION_COLUMNS
from fairban.preview.report import ReportSummary, write_report

__all__ = ["DECISION_COLUMNS", "ReportSummary", "write_report"]
