"""From features to a risk, a measure and the reasons for it.

Risk is a logistic function of evidence points; each point comes from one named signal
so every measure can say what it rests on. Two guards hold whatever the points say:

- presence is not guilt (principle 1): without a behaviour signal (outreach to
  strangers, victim money flows, phones shared with accounts that stay in the areas,
  money or phones shared with confirmed accounts) the risk stays below ``restrict``;
- victims, families and friends are not suspects (principle 2): paying a suspect,
  being messaged by one or receiving money from one is not a behaviour signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from fairban.contract import Directive
from fairban.errors import InputError
from fairban.measures import DECISION_MEASURES, HARM_MEASURES, severity

Columns = dict[str, np.ndarray]

MEASURES = DECISION_MEASURES


@dataclass(frozen=True)
class Thresholds:
    """Risk tiers and signal thresholds; a directive may set any of them."""

    monitor: float = 0.05
    restrict: float = 0.6
    suspend: float = 0.9
    #: weighted nights in an area that make presence "sustained"
    sustained_nights: float = 7.0
    #: strangers added, provinces reached and the most who may answer: outreach
    outreach_contacts: int = 60
    outreach_provinces: int = 5
    outreach_answer_rate: float = 0.3
    #: one-off senders and forwards within an hour: a mule
    mule_senders: int = 3
    mule_forwards: int = 2
    #: accounts judged as operators on one's phones within days: the operation's phones
    operation_operators: int = 2
    #: kind of harm -> the strongest measure it calls for (``measures.HARM_MEASURES``)
    measures: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({k: v.value for k, v in HARM_MEASURES.items()})
    )

    @classmethod
    def for_directive(cls, directive: Directive) -> Thresholds:
        """Defaults, overridden by the directive's ``thresholds``; tiers must increase.
        ``measures`` overrides the defaults kind by kind."""
        t = cls()
        if directive.thresholds is not None:
            given = directive.thresholds.given()
            if "measures" in given:
                given["measures"] = MappingProxyType({**t.measures, **given["measures"]})
            t = replace(t, **given)
        if not 0 < t.monitor < t.restrict < t.suspend <= 1:
            raise InputError(
                f"{directive.source.name} key 'thresholds'",
                f"tiers must increase: monitor {t.monitor} < restrict {t.restrict} < "
                f"suspend {t.suspend}",
            )
        return t


#: evidence points per signal
POINTS = {
    "outreach": 4.0,
    "outreach_weak": 1.5,
    "mule": 4.0,
    "to_area": 1.0,
    "device_farm": 3.0,
    "device": 1.5,
    "confirmed_ties": 1.5,
    "copresence": 1.0,
    "device_operation": 4.0,
    "device_outreach": 3.0,
    "collector": 3.0,
    "cashout": 2.5,
    "against": -1.0,
}
MIDPOINT = 3.5
SLOPE = 1.5


@dataclass
class Scored:
    risk: np.ndarray
    measure: np.ndarray  # object: MEASURES
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    #: the kinds of harm each account's signals show (``harms``)
    harms: dict[str, np.ndarray] = field(default_factory=dict)


def _f(cols: Columns, name: str) -> np.ndarray:
    values: np.ndarray = np.nan_to_num(np.asarray(cols[name], dtype=float))
    return values


def signals(cols: Columns, t: Thresholds) -> dict[str, np.ndarray]:
    """Boolean signals (and presence points) for each account."""
    nights = _f(cols, "nights_w")
    contacts = _f(cols, "first_contacts")
    answer_rate = np.where(contacts > 0, _f(cols, "answered") / np.maximum(contacts, 1), 1.0)
    provinces = _f(cols, "provinces")
    sustained = nights >= t.sustained_nights
    outreach = (
        (contacts >= t.outreach_contacts)
        & (provinces >= t.outreach_provinces)
        & (answer_rate <= t.outreach_answer_rate)
        & (_f(cols, "outreach_days") >= 5)
    )
    outreach_weak = ~outreach & (contacts >= 20) & (provinces >= 3) & (answer_rate <= 0.3)
    mule = (_f(cols, "oneoff_senders") >= t.mule_senders) & (
        _f(cols, "forwarded") >= t.mule_forwards
    )
    device = _f(cols, "device_peers") >= 1
    suspects_on_phone = (
        _f(cols, "device_suspects") if "device_suspects" in cols else np.zeros(len(nights))
    )
    # phones shared with several accounts of the areas, or with one already judged
    device_farm = sustained & ((_f(cols, "device_peers") >= 2) | (suspects_on_phone >= 1))
    # phones that several accounts judged as operators pass around: whoever owns the
    # account on paper and however vaguely it is placed, it is the operation's
    operators_on_phone = (
        _f(cols, "device_operators") if "device_operators" in cols else np.zeros(len(nights))
    )
    device_operation = ~device_farm & (operators_on_phone >= t.operation_operators)
    # phones from which several accounts of other people add strangers within days of
    # each other, this one among them: each account's outreach is its own evidence, the
    # phone they pass around ties them into one operation (a person's own accounts, a
    # relative's or a buyer's of the phone months later are no pair: ``device_pairs``)
    reaching_on_phone = (
        _f(cols, "device_reaching") if "device_reaching" in cols else np.zeros(len(nights))
    )
    device_outreach = (
        ~device_farm & ~device_operation & (outreach | outreach_weak) & (reaching_on_phone >= 1)
    )
    confirmed_ties = (_f(cols, "device_confirmed") >= 1) | (_f(cols, "confirmed_money") >= 1)
    copresence = _f(cols, "copresent_nights") >= 3
    to_area = _f(cols, "to_area_n") >= 2
    from_mules = _f(cols, "from_mules_n") if "from_mules_n" in cols else np.zeros(len(nights))
    collector = sustained & (from_mules >= 2)
    suspect_in = _f(cols, "from_suspects_amount") if "from_suspects_amount" in cols else 0 * nights
    money_in = _f(cols, "money_in_amount") if "money_in_amount" in cols else 0 * nights
    suspect_n = _f(cols, "from_suspects_n") if "from_suspects_n" in cols else 0 * nights
    # a terminal is where its shop is, by day: one used in an area on as many days as
    # sustained presence has nights can cash out there, though it is rarely seen at night
    terminal = (np.asarray(cols["platform"], dtype=object) == "pos") | (
        np.asarray(cols["kind"], dtype=object) == "merchant"
    )
    day_terminal = terminal & (_f(cols, "days_w") >= t.sustained_nights)
    # cash-out takes large sums from few payers; a shop feeding a compound takes meals
    cashout = (
        (sustained | day_terminal)
        & (suspect_in >= 10_000)
        & (suspect_in >= 0.5 * np.maximum(money_in, 1))
        & (suspect_in >= 1_000 * np.maximum(suspect_n, 1))
    )
    confirmed = np.array([bool(c) for c in cols["case_id"]], dtype=bool)
    contacts_all = _f(cols, "contacts")
    reciprocal = contacts_all >= 10
    reciprocal &= _f(cols, "reciprocal") >= 0.6 * np.maximum(contacts_all, 1)
    payers = _f(cols, "payers")
    merchant_repeat = (payers >= 10) & (_f(cols, "repeat_payers") >= 0.5 * payers)
    # a life elsewhere counters presence, not money or outreach
    elsewhere = (nights >= 0.5) & (_f(cols, "nights_elsewhere") >= 3 * nights) & ~sustained
    behaviour = outreach | outreach_weak | mule | device | confirmed_ties | collector | cashout
    behaviour |= device_operation | device_outreach
    ties_phone = (_f(cols, "device_confirmed") >= 1) & behaviour
    ties_money = (_f(cols, "confirmed_money") >= 1) & behaviour
    return {
        "sustained": sustained,
        "outreach": outreach,
        "outreach_weak": outreach_weak,
        "mule": mule,
        "to_area": to_area & (mule | sustained),
        "device_farm": device_farm,
        "device_operation": device_operation,
        "device_outreach": device_outreach,
        "device": device & ~device_farm,
        "confirmed_ties": confirmed_ties & behaviour,
        "ties_phone": ties_phone,
        "ties_money": ties_money,
        "copresence": copresence & behaviour,
        "collector": collector,
        "cashout": cashout,
        "confirmed": confirmed,
        "behaviour": behaviour | confirmed,
        # the circle of an account on a compound's phone farm is its crew, not an
        # ordinary one: it writes back all day
        "against_reciprocal": reciprocal & ~(outreach | mule | device_farm),
        "against_merchant": merchant_repeat & ~cashout,
        "against_elsewhere": elsewhere,
        "presence_points": np.minimum(nights / t.sustained_nights, 2.0),
    }


def harms(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The kinds of harm (``measures.HARM_MEASURES``) each account's signals show.
    ``confirmed`` counts only where nothing else shows what the account does: a police
    case makes the evidence sure, not the harm greater."""
    shown = {
        "outreach": s["outreach"] | s["outreach_weak"],
        "phone_farm": s["device_farm"],
        "operation_phones": s["device_operation"],
        "shared_phone": s["device"] | s["ties_phone"],
        "collector": s["collector"],
        "mule": s["mule"],
        "cashout": s["cashout"],
        "money_ties": s["ties_money"],
    }
    anything = np.logical_or.reduce(list(shown.values()))
    shown["confirmed"] = s["confirmed"] & ~anything
    return shown


