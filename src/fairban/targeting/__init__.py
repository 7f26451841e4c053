"""Targeting: directive + evidence -> explained, graded decisions. Pure: reads only."""

from fairban.targeting.engine import DECISION_COLUMNS, TargetResult, target
from fairban.targeting.scoring import Thresholds

__all__ = ["DECISION_COLUMNS", "TargetResult", "Thresholds", "target"]
