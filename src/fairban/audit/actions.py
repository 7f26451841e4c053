"""Every action the audit log records, as one vocabulary (``subject:object:verb``).

An entry's ``action`` is one of these values; oversight filters and reports on them, so
a new kind of entry gets a member here, never a string of its own at the call site.
Pure: no database.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What an audit entry records."""

    # a case's decisions and measures (cases/flows.py, cases/enforce.py)
    CASE_DECISION_RECORD = "case:decision:record"
    CASE_DECISION_PROPOSE = "case:decision:propose"
    CASE_DECISION_REVISE = "case:decision:revise"
    CASE_DECISION_WITHDRAW = "case:decision:withdraw"
    CASE_MEASURE_APPLY = "case:measure:apply"
    CASE_MEASURE_DOWNGRADE = "case:measure:downgrade"
    CASE_MEASURE_LIFT = "case:measure:lift"
    CASE_MEASURE_EXPIRE = "case:measure:expire"
    CASE_APPEAL_FILE = "case:appeal:file"
    CASE_APPEAL_UPHOLD = "case:appeal:uphold"
    # directives (directives/flows.py, cases/enforce.py, appeals/breaker.py)
    DIRECTIVE_VERSION_LOAD = "directive:version:load"
    DIRECTIVE_ENFORCE = "directive:enforce"
    DIRECTIVE_PAUSE = "directive:pause"
    DIRECTIVE_RESUME = "directive:resume"
    DIRECTIVE_BREAKER_TRIP = "directive:breaker:trip"
    DIRECTIVE_STAGE = "directive:stage"  # an operator asked for the next stage (console)
    # a version in shadow (directives/flows.py, cases/shadow.py)
    DIRECTIVE_SHADOW_START = "directive:shadow:start"
    DIRECTIVE_SHADOW_JUDGE = "directive:shadow:judge"
    DIRECTIVE_SHADOW_PROMOTE = "directive:shadow:promote"
    DIRECTIVE_SHADOW_STOP = "directive:shadow:stop"
    # appeals (appeals/)
    APPEAL_FILE = "appeal:file"
    APPEAL_RECHECK_GRANT = "appeal:recheck:grant"
    APPEAL_RECHECK_QUEUE = "appeal:recheck:queue"
    APPEAL_EXPORT = "appeal:export"
    # reviewers (review/)
    REVIEW_CLAIM = "review:claim"
    REVIEW_RELEASE = "review:release"
    REVIEW_DECIDE = "review:decide"
    REVIEW_PROPOSE = "review:propose"
    REVIEW_APPROVE = "review:approve"
    REVIEW_REJECT = "review:reject"
    # the console's users and alerts (review/users.py, web/console/)
    CONSOLE_USER_SET = "console:user:set"
    CONSOLE_LOGIN = "console:login"
    CONSOLE_LOGIN_FAIL = "console:login:fail"
    CONSOLE_LOGOUT = "console:logout"
    CONSOLE_ALERT_ACK = "console:alert:ack"
    # platforms and the outbox (platforms/)
    PLATFORM_ADD = "platform:add"
    PLATFORM_ENABLE = "platform:enable"
    PLATFORM_DISABLE = "platform:disable"
    PLATFORM_REMOVE = "platform:remove"
    PLATFORM_DELIVERY_ACK = "platform:delivery:ack"
    PLATFORM_DELIVERY_DEAD = "platform:delivery:dead"
    PLATFORM_OUTBOX_RETRY = "platform:outbox:retry"
