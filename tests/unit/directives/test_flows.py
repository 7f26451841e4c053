"""Loading a directive's versions and its kill switch, on a real database (SQLite and
PostgreSQL): a new directive, the same one again, an amendment, a return to earlier
content; pausing and resuming, each once however often it is asked."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fairban.audit import AuditEntry, verify
from fairban.audit.actions import Action
from fairban.contract import Directive
from fairban.directives.content import directive_content
from fairban.directives.flows import load_version, pause_directive, resume_directive
from fairban.directives.models import DirectiveRecord, DirectiveVersion
from fairban.directives.service import directive_version, get_directive
from fairban.errors import NotFoundError
from tests.support.cases import NOW, make_directive

ACTOR = "operator:test"


def versions(session: Session, directive_id: str = "test-2019-mm") -> list[int]:
    query = select(DirectiveVersion.version).where(DirectiveVersion.directive_id == directive_id)
    return list(session.scalars(query.order_by(DirectiveVersion.version)))


def entries(session: Session, action: Action) -> list[dict[str, object]]:
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return [json.loads(e.payload) for e in session.scalars(query)]


def test_a_new_directive_is_version_1(session: Session, directive: Directive) -> None:
    loaded = load_version(session, directive, actor=ACTOR, now=NOW)
    assert (loaded.record.id, loaded.record.current_version) == (directive.id, 1)
    assert loaded.previous is None
    assert loaded.new_content
    assert not loaded.record.paused
    assert loaded.record.title == directive.title
    assert versions(session) == [1]
    stored = directive_version(session, directive.id, 1)
    assert stored is not None
    assert (stored.content, stored.content_hash) == directive_content(directive)
    assert stored.loaded_by == ACTOR
    (entry,) = entries(session, Action.DIRECTIVE_VERSION_LOAD)
    assert entry["version"] == 1
    assert entry["previous"] is None
    assert entry["areas"] == ["Laukkai", "Mong La"]


def test_the_same_directive_again_changes_nothing(
    session: Session, tmp_path: Path, directive: Directive
) -> None:
    load_version(session, directive, actor=ACTOR, now=NOW)
    again = make_directive(tmp_path / "copy")  # another file, the same content
    loaded = load_version(session, again, actor=ACTOR, now=NOW + timedelta(days=1))
    assert loaded.record.current_version == 1
    assert loaded.previous is None
    assert not loaded.new_content
    assert versions(session) == [1]
    assert len(entries(session, Action.DIRECTIVE_VERSION_LOAD)) == 1


def test_an_amendment_is_the_next_version(
    session: Session, tmp_path: Path, directive: Directive
) -> None:
    load_version(session, directive, actor=ACTOR, now=NOW)
    amended = make_directive(tmp_path / "v2", areas=("Laukkai",), title="Amended: Laukkai only")
    loaded = load_version(session, amended, actor=ACTOR, now=NOW + timedelta(days=1))
    assert loaded.record.current_version == 2
    assert loaded.previous == 1
    assert loaded.new_content
    assert loaded.record.title == "Amended: Laukkai only"
    assert versions(session) == [1, 2]
    first, second = entries(session, Action.DIRECTIVE_VERSION_LOAD)
    assert (second["version"], second["previous"]) == (2, 1)
    assert second["areas"] == ["Laukkai"]
    assert first["content_hash"] != second["content_hash"]


def test_back_to_earlier_content_makes_that_version_current_again(
    session: Session, tmp_path: Path, directive: Directive
) -> None:
    load_version(session, directive, actor=ACTOR, now=NOW)
    load_version(session, make_directive(tmp_path / "v2", areas=("Laukkai",)), actor=ACTOR, now=NOW)
    loaded = load_version(session, make_directive(tmp_path / "v1"), actor=ACTOR, now=NOW)
    assert loaded.record.current_version == 1
    assert loaded.previous == 2
    assert not loaded.new_content  # version 1's content, stored once
    assert versions(session) == [1, 2]
    back = entries(session, Action.DIRECTIVE_VERSION_LOAD)[-1]
    assert (back["version"], back["previous"]) == (1, 2)
    assert back["content_hash"] == directive_content(directive)[1]
    # and forward again: version 2, no third version
    forward = load_version(
        session, make_directive(tmp_path / "v2b", areas=("Laukkai",)), actor=ACTOR, now=NOW
    )
    assert (forward.record.current_version, forward.previous) == (2, 1)
    assert versions(session) == [1, 2]
    assert verify(session).ok


def test_directives_are_versioned_apart(
    session: Session, tmp_path: Path, directive: Directive
) -> None:
    other = make_directive(tmp_path / "other", directive_id="test-2019-other")
    load_version(session, directive, actor=ACTOR, now=NOW)
    loaded = load_version(session, other, actor=ACTOR, now=NOW)
    assert loaded.record.current_version == 1
    assert versions(session, "test-2019-other") == [1]
    assert versions(session) == [1]


def test_pause_and_resume_each_happen_once(session: Session, directive: Directive) -> None:
    load_version(session, directive, actor=ACTOR, now=NOW)
    pause_directive(session, directive.id, actor=ACTOR, reason="too many appeals", now=NOW)
    pause_directive(session, directive.id, actor="operator:other", reason="again", now=NOW)
    record = get_directive(session, directive.id)
    assert record.paused
    assert (record.paused_by, record.pause_reason) == (ACTOR, "too many appeals")
    assert record.paused_at == NOW
    (paused,) = entries(session, Action.DIRECTIVE_PAUSE)
    assert paused == {"reason": "too many appeals", "version": 1}

    later = NOW + timedelta(hours=2)
    resume_directive(session, directive.id, actor=ACTOR, now=later)
    resume_directive(session, directive.id, actor=ACTOR, now=later)
    assert not record.paused
    assert (record.paused_at, record.paused_by, record.pause_reason) == (None, None, None)
    (resumed,) = entries(session, Action.DIRECTIVE_RESUME)
    assert resumed == {
        "resumed_at": "2019-10-15T06:00:00Z",
        "paused_at": "2019-10-15T04:00:00Z",
        "paused_by": ACTOR,
        "reason": "too many appeals",
    }
    assert verify(session).ok


def test_a_paused_directive_stays_paused_through_an_amendment(
    session: Session, tmp_path: Path, directive: Directive
) -> None:
    load_version(session, directive, actor=ACTOR, now=NOW)
    pause_directive(session, directive.id, actor=ACTOR, reason="review", now=NOW)
    loaded = load_version(
        session, make_directive(tmp_path / "v2", areas=("Laukkai",)), actor=ACTOR, now=NOW
    )
    assert loaded.record.current_version == 2
    assert loaded.record.paused


def test_an_unknown_directive_cannot_be_paused_or_resumed(session: Session) -> None:
    with pytest.raises(NotFoundError, match="no directive 'nope' in the case store"):
        pause_directive(session, "nope", actor=ACTOR, reason="x")
    with pytest.raises(NotFoundError, match="fairban enforce"):
        resume_directive(session, "nope", actor=ACTOR)
    assert session.get(DirectiveRecord, "nope") is None
    assert entries(session, Action.DIRECTIVE_PAUSE) == []
