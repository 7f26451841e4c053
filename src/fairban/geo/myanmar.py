"""Myanmar's outline, from data shipped in an installed package (no network).

No installed package ships Myanmar's boundary as a polygon, so it is derived: the
concave hull of the MIMU village and ward points that ``mm-geo-coder`` ships (bad rows
outside the country's bounding box dropped), widened by about 5 km to take in the
outermost villages' land, less China's outline, so that the shared border is China's
own line. The other borders (Thailand, Laos, India, Bangladesh) are as good as the
villages are dense: within a few km. Maps that draw it say so.
"""

from __future__ import annotations

import functools
import sqlite3

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from fairban.geo.china import ChinaAdmin, installed_file

#: Myanmar's bounding box, generously: rows outside it are the data's errors
_MM_BOX = (92.0, 9.5, 101.5, 28.6)
#: the hull's tightness (shapely's ratio: 0 the tightest, 1 the convex hull)
_HULL_RATIO = 0.02
_WIDEN_DEG = 0.05


@functools.cache
def outline() -> BaseGeometry:
    """Myanmar's outline, derived (module docstring); computed once per process."""
    path = installed_file("mm_geo_coder", "database/mimu_geo_data_public.db")
    x0, y0, x1, y1 = _MM_BOX
    where = "longitude BETWEEN ?1 AND ?3 AND latitude BETWEEN ?2 AND ?4"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            f"SELECT longitude, latitude FROM villages WHERE {where} "
            f"UNION ALL SELECT longitude, latitude FROM wards WHERE {where}",
            (x0, y0, x1, y1),
        ).fetchall()
    hull = shapely.concave_hull(shapely.multipoints(np.array(rows, dtype=float)), _HULL_RATIO)
    shape = hull.buffer(_WIDEN_DEG).difference(ChinaAdmin.default().outline())
    return shapely.simplify(shape, 0.005)
