"""The appeal as a person goes through it, over HTTP: notice link, one-time code, the
notice, the appeal, the automatic re-check, the status page; and F1's appeal, which
the re-check does not grant, waits for a person."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from fairban.appeals.models import Appeal, AppealState, AppealUpload
from fairban.appeals.sessions import case_limit_key
from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.digests import sha256_hex
from fairban.platforms.models import OutboxMessage
from fairban.platforms.webhooks import MessageKind
from fairban.ratelimits import RateBucket
from tests.support.appeal_world import (
    F1,
    P3,
    P4,
    api_sign_in,
    csrf_of,
    file_appeal_form,
    make_portal,
    run_rechecks,
)
from tests.support.appeals import PNG


def test_p4_appeals_and_is_lifted_by_the_recheck(portal: Any) -> None:
    portal.sign_in(P4)
    page = portal.client.get("/case")
    assert "FB-" in page.text
    assert "暂停使用" in page.text  # Chinese by default: the measure in force
    assert 'id="measure"' in page.text  # the notice's long form, with its sections
    files = [("files", ("ticket.png", PNG, "image/png"))]
    r, _data = file_appeal_form(
        portal, ["never_been_there"], statement="我从没去过云南。", files=files
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/case/status"
    status = portal.client.get("/case/status")
    assert 'data-state="received"' in status.text
    assert run_rechecks(portal) == 1
    status = portal.client.get("/case/status", params={"lang": "en"})
    assert 'data-state="granted"' in status.text
    assert "lifted on every platform" in status.text
    with portal.session() as s:
        case = s.scalars(select(Case).where(Case.account_id == P4)).one()
        assert case.state == CaseState.LIFTED
        appeal = s.scalars(select(Appeal).where(Appeal.case_id == case.id)).one()
        assert appeal.state == AppealState.GRANTED
        assert json.loads(appeal.recheck or "{}")["accounts"][P4]["measure"] == "none"
        upload = s.scalars(select(AppealUpload)).one()
        assert upload.media_type == "image/png"
        assert (portal.home / "blobs" / upload.sha256[:2] / upload.sha256).read_bytes() == PNG
        lifts = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.account_id == P4, OutboxMessage.kind == MessageKind.LIFT
            )
        ).all()
        assert len(lifts) == 1


def test_p3_appeal_lifts_both_of_his_accounts(portal: Any) -> None:
    portal.sign_in(P3[0])
    r, _ = file_appeal_form(portal, ["live_near_border"])
    assert r.status_code == 303
    assert run_rechecks(portal) == 1
    with portal.session() as s:
        states = {
            c.account_id: c.state for c in s.scalars(select(Case).where(Case.account_id.in_(P3)))
        }
        assert states == dict.fromkeys(P3, CaseState.LIFTED)


def test_f1_appeal_goes_to_a_person_with_hints(portal: Any) -> None:
    portal.sign_in(F1)
    r, _ = file_appeal_form(portal, ["never_been_there"])
    assert r.status_code == 303
    assert run_rechecks(portal) == 1
    status = portal.client.get("/case/status", params={"lang": "en"})
    assert 'data-state="queued"' in status.text
    assert "A reviewer decides by" in status.text
    with portal.session() as s:
        appeal = s.scalars(select(Appeal)).one()
        assert appeal.state == AppealState.QUEUED
        hints = json.loads(appeal.recheck or "{}")["hints"]
        assert hints[0]["ground"] == "never_been_there"
        assert any("PRESENCE" in h for h in hints[0]["contradicted_by"])


def test_double_submit_stores_one_appeal(portal: Any) -> None:
    portal.sign_in(P4)
    r1, data = file_appeal_form(portal, ["other"])
    r2 = portal.client.post("/case/appeal", data=data, follow_redirects=False)
    assert r1.status_code == r2.status_code == 303
    with portal.session() as s:
        assert len(s.scalars(select(Appeal)).all()) == 1


def test_bad_uploads_are_refused_with_a_message_and_nothing_stored(portal: Any) -> None:
    portal.sign_in(P4)
    fake = [("files", ("photo.png", b"MZ\x90\x00 not an image", "image/png"))]
    r, _ = file_appeal_form(portal, ["other"], files=fake)
    assert r.status_code == 400
    assert "不是照片或PDF" in r.text
    big = [("files", ("big.pdf", b"%PDF-1.4" + b"0" * (5 * 1024 * 1024), "application/pdf"))]
    r, _ = file_appeal_form(portal, ["other"], files=big)
    assert r.status_code == 400
    r, _ = file_appeal_form(portal, [])
    assert r.status_code == 400
    with portal.session() as s:
        assert s.scalars(select(Appeal)).all() == []
        assert s.get(Case, 1) is not None
    assert not (portal.home / "blobs").exists()


def test_data_export_without_a_platform_says_try_later(portal: Any) -> None:
    portal.sign_in(P4)
    page = portal.client.get("/case")
    r = portal.client.post("/case/export", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    assert "暂时无法连接平台" in r.text


def test_a_broken_form_gets_a_page_not_json(portal: Any) -> None:
    portal.sign_in(P4)
    r = portal.client.post("/case/appeal", data={"statement": "x" * 30_000, "csrf": "x"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert "表单已过期" in r.text
    api = portal.client.post("/api/v1/access/link", json={"case_number": 5})
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/json"


def test_two_appeals_at_the_same_instant_store_one(portal: Any) -> None:
    """Two forms of the same case (two tabs, two keys) sent at once: the database's
    one-open-appeal index lets one in, and the other request gets that appeal back."""
    from fairban.appeals.blobs import BlobStore
    from fairban.appeals.filing import submit_appeal

    with portal.session() as s:
        case_id = s.scalars(select(Case.id).where(Case.account_id == P4)).one()
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool]] = []

    def file(key: str) -> None:
        # before the session: SQLite sessions begin with the write lock (they meet
        # one after the other); PostgreSQL's meet at the unique index
        barrier.wait(timeout=30)
        with portal.session() as s:
            case = s.get(Case, case_id)
            appeal, created = submit_appeal(
                s,
                case,
                grounds=["other"],
                statement="",
                uploads=[],
                submit_key=key,
                lang="en",
                blobs=BlobStore(portal.home / "blobs"),
                settings=portal.settings,
            )
            s.commit()
            results.append((appeal.id, created))

    threads = [threading.Thread(target=file, args=(k,)) for k in ("tab-one-key", "tab-two-key")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created for _, created in results) == [False, True]
    assert len({appeal_id for appeal_id, _ in results}) == 1
    with portal.session() as s:
        assert len(s.scalars(select(Appeal).where(Appeal.case_id == case_id)).all()) == 1


def test_a_retry_after_the_case_moved_on_returns_the_first_appeal(portal: Any) -> None:
    """Once the re-check has taken the appeal in (the case is no longer appealable), a
    retry of the same form still gets its appeal, not a refusal."""
    portal.sign_in(F1)
    r1, data = file_appeal_form(portal, ["other"])
    assert run_rechecks(portal) == 1
    r2 = portal.client.post("/case/appeal", data=data, follow_redirects=False)
    assert r1.status_code == r2.status_code == 303
    with portal.session() as s:
        assert len(s.scalars(select(Appeal)).all()) == 1


def test_the_purge_deletes_what_can_no_longer_be_used(portal: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from fairban.appeals.models import OneTimeCode, PortalSession
    from fairban.appeals.sessions import purge
    from fairban.ratelimits import RateBucket

    portal.sign_in(P4)  # a session, a code (used), rate-limit windows
    now = datetime.now(UTC)
    with portal.session() as s:
        deleted = purge(s, now, rate_window_s=3600)
        s.commit()
        # now: only the used code goes; the session lives on, the windows have not ended
        assert deleted["one_time_codes"] == 1
        assert deleted["portal_sessions"] == 0
        assert s.scalars(select(OneTimeCode)).all() == []
        assert len(s.scalars(select(PortalSession)).all()) == 1
        assert s.scalars(select(RateBucket)).all() != []
    assert portal.client.get("/case").status_code == 200  # still signed in
    with portal.session() as s:
        deleted = purge(s, now + timedelta(days=30), rate_window_s=3600)
        s.commit()
        assert deleted["portal_sessions"] == 1
        assert s.scalars(select(PortalSession)).all() == []
        assert s.scalars(select(RateBucket)).all() == []


@pytest.mark.parametrize("settle_s", [0.0, 0.5], ids=["at-once", "closure-seen"])
def test_an_appeal_after_the_database_dropped_its_connections_files_once(
    portal: Any, settle_s: float
) -> None:
    """PostgreSQL restarted (here: the intake's backends terminated, found by their
    application_name; other tests' connections are left alone): the API's intake keeps
    no ping per request, so its pooled connection is found dead on use; it retries once
    on a fresh one, and the submit_key keeps the retry single. ``closure-seen``: the
    pool's event loop has seen the connection close before the next appeal (asyncpg
    then says "connection is closed" before sending anything)."""
    if not portal.url.startswith("postgresql"):
        pytest.skip("the intake's own path is PostgreSQL's")
    from sqlalchemy import text

    from fairban.web.api.intake import APPLICATION_NAME as INTAKE_APPLICATION_NAME

    c = portal.client
    auth = api_sign_in(portal, P4)
    body = {"grounds": ["other"], "submit_key": "after-a-restart-1"}
    # a first filing puts a connection in the intake's pool ...
    assert c.get("/api/v1/case", headers=auth).status_code == 200
    first = c.post("/api/v1/case/appeals", headers=auth, json={**body, "submit_key": "k-000001"})
    assert first.status_code == 201
    # ... which the database now drops
    with portal.session() as s:
        s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": INTAKE_APPLICATION_NAME},
        )
        s.commit()
    time.sleep(settle_s)
    again = c.post("/api/v1/case/appeals", headers=auth, json=body)
    assert again.status_code == 200, again.text  # the case's open appeal, not a 500
    assert again.json()["id"] == first.json()["id"]
    with portal.session() as s:
        assert len(s.scalars(select(Appeal)).all()) == 1


@pytest.mark.parametrize("fast", [True, False], ids=["own-path", "route"])
def test_the_intake_answers_as_the_route_does(
    new_db_url: str, tmp_path: Path, appeal_world: Any, fast: bool
) -> None:
    """On PostgreSQL the usual appeal takes the intake's own path (web.api.intake); with
    it off, FastAPI's route. The same requests get the same answers either way, and the
    own path really answered (its statement is the intake connections' last query)."""
    if not new_db_url.startswith("postgresql"):
        pytest.skip("the intake's own path is PostgreSQL's")
    from sqlalchemy import text

    from fairban.web.api.intake import APPLICATION_NAME

    portal_of = contextmanager(make_portal)
    with portal_of(new_db_url, tmp_path, appeal_world, fast_intake=fast) as portal:
        c = portal.client
        auth = api_sign_in(portal, P4)
        url = "/api/v1/case/appeals"

        def post(key: str, headers: dict[str, str] = auth, **extra: Any) -> Any:
            return c.post(
                url, headers=headers, json={"grounds": ["other"], "submit_key": key, **extra}
            )

        answers = [
            (r.status_code, r.json().get("detail"), r.headers.get("www-authenticate"))
            for r in (
                c.post(url, json={"grounds": ["other"], "submit_key": "no-bearer-1"}),
                post("bad-token-1", {"Authorization": "Bearer not-a-session"}),
            )
        ]
        assert answers == [(401, "no valid session", "Bearer")] * 2
        bad = post("bad-ground-1", grounds=["nope"])
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "grounds", 0]
        # another case's 120 appeals re-checked in the last minute: 2 a second
        with portal.session() as s:
            other = s.scalars(select(Case).where(Case.number != portal.seeded.numbers[P4])).first()
            assert other is not None
            done = datetime.now(UTC) - timedelta(seconds=20)
            s.add_all(
                Appeal(
                    case_id=other.id,
                    directive_id=other.directive_id,
                    submit_key=f"done-{i}",
                    grounds="[]",
                    state=AppealState.GRANTED,
                    filed_at=done,
                    answer_by=done + timedelta(hours=48),
                    rechecked_at=done,
                )
                for i in range(120)
            )
            s.commit()
        time.sleep(1.1)  # the intake promises from a measure at most a second old
        first = post("first-key-1", statement="  我从没去过云南  ")
        assert first.status_code == 201
        got = first.json()
        assert (got["state"], got["grounds"], got["decided_at"]) == ("received", ["other"], None)
        assert got["case_number"] == portal.seeded.numbers[P4]
        # promised from the measured drain: nothing ahead at 2 a second is half a second
        # (a constant minute before), on either path
        promised = datetime.fromisoformat(got["expected_decision"])
        filed = datetime.fromisoformat(got["filed_at"])
        assert timedelta(0) < promised - filed < timedelta(seconds=2)
        # the same key, then another form of the same case: the first appeal, stored once
        again = [post("first-key-1"), post("second-key-1")]
        assert [(r.status_code, r.json()["id"]) for r in again] == [(200, got["id"])] * 2
        # five appeals a window per case: the sixth is refused, saying how long to wait
        more = [post(f"more-key-{i}") for i in range(3)]
        assert [r.status_code for r in more] == [200, 200, 429]
        window = portal.settings.rate_window_s
        wait = int(more[-1].headers["retry-after"])
        assert 0 < wait <= window
        assert more[-1].json() == {"detail": "too many requests", "retry_after_s": wait}
        # the wait is the limiter's: a window begun earlier ends sooner
        with portal.session() as s:
            number = portal.seeded.numbers[P4]
            case_id = s.scalars(select(Case.id).where(Case.number == number)).one()
            key = sha256_hex(case_limit_key("appeal", case_id))
            s.execute(
                update(RateBucket)
                .where(RateBucket.key == key)
                .values(window_start=datetime.now(UTC) - timedelta(seconds=window - 100))
            )
            s.commit()
        later = post("more-key-9")
        assert later.status_code == 429
        assert 95 <= int(later.headers["retry-after"]) <= 100
        assert later.json()["retry_after_s"] == int(later.headers["retry-after"])
        with portal.session() as s:
            appeals = s.scalars(select(Appeal).where(~Appeal.submit_key.startswith("done-"))).all()
            assert [(a.submit_key, a.statement) for a in appeals] == [
                ("first-key-1", "我从没去过云南")
            ]
            last = (
                s.execute(
                    text("SELECT query FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": APPLICATION_NAME},
                )
                .scalars()
                .all()
            )
        assert any("counted" in q for q in last) is fast


