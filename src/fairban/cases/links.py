"""The links a notice carries, and the one-time token in the long one.

``PUBLIC_URL/c/CASE`` is the SMS's link (the portal then asks for a one-time code);
``PUBLIC_URL/c/CASE?t=TOKEN`` the notice's, whose token opens the case at once. Only the
token's SHA-256 is stored (``cases.appeal_token_hash``): a new notice's token replaces
the last one, which then stops working. The webhook that carries the link to the
platform holds the token only until the platform acknowledges it
(:func:`fairban.platforms.webhooks.at_rest`).
"""

from __future__ import annotations

from fairban import tokens
from fairban.cases.models import Case
from fairban.config import Settings

#: what stands for the one-time token in a stored or public notice
TOKEN_MASK = tokens.TOKEN_MASK


def issue_token(case: Case) -> str:
    """A new random token for the case's notice link; only its SHA-256 is stored
    (``case.appeal_token_hash``), so the previous token stops working. The caller
    flushes/commits with the rest of its transaction."""
    token = tokens.new_token(24)
    case.appeal_token_hash = tokens.sha256_hex(token)
    return token


def check_token(case: Case, token: str | None) -> bool:
    """Whether ``token`` is the case's current notice-link token (constant time)."""
    return tokens.matches(token, case.appeal_token_hash)


def appeal_url(settings: Settings, case: Case, token: str) -> str:
    """The notice's link: ``PUBLIC_URL/c/CASE?t=TOKEN``."""
    return f"{short_url(settings, case)}?t={token}"


def short_url(settings: Settings, case: Case) -> str:
    """The SMS's link: ``PUBLIC_URL/c/CASE`` (the portal then asks for a one-time code)."""
    return f"{settings.public_url.rstrip('/')}/c/{case.number}"