def score(cols: Columns, t: Thresholds) -> Scored:
    s = signals(cols, t)
    points = s["presence_points"].copy()
    for name, weight in POINTS.items():
        if name == "against":
            for against in ("against_reciprocal", "against_merchant", "against_elsewhere"):
                points += weight * s[against]
        else:
            points += weight * s[name]
    risk = 1.0 / (1.0 + np.exp(-SLOPE * (points - MIDPOINT)))
    # principle 1: presence alone never reaches restrict
    risk = np.where(s["behaviour"], risk, np.minimum(risk, t.restrict - 0.01))
    # a police case is the strongest evidence there is
    risk = np.where(s["confirmed"], np.maximum(risk, max(t.suspend, 0.95)), risk)
    measure = np.full(len(risk), "none", dtype=object)
    measure[risk >= t.monitor] = "monitor"
    measure[risk >= t.restrict] = "restrict"
    measure[risk >= t.suspend] = "suspend"
    # principle 4: how sure the evidence is sets the measure up to the one its kind of
    # harm calls for, no further (a mule is restricted however sure, an operator
    # suspended once sure). Without a kind shown nothing is visible: presence is no harm.
    shown = harms(s)
    cap = np.zeros(len(risk), dtype=np.int64)
    for harm, rows in shown.items():
        cap = np.where(rows, np.maximum(cap, severity(t.measures[harm])), cap)
    cap = np.maximum(cap, severity("monitor"))
    ranks = np.select([measure == m for m in MEASURES], [severity(m) for m in MEASURES], 0)
    measure = np.where(ranks > cap, np.asarray(MEASURES, dtype=object)[cap], measure)
    return Scored(risk=np.round(risk, 4), measure=measure, signals=s, harms=shown)


