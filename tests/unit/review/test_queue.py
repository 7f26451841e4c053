"""The queue's order: severity, then time to the deadline, then vulnerability."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fairban.appeals.models import Appeal, AppealState
from fairban.cases.models import Case
from fairban.measures import Measure
from fairban.review.queue import priority

NOW = datetime(2019, 10, 15, 9, tzinfo=UTC)


def _case(measure: Measure, kind: str = "personal") -> Case:
    return Case(measure=measure, account_kind=kind)


def _appeal(hours_left: float, grounds: list[str]) -> Appeal:
    return Appeal(
        answer_by=NOW + timedelta(hours=hours_left),
        grounds=json.dumps(grounds),
        state=AppealState.QUEUED,
    )


def test_a_suspension_comes_before_a_restriction() -> None:
    assert priority(_case(Measure.SUSPEND), _appeal(48, ["other"]), 1, NOW) > priority(
        _case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW
    )


def test_the_deadline_raises_priority_up_to_overdue() -> None:
    far = priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW)
    near = priority(_case(Measure.RESTRICT), _appeal(6, ["other"]), 1, NOW)
    overdue = priority(_case(Measure.RESTRICT), _appeal(-5, ["other"]), 1, NOW)
    assert far < near < overdue
    assert overdue == priority(_case(Measure.RESTRICT), _appeal(-50, ["other"]), 1, NOW)


def test_vulnerability_a_shop_a_victim_several_accounts() -> None:
    base = priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 1, NOW)
    assert priority(_case(Measure.RESTRICT, "merchant"), _appeal(48, ["other"]), 1, NOW) == base + 1
    assert priority(_case(Measure.RESTRICT), _appeal(48, ["victim"]), 1, NOW) == base + 1
    assert priority(_case(Measure.RESTRICT), _appeal(48, ["other"]), 3, NOW) == base + 1
