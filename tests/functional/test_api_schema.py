"""Schemathesis against the JSON API's OpenAPI: whatever it sends, no server error.

Half the generated requests carry a verified session of P4's case, so that the
operations behind authentication are exercised too, not only their 401."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.appeal_world import P4, api_sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def api(portal: Any) -> Any:
    auth = api_sign_in(portal, P4)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", portal.client.app)
    schema.fairban_auth = auth  # type: ignore[attr-defined]
    return schema


def test_no_server_errors(api: Any) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 7
    seen: set[int] = set()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            if hash(repr(case.body)) % 2 == 0:
                case.headers = {**(case.headers or {}), **api.fairban_auth}
            response = case.call()
            seen.add(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.path,
                response.status_code,
                response.text[:300],
            )

        run()
    # both sides were reached: accepted requests and refused ones
    assert seen & {200, 201, 202}, seen
    assert seen & {400, 401, 404, 422, 429}, seen
