"""One-time codes and the phones they go to, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from fairban.appeals.codes import mask_phone, normalize_phone


def test_phones_compare_whatever_the_spelling() -> None:
    assert (
        normalize_phone("138 0013 8000") == normalize_phone("+86 13800138000") == "+8613800138000"
    )
    assert mask_phone("+8613800138000") == "•••• 8000"
    assert normalize_phone("") == ""
