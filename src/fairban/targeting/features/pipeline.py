"""The feature pipeline: every feature, in the order the engine materialises them.

Each feature reads only the evidence (``EVIDENCE``), the presence stage's ``near``, and
tables written by features before it; ``tests/unit/targeting/test_feature_pipeline.py``
checks that order and that each feature's ``reads`` are the tables its SQL names.
"""

from __future__ import annotations

from fairban.targeting.features.clock import Window
from fairban.targeting.features.combined import account_features
from fairban.targeting.features.contacts import (
    confirmed_contact,
    contact_pairs,
    first_contacts,
    social,
)
from fairban.targeting.features.devices import device_days, device_pairs, device_runs, devices
from fairban.targeting.features.feature import Feature, Scope, Step
from fairban.targeting.features.linked import linked
from fairban.targeting.features.money import merchant, money_edges, mule, to_area, win_money
from fairban.targeting.features.outreach import (
    outreach,
    outreach_busy,
    outreach_dst_circle,
    outreach_shared,
    outreach_src_circle,
)
from fairban.targeting.features.presence import copresence, home, presence, present

#: the backend's evidence views the features read
EVIDENCE = ("accounts", "observations", "interactions", "confirmed")
#: the presence stage's table: observations near an area with their probability inside
NEAR = "near"

PIPELINE: tuple[Feature, ...] = (
    presence,
    present,
    contact_pairs,
    win_money,
    linked,
    first_contacts,
    outreach_busy,
    outreach_src_circle,
    outreach_dst_circle,
    outreach_shared,
    outreach,
    money_edges,
    mule,
    to_area,
    device_days,
    device_runs,
    device_pairs,
    devices,
    copresence,
    confirmed_contact,
    home,
    social,
    merchant,
    account_features,
)


def steps(window: Window, platforms: tuple[str, ...], prefilter: str) -> list[Step]:
    """The feature pipeline, in order. ``prefilter`` is the area pre-filter predicate."""
    scope = Scope(window, platforms, prefilter)
    return [f.step(scope) for f in PIPELINE]
