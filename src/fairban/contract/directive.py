"""Directives: the machine-readable form of an authority's notice (data contract).

``load_directive`` reads the YAML file, checks every key and the areas, and returns a
frozen ``Directive``, or raises ``InputError`` naming the file and the key (or line, or
area feature) at fault. The keys a directive may hold are the fields of ``Directive``
and nothing else: to add a key, add a field with a ``description`` (what a valid value
looks like, used in error messages) and, if needed, a validator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from shapely.geometry.base import BaseGeometry

from fairban.contract.schema import PLATFORM_NAME
from fairban.errors import InputError
from fairban.geo.shapes import geodesic_km2, polygonal_from_geojson
from fairban.measures import HARM_MEASURES

#: what a directive's ``translations`` may give per language
TRANSLATED = ("title", "issuer", "legal_basis")
#: a language tag as the translations name them: ``zh-CN``, ``zh-Hans``, ``en``
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def words_in(
    translations: Mapping[str, Mapping[str, str]], lang: str, own: tuple[str, str, str]
) -> tuple[str, str, str]:
    """A directive's title, issuer and legal basis in ``lang`` (``zh-CN`` also finds
    ``zh``), each falling back to the directive's own (``own``)."""
    found = translations.get(lang) or translations.get(lang.split("-")[0]) or {}
    return (
        found.get("title") or own[0],
        found.get("issuer") or own[1],
        found.get("legal_basis") or own[2],
    )


#: the countries a DSA statement's ``territorial_scope`` may name: the EEA
#: (``EuropeanCountriesService::EUROPEAN_COUNTRY_CODES`` of the Transparency Database)
EEA_COUNTRY_CODES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IS",
        "IT",
        "LI",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


@dataclass(frozen=True)
class Area:
    """One named area of a directive: a valid lon/lat Polygon or MultiPolygon."""

    name: str
    geometry: BaseGeometry
    km2: float


def _reject_non_datetime(value: object) -> object:
    # pydantic's lax datetime would read 2019 as seconds since 1970
    if isinstance(value, str | datetime):
        return value
    raise ValueError("not a date and time")


