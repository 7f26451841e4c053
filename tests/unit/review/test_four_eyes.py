"""The four-eyes rule over every combination of the case's measure, its risk, the
reviewer's action and the measure a downgrade names: pure, no database."""

from __future__ import annotations

import itertools
import math

import pytest

from fairban.measures import Measure
from fairban.review.flows import HIGH_RISK, needs_second
from fairban.review.models import ReviewAction

#: risk bands: low, just below the line, on it, high, certain, and unreadable
RISKS = (0.0, math.nextafter(HIGH_RISK, 0.0), HIGH_RISK, 0.95, 1.0, math.nan)
TARGETS: tuple[Measure | None, ...] = (None, *Measure)


def expected(measure: Measure, risk: float, action: ReviewAction, to: Measure | None) -> bool:
    """The rule as the issue states it, case by case."""
    high = measure == Measure.SUSPEND and (risk >= HIGH_RISK or math.isnan(risk))
    if action == ReviewAction.UPHOLD:
        return measure == Measure.SUSPEND  # any suspension kept
    if action == ReviewAction.LIFT:
        return high  # ends it
    # a downgrade of a high-risk suspension to restrict, monitor or nothing named
    return high and to != Measure.SUSPEND


@pytest.mark.parametrize(
    ("measure", "risk", "action", "to"),
    list(itertools.product(Measure, RISKS, ReviewAction, TARGETS)),
)
def test_every_combination(
    measure: Measure, risk: float, action: ReviewAction, to: Measure | None
) -> None:
    assert needs_second(measure, risk, action, to) is expected(measure, risk, action, to)


def test_every_way_down_from_a_high_risk_suspension_needs_a_senior() -> None:
    for risk in (HIGH_RISK, 1.0):
        assert needs_second(Measure.SUSPEND, risk, ReviewAction.LIFT)
        for to in (Measure.RESTRICT, Measure.MONITOR):
            assert needs_second(Measure.SUSPEND, risk, ReviewAction.DOWNGRADE, to)
    # below the line a reviewer alone may lower it
    assert not needs_second(Measure.SUSPEND, 0.6, ReviewAction.DOWNGRADE, Measure.MONITOR)
    assert not needs_second(Measure.RESTRICT, 1.0, ReviewAction.LIFT)
