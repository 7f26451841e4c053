"""The webhook contract: every message fairban sends a platform, field by field.

This module is the contract. The case flows build their messages with it
(``cases/messaging.py``), the outbox stamps its envelope (:func:`envelope`), the
reference platform validates what it receives with it (:func:`problem`), and the field
table in ``docs/platforms.md`` is checked against it (``tests/test_docs.py``).

A platform must accept fields it does not know (the contract may grow), and must apply
each ``id`` at most once. Pure: no database, no web.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from fairban.clock import iso_utc
from fairban.measures import Measure
from fairban.tokens import TOKEN_MASK


class MessageKind(StrEnum):
    """The two things fairban tells a platform."""

    APPLY = "measure.apply"  # impose or change a measure on an account
    LIFT = "measure.lift"  # remove fairban's measure from an account


#: the functions a measure limits on the platform (``functions``)
FUNCTIONS: dict[Measure, tuple[str, ...]] = {
    Measure.RESTRICT: ("outgoing_payments", "new_contacts"),
    Measure.SUSPEND: ("sign_in",),
}
#: what the person keeps under any measure (``keeps``; principle 8)
KEEPS: tuple[str, ...] = ("appeal", "data_export")

Text = Annotated[str, Field(min_length=1)]
#: ``fairban.measures.VISIBLE_VALUES`` as a type (a test keeps the two the same)
VisibleMeasure = Literal["restrict", "suspend"]
#: ``fairban.notices.DECISIONS`` as a type (a test keeps the two the same)
AppealDecision = Literal["upheld", "downgraded", "granted"]


class Reason(BaseModel):
    """A reason the measure rests on: its stable code and the engine's sentence."""

    model_config = ConfigDict(extra="allow", frozen=True)

    code: Text = Field(description="the stable reason code (docs/targeting.md)")
    text: str = Field(description="one sentence a person can read")


class Envelope(BaseModel):
    """What every message carries first; the outbox sets it (:func:`envelope`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Text = Field(
        description="the idempotency key (32 hex digits), also the `Idempotency-Key` header"
    )
    type: MessageKind = Field(
        description="`measure.apply` (impose or change a measure) or `measure.lift` (remove it)"
    )
    platform: Text = Field(description="the platform the message is for")
    account_id: Text = Field(description="the account on that platform")
    created_at: Text = Field(description="when the case flow wrote it (UTC, ISO 8601 with Z)")


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    case_number: Text = Field(
        description="the case behind it; a measure is keyed by case, and an account can "
        "carry measures of several cases"
    )
    directive_id: Text = Field(description="the directive the case is under")
    directive_version: int = Field(description="the version of the directive the case follows")
    measure: VisibleMeasure = Field(
        description="`restrict` or `suspend`: the measure applied, or (lifts) the one lifted"
    )
    functions: list[str] = Field(
        description="what the measure limits: `outgoing_payments` and `new_contacts` "
        "(restrict), `sign_in` (suspend)"
    )
    keeps: list[str] = Field(
        description="what the person keeps under any measure: `appeal`, `data_export`"
    )
    person_id: str | None = Field(
        description="the person the account belongs to (pseudonymous), or null"
    )
    automated: bool = Field(description="decided by the automatic engine (true) or a person")
    appeal_url: Text = Field(
        description="the notice's link with its one-time token: show it to the person "
        "(fairban masks the token in its copy once the platform acknowledges the message)"
    )
    sms: Text = Field(description="the notice's SMS in Chinese, to send to the account's phone")
    decision: AppealDecision | None = Field(
        default=None,
        description="what a person decided on the person's appeal, when the message tells it: "
        "`upheld` (an apply that repeats the measure in force, so that the platform shows "
        "the decision's notice), `downgraded`, `granted`; else null",
    )


class ApplyBody(_Body):
    """What the case flow says when it imposes or changes a measure."""

    reasons: list[Reason] = Field(
        description="(applies) the reasons the measure rests on, strongest first; their "
        "full sentences are in the notice"
    )
    expires_at: str | None = Field(
        description="(applies) when the measure ends by itself (UTC), or null"
    )


class LiftBody(_Body):
    """What the case flow says when it removes the case's measure."""

    reasons: list[Reason] = Field(default_factory=list, description="(lifts) empty")
    expires_at: None = Field(default=None, description="(lifts) null")
    lift_reason: Text = Field(
        description="(lifts) why: `appeal_granted`, `recheck_passed`, `review`, "
        "`directive_amended`, `evidence_rechecked`, `expired`, ..."
    )


