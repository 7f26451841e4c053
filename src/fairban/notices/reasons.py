"""Each reason code said in plain language, in every language, from its ``data``.

``SENTENCES`` holds one function per code of ``fairban.targeting.reasons.CODES`` (a test
checks the two sets are equal and that each renders in zh-CN and English). The wording
is about the *account* and what the records show, never about the person: no notice
calls anyone a fraudster or a suspect. A code this module does not know (a newer
engine) falls back to the engine's own English sentence.

``documents`` picks what helps an appeal from the reasons present (art. 32: "需要提交的
资料"): presence -> where you live and work; money -> what the transfers were; phones ->
where the phone came from; outreach -> your work; a shop -> its business licence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fairban.notices.i18n import N_, Tr
from fairban.notices.model import Reason
from fairban.targeting.reasons import DATA_FIELDS

Data = Mapping[str, Any]
Sentence = Callable[[Data, Tr], str]

#: engine labels of position sources, translated where shown
SOURCE_LABELS = {
    "GPS": N_("GPS"),
    "Wi-Fi": N_("Wi-Fi"),
    "cell": N_("mobile cells"),
    "IP": N_("IP address"),
}

#: names of the designated areas of the 2019 directive; other names are shown as given
AREA_NAMES = (N_("Laukkai"), N_("Pangkham"), N_("Mong La"), N_("Tachileik"))

#: platforms by their evidence name; others are shown as given
PLATFORM_NAMES = {
    "wechat": N_("WeChat"),
    "qq": N_("QQ"),
    "alipay": N_("Alipay"),
    "pos": N_("POS terminal"),
}


def platform_name(platform: str, tr: Tr) -> str:
    label = PLATFORM_NAMES.get(platform.lower())
    return tr._(label) if label else platform


def _num(data: Data, key: str) -> float:
    value = data.get(key, 0)
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _int(data: Data, key: str) -> int:
    return round(_num(data, key))


def _area(data: Data, tr: Tr) -> str:
    name = str(data.get("area") or "")
    if not name or name == "the areas":
        return tr._("the designated areas")
    return tr._(name)


def _sources(data: Data, tr: Tr) -> str:
    labels = [str(s) for s in data.get("sources") or []]
    if not labels:
        return tr._("no precise position")
    return tr.join([tr._(SOURCE_LABELS[s]) if s in SOURCE_LABELS else s for s in labels])


def _period(data: Data, tr: Tr) -> str:
    first, last = data.get("first"), data.get("last")
    if not first or first == "?" or not last or last == "?":
        return tr._("during the period of the directive")
    return tr._("between %(first)s and %(last)s", first=tr.day(str(first)), last=tr.day(str(last)))


def _nights(n: int, tr: Tr) -> str:
    return tr.ngettext("%(n)s night", "%(n)s nights", n)


def _accounts(n: int, tr: Tr) -> str:
    return tr.ngettext("%(n)s account", "%(n)s accounts", n)


def _payments(n: int, tr: Tr) -> str:
    return tr.ngettext("%(n)s payment", "%(n)s payments", n)


def _share(part: float, whole: float, tr: Tr) -> str:
    share = part / whole if whole > 0 else 0.0
    if 0 < share < 0.005:  # would round to 0%, which it is not
        return tr._("under 1%")
    return tr.percent(share)


# --- the sentences, one per code -------------------------------------------------------


def confirmed_case(d: Data, tr: Tr) -> str:
    case = str(d.get("case_id") or "")
    if not case:  # e.g. for the public DSA database, which gets no case numbers
        return tr._("A police case confirmed that this account was used for fraud.")
    return tr._("Police case %(case)s confirmed that this account was used for fraud.", case=case)


def presence_sustained(d: Data, tr: Tr) -> str:
    nights = _int(d, "nights_sure") or round(_num(d, "nights_w"))
    text = tr._(
        "The phone used with this account was located in %(area)s at night on %(nights)s "
        "%(period)s (position from %(sources)s).",
        area=_area(d, tr),
        nights=_nights(nights, tr),
        period=_period(d, tr),
        sources=_sources(d, tr),
    )
    if _num(d, "mm_cells") and _num(d, "cn_cells"):
        text += " " + tr._("It used mobile networks of both Myanmar and China.")
    return text


def presence_some(d: Data, tr: Tr) -> str:
    return tr._(
        "The phone used with this account was seen in or near %(area)s on about %(nights)s "
        "%(period)s (position from %(sources)s). Being in a place is not, by itself, a "
        "reason for any measure.",
        area=_area(d, tr),
        nights=_nights(round(_num(d, "nights_w")), tr),
        period=_period(d, tr),
        sources=_sources(d, tr),
    )


def outreach(d: Data, tr: Tr) -> str:
    contacts, answered = _int(d, "first_contacts"), _int(d, "answered")
    return tr._(
        "Over %(days)s the account sent friend requests to %(people)s it had never been in "
        "touch with, in %(provinces)s; %(answered)s of them (%(share)s) ever replied.",
        days=tr.ngettext("%(n)s day", "%(n)s days", _int(d, "outreach_days")),
        people=tr.ngettext("%(n)s person", "%(n)s people", contacts),
        provinces=tr.ngettext("%(n)s province", "%(n)s provinces", _int(d, "provinces")),
        answered=tr.number(answered),
        share=_share(answered, contacts, tr),
    )


def mule_pattern(d: Data, tr: Tr) -> str:
    return tr._(
        "The account received one-off transfers of %(amount)s in total from %(senders)s "
        "it had no other dealings with, and passed %(forwarded)s (%(forwarded_amount)s) "
        "on to other accounts within an hour of receiving them.",
        amount=tr.amount(_num(d, "oneoff_amount")),
        senders=tr.ngettext("%(n)s person", "%(n)s people", _int(d, "oneoff_senders")),
        forwarded=tr.ngettext("%(n)s transfer", "%(n)s transfers", _int(d, "forwarded")),
        forwarded_amount=tr.amount(_num(d, "forwarded_amount")),
    )


def money_to_area(d: Data, tr: Tr) -> str:
    return tr._(
        "The account made %(payments)s, %(amount)s in total, to accounts that stay in the "
        "designated areas.",
        payments=_payments(_int(d, "to_area_n"), tr),
        amount=tr.amount(_num(d, "to_area_amount")),
    )


def device_farm(d: Data, tr: Tr) -> str:
    return tr._(
        "The account was used on the same phones as %(accounts)s that stay in the "
        "designated areas, within days of each other.",
        accounts=_accounts(_int(d, "device_peers"), tr),
    )


def device_shared(d: Data, tr: Tr) -> str:
    return tr._(
        "A phone used with this account was also used, within a few days, by %(accounts)s "
        "that stay in the designated areas.",
        accounts=_accounts(_int(d, "device_peers"), tr),
    )


def device_operation(d: Data, tr: Tr) -> str:
    return tr._(
        "The account was used on the same phones as %(accounts)s already under measures "
        "for contacting strangers or for a shared phone farm, within days of each other.",
        accounts=_accounts(_int(d, "device_operators"), tr),
    )


def device_outreach(d: Data, tr: Tr) -> str:
    return tr._(
        "The account was used on the same phones as %(accounts)s of other people that also "
        "send friend requests to strangers, within days of each other, while it did the "
        "same itself.",
        accounts=_accounts(_int(d, "device_reaching"), tr),
    )


def confirmed_ties(d: Data, tr: Tr) -> str:
    phones, money = _int(d, "device_confirmed"), _int(d, "confirmed_money")
    if phones and money:
        return tr._(
            "The account shared phones with %(accounts)s confirmed by police as used for "
            "fraud, and exchanged %(payments)s with such accounts.",
            accounts=_accounts(phones, tr),
            payments=_payments(money, tr),
        )
    if phones:
        return tr._(
            "The account shared phones with %(accounts)s confirmed by police as used for fraud.",
            accounts=_accounts(phones, tr),
        )
    return tr._(
        "The account exchanged %(payments)s with accounts confirmed by police as used for fraud.",
        payments=_payments(money, tr),
    )


def copresence_confirmed(d: Data, tr: Tr) -> str:
    return tr._(
        "On %(nights)s, the phone used with this account was at night at the same spot "
        "(within about 370 m) as accounts confirmed by police as used for fraud.",
        nights=_nights(_int(d, "copresent_nights"), tr),
    )


def money_from_mules(d: Data, tr: Tr) -> str:
    return tr._(
        "The account received %(amount)s in %(transfers)s from accounts that pass on "
        "one-off transfers from unrelated people within an hour, a pattern used to move "
        "money taken from fraud victims.",
        amount=tr.amount(_num(d, "from_mules_amount")),
        transfers=tr.ngettext("%(n)s transfer", "%(n)s transfers", _int(d, "from_mules_n")),
    )


def cashout(d: Data, tr: Tr) -> str:
    part, whole = _num(d, "from_suspects_amount"), _num(d, "money_in_amount")
    return tr._(
        "The account received %(amount)s from accounts under measures: %(share)s of all "
        "the money it received (%(total)s).",
        amount=tr.amount(part),
        share=_share(part, whole, tr),
        total=tr.amount(whole),
    )


def person_link(d: Data, tr: Tr) -> str:
    return tr._(
        "The account belongs to the same real-name person as %(accounts)s under measures. "
        "On its own, this is not held against you.",
        accounts=_accounts(_int(d, "accounts"), tr),
    )


def contact_confirmed(d: Data, tr: Tr) -> str:
    return tr._(
        "The account exchanged %(messages)s with accounts confirmed by police as used for "
        "fraud. Being in touch with someone is not evidence of anything and was not held "
        "against you.",
        messages=tr.ngettext(
            "%(n)s message or call", "%(n)s messages or calls", _int(d, "confirmed_messages")
        ),
    )


def against_reciprocal(d: Data, tr: Tr) -> str:
    contacts, back = _num(d, "contacts"), _num(d, "reciprocal")
    return tr._(
        "%(share)s of the %(people)s this account writes to write back: an ordinary circle "
        "of contacts.",
        share=_share(back, contacts, tr),
        people=tr.ngettext("%(n)s person", "%(n)s people", round(contacts)),
    )


def against_merchant(d: Data, tr: Tr) -> str:
    return tr._(
        "The account is a shop: %(repeat)s of its %(customers)s pay again and again.",
        repeat=tr.number(_int(d, "repeat_payers")),
        customers=tr.ngettext("%(n)s customer", "%(n)s customers", _int(d, "payers")),
    )


def against_elsewhere(d: Data, tr: Tr) -> str:
    return tr._(
        "The phone used with this account spent %(nights)s outside the designated areas.",
        nights=_nights(_int(d, "nights_elsewhere"), tr),
    )


#: what each kind of harm says about the account (``fairban.measures.HARM_MEASURES``)
HARM_PHRASES = {
    "outreach": N_("it adds strangers who rarely answer, so it reaches people itself"),
    "phone_farm": N_("it is used on shared phones together with accounts that stay in the areas"),
    "operation_phones": N_(
        "it is used on phones that accounts already under measures pass between them"
    ),
    "shared_phone": N_("it shares a phone with accounts that stay in the areas"),
    "collector": N_("it receives, inside the areas, money that other accounts pass on"),
    "confirmed": N_("a police case confirmed that it was used for fraud"),
    "mule": N_("it passes on money from people it has no other dealings with"),
    "cashout": N_("most of its money comes from accounts under measures"),
    "money_ties": N_("it exchanged money with accounts confirmed by police"),
}


def measure_basis(d: Data, tr: Tr) -> str:
    """Why this measure and not a lighter one (principle 4), from what set it."""
    harms = [str(h) for h in d.get("harms") or [] if h in HARM_PHRASES]
    what = tr.join([tr._(HARM_PHRASES[h]) for h in harms])
    measure, held_by = str(d.get("measure") or ""), str(d.get("held_by") or "")
    if measure == "suspend" and what:
        return tr._(
            "The account is suspended rather than only restricted because %(what)s: "
            "holding its payments would not stop that.",
            what=what,
        )
    if measure == "restrict" and what and held_by == "harm":
        return tr._(
            "The account is restricted, not suspended: %(what)s, and holding its outgoing "
            "payments and blocking new payees is enough to stop that. You can still sign "
            "in, talk to people and receive money.",
            what=what,
        )
    if measure == "restrict" and what:
        return tr._(
            "The account is restricted because %(what)s; the records are not sure enough "
            "for a stronger measure. You can still sign in, talk to people and receive money.",
            what=what,
        )
    if measure == "restrict":
        return tr._("The account is restricted: it can still sign in, but not send money.")
    if measure == "suspend":
        return tr._("The account is suspended because of the records above.")
    return tr._("The account is only watched: nothing about it changes and nothing is shown.")


SENTENCES: dict[str, Sentence] = {
    "CONFIRMED_CASE": confirmed_case,
    "PRESENCE_SUSTAINED": presence_sustained,
    "PRESENCE_SOME": presence_some,
    "OUTREACH_STRANGERS": outreach,
    "OUTREACH_SOME": outreach,
    "MULE_PATTERN": mule_pattern,
    "MONEY_TO_AREA": money_to_area,
    "DEVICE_FARM": device_farm,
    "DEVICE_SHARED": device_shared,
    "DEVICE_OPERATION": device_operation,
    "DEVICE_OUTREACH": device_outreach,
    "CONFIRMED_TIES": confirmed_ties,
    "COPRESENCE_CONFIRMED": copresence_confirmed,
    "MONEY_FROM_MULES": money_from_mules,
    "CASHOUT": cashout,
    "PERSON_LINK": person_link,
    "CONTACT_CONFIRMED": contact_confirmed,
    "AGAINST_RECIPROCAL": against_reciprocal,
    "AGAINST_MERCHANT": against_merchant,
    "AGAINST_ELSEWHERE": against_elsewhere,
    "MEASURE_BASIS": measure_basis,
}


def sentence(reason: Reason, tr: Tr) -> str:
    """The reason in ``tr``'s language; an unknown code, or a reason without the numbers
    its sentence needs (decisions from before reasons carried ``data``: the contract does
    not require it), says the engine's English text rather than state wrong numbers."""
    say = SENTENCES.get(reason.code)
    needs = DATA_FIELDS.get(reason.code, ())
    if say is None or any(reason.data.get(k) is None for k in needs):
        return reason.text or reason.code
    return say(reason.data, tr)