def test_the_sms_bare_link_signs_in_with_one_code(portal: Any) -> None:
    """The SMS carries ``/c/{case}`` with no token: its page fills in the case number,
    shows the masked phone, and one code later the person is in."""
    c, number = portal.client, portal.seeded.numbers[P4]
    page = c.get(f"/c/{number}", follow_redirects=False)
    assert page.status_code == 200
    assert number in page.text
    assert "•••• " + portal.seeded.phones[P4][-4:] in page.text
    assert "fb_portal" not in page.cookies  # nothing is opened until the button
    r = c.post(f"/c/{number}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/verify?sent=link"
    verify = c.get("/verify?sent=link")
    assert "•••• " + portal.seeded.phones[P4][-4:] in verify.text
    r = c.post(
        "/verify",
        data={"csrf": csrf_of(verify.text), "code": portal.code(P4)},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/case"
    assert number in c.get("/case").text


def test_an_older_notices_link_still_leads_to_the_sign_in(portal: Any) -> None:
    """A new notice (a downgrade, say) replaces the token: the old link opens the
    case's sign-in by code, not a dead end."""
    from fairban.cases import links

    number = portal.seeded.numbers[P4]
    with portal.session() as session, session.begin():
        case = session.scalars(select(Case).where(Case.number == number)).one()
        links.issue_token(case)  # what the next notice does
    r = portal.client.get(f"/c/{number}", params={"t": portal.seeded.tokens[P4]})
    assert r.status_code == 200
    assert f'action="/c/{number}"' in r.text


def test_a_rate_limit_says_how_long_to_wait_and_the_language_switch_works(
    portal: Any,
) -> None:
    c, number = portal.client, portal.seeded.numbers[P4]
    limit = portal.settings.otp_requests_per_window
    for _ in range(limit):
        assert c.post(f"/c/{number}", follow_redirects=False).status_code == 303
    r = c.post(f"/c/{number}", follow_redirects=False)
    assert r.status_code == 429
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= portal.settings.rate_window_s
    minutes = -(-wait // 60)
    assert f"请在{minutes}分钟后" in r.text
    # the switch on that page leads to a page that loads (the 429 answered a POST)
    switch = re.search(r'href="(/lang/en\?next=[^"]*)"', r.text)
    assert switch is not None
    r = c.get(html.unescape(switch.group(1)))
    assert r.status_code == 200
    assert "Sign in to your case" in r.text


def test_the_json_apis_429_says_how_long_to_wait(portal: Any) -> None:
    """The JSON API shares the portal's limits and says the wait the same way: a
    ``Retry-After`` header and ``retry_after_s`` in the body, from the limiter's window."""
    c, number = portal.client, portal.seeded.numbers[P4]
    body = {"case_number": number, "phone": "+86 138 0000 0000"}
    for _ in range(portal.settings.otp_requests_per_window):
        assert c.post("/api/v1/access/phone", json=body).status_code == 202
    r = c.post("/api/v1/access/phone", json=body)
    assert r.status_code == 429
    wait = int(r.headers["Retry-After"])
    assert 0 < wait <= portal.settings.rate_window_s
    assert r.json() == {"detail": "too many requests", "retry_after_s": wait}


def test_the_case_page_promises_only_what_is_real_in_one_language(portal: Any) -> None:
    """Before filing, the deadline is counted from the filing (no instant made up from
    the page's own clock); the Chinese notice names the directive in Chinese; the notice
    stored when the measure came into force promises the same."""
    from fairban.cases.models import NoticeRecord

    portal.sign_in(P4)
    page = portal.client.get("/case").text
    assert "您提交申诉后，最迟48小时内" in page
    assert "缅北电信网络诈骗重点地区" in page
    assert "Inter-ministerial office" not in page
    assert "Notice of 14 October" not in page
    button = re.search(r'class="button appeal-button" href="([^"]+)"', page)
    assert button is not None
    assert button.group(1) == "#appeal-form"
    assert 'id="appeal-form"' in page
    en = portal.client.get("/case?lang=en").text
    assert "within 48 hours of filing your appeal" in en
    with portal.session() as session:
        case = session.scalars(select(Case).where(Case.number == portal.seeded.numbers[P4])).one()
        stored = session.scalars(select(NoticeRecord).where(NoticeRecord.case_id == case.id)).all()
    assert stored
    for notice in stored:
        said = (
            "您提交申诉后，最迟48小时内"
            if notice.locale == "zh-CN"
            else "within 48 hours of filing"
        )
        assert said in notice.long_text, notice.locale
    # once filed, the promise is the filing time plus the deadline, in Beijing time
    r, _ = file_appeal_form(portal, ["other"], statement="x")
    assert r.status_code == 303
    with portal.session() as session:
        appeal = session.scalars(select(Appeal).where(Appeal.case_id == case.id)).one()
        assert appeal.answer_by == appeal.filed_at + timedelta(hours=48)


def test_an_upheld_appeal_shows_the_reasons_the_accounts_and_what_next(portal: Any) -> None:
    """A person decided: the status page (and the case page) show the reviewer's
    written reason, each of the person's accounts as it is now, and the ways on."""
    from datetime import UTC, datetime

    from fairban.review.flows import approve, decide
    from fairban.review.models import ReviewAction, Role
    from fairban.review.users import add_user

    portal.sign_in(F1)
    r, _ = file_appeal_form(portal, ["other"], statement="The phone was sold.")
    assert r.status_code == 303
    assert run_rechecks(portal) == 1
    reason = "Seen on 26 nights in Laukkai in 2019; the sale receipt is dated 2020."
    with portal.session() as s, s.begin():
        now = datetime.now(UTC)
        rita = add_user(s, "rita", Role.REVIEWER, "correct horse battery", now)
        sam = add_user(s, "sam", Role.SENIOR, "correct horse battery", now)
        appeal = s.scalars(select(Appeal)).one()
        result = decide(s, appeal, rita, ReviewAction.UPHOLD, reason, portal.settings, now=now)
        if result.proposal is not None:  # four eyes: a senior agrees
            approve(s, result.proposal, sam, "agreed", portal.settings, now=now)
    for lang, said in (
        ("zh-CN", ("审核人员决定维持措施。", "人民法院", "打击治理电信网络新型违法犯罪")),
        ("en", ("A reviewer upheld the measure.", "people's court", "Inter-ministerial office")),
    ):
        page = html.unescape(portal.client.get("/case/status", params={"lang": lang}).text)
        assert 'data-state="upheld"' in page
        assert reason in page
        for words in said:
            assert words in page, (lang, words)
        accounts = page[page.index('id="decision-accounts"') :]
        assert F1 in accounts[: accounts.index("</ul>")]
        assert "appeal again" not in page.lower()  # an upheld case takes no new appeal
    case_page = html.unescape(portal.client.get("/case").text)
    assert reason in case_page
    notice = case_page[case_page.index('<section id="review">') :]
    assert reason in notice[: notice.index("</section>")]  # in the notice too


def test_a_refused_upload_keeps_what_was_typed_and_says_so_beside_the_field(
    portal: Any,
) -> None:
    portal.sign_in(P4)
    page = portal.client.get("/case").text
    hint = page.index('id="files-hint"')
    assert hint < page.index('id="files"')  # the limits come before the choice
    assert "HEIC" in page[hint : page.index("</p>", hint)]
    fake = [("files", ("photo.png", b"MZ\x90\x00 not an image", "image/png"))]
    statement = "我在重庆，从没去过云南。<b>不是HTML</b>"
    r, _ = file_appeal_form(portal, ["never_been_there", "victim"], statement=statement, files=fake)
    assert r.status_code == 400
    text = r.text
    assert html.escape(statement, quote=False) in text  # kept, and escaped
    assert 'value="never_been_there" aria-describedby="grounds-hint" checked' in text
    assert 'value="victim" aria-describedby="grounds-hint" checked' in text
    assert 'value="other" aria-describedby="grounds-hint">' in text  # not ticked
    field = text.index('id="files"')
    error = text.index('id="files-error"')
    assert 0 < error - field < 600  # right below the file field
    assert "不是照片或PDF" in text[error : text.index("</p>", error)]
    assert 'aria-describedby="files-hint files-error"' in text


def test_a_heic_photo_and_a_large_photo_are_taken(portal: Any) -> None:
    import io
    import os

    from PIL import Image

    heic = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 160, 90)).save(heic, format="HEIF")
    noise = Image.frombytes("RGB", (2600, 1950), os.urandom(2600 * 1950 * 3))
    large = io.BytesIO()
    noise.save(large, format="JPEG", quality=100)
    assert large.tell() > portal.settings.upload_max_bytes  # over the 5 MB limit
    portal.sign_in(P4)
    files = [
        ("files", ("IMG_0001.HEIC", heic.getvalue(), "image/heic")),
        ("files", ("IMG_0002.JPG", large.getvalue(), "image/jpeg")),
    ]
    r, _ = file_appeal_form(portal, ["other"], files=files)
    assert r.status_code == 303, r.text[-2000:]
    with portal.session() as s:
        stored = {u.filename: u for u in s.scalars(select(AppealUpload))}
    assert stored["IMG_0001.jpg"].media_type == "image/jpeg"
    assert stored["IMG_0002.JPG"].size <= portal.settings.upload_max_bytes