class ApplyMessage(Envelope, ApplyBody):
    """``measure.apply`` as a platform receives it."""

    type: Literal[MessageKind.APPLY]


class LiftMessage(Envelope, LiftBody):
    """``measure.lift`` as a platform receives it."""

    type: Literal[MessageKind.LIFT]


Message = Annotated[ApplyMessage | LiftMessage, Field(discriminator="type")]
_MESSAGE: TypeAdapter[ApplyMessage | LiftMessage] = TypeAdapter(Message)

#: the envelope's fields, which the outbox sets (a body may not carry them)
ENVELOPE_FIELDS: tuple[str, ...] = tuple(Envelope.model_fields)


def body(message: ApplyBody | LiftBody) -> dict[str, Any]:
    """A body as the outbox stores it (JSON values)."""
    return message.model_dump(mode="json")


def kind_of(message: ApplyBody | LiftBody) -> MessageKind:
    """The message kind a body is sent as."""
    return MessageKind.LIFT if isinstance(message, LiftBody) else MessageKind.APPLY


def envelope(
    fields: Mapping[str, Any],
    *,
    key: str,
    kind: MessageKind,
    platform: str,
    account_id: str,
    created_at: datetime,
) -> dict[str, Any]:
    """The whole message: the envelope (``id``, ``type``, ``platform``, ``account_id``,
    ``created_at``) and then the body's fields (:func:`body`). ``ValueError`` when the
    body sets an envelope field."""
    document: dict[str, Any] = {
        "id": key,
        "type": kind.value,
        "platform": platform,
        "account_id": account_id,
        "created_at": iso_utc(created_at),
    }
    for name, value in fields.items():
        if name in document:
            raise ValueError(f"outbox body key {name!r} is set by enqueue")
        document[name] = value
    return document


def dumps(document: Mapping[str, Any]) -> str:
    """A message as the outbox stores and sends it: compact JSON, keys sorted."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def at_rest(payload: str) -> str:
    """What the outbox keeps of a message once its platform acknowledged it: the same
    message with ``appeal_url``'s one-time token replaced by :data:`TOKEN_MASK` (the
    link as the stored notices show it), so no live token stays in the database. A
    message without a token comes back unchanged."""
    document = json.loads(payload)
    link = document.get("appeal_url")
    if not isinstance(link, str) or "?" not in link:
        return payload
    document["appeal_url"] = f"{link.partition('?')[0]}?t={TOKEN_MASK}"
    return dumps(document)


def parse(document: Any) -> ApplyMessage | LiftMessage:
    """The message a received JSON document is; ``ValidationError`` if it is none."""
    return _MESSAGE.validate_python(document)


def problem(document: Any) -> str | None:
    """Why a received JSON document is not a message of the contract, in one line (the
    first problem found), or ``None``."""
    if not isinstance(document, dict):
        return "body is not a JSON object"
    if document.get("type") not in tuple(k.value for k in MessageKind):
        return f"unknown type {document.get('type')!r}"
    try:
        parse(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return f"{where}: {first['msg']}"
    return None


def field_docs() -> dict[str, str]:
    """Every field of either message with its description, envelope first: the table
    that ``docs/platforms.md`` shows."""
    docs: dict[str, str] = {}
    for model in (Envelope, ApplyBody, LiftBody):
        for name, info in model.model_fields.items():
            text = info.description or ""
            if name in docs and text not in docs[name]:
                docs[name] = f"{docs[name]}; {text}"
            else:
                docs.setdefault(name, text)
    return docs
