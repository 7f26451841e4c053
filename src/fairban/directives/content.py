"""A directive's canonical content: what a version of it is, byte for byte.

:func:`directive_content` writes the canonical JSON whose SHA-256 identifies a version
(loading the same directive twice is no new version, any change of content is);
:func:`directive_from_content` reads a stored version back into a directive, for the
re-check that judges appeals under the version the cases follow. Pure: no database.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

from shapely.geometry import mapping

from fairban.contract import Directive
from fairban.contract.directive import Directive as DirectiveModel
from fairban.digests import canonical_json, sha256_hex


def directive_content(directive: Directive) -> tuple[str, str]:
    """The directive's canonical JSON (every key, areas as GeoJSON geometries, the
    instant in UTC; optional keys only when given) and its SHA-256: two loads of the same
    directive give the same hash, any change of content, areas included, another."""
    doc: dict[str, Any] = {
        "id": directive.id,
        "title": directive.title,
        "issuer": directive.issuer,
        "legal_basis": directive.legal_basis,
        "issued_at": directive.issued_at.astimezone(UTC).isoformat(),
        "lookback_days": directive.lookback_days,
        "platforms": list(directive.platforms),
        "areas": [{"name": a.name, "geometry": mapping(a.geometry)} for a in directive.areas],
    }
    if directive.thresholds is not None and directive.thresholds.given():
        doc["thresholds"] = directive.thresholds.given()
    if directive.measure_days is not None:
        doc["measure_days"] = directive.measure_days
    if directive.until is not None:
        doc["until"] = directive.until.astimezone(UTC).isoformat()
    if directive.territorial_scope is not None:
        doc["territorial_scope"] = list(directive.territorial_scope)
    if directive.translations is not None:
        doc["translations"] = directive.translated()
    text = canonical_json(doc)
    return text, sha256_hex(text)


def translations_of(content: str) -> dict[str, dict[str, str]]:
    """The ``translations`` of a version's canonical JSON (empty: none given)."""
    found = json.loads(content).get("translations") or {}
    return {str(tag): {str(k): str(v) for k, v in words.items()} for tag, words in found.items()}


def directive_from_content(content: str) -> Directive:
    """The directive a version's canonical JSON describes (areas inline)."""
    raw: dict[str, Any] = json.loads(content)
    raw.pop("source", None)
    areas = raw.get("areas")
    if isinstance(areas, list):  # directive_content writes [{name, geometry}, ...]
        raw["areas"] = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"name": a["name"]}, "geometry": a["geometry"]}
                for a in areas
            ],
        }
    known = set(DirectiveModel.keys())
    fields = {k: v for k, v in raw.items() if k in known}
    return DirectiveModel.model_validate(
        {**fields, "source": Path("directive.json")},
        context={"base_dir": Path("."), "where": "directive version 'areas'"},
    )
