"""The reviewer's evidence map: real borders and towns from installed data, the
directive's areas, observations that separate into numbered clusters, home and the
compound from the nights, a scale bar; a map with no dots says why."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

from shapely.geometry import box

from fairban.web.console.evidence import draw_map
from fairban.web.console.i18n import gettext

#: the Laukkai area (Kokang), roughly, and a village in Yunnan across the border
LAUKKAI = box(98.88, 22.63, 99.0, 22.75)
HOME = (99.09, 23.88)  # Lincang's Gengma county, in China


def _observations() -> list[tuple[float, float, float, str, datetime]]:
    rng = random.Random(5)
    start = datetime(2019, 9, 1, tzinfo=UTC)
    out = []
    for i in range(368):  # nights in the compound, days about town
        at = start + timedelta(hours=7 * i)
        night = at.astimezone(UTC).hour + 8 in range(22, 30)
        if i % 5 == 0:  # some days at home
            lon, lat = HOME[0] + rng.gauss(0, 0.004), HOME[1] + rng.gauss(0, 0.004)
        elif night:
            lon, lat = 98.93 + rng.gauss(0, 0.002), 22.69 + rng.gauss(0, 0.002)
        else:
            lon, lat = 98.91 + rng.gauss(0, 0.02), 22.70 + rng.gauss(0, 0.02)
        out.append((lon, lat, 30.0, rng.choice(("gps", "wifi", "cell")), at))
    return out


def test_the_map_has_borders_towns_areas_clusters_home_compound_and_a_scale() -> None:
    points = _observations()
    svg = draw_map([("Laukkai", LAUKKAI)], points, gettext("zh-CN"))
    whole, zoomed = svg.split("</svg>")[:2]
    assert whole.count("<circle") < len(points) / 3  # clustered, not 368 dots
    counts = [int(n) for n in re.findall(r"<title>(\d+) 条观测", whole)]
    assert sum(counts) == len(points)  # every observation in exactly one cluster
    assert len(counts) > 5  # and they separate
    # home is far: a second map zoomed on the area, where the clusters come apart
    assert "放大显示观测记录最多的指令地区" in zoomed
    near = [int(n) for n in re.findall(r"<title>(\d+) 条观测", zoomed)]
    assert len(near) > 3 * len(counts)
    assert "<title>云南省</title>" in svg  # China's provinces
    assert "缅甸" in svg  # Myanmar, labelled
    assert "<title>Laukkai</title>" in svg  # the directive's area
    assert re.search(r"\d+ km</text>", svg)  # the scale bar
    assert "园区" in svg  # the compound, from the nights in the area
    assert "住处" in svg  # home, from the nights outside
    assert len(re.findall(r'<rect x="[^"]+" y="[^"]+" width="5" height="5"', svg)) >= 3  # towns


def test_english_and_a_map_without_dots() -> None:
    en = draw_map([("Laukkai", LAUKKAI)], [], gettext("en"), unplaced=12)
    assert "Myanmar" in en
    assert "No observation of this account has a position" in en
    assert "12 observations have no position." in en
    assert "<circle" not in en.split("</svg>")[0]
    nothing = draw_map([], [], gettext("en"))
    assert "<svg" not in nothing
    assert "No observation of this account has a position" in nothing
