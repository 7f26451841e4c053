"""Filing an appeal on a real database (SQLite and PostgreSQL): what the intake checks
before it stores anything, what it stores, and that a repeated form or a second appeal
on the same case finds the first."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fairban.appeals.blobs import BlobStore
from fairban.appeals.filing import MAX_STATEMENT, AppealError, Upload
from fairban.appeals.models import Appeal, AppealState, AppealUpload
from fairban.cases.flows import lift_measure
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState, DeciderKind
from tests.support.appeals import PDF, PNG, SETTINGS, actions, file
from tests.support.cases import NOW


def appeals(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Appeal)) or 0)


def refused(session: Session, case: Case, blobs: BlobStore, **kw: object) -> str:
    """The code of the AppealError the filing raises; nothing was stored."""
    before = appeals(session)
    with pytest.raises(AppealError) as caught:
        file(session, case, blobs, **kw)  # type: ignore[arg-type]
    assert appeals(session) == before
    return caught.value.code


def test_an_appeal_is_received_and_waits_for_the_recheck(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:f1"]
    appeal, created = file(
        session,
        case,
        blobs,
        grounds=[" victim ", "never_been_there", "victim", ""],
        statement="  我从来没有去过缅甸。\x00  ",
    )
    assert created
    assert appeal.state == AppealState.RECEIVED
    assert json.loads(appeal.grounds) == ["victim", "never_been_there"]  # distinct, in order
    assert appeal.statement == "我从来没有去过缅甸。"  # trimmed, no NUL
    assert appeal.filed_at == NOW
    assert appeal.answer_by == NOW + timedelta(hours=48)
    assert appeal.directive_id == case.directive_id
    # the case and the audit log learn of it when the re-check takes it in
    assert case.state == CaseState.ACTIVE
    assert "appeal:file" not in actions(session)


@pytest.mark.parametrize(
    ("grounds", "statement", "code"),
    [
        ([], "", "no_grounds"),
        (["  ", ""], "", "no_grounds"),
        (["never_been_there", "bribed_the_police"], "", "bad_ground"),
        (["other"], "x" * (MAX_STATEMENT + 1), "statement_too_long"),
    ],
)
def test_grounds_and_statement_are_checked(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    grounds: list[str],
    statement: str,
    code: str,
) -> None:
    case = enforced["wechat:f1"]
    assert refused(session, case, blobs, grounds=grounds, statement=statement) == code


def test_the_longest_statement_is_taken(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal, created = file(
        session, enforced["wechat:f1"], blobs, grounds=["other"], statement="说" * MAX_STATEMENT
    )
    assert created
    assert len(appeal.statement) == MAX_STATEMENT


@pytest.mark.parametrize(
    ("uploads", "code"),
    [
        ([Upload("a.png", PNG)] * 4, "too_many_files"),  # 3 at most (SETTINGS)
        ([Upload("scan.pdf", PDF + b"\x00" * 1024)], "file_too_large"),  # 1 KiB at most
        # a photo may be as large as the whole form (3 KiB), then is made smaller
        ([Upload("photo.png", PNG + b"\x00" * 4096)], "file_too_large"),
        ([Upload("photo.png", b"MZ\x90\x00 a Windows program")], "file_type"),
        ([Upload("drawing.svg", b"<svg onload=alert(1)>")], "file_type"),
        ([Upload("ok.pdf", PDF), Upload("empty.png", b"")], "empty_file"),
    ],
)
def test_uploads_are_checked_before_anything_is_stored(
    session: Session,
    enforced: dict[str, Case],
    blobs: BlobStore,
    uploads: list[Upload],
    code: str,
) -> None:
    assert refused(session, enforced["wechat:f1"], blobs, uploads=uploads) == code
    assert not blobs.root.exists() or not [p for p in blobs.root.rglob("*") if p.is_file()]
    assert session.scalar(select(func.count()).select_from(AppealUpload)) == 0


def test_uploads_are_stored_once_by_content(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    appeal, _ = file(
        session,
        enforced["wechat:f1"],
        blobs,
        uploads=[
            Upload("C:\\Users\\li\\身份证.png", PNG),
            Upload("again.png", PNG),  # the same bytes: one upload
            Upload("../../etc/bill\x07.pdf", PDF),
            Upload("", b""),  # an empty file field: no upload
        ],
    )
    stored = session.scalars(
        select(AppealUpload).where(AppealUpload.appeal_id == appeal.id).order_by(AppealUpload.id)
    ).all()
    assert [(u.filename, u.media_type, u.size) for u in stored] == [
        ("身份证.png", "image/png", len(PNG)),
        ("bill.pdf", "application/pdf", len(PDF)),
    ]
    assert [blobs.read(u.sha256) for u in stored] == [PNG, PDF]


def test_the_same_form_twice_is_one_appeal(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:f1"]
    first, created = file(session, case, blobs, submit_key="form-1", uploads=[Upload("a.png", PNG)])
    again, created_again = file(
        session,
        case,
        blobs,
        submit_key="form-1",
        grounds=["other"],
        statement="a second click",
        uploads=[Upload("b.pdf", PDF)],
    )
    assert created
    assert not created_again
    assert again.id == first.id
    assert json.loads(again.grounds) == ["never_been_there"]  # as first filed
    assert appeals(session) == 1
    assert session.scalar(select(func.count()).select_from(AppealUpload)) == 1


def test_one_open_appeal_per_case(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:f1"]
    first, _ = file(session, case, blobs, submit_key="form-1")
    second, created = file(session, case, blobs, submit_key="form-2", grounds=["victim"])
    assert not created
    assert second.id == first.id
    assert appeals(session) == 1
    # another case of the same person is appealed on its own
    other, created_other = file(session, enforced["qq:f1"], blobs, submit_key="form-3")
    assert created_other
    assert other.id != first.id


def test_another_cases_form_key_is_refused(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    file(session, enforced["wechat:f1"], blobs, submit_key="form-of-f1")
    assert refused(session, enforced["alipay:mule"], blobs, submit_key="form-of-f1") == "bad_key"


@pytest.mark.parametrize("key", ["", "k" * 65, "form\x00key"])
def test_a_bad_form_key_is_refused(
    session: Session, enforced: dict[str, Case], blobs: BlobStore, key: str
) -> None:
    assert refused(session, enforced["wechat:f1"], blobs, submit_key=key) == "bad_key"


def test_a_case_not_in_force_cannot_be_appealed(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    case = enforced["wechat:solo"]
    lift_measure(
        session,
        case,
        actor="reviewer:wang",
        actor_kind=DeciderKind.PERSON,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    assert refused(session, case, blobs) == "not_appealable"


def test_an_open_appeal_is_still_found_after_the_case_was_lifted(
    session: Session, enforced: dict[str, Case], blobs: BlobStore
) -> None:
    """A double submit that arrives after the measure ended finds the appeal it filed."""
    case = enforced["wechat:solo"]
    first, _ = file(session, case, blobs, submit_key="form-1")
    lift_measure(
        session,
        case,
        actor="reviewer:wang",
        actor_kind=DeciderKind.PERSON,
        reason="review",
        now=NOW,
        settings=SETTINGS,
    )
    again, created = file(session, case, blobs, submit_key="form-1")
    assert not created
    assert again.id == first.id


def test_a_photo_above_the_limit_is_taken_and_made_to_fit() -> None:
    from fairban.appeals.filing import check_uploads

    sent = PNG + b"\x00" * 1500  # over SETTINGS' 1 KiB a file, under the form's 3 KiB
    [(stored, kind)] = check_uploads([Upload("photo.png", sent)], SETTINGS)
    assert kind.startswith("image/")
    assert len(stored.data) <= SETTINGS.upload_max_bytes
