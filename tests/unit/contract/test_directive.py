"""Directives: loading, areas from a file or inline, and every error a person can make."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic
import pytest

from fairban.contract import Directive, load_directive
from fairban.errors import InputError

CN = timezone(timedelta(hours=8))

DIRECTIVE = """\
id: cn-mps-2019-10-14-mm-north       # unique; appears in notices and reports
title: Northern Myanmar telecom-fraud areas
issuer: Inter-ministerial office against telecom and online fraud
legal_basis: Notice of 14 October 2019
issued_at: 2019-10-14T00:00:00+08:00 # evidence is judged as of this instant
lookback_days: 180                   # evidence window: (issued_at - lookback_days, issued_at]
platforms: [qq, wechat, alipay, pos] # accounts of other platforms are out of scope
areas: areas.geojson                 # a path relative to this file
"""


def box(west: float, south: float, east: float, north: float) -> list[list[list[float]]]:
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def feature(name: Any, geometry: Any) -> dict[str, Any]:
    properties = {} if name is None else {"name": name}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(rings: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": rings}


LAUKKAI = feature("Laukkai", polygon(box(98.8, 22.9, 99.2, 23.1)))
MYAWADDY = feature(
    "Myawaddy",
    {
        "type": "MultiPolygon",
        "coordinates": [box(98.4, 16.6, 98.6, 16.8), box(98.7, 16.6, 98.8, 16.7)],
    },
)


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def write(tmp_path: Path, text: str = DIRECTIVE, areas: Any = None) -> Path:
    if areas is None:
        areas = collection(LAUKKAI, MYAWADDY)
    (tmp_path / "areas.geojson").write_text(
        areas if isinstance(areas, str) else json.dumps(areas, indent=1)
    )
    path = tmp_path / "directive.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_directive(path)
    return str(caught.value)


def with_key(key: str, value: str | None) -> str:
    """DIRECTIVE with ``key`` set to the YAML ``value`` (None: the key left out)."""
    lines = [line for line in DIRECTIVE.splitlines() if not line.startswith(f"{key}:")]
    if value is not None:
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def test_loads_the_contract_example(tmp_path: Path) -> None:
    directive = load_directive(write(tmp_path))
    assert directive.id == "cn-mps-2019-10-14-mm-north"
    assert directive.issued_at == datetime(2019, 10, 14, tzinfo=CN)
    assert directive.window_end == directive.issued_at
    assert directive.window_start == datetime(2019, 4, 17, tzinfo=CN)
    assert directive.platforms == ("qq", "wechat", "alipay", "pos")
    assert [a.name for a in directive.areas] == ["Laukkai", "Myawaddy"]
    assert directive.areas[1].geometry.geom_type == "MultiPolygon"
    assert directive.source == tmp_path / "directive.yaml"
    # 0.4° x 0.2° at 23°N is about 41 km x 22 km
    assert 880 < directive.areas[0].km2 < 920


def test_a_directive_is_frozen(tmp_path: Path) -> None:
    directive = load_directive(write(tmp_path))
    with pytest.raises(pydantic.ValidationError):
        directive.lookback_days = 1  # type: ignore[misc]


def test_areas_may_be_inline(tmp_path: Path) -> None:
    inline = json.dumps(collection(LAUKKAI))
    directive = load_directive(write(tmp_path, with_key("areas", inline)))
    assert [a.name for a in directive.areas] == ["Laukkai"]


def test_areas_path_is_relative_to_the_directive(tmp_path: Path) -> None:
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "north.geojson").write_text(json.dumps(collection(LAUKKAI)))
    directive = load_directive(write(tmp_path, with_key("areas", "geo/north.geojson")))
    assert directive.areas[0].name == "Laukkai"


def test_holes_are_taken_out_of_the_area(tmp_path: Path) -> None:
    outer = box(98.0, 22.0, 99.0, 23.0)[0]
    hole = box(98.2, 22.2, 98.4, 22.4)[0]
    plain = load_directive(write(tmp_path, areas=collection(feature("A", polygon([outer])))))
    holed = load_directive(write(tmp_path, areas=collection(feature("A", polygon([outer, hole])))))
    assert holed.areas[0].km2 == pytest.approx(plain.areas[0].km2 * (1 - 0.04), rel=0.01)


def test_extension_keys_come_from_the_model() -> None:
    assert Directive.keys() == (
        "id",
        "title",
        "issuer",
        "legal_basis",
        "issued_at",
        "lookback_days",
        "platforms",
        "areas",
        "thresholds",
        "measure_days",
        "until",
        "territorial_scope",
        "translations",
    )


KEY_ERRORS = [
    (
        "foo",
        "1",
        "key 'foo': unknown key (known: id, title, issuer, legal_basis, issued_at, "
        "lookback_days, platforms, areas, thresholds, measure_days, until, territorial_scope, "
        "translations)",
    ),
    (
        "source",
        "x",
        "key 'source': unknown key (known: id, title, issuer, legal_basis, issued_at, "
        "lookback_days, platforms, areas, thresholds, measure_days, until, territorial_scope, "
        "translations)",
    ),
    ("issued_at", None, "missing required key 'issued_at'"),
    ("lookback_days", "abc", "key 'lookback_days': expected a positive integer, got 'abc'"),
    ("lookback_days", "0", "key 'lookback_days': expected a positive integer, got 0"),
    ("lookback_days", "-5", "key 'lookback_days': expected a positive integer, got -5"),
    ("lookback_days", "1.5", "key 'lookback_days': expected a positive integer, got 1.5"),
    ("lookback_days", "true", "key 'lookback_days': expected a positive integer, got True"),
    ("lookback_days", "'180'", "key 'lookback_days': expected a positive integer, got '180'"),
    (
        "issued_at",
        "2019-10-14T00:00:00",
        "key 'issued_at': expected a date and time with a time-zone offset, "
        "e.g. 2019-10-14T00:00:00+08:00, got '2019-10-14T00:00:00'",
    ),
    (
        "issued_at",
        "2019-10-14",
        "key 'issued_at': expected a date and time with a time-zone offset, "
        "e.g. 2019-10-14T00:00:00+08:00, got '2019-10-14'",
    ),
    (
        "issued_at",
        "2019",
        "key 'issued_at': expected a date and time with a time-zone offset, "
        "e.g. 2019-10-14T00:00:00+08:00, got 2019",
    ),
    ("id", "123", "key 'id': expected a non-empty string, unique per directive, got 123"),
    ("title", "''", "key 'title': expected a non-empty string, got ''"),
    ("issuer", None, "missing required key 'issuer'"),
    (
        "platforms",
        "[]",
        "key 'platforms': expected a non-empty list of lowercase platform names, got []",
    ),
    (
        "platforms",
        "qq",
        "key 'platforms': expected a non-empty list of lowercase platform names, got 'qq'",
    ),
    (
        "platforms",
        "[qq, 7]",
        "key 'platforms': expected a non-empty list of lowercase platform names, got ['qq', 7]",
    ),
    (
        "platforms",
        "[qq, WeChat]",
        "key 'platforms': 'WeChat' is not a lowercase name (letters a-z, digits, '_' or '-')",
    ),
    ("platforms", "[qq, wechat, qq]", "key 'platforms': 'qq' is listed twice"),
    (
        "areas",
        "12",
        "key 'areas': expected a path (relative to the directive) to a GeoJSON "
        "FeatureCollection, or an inline FeatureCollection, got 12",
    ),
]


@pytest.mark.parametrize(("key", "value", "message"), KEY_ERRORS)
def test_a_bad_key(tmp_path: Path, key: str, value: str | None, message: str) -> None:
    path = write(tmp_path, with_key(key, value))
    sep = " " if message.startswith("key") else ": "
    assert error_of(path) == f"directive.yaml{sep}{message}"


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error_of(path) == f"{path}: file not found"


def test_unreadable_yaml_gives_the_line(tmp_path: Path) -> None:
    text = DIRECTIVE.replace("title: Northern", "title: [Northern")
    assert error_of(write(tmp_path, text)).startswith(
        "directive.yaml line 3: could not parse YAML: "
    )


def test_a_key_given_twice(tmp_path: Path) -> None:
    text = DIRECTIVE + "lookback_days: 90\n"
    assert error_of(write(tmp_path, text)) == (
        "directive.yaml line 9: could not parse YAML: key 'lookback_days' appears twice"
    )


def test_not_a_mapping(tmp_path: Path) -> None:
    assert error_of(write(tmp_path, "- id\n- title\n")) == (
        "directive.yaml: expected a mapping of keys (id, title, issuer, legal_basis, issued_at, "
        "lookback_days, platforms, areas, thresholds, measure_days, until, territorial_scope, "
        "translations), "
        "got a list"
    )


AREA_ERRORS = [
    (collection(), "areas.geojson: the FeatureCollection has no features"),
    (LAUKKAI, "areas.geojson: expected a GeoJSON FeatureCollection, got type 'Feature'"),
    ([LAUKKAI], "areas.geojson: expected a GeoJSON FeatureCollection, got a list"),
    (
        collection(LAUKKAI, polygon(box(0, 0, 1, 1))),
        "areas.geojson feature 2: expected a GeoJSON Feature, got type 'Polygon'",
    ),
    (
        collection(feature("Laukkai", {"type": "Point", "coordinates": [98.9, 23.0]})),
        "areas.geojson feature 1 ('Laukkai'): geometry type 'Point' is not Polygon or MultiPolygon",
    ),
    (
        collection(MYAWADDY, feature("Laukkai", polygon([box(98.8, 22.9, 99.2, 23.1)[0][:-1]]))),
        "areas.geojson feature 2 ('Laukkai'): ring 0 does not close",
    ),
    (
        collection(feature("A", polygon([[[0, 0], [1, 0], [0, 0]]]))),
        "areas.geojson feature 1 ('A'): ring 0 has 3 positions, a closed ring needs at least 4",
    ),
    (
        collection(feature("A", polygon([[[0, 0], [1, 0], [1, 95], [0, 0]]]))),
        "areas.geojson feature 1 ('A'): ring 0 position 3: lat 95 is outside [-90, 90]",
    ),
    (
        collection(feature("A", polygon([[[0, 0], [181, 0], [1, 1], [0, 0]]]))),
        "areas.geojson feature 1 ('A'): ring 0 position 2: lon 181 is outside [-180, 180]",
    ),
    (
        collection(feature("A", polygon([[[0, 0], ["1", 0], [1, 1], [0, 0]]]))),
        "areas.geojson feature 1 ('A'): ring 0 position 2: expected [lon, lat], got ['1', 0]",
    ),
    (
        collection(feature("A", polygon([[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]))),
        "areas.geojson feature 1 ('A'): polygon is not valid: Self-intersection[0.5 0.5]",
    ),
    (
        collection(feature("A", polygon([box(0, 0, 4, 4)[0], [[1, 1], [2, 1], [2, 2], [1, 2]]]))),
        "areas.geojson feature 1 ('A'): ring 1 does not close",
    ),
    (
        collection(
            feature(
                "A",
                {
                    "type": "MultiPolygon",
                    "coordinates": [box(0, 0, 1, 1), [box(2, 2, 3, 3)[0][:-1]]],
                },
            )
        ),
        "areas.geojson feature 1 ('A'): polygon 2 ring 0 does not close",
    ),
    (
        collection(
            feature(
                "A", {"type": "MultiPolygon", "coordinates": [box(0, 0, 2, 2), box(1, 1, 3, 3)]}
            )
        ),
        "areas.geojson feature 1 ('A'): geometry is not valid: Self-intersection[1 2]",
    ),
    (
        collection(feature(None, polygon(box(0, 0, 1, 1)))),
        "areas.geojson feature 1: missing 'name' property",
    ),
    (
        collection(feature("  ", polygon(box(0, 0, 1, 1)))),
        "areas.geojson feature 1: 'name' property must be a non-empty string, got '  '",
    ),
    (
        collection(feature(7, polygon(box(0, 0, 1, 1)))),
        "areas.geojson feature 1: 'name' property must be a non-empty string, got 7",
    ),
    (
        collection(feature("A", polygon(box(0, 0, 1, 1))), feature("A", polygon(box(2, 2, 3, 3)))),
        "areas.geojson feature 2 ('A'): name 'A' is also used by feature 1",
    ),
    (collection(feature("A", None)), "areas.geojson feature 1 ('A'): has no geometry"),
    (
        '{"type": "FeatureCollection",\n "features": [}',
        "areas.geojson line 2: not valid JSON: Expecting value (column 15)",
    ),
]


@pytest.mark.parametrize(("areas", "message"), AREA_ERRORS)
def test_a_bad_area(tmp_path: Path, areas: Any, message: str) -> None:
    assert error_of(write(tmp_path, areas=areas)) == message


def test_a_bad_inline_area_names_the_key(tmp_path: Path) -> None:
    broken = collection(feature("Laukkai", polygon([box(98.8, 22.9, 99.2, 23.1)[0][:-1]])))
    path = write(tmp_path, with_key("areas", json.dumps(broken)))
    assert (
        error_of(path) == "directive.yaml key 'areas' feature 1 ('Laukkai'): ring 0 does not close"
    )


def test_a_missing_areas_file(tmp_path: Path) -> None:
    path = write(tmp_path, with_key("areas", "nope.geojson"))
    assert error_of(path) == (
        f"directive.yaml key 'areas': file 'nope.geojson' not found (looked in {tmp_path})"
    )


def test_issued_at_may_be_quoted(tmp_path: Path) -> None:
    directive = load_directive(write(tmp_path, with_key("issued_at", "'2019-10-14T00:00:00Z'")))
    assert directive.issued_at == datetime(2019, 10, 14, tzinfo=UTC)


def test_until_says_how_long_a_directive_stands(tmp_path: Path) -> None:
    standing = load_directive(write(tmp_path, DIRECTIVE + "until: 2020-04-14T00:00:00+08:00\n"))
    assert standing.until == datetime(2020, 4, 14, tzinfo=CN)
    assert standing.stands_at(datetime(2020, 4, 14, tzinfo=CN))
    assert not standing.stands_at(datetime(2020, 4, 14, 0, 0, 1, tzinfo=CN))
    assert not standing.stands_at(datetime(2019, 10, 13, tzinfo=CN))  # not yet issued
    with pytest.raises(InputError) as before:
        load_directive(write(tmp_path, DIRECTIVE + "until: 2019-10-01T00:00:00+08:00\n"))
    assert str(before.value) == (
        "directive.yaml key 'until': 2019-10-01T00:00:00+08:00 is not after issued_at "
        "2019-10-14T00:00:00+08:00"
    )
    with pytest.raises(InputError, match="key 'until': not a date and time"):
        load_directive(write(tmp_path, DIRECTIVE + "until: 2020-04-14\n"))


def test_territorial_scope_names_eea_countries(tmp_path: Path) -> None:
    scoped = load_directive(write(tmp_path, DIRECTIVE + "territorial_scope: [nl, DE]\n"))
    assert scoped.territorial_scope == ("DE", "NL")
    assert load_directive(write(tmp_path, DIRECTIVE)).territorial_scope is None
    for value, said in (
        ("[CN]", "'CN' is not an EEA country code"),
        ("[DE, de]", "'de' is listed twice"),
        ("[]", "a non-empty list of EEA country codes"),
        ("DE", "a non-empty list of EEA country codes"),
    ):
        with pytest.raises(InputError) as refused:
            load_directive(write(tmp_path, DIRECTIVE + f"territorial_scope: {value}\n"))
        assert str(refused.value).startswith("directive.yaml key 'territorial_scope': "), value
        assert said in str(refused.value), (value, str(refused.value))


def test_translations_give_the_directives_words_per_language(tmp_path: Path) -> None:
    text = DIRECTIVE + (
        "translations:\n"
        "  zh-CN:\n"
        "    title: 缅北电信诈骗窝点地区\n"
        "    issuer: 打击治理电信网络新型违法犯罪工作部际联席会议办公室\n"
        "    legal_basis: 2019年10月14日通告\n"
        "  fr: {title: Zones de fraude}\n"
    )
    d = load_directive(write(tmp_path, text))
    assert d.translated()["zh-CN"]["issuer"].startswith("打击治理")
    assert d.translated()["fr"] == {"title": "Zones de fraude"}
    assert load_directive(write(tmp_path, DIRECTIVE)).translations is None
    for value, said in (
        ("{zh-CN: {motto: x}}", "zh-CN: unknown key 'motto'"),
        ("{zh-CN: {title: ''}}", "zh-CN.title: a non-empty string"),
        ("{'Chinese!': {title: x}}", "is not a language tag"),
        ("{}", "a non-empty mapping"),
        ("{zh-CN: x}", "zh-CN: a mapping of title"),
    ):
        with pytest.raises(InputError) as refused:
            load_directive(write(tmp_path, DIRECTIVE + f"translations: {value}\n"))
        assert str(refused.value).startswith("directive.yaml key 'translations': "), value
        assert said in str(refused.value), (value, str(refused.value))
