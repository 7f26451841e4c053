"""A directive's canonical content: what a version is, byte for byte, and back."""

from __future__ import annotations

import json
from pathlib import Path

from fairban.directives.content import directive_content, directive_from_content
from tests.support.cases import make_directive


def test_the_content_hash_changes_with_the_areas_and_nothing_else(tmp_path: Path) -> None:
    one = directive_content(make_directive(tmp_path / "a"))
    again = directive_content(make_directive(tmp_path / "b"))
    shrunk = directive_content(make_directive(tmp_path / "c", areas=("Laukkai",)))
    expiring = directive_content(make_directive(tmp_path / "d", measure_days=90))
    assert one == again  # another file, the same content
    assert len({one[1], shrunk[1], expiring[1]}) == 3
    doc = json.loads(one[0])
    assert [a["name"] for a in doc["areas"]] == ["Laukkai", "Mong La"]
    assert doc["issued_at"] == "2019-10-13T16:00:00+00:00"
    assert "measure_days" not in doc
    assert json.loads(expiring[0])["measure_days"] == 90


def test_a_stored_version_reads_back_as_the_same_directive(tmp_path: Path) -> None:
    for name, kw in (
        ("both", {}),
        ("one", {"areas": ("Laukkai",), "platforms": ("wechat",)}),
        ("expiring", {"measure_days": 90}),
    ):
        directive = make_directive(tmp_path / name, **kw)
        content, digest = directive_content(directive)
        back = directive_from_content(content)
        assert directive_content(back) == (content, digest)  # byte for byte, hash and all
        assert back.id == directive.id
        assert back.issued_at == directive.issued_at
        assert back.platforms == directive.platforms
        assert back.measure_days == directive.measure_days
        assert [a.name for a in back.areas] == [a.name for a in directive.areas]
        for a, b in zip(back.areas, directive.areas, strict=True):
            assert a.geometry.equals(b.geometry)
