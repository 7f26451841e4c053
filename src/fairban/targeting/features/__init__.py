"""Feature queries, written once in one SQL dialect (DuckDB's) and run by a backend.

Each feature materialises one table from tables it names (``feature.Feature``: its
name, its ``reads`` and its SQL for a directive's ``Scope``); ``pipeline.PIPELINE``
runs them in order. The SQL sticks to what sqlglot can transpile to Spark SQL (joins,
GROUP BY, CASE, window functions, interval arithmetic): a second backend runs the same
text after ``sqlglot.transpile(sql, read="duckdb", write=...)``.

Inputs: the views ``accounts``, ``observations``, ``interactions``, ``confirmed`` and the
table ``near`` (observations near an area with their probability of being inside,
computed by ``fairban.geo.presence``). Beijing time (UTC+8) is the local clock: the
compounds run on it, and nights are 22:00-06:00.

    clock.py      Window, the local date and night made from the epoch
    feature.py    Feature, Scope, Step
    scan.py       the presence stage's scan: prefilter_sql, envelope_sql
    presence.py   presence, present, copresence, home
    linked.py     linked: the accounts the directive concerns
    contacts.py   contact_pairs, first_contacts, confirmed_contact, social
    outreach.py   outreach_busy, the two circles, outreach_shared, outreach
    money.py      win_money, money_edges, mule, to_area, merchant
    devices.py    device_days, device_runs, device_pairs, devices
    combined.py   features: one row per linked account
    judged.py     the later passes: evidence depending on accounts already judged
    pipeline.py   PIPELINE, in order, and steps()
"""

from fairban.targeting.features.clock import (
    IS_NIGHT,
    LOCAL_DAY,
    NIGHT_KEY,
    Window,
    is_night,
    local_date,
)
from fairban.targeting.features.feature import Feature, Scope, Step, feature
from fairban.targeting.features.judged import money_from_sql, money_in_total_sql, second_pass_sql
from fairban.targeting.features.pipeline import EVIDENCE, NEAR, PIPELINE, steps
from fairban.targeting.features.presence import SUSTAINED_NIGHTS
from fairban.targeting.features.scan import ENVELOPE_REACH_M, envelope_sql, prefilter_sql

__all__ = [
    "ENVELOPE_REACH_M",
    "EVIDENCE",
    "IS_NIGHT",
    "LOCAL_DAY",
    "NEAR",
    "NIGHT_KEY",
    "PIPELINE",
    "SUSTAINED_NIGHTS",
    "Feature",
    "Scope",
    "Step",
    "Window",
    "envelope_sql",
    "feature",
    "is_night",
    "local_date",
    "money_from_sql",
    "money_in_total_sql",
    "prefilter_sql",
    "second_pass_sql",
    "steps",
]