#: independent kinds of behaviour evidence (presence is not one of them)
BEHAVIOUR_KINDS = (
    ("outreach", "outreach_weak"),
    ("mule",),
    ("device_farm", "device_operation", "device_outreach", "device"),
    ("collector",),
    ("cashout",),
    ("confirmed",),
)


def strength(scored: Scored) -> np.ndarray:
    """Strength of the evidence, independent of the measure it led to:
    strong (two or more independent kinds of behaviour, or a police case), moderate
    (one kind), weak (presence or links only), none."""
    s = scored.signals
    kinds = sum(
        np.logical_or.reduce([s[name] for name in group]).astype(int) for group in BEHAVIOUR_KINDS
    )
    kinds = kinds + s["confirmed"].astype(int)  # a case counts twice: it is proof
    weak = (s["presence_points"] > 0.07) | (scored.measure != "none")
    out = np.where(kinds >= 2, "strong", np.where(kinds == 1, "moderate", "none"))
    out = np.where((out == "none") & weak, "weak", out)
    return np.asarray(out, dtype=object)


def as_columns(table: Any) -> Columns:
    """An Arrow table as numpy columns (strings as objects, nulls as None/NaN).

    Whole decimals (DuckDB's sums of integers) as integers: the same numbers to every
    reader (counts, far below 2^53), without one Python ``Decimal`` per row to make
    and to convert again on each pass."""
    import pyarrow as pa

    out: Columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_decimal(col.type) and col.type.scale == 0:
            col = col.cast(pa.int64())  # safe: raises rather than overflow
        try:
            out[name] = col.to_numpy(zero_copy_only=False)
        except Exception:
            out[name] = np.asarray(col.to_pylist(), dtype=object)
    return out
