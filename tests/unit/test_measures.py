"""The graded measures: their order, what a decision may say, what a person sees."""

from __future__ import annotations

import pytest

from fairban.measures import (
    DECISION_MEASURES,
    NONE,
    VISIBLE,
    VISIBLE_VALUES,
    Measure,
    severity,
    weaker_than,
)


def test_measures_are_ordered_weakest_first() -> None:
    assert [m.severity for m in Measure] == [1, 2, 3]
    assert Measure.MONITOR.severity < Measure.RESTRICT.severity < Measure.SUSPEND.severity
    assert DECISION_MEASURES == ("none", "monitor", "restrict", "suspend")


def test_severity_of_words_and_of_no_measure() -> None:
    assert severity(None) == severity(NONE) == 0
    assert severity("suspend") == severity(Measure.SUSPEND) == 3
    with pytest.raises(ValueError, match="'ban' is not a measure"):
        severity("ban")


def test_weaker_measures_are_the_ones_a_downgrade_may_choose() -> None:
    assert weaker_than(Measure.SUSPEND) == (Measure.MONITOR, Measure.RESTRICT)
    assert weaker_than("restrict") == (Measure.MONITOR,)
    assert weaker_than(Measure.MONITOR) == ()
    assert weaker_than(NONE) == ()


def test_monitor_is_never_seen_by_the_person() -> None:
    assert Measure.MONITOR not in VISIBLE
    assert {Measure.RESTRICT, Measure.SUSPEND} == VISIBLE
    assert VISIBLE_VALUES == ("restrict", "suspend")
