"""The gazetteer's rows kept in a cache file: read back, they are the rows made from
GeoNames and the polygons, exactly; a file cut short or edited is made again; a cache
that cannot be written costs only the time."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairban.geo import places


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "fairban"


def test_the_cached_rows_are_the_rows_made(cache: Path) -> None:
    made = places._rows()
    (kept,) = cache.glob("gazetteer-*.json")
    assert places._rows() == made == places._made_rows()
    assert len(made) > 17_000
    assert {r[1] for r in made} == {"CN", "MM", "TH", "LA"}
    assert kept.stat().st_size > 1_000_000


def test_a_damaged_cache_file_is_made_again(cache: Path) -> None:
    made = places._rows()
    (kept,) = cache.glob("gazetteer-*.json")
    for damage in ('[["Laukkai", "MM"]]', "[]", '{"rows": 1}', '[["cut short'):
        kept.write_text(damage)
        assert places._rows() == made
        assert kept.stat().st_size > 1_000_000  # and written whole again


def test_a_cache_that_cannot_be_written_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert places._rows() == places._made_rows()
