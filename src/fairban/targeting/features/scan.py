"""The presence stage's scan: the observations that may touch an area.

Its rows go to Python (``fairban.geo.presence``), whose probabilities come back as the
table ``near`` that the features read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fairban.geo.presence import M_PER_DEG
from fairban.targeting.features.clock import Window

#: accuracy (m) up to which the pre-filter's envelope bounds positions by constants
ENVELOPE_REACH_M = 10_000.0


def envelope_sql(
    boxes: Sequence[tuple[float, float, float, float, float]],
    reach_m: float = ENVELOPE_REACH_M,
) -> str:
    """A superset of the area pre-filter made of column-to-constant comparisons only,
    so that a Parquet reader can test it against row-group statistics (the exact
    pre-filter's arithmetic it cannot): rows whose accuracy is at most ``reach_m`` lie
    in an area's box grown by ``reach_m``. ``boxes`` are each area's (min lon, min lat,
    max lon, max lat, metres per degree of longitude at its widest). Bounds are
    rounded outwards, so ANDing it to the exact pre-filter changes no result."""
    if not boxes:
        return "FALSE"
    dlat = reach_m / M_PER_DEG
    parts = []
    for minx, miny, maxx, maxy, m_per_deg_lon in boxes:
        dlon = reach_m / m_per_deg_lon
        parts.append(
            f"(lat >= {_down(miny - dlat)} AND lat <= {_up(maxy + dlat)} AND "
            f"lon >= {_down(minx - dlon)} AND lon <= {_up(maxx + dlon)})"
        )
    return f"(accuracy_m > {reach_m} OR {' OR '.join(parts)})"


def _down(x: float) -> str:
    return f"{math.floor(x * 1e4) / 1e4 - 1e-4:.4f}"  # a 10 m margin below the exact bound


def _up(x: float) -> str:
    return f"{math.ceil(x * 1e4) / 1e4 + 1e-4:.4f}"


def prefilter_sql(window: Window, prefilter: str, envelope: str | None = None) -> str:
    """Observations in the window that may touch an area (read by the presence stage);
    ``envelope`` (``envelope_sql``) lets a Parquet reader skip row groups too."""
    bounds = f" AND {envelope}" if envelope else ""
    return f"""
SELECT account_id, ts, lat, lon, accuracy_m, source, cell_id, device_id
FROM observations
WHERE {window.where()} AND lat IS NOT NULL AND {prefilter}{bounds}
"""
