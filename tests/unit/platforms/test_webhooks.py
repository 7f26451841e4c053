"""The webhook contract on its own: what a message must hold, and one line for what
breaks it."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime

import pytest

from fairban.measures import VISIBLE_VALUES
from fairban.platforms import webhooks
from fairban.platforms.webhooks import MessageKind

BODY = {
    "case_number": "FB-2019-000001",
    "directive_id": "cn-mps-2019-10-14-mm-north",
    "directive_version": 1,
    "measure": "suspend",
    "functions": ["sign_in"],
    "keeps": ["appeal", "data_export"],
    "person_id": None,
    "automated": True,
    "appeal_url": "https://fb.example/c/FB-2019-000001?t=x",
    "sms": "您的账号经反诈风险核查暂停使用。",
}
AT = datetime(2019, 10, 14, 2, 0, tzinfo=UTC)


def message(kind: MessageKind, **body: object) -> dict[str, object]:
    return webhooks.envelope(
        body, key="k" * 32, kind=kind, platform="wechat", account_id="wechat:a", created_at=AT
    )


def test_the_measures_a_webhook_carries_are_the_visible_ones() -> None:
    assert typing.get_args(webhooks.VisibleMeasure) == VISIBLE_VALUES
    assert sorted(m.value for m in webhooks.FUNCTIONS) == sorted(VISIBLE_VALUES)


def test_an_apply_and_a_lift_as_the_flows_write_them_are_valid() -> None:
    apply = webhooks.ApplyBody(
        **BODY,
        reasons=[webhooks.Reason(code="OUTREACH_STRANGERS", text="added 134 strangers")],
        expires_at=None,
    )
    doc = message(MessageKind.APPLY, **webhooks.body(apply))
    assert webhooks.problem(doc) is None
    assert doc["created_at"] == "2019-10-14T02:00:00Z"  # the flow's clock, in UTC
    parsed = webhooks.parse(doc)
    assert isinstance(parsed, webhooks.ApplyMessage)
    assert parsed.reasons[0].code == "OUTREACH_STRANGERS"

    lift = webhooks.LiftBody(**BODY, lift_reason="appeal_granted")
    assert webhooks.kind_of(lift) is MessageKind.LIFT
    lifted = message(MessageKind.LIFT, **webhooks.body(lift))
    assert isinstance(webhooks.parse(lifted), webhooks.LiftMessage)
    assert lifted["reasons"] == []
    assert lifted["expires_at"] is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"type": "measure.delete"}, "unknown type 'measure.delete'"),
        ({"measure": "ban"}, "measure: Input should be 'restrict' or 'suspend'"),
        ({"case_number": ""}, "case_number: String should have at least 1 character"),
        ({"reasons": [{"text": "no code"}]}, "reasons.0.code: Field required"),
        ({"directive_version": "one"}, "directive_version: Input should be a valid integer"),
    ],
)
def test_what_breaks_the_contract_is_said_in_one_line(
    change: dict[str, object], problem: str
) -> None:
    doc = message(MessageKind.APPLY, **(BODY | {"reasons": [], "expires_at": None})) | change
    found = webhooks.problem(doc)
    assert found is not None
    assert found.startswith(problem)


def test_unknown_fields_are_accepted_a_body_may_not_set_the_envelope() -> None:
    doc = message(MessageKind.APPLY, **(BODY | {"reasons": [], "expires_at": None, "new": 1}))
    assert webhooks.problem(doc) is None  # the contract may grow
    with pytest.raises(ValueError, match="'id' is set by enqueue"):
        message(MessageKind.APPLY, id="mine")
    assert webhooks.problem([1, 2]) == "body is not a JSON object"


def test_a_delivered_message_keeps_no_token_and_still_parses() -> None:
    link = f"{BODY['appeal_url']}secret42"
    body = {**BODY, "appeal_url": link, "reasons": [], "expires_at": None}
    sent = webhooks.dumps(message(MessageKind.APPLY, **body))
    kept = webhooks.at_rest(sent)
    assert "xsecret42" in sent
    assert "secret42" not in kept
    document = json.loads(kept)
    assert document["appeal_url"] == "https://fb.example/c/FB-2019-000001?t=…"
    assert webhooks.problem(document) is None
    assert webhooks.at_rest(kept) == kept  # masking twice changes nothing
