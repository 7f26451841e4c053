"""The roles of simulated accounts: the ground truth a targeting engine is judged on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    """What an account really is. Values are stable: they index arrays."""

    ORDINARY = 0
    STUDENT = 1
    MERCHANT = 2
    BORDER_RESIDENT = 3  # lives in a Chinese or Myanmar border town outside the areas
    TRADER = 4  # crosses into the areas by day, sleeps at home in China
    TOURIST = 5  # a few nights in Mong La, Tachileik or Laukkai
    AREA_RESIDENT = 6  # lives and works in an area town, nothing to do with fraud
    POLICE = 7  # investigator who visits an area and talks to confirmed accounts
    SALES = 8  # adds many strangers (insurance, property), all in their own province
    VICTIM = 9  # messaged by fraudsters, paid a mule
    RELATIVE = 10  # family of an operator, receives money from them
    CLASSMATE = 11  # knows an operator (P6 and friends)
    RESOLD_DEVICE = 12  # bought a phone months after a compound stopped using it
    SELLER = 13  # sold one of their accounts to an operation; these are their others
    OPERATOR = 20  # works in a compound: outreach from its accounts
    COLLECTOR = 21  # takes money from mules inside an area, cashes it out
    MULE = 22  # receives victims' money and forwards it within minutes
    CASHOUT_POS = 23  # POS terminal used to cash out


@dataclass(frozen=True)
class RoleInfo:
    fraud: bool
    #: what a correct engine does: 'innocent' (none or monitor), 'restrict' (exactly:
    #: the weakest measure that stops a money-only role; suspend is harsher and the
    #: preview counts it so), 'suspend', or 'any' (no expectation: the gate ignores these)
    expected: str


ROLE_INFO: dict[Role, RoleInfo] = {
    Role.ORDINARY: RoleInfo(False, "innocent"),
    Role.STUDENT: RoleInfo(False, "innocent"),
    Role.MERCHANT: RoleInfo(False, "innocent"),
    Role.BORDER_RESIDENT: RoleInfo(False, "innocent"),
    Role.TRADER: RoleInfo(False, "innocent"),
    Role.TOURIST: RoleInfo(False, "innocent"),
    Role.AREA_RESIDENT: RoleInfo(False, "innocent"),
    Role.POLICE: RoleInfo(False, "innocent"),
    Role.SALES: RoleInfo(False, "innocent"),
    Role.VICTIM: RoleInfo(False, "innocent"),
    Role.RELATIVE: RoleInfo(False, "innocent"),
    Role.CLASSMATE: RoleInfo(False, "innocent"),
    Role.RESOLD_DEVICE: RoleInfo(False, "innocent"),
    Role.SELLER: RoleInfo(False, "any"),
    Role.OPERATOR: RoleInfo(True, "suspend"),
    Role.COLLECTOR: RoleInfo(True, "suspend"),
    Role.MULE: RoleInfo(True, "restrict"),
    Role.CASHOUT_POS: RoleInfo(True, "restrict"),
}


def role_name(role: int) -> str:
    return Role(role).name.lower()
