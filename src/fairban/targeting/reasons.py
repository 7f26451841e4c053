"""Stable reason codes and the sentences that explain them, citing the numbers.

Codes never change meaning: notices, appeals and audits refer to them. Each reason
is ``{"code", "text", "weight"}``; ``weight`` is the evidence points it added (negative
for evidence against), so a reviewer sees what the risk rests on.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import numpy as np

from fairban.measures import severity
from fairban.targeting.scoring import POINTS, Columns, Scored, Thresholds

SOURCE_NAMES = (("by_gps", "GPS"), ("by_wifi", "Wi-Fi"), ("by_cell", "cell"), ("by_ip", "IP"))

#: code -> what it means (documented in docs/targeting.md and tested for stability)
CODES = {
    "CONFIRMED_CASE": "a police case confirmed the account as used for fraud",
    "PRESENCE_SUSTAINED": "stays in an area night after night",
    "PRESENCE_SOME": "seen in or near an area; alone, not evidence of fraud",
    "OUTREACH_STRANGERS": "adds many strangers across provinces who rarely answer",
    "OUTREACH_SOME": "adds strangers in several provinces who rarely answer",
    "MULE_PATTERN": "one-off transfers from unrelated people, forwarded within an hour",
    "MONEY_TO_AREA": "sends money to accounts that stay in the areas",
    "DEVICE_FARM": "uses the same phones as several accounts that stay in the areas",
    "DEVICE_SHARED": "used a phone at the same time as an account that stays in an area",
    "DEVICE_OPERATION": "used on phones that several accounts judged as operators pass around",
    "DEVICE_OUTREACH": "adds strangers from phones on which other people's accounts do the same",
    "CONFIRMED_TIES": "money or phones shared with accounts confirmed by police",
    "COPRESENCE_CONFIRMED": "at the same spot at night as accounts confirmed by police",
    "MONEY_FROM_MULES": "receives the money that mule accounts forward",
    "CASHOUT": "takes most of its money from accounts under measures",
    "PERSON_LINK": "same real-name person as accounts under measures",
    "CONTACT_CONFIRMED": "talked to accounts confirmed by police; not evidence of fraud",
    "AGAINST_RECIPROCAL": "an ordinary circle: most people it writes to write back",
    "AGAINST_MERCHANT": "a shop with repeat local customers",
    "AGAINST_ELSEWHERE": "spends its nights outside the areas",
    "MEASURE_BASIS": "why this measure and not a lighter one: the kind of harm, how sure",
}

#: what each kind of harm (``measures.HARM_MEASURES``) says about the account
HARM_TEXT = {
    "outreach": "adds strangers who rarely answer, so it reaches people itself",
    "phone_farm": "is used on a compound's shared phones with accounts that stay there",
    "operation_phones": "is used on phones that accounts judged as operators pass around",
    "shared_phone": "shares a phone with accounts that stay in the areas",
    "collector": "takes, inside the areas, the money that mule accounts forward",
    "confirmed": "is confirmed as used for fraud by a police case",
    "mule": "forwards money from unrelated people within the hour",
    "cashout": "takes most of its money from accounts under measures",
    "money_ties": "exchanges money with accounts confirmed by police",
}


#: feature columns behind each reason's sentence (its ``data``)
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    "PRESENCE_SUSTAINED": ("nights_sure", "nights_w", "mm_cells", "cn_cells"),
    "PRESENCE_SOME": ("nights_w",),
    "OUTREACH_STRANGERS": ("first_contacts", "answered", "provinces", "outreach_days"),
    "OUTREACH_SOME": ("first_contacts", "answered", "provinces", "outreach_days"),
    "MULE_PATTERN": ("oneoff_senders", "oneoff_amount", "forwarded", "forwarded_amount"),
    "MONEY_TO_AREA": ("to_area_n", "to_area_amount"),
    "DEVICE_FARM": ("device_peers",),
    "DEVICE_SHARED": ("device_peers",),
    "DEVICE_OPERATION": ("device_operators",),
    "DEVICE_OUTREACH": ("device_reaching",),
    "CONFIRMED_TIES": ("device_confirmed", "confirmed_money"),
    "COPRESENCE_CONFIRMED": ("copresent_nights",),
    "MONEY_FROM_MULES": ("from_mules_n", "from_mules_amount"),
    "CASHOUT": ("from_suspects_amount", "money_in_amount"),
    "CONTACT_CONFIRMED": ("confirmed_messages",),
    "AGAINST_RECIPROCAL": ("contacts", "reciprocal"),
    "AGAINST_MERCHANT": ("payers", "repeat_payers"),
    "AGAINST_ELSEWHERE": ("nights_elsewhere",),
}


def _whole(x: float) -> str:
    """``x`` to the nearest whole number, halves up, with thousands separators. Rounded
    to 6 decimals first: a sum of the same numbers in another order (another engine)
    differs in its last bits, and 22.4999999 and 22.5000001 must read the same."""
    return f"{math.floor(round(float(x), 6) + 0.5):,}"


def _percent(share: float) -> str:
    return f"{_whole(100 * share)}%"


def _plain(x: float) -> float | int:
    """A number for a reason's data: whole as an int, else to 2 decimals. Rounded to 6
    decimals first, as ``_whole``: 57660.9999999 (the same sum in another order) must
    not read 57661.0 where another run reads 57661."""
    r = round(float(x), 6)
    return int(r) if r.is_integer() else round(r, 2)


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return (value.astimezone()).strftime("%Y-%m-%d") if value.tzinfo else f"{value:%Y-%m-%d}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "?"
    try:
        return str(np.datetime_as_string(np.datetime64(value, "D")))
    except (TypeError, ValueError):
        return str(value)[:10]


def measure_basis(scored: Scored, t: Thresholds, i: int, person_links: int = 0) -> dict[str, Any]:
    """The reason ``MEASURE_BASIS`` of row ``i``: why its measure and not a lighter one
    (principle 4). ``held_by`` says what set it: ``harm`` (the measure its kind of harm
    calls for), ``certainty`` (the risk tiers), ``link`` (another account of the
    person) or ``presence`` (no kind of harm shown)."""
    measure = str(scored.measure[i])
    risk = float(scored.risk[i])
    shown = [h for h, rows in scored.harms.items() if rows[i]]
    # the kinds that call for this measure first: they are what it rests on
    shown.sort(key=lambda h: -severity(t.measures[h]))
    top = [h for h in shown if severity(t.measures[h]) >= severity(measure)] or shown
    what = "; it ".join(HARM_TEXT[h] for h in top)
    tiers = f"restrict from risk {t.restrict:g}, suspend from {t.suspend:g}"
    if measure == "suspend":
        held_by = "harm"
        text = (
            f"suspended, not restricted: the account {what}, which holding its payments "
            f"would not stop (risk {risk:.2f}; {tiers})"
        )
    elif measure == "restrict":
        capped = risk >= t.suspend
        held_by = "harm" if capped else "certainty"
        if capped:
            text = (
                f"restricted, not suspended: the account {what}, and the directive's measure "
                "for that is to hold its outgoing money and block new payees"
            )
        else:
            text = (
                f"restricted, not suspended: the account {what}, but the evidence is not "
                f"sure enough to suspend it (risk {risk:.2f}; {tiers})"
            )
    elif person_links and risk < t.restrict:
        held_by = "link"
        text = (
            "watched only, which is not shown to anyone: another account of the same "
            "person is under a measure"
        )
    elif not shown:
        held_by = "presence"
        text = (
            "watched only, which is not shown to anyone: nothing shows the account doing "
            "harm, and being in or near an area is not evidence of fraud"
        )
    elif risk >= t.restrict:
        held_by = "harm"
        text = f"watched only: the directive's measure for an account that {what} is to watch it"
    else:
        held_by = "certainty"
        text = (
            f"watched only, which is not shown to anyone: the evidence is not sure enough "
            f"for a measure the person sees (risk {risk:.2f}; {tiers})"
        )
    data = {
        "measure": measure,
        "held_by": held_by,
        "harms": top if shown else [],
        "risk": round(risk, 2),
        "restrict_from": t.restrict,
        "suspend_from": t.suspend,
    }
    return {"code": "MEASURE_BASIS", "text": text, "weight": 0.0, "data": data}


def explain(
    cols: Columns,
    scored: Scored,
    areas: list[str],
    i: int,
    person_links: int = 0,
    thresholds: Thresholds | None = None,
) -> list[dict[str, Any]]:
    """The reasons of row ``i``, strongest first, then ``MEASURE_BASIS``."""
    s = scored.signals
    r: list[dict[str, Any]] = []

    def num(name: str) -> float:
        v = cols[name][i] if name in cols else 0
        return float(0 if v is None or (isinstance(v, float) and np.isnan(v)) else v)

    def add(code: str, text: str, weight: float) -> None:
        # the numbers behind the sentence, so notices can say it in other languages
        data: dict[str, Any] = {k: _plain(num(k)) for k in DATA_FIELDS.get(code, ())}
        if code == "CONFIRMED_CASE":
            data["case_id"] = str(cols["case_id"][i])
        if code in ("PRESENCE_SUSTAINED", "PRESENCE_SOME"):
            data.update(
                area=area,
                sources=[label for key, label in SOURCE_NAMES if num(key) >= 1],
                first=_day(cols["present_first"][i]),
                last=_day(cols["present_last"][i]),
            )
        if code == "PERSON_LINK":
            data["accounts"] = person_links
        r.append({"code": code, "text": text, "weight": round(float(weight), 2), "data": data})

    area_idx = cols["area"][i]
    area = (
        areas[int(area_idx)]
        if area_idx is not None and not (isinstance(area_idx, float) and np.isnan(area_idx))
        else "the areas"
    )
    sources = ", ".join(label for key, label in SOURCE_NAMES if num(key) >= 1) or "no sure fix"
    if s["confirmed"][i]:
        add(
            "CONFIRMED_CASE",
            f"confirmed as used for fraud by police case {cols['case_id'][i]}",
            10.0,
        )
    nights = num("nights_w")
    if s["sustained"][i]:
        both = "; cells of both countries" if num("mm_cells") and num("cn_cells") else ""
        add(
            "PRESENCE_SUSTAINED",
            f"seen on {int(num('nights_sure'))} nights in {area} ({sources}{both}) "
            f"between {_day(cols['present_first'][i])} and {_day(cols['present_last'][i])}",
            float(s["presence_points"][i]),
        )
    elif nights >= 0.5 or num("max_p") >= 0.5:
        add(
            "PRESENCE_SOME",
            f"seen in or near {area} on about {_whole(nights)} nights ({sources}); being there "
            "is not in itself evidence of fraud",
            float(s["presence_points"][i]),
        )
    contacts = int(num("first_contacts"))
    answered = num("answered")
    pct = round(100 * answered / contacts) if contacts else 0
    days = int(num("outreach_days"))
    if s["outreach"][i] or s["outreach_weak"][i]:
        code = "OUTREACH_STRANGERS" if s["outreach"][i] else "OUTREACH_SOME"
        add(
            code,
            f"added {contacts} strangers in {int(num('provinces'))} provinces over {days} "
            f"days; {pct}% of them ever answered",
            POINTS["outreach" if s["outreach"][i] else "outreach_weak"],
        )
    if s["mule"][i]:
        add(
            "MULE_PATTERN",
            f"received one-off transfers from {int(num('oneoff_senders'))} unrelated people "
            f"(CNY {_whole(num('oneoff_amount'))}) and forwarded {int(num('forwarded'))} of them "
            "within an hour",
            POINTS["mule"],
        )
    if s["to_area"][i]:
        add(
            "MONEY_TO_AREA",
            f"sent CNY {_whole(num('to_area_amount'))} in {int(num('to_area_n'))} payments to "
            "accounts that stay in the areas",
            POINTS["to_area"],
        )
    if s["device_farm"][i] or s["device"][i]:
        farm = bool(s["device_farm"][i])
        add(
            "DEVICE_FARM" if farm else "DEVICE_SHARED",
            f"used the same phones as {int(num('device_peers'))} accounts that stay in the "
            "areas, within days of each other",
            POINTS["device_farm" if farm else "device"],
        )
    if s["device_operation"][i]:
        add(
            "DEVICE_OPERATION",
            f"used on the same phones as {int(num('device_operators'))} accounts already "
            "judged as operators, within days of each other: whoever holds it on paper, it "
            "is one of the operation's accounts",
            POINTS["device_operation"],
        )
    if s["device_outreach"][i]:
        add(
            "DEVICE_OUTREACH",
            f"used on the same phones as {int(num('device_reaching'))} accounts of other "
            "people that add strangers too, within days of each other: one operation's phones",
            POINTS["device_outreach"],
        )
    if s["confirmed_ties"][i]:
        parts = []
        if num("device_confirmed"):
            parts.append(f"shared phones with {int(num('device_confirmed'))}")
        if num("confirmed_money"):
            parts.append(f"exchanged {int(num('confirmed_money'))} payments with")
        add(
            "CONFIRMED_TIES",
            " and ".join(parts).replace(" with and", " and") + " accounts confirmed by police",
            POINTS["confirmed_ties"],
        )
    if s["copresence"][i]:
        add(
            "COPRESENCE_CONFIRMED",
            f"at the same spot as accounts confirmed by police on "
            f"{int(num('copresent_nights'))} nights",
            POINTS["copresence"],
        )
    if s["collector"][i]:
        add(
            "MONEY_FROM_MULES",
            f"received CNY {_whole(num('from_mules_amount'))} in {int(num('from_mules_n'))} "
            "transfers from accounts that forward victims' money",
            POINTS["collector"],
        )
    if s["cashout"][i]:
        share = num("from_suspects_amount") / max(num("money_in_amount"), 1.0)
        add(
            "CASHOUT",
            f"took CNY {_whole(num('from_suspects_amount'))} ({_percent(share)} of all it "
            "received) from accounts under measures",
            POINTS["cashout"],
        )
    if person_links:
        add(
            "PERSON_LINK",
            f"belongs to the same real-name person as {person_links} account(s) under measures",
            0.0,
        )
    if num("confirmed_messages") and not s["confirmed"][i]:
        add(
            "CONTACT_CONFIRMED",
            f"exchanged {int(num('confirmed_messages'))} messages or calls with accounts "
            "confirmed by police; talking to someone is not evidence of fraud",
            0.0,
        )
    if s["against_reciprocal"][i]:
        share = num("reciprocal") / max(num("contacts"), 1.0)
        add(
            "AGAINST_RECIPROCAL",
            f"{_percent(share)} of the {int(num('contacts'))} people it writes to write back: "
            "an ordinary circle",
            POINTS["against"],
        )
    if s["against_merchant"][i]:
        add(
            "AGAINST_MERCHANT",
            f"a shop: {int(num('repeat_payers'))} of its {int(num('payers'))} customers pay "
            "again and again",
            POINTS["against"],
        )
    if s["against_elsewhere"][i]:
        add(
            "AGAINST_ELSEWHERE",
            f"seen at night outside the areas on {int(num('nights_elsewhere'))} nights",
            POINTS["against"],
        )
    r.sort(key=lambda x: -abs(x["weight"]))
    if scored.measure[i] != "none":
        r.append(measure_basis(scored, thresholds or Thresholds(), i, person_links))
    return r


def to_json(reasons: list[dict[str, Any]]) -> str:
    return json.dumps(reasons, ensure_ascii=False, separators=(",", ":"))