class RiskThresholds(BaseModel):
    """The extension key ``thresholds``: risk tiers and signal thresholds of targeting.

    Every entry is optional (targeting has defaults); tiers lie in (0, 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    monitor: Annotated[float | None, Field(gt=0, lt=1)] = None
    restrict: Annotated[float | None, Field(gt=0, lt=1)] = None
    suspend: Annotated[float | None, Field(gt=0, le=1)] = None
    sustained_nights: Annotated[float | None, Field(gt=0)] = None
    outreach_contacts: Annotated[int | None, Field(gt=0)] = None
    outreach_provinces: Annotated[int | None, Field(gt=0)] = None
    outreach_answer_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    mule_senders: Annotated[int | None, Field(gt=0)] = None
    mule_forwards: Annotated[int | None, Field(gt=0)] = None
    operation_operators: Annotated[int | None, Field(gt=0)] = None
    #: kind of harm -> the strongest measure it calls for (``fairban.measures.HARM_MEASURES``)
    measures: dict[str, Literal["monitor", "restrict", "suspend"]] | None = None

    @field_validator("measures")
    @classmethod
    def _known_harms(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for harm in value or {}:
            if harm not in HARM_MEASURES:
                raise ValueError(
                    f"unknown kind of harm {harm!r} (known: {', '.join(HARM_MEASURES)})"
                )
        return value

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Directive(BaseModel):
    """A validated directive. Its YAML keys are exactly these fields, less ``source``.

    ``issued_at`` is time-zone aware; ``platforms`` are distinct lowercase names;
    ``areas`` holds at least one area with a unique name. The evidence window is
    ``(window_start, window_end]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: Annotated[
        str,
        Field(strict=True, min_length=1, description="a non-empty string, unique per directive"),
    ]
    title: Annotated[str, Field(strict=True, min_length=1, description="a non-empty string")]
    issuer: Annotated[str, Field(strict=True, min_length=1, description="a non-empty string")]
    legal_basis: Annotated[str, Field(strict=True, min_length=1, description="a non-empty string")]
    issued_at: Annotated[
        AwareDatetime,
        Field(
            description="a date and time with a time-zone offset, e.g. 2019-10-14T00:00:00+08:00"
        ),
    ]
    lookback_days: Annotated[int, Field(strict=True, gt=0, description="a positive integer")]
    platforms: Annotated[
        tuple[Annotated[str, Field(strict=True)], ...],
        Field(min_length=1, description="a non-empty list of lowercase platform names"),
    ]
    areas: Annotated[
        tuple[Area, ...],
        Field(
            min_length=1,
            description="a path (relative to the directive) to a GeoJSON FeatureCollection, "
            "or an inline FeatureCollection",
        ),
    ]
    thresholds: Annotated[
        RiskThresholds | None,
        Field(
            description="a mapping of risk tiers (monitor, restrict, suspend), signal "
            "thresholds (sustained_nights, outreach_contacts, outreach_provinces, "
            "outreach_answer_rate, mule_senders, mule_forwards, operation_operators) and "
            "measures (kind of "
            "harm -> monitor, restrict or suspend)"
        ),
    ] = None
    measure_days: Annotated[
        int | None,
        Field(
            strict=True,
            gt=0,
            description="a positive whole number of days after which a measure ends by itself "
            "(none: until lifted)",
        ),
    ] = None
    until: Annotated[
        AwareDatetime | None,
        Field(
            description="a date and time with a time-zone offset after issued_at, until which "
            "the directive stands (none: until withdrawn); after it every measure it imposed "
            "ends, with a notice"
        ),
    ] = None
    territorial_scope: Annotated[
        tuple[str, ...] | None,
        Field(
            description="a list of EEA country codes (e.g. [DE, NL]) where the measures also "
            "apply, for the DSA statements of platforms that serve the EEA (none: the "
            "statements name no territory)"
        ),
    ] = None
    translations: Annotated[
        tuple[tuple[str, tuple[tuple[str, str], ...]], ...] | None,
        Field(
            description="a mapping of language tags (e.g. zh-CN) to the directive's title, "
            "issuer and legal_basis in that language (any of the three), for the notices "
            "in that language (none: notices say them as the directive does)"
        ),
    ] = None
    source: Annotated[Path, Field(description="the YAML file the directive was read from")]

    @field_validator("translations", mode="before")
    @classmethod
    def _translations(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not value:
            raise ValueError("a non-empty mapping of language tags to {title, issuer, legal_basis}")
        out: dict[str, dict[str, str]] = {}
        for tag, words in value.items():
            if not isinstance(tag, str) or LANGUAGE_TAG.fullmatch(tag) is None:
                raise ValueError(f"{tag!r} is not a language tag such as zh-CN or en")
            if not isinstance(words, Mapping) or not words:
                raise ValueError(f"{tag}: a mapping of title, issuer and/or legal_basis")
            for key, text in words.items():
                if key not in TRANSLATED:
                    raise ValueError(f"{tag}: unknown key {key!r} (known: {', '.join(TRANSLATED)})")
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"{tag}.{key}: a non-empty string")
            out[tag] = {k: str(v).strip() for k, v in words.items()}
        # pairs, sorted: the model stays hashable and its content canonical
        return tuple((tag, tuple(sorted(words.items()))) for tag, words in sorted(out.items()))

    def translated(self) -> dict[str, dict[str, str]]:
        """``translations`` as a mapping: language tag -> {title, issuer, legal_basis}."""
        return {tag: dict(words) for tag, words in self.translations or ()}

    def words(self, lang: str) -> tuple[str, str, str]:
        """Title, issuer and legal basis in ``lang`` (:func:`words_in`)."""
        own = (self.title, self.issuer, self.legal_basis)
        return words_in(self.translated(), lang, own)

    @field_validator("territorial_scope", mode="before")
    @classmethod
    def _eea_countries(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("a non-empty list of EEA country codes, e.g. [DE, NL]")
        codes: list[str] = []
        for code in value:
            if not isinstance(code, str) or code.upper() not in EEA_COUNTRY_CODES:
                raise ValueError(
                    f"{code!r} is not an EEA country code (the DSA database takes "
                    f"{', '.join(sorted(EEA_COUNTRY_CODES))})"
                )
            if code.upper() in codes:
                raise ValueError(f"{code!r} is listed twice")
            codes.append(code.upper())
        return tuple(sorted(codes))

    @field_validator("issued_at", "until", mode="before")
    @classmethod
    def _is_a_datetime(cls, value: object) -> object:
        return value if value is None else _reject_non_datetime(value)

    @field_validator("until")
    @classmethod
    def _until_is_after_issued_at(
        cls, value: datetime | None, info: ValidationInfo
    ) -> datetime | None:
        issued = info.data.get("issued_at")
        if value is not None and isinstance(issued, datetime) and value <= issued:
            raise ValueError(f"{value.isoformat()} is not after issued_at {issued.isoformat()}")
        return value

    def stands_at(self, at: datetime) -> bool:
        """Whether the directive stands at ``at``: from ``issued_at`` on, and until
        ``until`` (inclusive) when it says so."""
        return at >= self.issued_at and (self.until is None or at <= self.until)

    @field_validator("platforms")
    @classmethod
    def _platforms_are_distinct_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in value:
            if not PLATFORM_NAME.matches(name):
                raise ValueError(f"{name!r} {PLATFORM_NAME.description}")
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return value

    @field_validator("areas", mode="before")
    @classmethod
    def _read_areas(cls, value: object, info: ValidationInfo) -> object:
        # a path or an inline collection; already-built Areas pass through
        context = info.context if isinstance(info.context, Mapping) else {}
        where = str(context.get("where", "directive key 'areas'"))
        base = Path(context.get("base_dir", "."))
        if isinstance(value, str):
            return load_areas(base / value, display=value, missing_where=where)
        if isinstance(value, Mapping):
            return areas_from_geojson(value, where)
        return value

    @property
    def window_start(self) -> datetime:
        """Start of the evidence window, exclusive: ``issued_at - lookback_days``."""
        return self.issued_at - timedelta(days=self.lookback_days)

    @property
    def window_end(self) -> datetime:
        """End of the evidence window, inclusive: ``issued_at``."""
        return self.issued_at

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The YAML keys a directive may hold, in documentation order."""
        return tuple(name for name in cls.model_fields if name != "source")


def load_directive(path: Path) -> Directive:
    """Read and check a directive YAML file.

    Raises ``InputError`` with one line such as ``directive.yaml key 'lookback_days':
    expected a positive integer, got 'abc'`` or ``areas.geojson feature 2 ('Laukkai'):
    ring 0 does not close``.
    """
    name = path.name
    raw = _read_yaml(path)
    known = Directive.keys()
    for key in raw:
        if key not in known:
            raise InputError(f"{name} key {key!r}", f"unknown key (known: {', '.join(known)})")
    for key in known:
        if key not in raw and Directive.model_fields[key].is_required():
            raise InputError(name, f"missing required key {key!r}")
    context = {"base_dir": path.parent, "where": f"{name} key 'areas'"}
    try:
        return Directive.model_validate({**raw, "source": path}, context=context)
    except ValidationError as error:
        raise _key_error(name, raw, error) from None


def load_areas(
    path: Path, *, display: str | None = None, missing_where: str | None = None
) -> tuple[Area, ...]:
    """The areas of a GeoJSON FeatureCollection file, checked as ``areas_from_geojson``.

    Messages name the file as ``display`` (default: its name); a missing file is
    reported at ``missing_where`` (default: the file itself).
    """
    shown = display or path.name
    if not path.is_file():
        where = missing_where or str(path)
        what = f"file {shown!r} not found" + (f" (looked in {path.parent})" if display else "")
        raise InputError(where, what)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(shown, "not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{shown} line {error.lineno}", f"not valid JSON: {error.msg} (column {error.colno})"
        ) from None
    return areas_from_geojson(data, shown)


def areas_from_geojson(collection: object, where: str) -> tuple[Area, ...]:
    """Areas from a GeoJSON FeatureCollection whose features each carry a unique ``name``.

    Features count from 1 in messages: ``{where} feature 2 ('Laukkai'): ring 0 does not
    close``. Each area's ``km2`` is its geodesic area on the WGS-84 ellipsoid.
    """
    if not isinstance(collection, Mapping) or collection.get("type") != "FeatureCollection":
        raise InputError(
            where, f"expected a GeoJSON FeatureCollection, got {_describe(collection)}"
        )
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        raise InputError(where, "the FeatureCollection has no features")
    areas: list[Area] = []
    first_use: dict[str, int] = {}
    for number, feature in enumerate(features, 1):
        at = f"{where} feature {number}"
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise InputError(at, f"expected a GeoJSON Feature, got {_describe(feature)}")
        properties = feature.get("properties")
        area_name = properties.get("name") if isinstance(properties, Mapping) else None
        if area_name is None:
            raise InputError(at, "missing 'name' property")
        if not isinstance(area_name, str) or not area_name.strip():
            raise InputError(at, f"'name' property must be a non-empty string, got {area_name!r}")
        at = f"{at} ({area_name!r})"
        geometry = polygonal_from_geojson(feature.get("geometry"), at)
        if area_name in first_use:
            raise InputError(
                at, f"name {area_name!r} is also used by feature {first_use[area_name]}"
            )
        first_use[area_name] = number
        areas.append(Area(area_name, geometry, geodesic_km2(geometry)))
    return tuple(areas)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with the same key twice (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    name = path.name
    if not path.exists():
        raise InputError(str(path), "file not found")
    if not path.is_file():
        raise InputError(str(path), "is a folder, not a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(name, "not valid UTF-8") from None
    except OSError as error:
        raise InputError(str(path), f"cannot be read: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name} line {mark.line + 1}" if mark else name
        problem = error.problem or error.context or "unreadable"
        raise InputError(where, f"could not parse YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise InputError(name, f"could not parse YAML: {error}") from None
    if not isinstance(data, dict):
        raise InputError(
            name,
            f"expected a mapping of keys ({', '.join(Directive.keys())}), got {_describe(data)}",
        )
    return {str(key): value for key, value in data.items()}


def _key_error(name: str, raw: Mapping[str, Any], error: ValidationError) -> InputError:
    first = error.errors()[0]
    key = str(first["loc"][0]) if first["loc"] else "?"
    if len(first["loc"]) > 1 and key == "thresholds":
        path = ".".join(str(part) for part in first["loc"])
        what = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].lower()
        if first["type"] == "value_error":
            what = str(first["ctx"]["error"])
        return InputError(f"{name} key {path!r}", what)
    if first["type"] == "value_error" and key != "issued_at":
        return InputError(f"{name} key {key!r}", str(first["ctx"]["error"]))
    description = Directive.model_fields[key].description if key in Directive.model_fields else None
    got = _show(raw.get(key))
    return InputError(
        f"{name} key {key!r}", f"expected {description or 'a valid value'}, got {got}"
    )


def _show(value: object) -> str:
    if isinstance(value, datetime | date):
        return repr(value.isoformat())
    return repr(value)


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        kind = value.get("type")
        return f"type {kind!r}" if kind is not None else "an object without 'type'"
    if value is None:
        return "nothing"
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
