"""Polygons from GeoJSON, checked the way a person drew them, and their true area.

Coordinates are WGS-84 degrees, ``[lon, lat]`` as GeoJSON orders them. Areas are
geodesic (on the WGS-84 ellipsoid), so a polygon in the far north is not inflated the
way a planar area in degrees would be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from fairban.errors import InputError

_WGS84 = Geod(ellps="WGS84")

Polygonal: TypeAlias = Polygon | MultiPolygon


def geodesic_km2(geometry: BaseGeometry) -> float:
    """Area of a lon/lat polygon or multipolygon on the WGS-84 ellipsoid, in km² (>= 0).

    Holes are subtracted whatever the winding order of the rings.
    """
    # pyproj sums signed ring areas: outer rings must run counter-clockwise, holes clockwise
    oriented = shapely.orient_polygons(geometry, exterior_cw=False)
    area_m2, _perimeter = _WGS84.geometry_area_perimeter(oriented)
    return abs(float(area_m2)) / 1e6


def polygonal_from_geojson(geometry: object, where: str) -> Polygonal:
    """A valid shapely Polygon or MultiPolygon from a GeoJSON geometry object.

    Raises ``InputError(where, ...)`` for anything a careful reader would reject: another
    geometry type, a ring with fewer than 4 positions or that does not close, a position
    that is not ``[lon, lat]`` in range, or a polygon shapely finds invalid (the message
    then carries shapely's ``explain_validity``, e.g. ``Self-intersection[97.5 23.5]``).
    Ring 0 is a polygon's outer ring, ring 1 its first hole; in a MultiPolygon the
    polygons count from 1.
    """
    if not isinstance(geometry, Mapping):
        raise InputError(
            where, "has no geometry" if geometry is None else "geometry is not an object"
        )
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        shape: Polygonal = _polygon(coords, where, "")
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise InputError(where, "MultiPolygon coordinates must be a non-empty list of polygons")
        shape = MultiPolygon([_polygon(p, where, f"polygon {i} ") for i, p in enumerate(coords, 1)])
    else:
        raise InputError(where, f"geometry type {kind!r} is not Polygon or MultiPolygon")
    if not shape.is_valid:
        raise InputError(where, f"geometry is not valid: {explain_validity(shape)}")
    return shape


def _polygon(coords: Any, where: str, prefix: str) -> Polygon:
    if not isinstance(coords, list) or not coords:
        raise InputError(where, f"{prefix}coordinates must be a non-empty list of rings".lstrip())
    rings = [_ring(ring, where, f"{prefix}ring {i}") for i, ring in enumerate(coords)]
    polygon = Polygon(rings[0], rings[1:])
    if not polygon.is_valid:
        raise InputError(where, f"{prefix}polygon is not valid: {explain_validity(polygon)}")
    return polygon


def _ring(ring: Any, where: str, name: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise InputError(where, f"{name} is not a list of positions")
    if len(ring) < 4:
        raise InputError(where, f"{name} has {len(ring)} positions, a closed ring needs at least 4")
    points = [_position(p, where, f"{name} position {i}") for i, p in enumerate(ring, 1)]
    if points[0] != points[-1]:
        raise InputError(where, f"{name} does not close")
    return points


def _position(position: Any, where: str, name: str) -> tuple[float, float]:
    if (
        not isinstance(position, Sequence)
        or isinstance(position, str)
        or len(position) not in (2, 3)
        or not all(_is_number(v) for v in position)
    ):
        raise InputError(where, f"{name}: expected [lon, lat], got {position!r}")
    lon, lat = float(position[0]), float(position[1])
    if not -180 <= lon <= 180:
        raise InputError(where, f"{name}: lon {lon:g} is outside [-180, 180]")
    if not -90 <= lat <= 90:
        raise InputError(where, f"{name}: lat {lat:g} is outside [-90, 90]")
    return lon, lat


def _is_number(value: object) -> bool:
    # bool is an int to Python but never a coordinate
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
