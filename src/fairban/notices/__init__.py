"""Notices: statements of reasons for measures, in Chinese and English, and in the EU DSA
Transparency Database's shape. Pure: facts in, text out (docs/notices.md)."""

from fairban.notices.dsa import (
    batches,
    bulk_payloads,
    export_jsonl,
    statement_of_reasons,
    validate_statement,
)
from fairban.notices.i18n import DEFAULT_LANG, LANGS, Lang
from fairban.notices.model import (
    DECISIONS,
    LIFT_REASONS,
    NOTICE_MEASURES,
    AccountNow,
    NoticeFacts,
    Reason,
    check_facts,
    reasons_from_json,
)
from fairban.notices.render import render_long, render_sms, render_text, sms_length

__all__ = [
    "DECISIONS",
    "DEFAULT_LANG",
    "LANGS",
    "LIFT_REASONS",
    "NOTICE_MEASURES",
    "AccountNow",
    "Lang",
    "NoticeFacts",
    "Reason",
    "batches",
    "bulk_payloads",
    "check_facts",
    "export_jsonl",
    "reasons_from_json",
    "render_long",
    "render_sms",
    "render_text",
    "sms_length",
    "statement_of_reasons",
    "validate_statement",
]
