"""The seed personas of 2019 (``shared/cases/seed-personas.md``) as named accounts:
P1-P6, the people a presence rule wrongs, and F1, F2, the fraud it must find."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from fairban.world.population import ALIPAY, CLASSMATE, FAMILY, QQ, ROMANCE, WECHAT
from fairban.world.roles import Role

if TYPE_CHECKING:
    from fairban.world.assemble import WorldAssembly


@dataclass(frozen=True)
class SeedPersonaAccounts:
    """What the rest of the world needs of the seed personas."""

    classmate_account: int  # P6's classmate C, confirmed by police
    mule_accounts: list[int]  # F2's


def add_seed_personas(assembly: WorldAssembly) -> SeedPersonaAccounts:
    """P1-P6, F1 and F2, in this order (each draws from the world's generator)."""
    builder, town, days = assembly.builder, assembly.city_town, assembly.days

    # P1 Ms Li, Qujing: GPS and Wi-Fi only, ordinary family, no transfers lately
    p1 = builder.add_person(Role.ORDINARY, town("530300"), persona="P1")
    builder.add_account(p1, WECHAT, Role.ORDINARY, name="wxid_p1_msli_qujing", persona="P1")
    builder.add_account(p1, QQ, Role.ORDINARY, name="p1_msli_qujing", persona="P1")
    for _ in range(4):
        relative = builder.add_person(Role.ORDINARY, town("530300"))
        builder.add_personal_accounts(relative, Role.ORDINARY)
        builder.tie(p1, relative, FAMILY)

    # P2 lives in Guiyang, a week in Kunming with her boyfriend at the end of September
    p2 = builder.add_person(Role.ORDINARY, town("520100"), persona="P2")
    builder.add_account(p2, QQ, Role.ORDINARY, name="p2_guiyang_visitor", persona="P2")
    builder.add_account(p2, WECHAT, Role.ORDINARY, name="wxid_p2_guiyang", persona="P2")
    boyfriend = builder.add_person(Role.ORDINARY, town("530100"))
    builder.add_personal_accounts(boyfriend, Role.ORDINARY)
    builder.tie(p2, boyfriend, ROMANCE)
    kunming_from = (date(2019, 9, 23) - assembly.config.first_day).days
    builder.trip(p2, kunming_from, kunming_from + 6, town("530100"))

    # P3 Mr Duan, Ruili: lives and works on the border, takes QR payments at work
    p3 = builder.add_person(Role.BORDER_RESIDENT, assembly.border_towns["Ruili"], persona="P3")
    builder.add_account(p3, WECHAT, Role.BORDER_RESIDENT, name="wxid_p3_duan_ruili", persona="P3")
    builder.add_account(
        p3, WECHAT, Role.BORDER_RESIDENT, name="wxid_p3_duan_shop", merchant=True, persona="P3"
    )

    # P4 Chongqing, keeps photos on QQ: IP observations only, few interactions
    p4 = builder.add_person(
        Role.ORDINARY,
        town("500100") if "500100" in builder.places.city_gb else town("500000"),
        persona="P4",
    )
    builder.add_account(
        p4, QQ, Role.ORDINARY, name="p4_chongqing_photos", ip_only=True, rate=1.0, persona="P4"
    )
    sister = builder.add_person(Role.ORDINARY, builder.p_home[p4])
    builder.add_personal_accounts(sister, Role.ORDINARY)
    builder.tie(p4, sister, FAMILY)

    # P5 Mr Xia from Chengdu, works in Zhaotong, Sichuan number, calls home
    p5 = builder.add_person(Role.ORDINARY, town("530600"), phone="510100", persona="P5")
    builder.add_account(p5, WECHAT, Role.ORDINARY, name="wxid_p5_xia_zhaotong", persona="P5")
    for _ in range(3):
        relative = builder.add_person(Role.ORDINARY, town("510100"))
        builder.add_personal_accounts(relative, Role.ORDINARY)
        builder.tie(p5, relative, FAMILY)

    # P6 student from Chuxiong at university in Kunming, a dozen friends; classmate C
    # goes to Laukkai and his account is confirmed as fraud
    kunming = town("530100")
    p6 = builder.add_person(Role.STUDENT, kunming, phone="532300", works=False, persona="P6")
    builder.add_account(p6, WECHAT, Role.STUDENT, name="wxid_p6_student_chuxiong", persona="P6")
    builder.add_account(p6, QQ, Role.STUDENT, name="p6_student_chuxiong", persona="P6")
    friends = []
    for i in range(12):
        label = "P6-police-cadet" if i == 0 else "P6-friend"
        friend = builder.add_person(Role.CLASSMATE, kunming, works=False, persona=label)
        name = "wxid_p6_police_cadet" if i == 0 else f"wxid_p6_friend_{i:02d}"
        builder.add_account(friend, WECHAT, Role.CLASSMATE, name=name, persona=label)
        friends.append(friend)
    laukkai_compound = assembly.compounds[0]
    classmate = builder.add_person(Role.OPERATOR, kunming, works=False, persona="P6-classmate-C")
    classmate_account = builder.add_account(
        classmate,
        WECHAT,
        Role.OPERATOR,
        name="wxid_p6_classmate_c",
        persona="P6-classmate-C",
        rate=6.0,
    )
    builder.trip(classmate, days - 70, assembly.horizon - 1, laukkai_compound)
    for person in [p6, *friends]:
        builder.tie(classmate, person, CLASSMATE)
        for other in friends[:6]:
            builder.tie(person, other, CLASSMATE)

    # F1 operator in a Laukkai compound, arrived eight weeks ago, not known to police
    assembly.add_operator(
        laukkai_compound,
        days - 56,
        persona="F1",
        bought=(("wxid_f1_laukkai_operator", WECHAT), ("f1_laukkai_qq", QQ)),
    )

    # F2 money mule in Guangdong (Dongguan), never near the border
    dongguan = town("441900") if "441900" in builder.places.city_gb else town("440100")
    f2 = builder.add_person(Role.MULE, dongguan, persona="F2")
    f2_accounts = [
        builder.add_account(f2, WECHAT, Role.MULE, name="wxid_f2_mule_dongguan", persona="F2"),
        builder.add_account(f2, ALIPAY, Role.MULE, name="2088f2muledongguan", persona="F2"),
    ]
    return SeedPersonaAccounts(classmate_account=classmate_account, mule_accounts=f2_accounts)