# --- what helps an appeal --------------------------------------------------------------

PRESENCE = frozenset({"PRESENCE_SUSTAINED", "PRESENCE_SOME", "COPRESENCE_CONFIRMED"})
MONEY = frozenset({"MULE_PATTERN", "MONEY_TO_AREA", "MONEY_FROM_MULES", "CASHOUT"})
DEVICES = frozenset({"DEVICE_FARM", "DEVICE_SHARED", "DEVICE_OPERATION", "DEVICE_OUTREACH"})
OUTREACH = frozenset({"OUTREACH_STRANGERS", "OUTREACH_SOME"})

DOC_HOME = N_(
    "Proof of where you live and work: a residence permit, lease or utility bill, an "
    "employer's letter or a school certificate."
)
DOC_TRAVEL = N_(
    "Travel tickets, hotel bills or other records that show where you were on the dates above."
)
DOC_MONEY = N_(
    "An explanation of the transfers (who paid whom, and what for) with bank or payment "
    "statements, invoices or contracts."
)
DOC_PHONE = N_(
    "Proof of when and where you got your phone (a receipt or invoice; for a second-hand "
    "phone, from whom), and who else used it."
)
DOC_WORK = N_(
    "An explanation of your work if it means contacting many new people (sales, "
    "recruitment, customer service, a shop), with an employer's letter or a business "
    "licence."
)
DOC_LICENCE = N_("For a shop or business: its business licence.")
DOC_LOST = N_(
    "If the account or phone was not in your hands at the time (sold, lent, lost or "
    "stolen): when and how, and a police report of the loss if you have one."
)
DOC_OTHER_CASES = N_(
    "If another of your accounts is under a measure too, say so: a granted appeal lifts "
    "the measures on all your accounts."
)
DOC_ANY = N_("Anything else that shows what really happened, in your own words.")


def documents(reasons: Sequence[Reason], account_kind: str = "personal") -> list[str]:
    """Untranslated lines of what helps the appeal, chosen by the reasons present."""
    codes = {r.code for r in reasons}
    ties = next((r for r in reasons if r.code == "CONFIRMED_TIES"), None)
    out: list[str] = []
    if codes & PRESENCE:
        out += [DOC_HOME, DOC_TRAVEL]
    if codes & MONEY or (ties is not None and _num(ties.data, "confirmed_money")):
        out.append(DOC_MONEY)
    if codes & DEVICES or (ties is not None and _num(ties.data, "device_confirmed")):
        out.append(DOC_PHONE)
    if codes & OUTREACH:
        out.append(DOC_WORK)
    if account_kind in ("merchant", "business") or "AGAINST_MERCHANT" in codes:
        out.append(DOC_LICENCE)
    if codes & {"CONFIRMED_CASE", "CONFIRMED_TIES"} or codes & DEVICES:
        out.append(DOC_LOST)
    if "PERSON_LINK" in codes:
        out.append(DOC_OTHER_CASES)
    out.append(DOC_ANY)
    return list(dict.fromkeys(out))
