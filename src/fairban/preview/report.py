"""``write_report``: the dry-run impact report of a directive (product principle 5).

The report is a folder: ``index.html`` (self-contained: inline CSS and SVG, no network)
and the CSV files behind every number in it. It is written into a hidden sibling
folder and renamed into place at the end, so a failure never leaves a partial report.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from fairban.contract import Directive
from fairban.errors import FairbanError
from fairban.preview import charts
from fairban.preview.charts import COLOURS, Points
from fairban.preview.decisions import ENFORCED, MEASURES, STRENGTHS
from fairban.preview.ledger import Ledger, build_ledger, save_ledger
from fairban.preview.quality import FIT, Quality, judge, read_truth
from fairban.preview.regions import ABROAD
from fairban.preview.regions import UNKNOWN as UNKNOWN_HOME
from fairban.preview.tallies import (
    Comparison,
    by_measure,
    by_platform,
    by_prefecture,
    by_province,
    by_strength,
    compare_naive,
    with_places,
)
from fairban.progress import SILENT, Progress

TOP_PREFECTURES = 20
_TOP_PROVINCES_CHART = 15

#: what each file holds, shown in the report's file list and in docs/preview.md
FILES: dict[str, str] = {
    "by_measure.csv": "accounts and people per measure",
    "by_platform.csv": "accounts per platform and measure",
    "by_province.csv": "accounts per home province and measure",
    "by_prefecture.csv": "accounts per home prefecture and measure",
    "by_strength.csv": "accounts per strength of evidence and measure",
    "naive_rule.csv": "the 2019 presence rule against fairban, overall and by source, "
    "platform and province",
    "naive_hits.csv": "every account the presence rule hits or fairban restricts or suspends",
}
TRUTH_FILES: dict[str, str] = {
    "quality_by_role.csv": "per simulated role: how many each rule flags, and how many got "
    "exactly the expected measure, a harsher, a lighter or none",
    "quality_summary.csv": "precision and recall of each rule, and its exact, harsher, "
    "lighter and missing measures",
    "personas.csv": "the seed personas under each rule",
}
#: the same, said in the Chinese page
FILES_ZH: dict[str, str] = {
    "by_measure.csv": "各措施的账号和人数",
    "by_platform.csv": "各平台、各措施的账号",
    "by_province.csv": "按住处所在省份、各措施的账号",
    "by_prefecture.csv": "按住处所在地级市、各措施的账号",
    "by_strength.csv": "按证据强度、各措施的账号",
    "naive_rule.csv": "2019年“在场”规则与fairban的对比：总体及按来源、平台和省份",
    "naive_hits.csv": "被“在场”规则命中或被fairban限制、暂停的每个账号",
    "quality_by_role.csv": "每个模拟角色：各规则标记了多少",
    "quality_summary.csv": "各规则的精确率和召回率",
    "personas.csv": "各规则下的种子人物",
}
#: the report's pages: English and Chinese, each linking to the other
PAGES = {"index.html": "index.html.j2", "index.zh-CN.html": "index.zh-CN.html.j2"}
_MEASURES_ZH = {"none": "不处置", "monitor": "监测", "restrict": "限制功能", "suspend": "暂停使用"}
_STRENGTHS_ZH = {"strong": "强", "moderate": "中等", "weak": "弱", "none": "无"}
#: each page's language (its charts are drawn in it)
PAGE_LANGS = {"index.html.j2": "en", "index.zh-CN.html.j2": "zh-CN"}
_PLATFORMS_ZH = {"wechat": "微信", "alipay": "支付宝", "qq": "QQ", "pos": "POS机"}
_SOURCES_ZH = {"gps": "GPS", "wifi": "Wi-Fi", "cell": "基站", "ip": "IP地址"}
#: the places that are no province (``preview.regions``)
_PLACES_ZH = {ABROAD: "中国境外", UNKNOWN_HOME: "住处不明"}
#: the charts' titles, series and units in Chinese (by their English words)
_CHART_ZH = {
    "Homes of the accounts fairban would act on": "fairban将处置的账号的住处",
    "The border region: areas, towns and homes": "边境地区：指定地区、城镇和住处",
    "2019 presence rule: {n} accounts": "2019年“在场”规则：{n}个账号",
    "hit by the presence rule": "被“在场”规则命中",
    "fairban: {n} accounts restricted or suspended": "fairban：{n}个账号被限制或暂停",
    "Measures by platform": "各平台的措施",
    "Measures by home province": "按住处省份的措施",
    "Measures by strength of evidence": "按证据强度的措施",
    "Presence-rule hits by source of the touching fix": "“在场”规则命中：按触及地区的定位来源",
    "fairban also restricts/suspends": "fairban也限制/暂停",
    "presence rule only": "仅“在场”规则",
    "Accounts hit, by home province": "按住处省份的命中账号",
    "2019 presence rule": "2019年“在场”规则",
    "fairban restrict/suspend": "fairban限制/暂停",
    "Share of each role flagged": "各角色被标记的比例",
    "share of the role's accounts": "占该角色账号的比例",
}


@dataclass
class ReportSummary:
    """The key numbers of a written report, and where it is."""

    directive_id: str
    out_dir: Path
    index_html: Path
    accounts_in_scope: int
    decided: int
    measures: dict[str, int]
    people: dict[str, int]
    enforced_by_platform: dict[str, int]
    people_enforced: int
    naive_accounts: int
    naive_people: int
    naive_provinces: int
    fairban_provinces: int
    both: int
    naive_only: int
    fairban_only: int
    observations: int
    files: tuple[str, ...]
    precision: dict[str, float | None] = field(default_factory=dict)
    recall: dict[str, float | None] = field(default_factory=dict)
    #: per rule, of the accounts truth expects restricted or suspended: how many got
    #: exactly that measure, a harsher, a lighter, none (``quality.FIT``)
    fit: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    #: the evidence was read for this report (False: a what-if's kept ledger)
    evidence_read: bool = True

    @property
    def enforced(self) -> int:
        return self.measures["restrict"] + self.measures["suspend"]

    def render(self) -> str:
        """A few lines for the terminal."""
        m = self.measures
        platforms = ", ".join(f"{p} {n:,}" for p, n in self.enforced_by_platform.items() if n)
        lines = [
            f"Preview of {self.directive_id} written to {self.index_html}",
            f"  accounts in scope {self.accounts_in_scope:,}; linked to the directive "
            f"{self.decided:,}",
            f"  would monitor {m['monitor']:,}, restrict {m['restrict']:,}, suspend "
            f"{m['suspend']:,} accounts ({self.people_enforced:,} people restricted or "
            "suspended)",
        ]
        if platforms:
            lines.append(f"  restrict or suspend by platform: {platforms}")
        lines.append(
            f"  the 2019 presence rule would hit {self.naive_accounts:,} accounts of "
            f"{self.naive_people:,} people in {self.naive_provinces} provinces; "
            f"{self.naive_only:,} of them fairban would not restrict or suspend, and "
            f"{self.fairban_only:,} fairban would that the rule misses"
        )
        for rule in ("fairban", "naive"):
            if rule in self.precision:
                fit = self.fit.get(rule, {})
                lines.append(
                    f"  against truth, {rule}: precision {_percent(self.precision[rule])}, "
                    f"recall {_percent(self.recall[rule])}; measure exact "
                    f"{fit.get('exact', 0):,}, harsher {fit.get('harsher', 0):,}, lighter "
                    f"{fit.get('lighter', 0):,}, none {fit.get('none', 0):,}"
                )
        if self.evidence_read:
            done = f"{self.observations:,} observations read in {self.seconds:.1f} s"
        else:
            done = (
                f"{self.observations:,} observations counted when the preview was made "
                f"(not read again); report written in {self.seconds:.1f} s"
            )
        lines.append(f"  {done}; files: {', '.join(self.files)}")
        return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def write_report(
    directive: Directive,
    data_dir: Path,
    decisions: pa.Table,
    out_dir: Path,
    *,
    truth: Path | None = None,
    force: bool = False,
    progress: Progress = SILENT,
    ledger: Ledger | None = None,
    keep_ledger: Path | None = None,
) -> ReportSummary:
    """Write the dry-run report of ``directive`` into ``out_dir`` and sum it up.

    ``decisions`` is the engine's dry run (see ``preview.decisions.COLUMNS``);
    ``truth`` a simulator's truth.csv, which adds the quality section. An existing
    non-empty ``out_dir`` is refused unless ``force``, and then replaced only once the
    new report is complete. Raises ``InputError`` for a bad decisions table, evidence
    folder or truth file. ``ledger``: one already built for these decisions (a
    what-if, ``preview.whatif``): the evidence is then not read; ``keep_ledger``: a
    folder to keep the ledger built in.
    """
    started = time.perf_counter()
    if out_dir.exists() and not out_dir.is_dir():
        raise FairbanError(f"{out_dir}: exists and is not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise FairbanError(
            f"{out_dir}: already exists and is not empty (use --force to replace it)"
        )
    truth_table = read_truth(truth) if truth is not None else None
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent)
    )
    staging.chmod(0o755)  # mkdtemp makes it private; a report is meant to be shared
    evidence_read = ledger is None
    try:
        if ledger is None:
            ledger = build_ledger(directive, data_dir, decisions, progress=progress)
            if keep_ledger is not None:
                save_ledger(ledger, keep_ledger)
        summary = _write(directive, ledger, truth_table, staging, progress)
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.out_dir = out_dir
    summary.index_html = out_dir / "index.html"
    summary.seconds = time.perf_counter() - started
    summary.evidence_read = evidence_read
    return summary


def _replace(staging: Path, out_dir: Path) -> None:
    if out_dir.exists():
        # move the old report aside first: a crash between the renames loses nothing
        old = out_dir.with_name(f".{out_dir.name}.old-{staging.name[-8:]}")
        out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_dir)


def _write(
    directive: Directive,
    ledger: Ledger,
    truth: pa.Table | None,
    out: Path,
    progress: Progress,
) -> ReportSummary:
    with progress.stage("Counting", total=None):
        everyone = with_places(ledger.table)
        decided = everyone.filter(everyone.column("decided"))
        tables: dict[str, pa.Table] = {
            "by_measure.csv": by_measure(decided),
            "by_platform.csv": by_platform(decided, directive.platforms),
            "by_province.csv": by_province(decided),
            "by_prefecture.csv": by_prefecture(decided),
            "by_strength.csv": by_strength(decided),
        }
        comparison = compare_naive(everyone)
        tables["naive_rule.csv"] = comparison.table
        tables["naive_hits.csv"] = comparison.hits
        quality = judge(everyone, truth) if truth is not None else None
        if quality is not None:
            tables["quality_by_role.csv"] = quality.by_role
            tables["quality_summary.csv"] = quality.summary
            tables["personas.csv"] = quality.personas
    with progress.stage("Writing tables", total=len(tables)) as advance:
        for name, table in tables.items():
            _write_csv(table, out / name)
            advance(1)
    with progress.stage("Drawing charts and maps", total=None):
        # each page's charts in its own language
        figures = {
            lang: _figures(directive, everyone, tables, comparison, quality, lang)
            for lang in PAGE_LANGS.values()
        }
    summary = _summary(directive, ledger, decided, comparison, quality, tuple(tables), out)
    with progress.stage("Writing index.html", total=None):
        for page, template in PAGES.items():
            html = _render(
                directive,
                summary,
                tables,
                comparison,
                quality,
                figures[PAGE_LANGS[template]],
                template,
            )
            (out / page).write_text(html, encoding="utf-8")
    return summary


def _write_csv(table: pa.Table, path: Path) -> None:
    options = pa_csv.WriteOptions(quoting_style="needed")
    pa_csv.write_csv(table, path, write_options=options)


def _summary(
    directive: Directive,
    ledger: Ledger,
    decided: pa.Table,
    comparison: Comparison,
    quality: Quality | None,
    files: tuple[str, ...],
    out: Path,
) -> ReportSummary:
    measure = decided.column("measure")
    values = measure.to_numpy(zero_copy_only=False)
    measures = {m: int(np.count_nonzero(values == m)) for m in MEASURES}
    people: dict[str, int] = {}
    for m in MEASURES:
        part = decided.filter(pc.equal(measure, pa.scalar(m)))
        people[m] = int(pc.count_distinct(part.column("person")).as_py()) if part.num_rows else 0
    enforced = decided.filter(pc.is_in(measure, value_set=pa.array(ENFORCED)))
    affected = decided.filter(pc.not_equal(measure, pa.scalar("none")))
    people["affected"] = (
        int(pc.count_distinct(affected.column("person")).as_py()) if affected.num_rows else 0
    )
    platforms = [str(p) for p in enforced.column("platform").to_pylist()]
    by_platform = {p: platforms.count(p) for p in directive.platforms}
    for p in sorted(set(platforms) - set(by_platform)):
        by_platform[p] = platforms.count(p)
    summary = ReportSummary(
        directive_id=directive.id,
        out_dir=out,
        index_html=out / "index.html",
        accounts_in_scope=ledger.accounts_in_scope,
        decided=decided.num_rows,
        measures=measures,
        people=people,
        enforced_by_platform=by_platform,
        people_enforced=comparison.fairban_people,
        naive_accounts=comparison.naive_accounts,
        naive_people=comparison.naive_people,
        naive_provinces=comparison.naive_provinces,
        fairban_provinces=comparison.fairban_provinces,
        both=comparison.both,
        naive_only=comparison.naive_only,
        fairban_only=comparison.fairban_only,
        observations=ledger.scan.observations,
        files=(*PAGES, *files),
    )
    if quality is not None:
        for score in quality.scores:
            summary.precision[score.rule] = score.precision
            summary.recall[score.rule] = score.recall
            summary.fit[score.rule] = {how: getattr(score, how) for how in FIT}
    return summary


# --------------------------------------------------------------------------- figures


def _layer(
    table: pa.Table, mask: Any, colour: str, label: str, size: float, alpha: float
) -> Points:
    part = table.filter(mask)
    return Points(
        lon=part.column("home_lon").to_numpy(zero_copy_only=False).astype(float),
        lat=part.column("home_lat").to_numpy(zero_copy_only=False).astype(float),
        colour=colour,
        label=label,
        size=size,
        alpha=alpha,
    )


def _measure_layers(everyone: pa.Table, lang: str = "en") -> list[Points]:
    measure = everyone.column("measure")
    # weakest first, so restrict and suspend are drawn on top
    style = {"monitor": (5.0, 0.35), "restrict": (14.0, 0.9), "suspend": (16.0, 0.95)}
    return [
        _layer(
            everyone,
            pc.equal(measure, pa.scalar(m)),
            COLOURS[m],
            _measure_word(m, lang),
            *style[m],
        )
        for m in ("monitor", "restrict", "suspend")
    ]


def _measure_word(measure: str, lang: str) -> str:
    return _MEASURES_ZH.get(measure, measure) if lang == "zh-CN" else measure


def _words(lang: str) -> Callable[..., str]:
    """The charts' words in ``lang``: an English phrase of :data:`_CHART_ZH` (with
    ``{n}`` filled in) said in Chinese on the Chinese page."""

    def say(text: str, **values: object) -> str:
        chosen = _CHART_ZH[text] if lang == "zh-CN" else text
        return chosen.format(**values)

    return say


def _figures(
    directive: Directive,
    everyone: pa.Table,
    tables: dict[str, pa.Table],
    comparison: Comparison,
    quality: Quality | None,
    lang: str = "en",
) -> dict[str, Markup]:
    areas = directive.areas
    say = _words(lang)
    zh = lang == "zh-CN"
    layers = _measure_layers(everyone, lang)
    naive = pc.greater(everyone.column("naive_touches"), pa.scalar(0))

    def measures(keys: Sequence[str], rows: list[dict[str, Any]]) -> list[Any]:
        return [(_measure_word(m, lang), [r[m] for r in rows], COLOURS[m]) for m in keys]

    figures = {
        "map_china": charts.china_map(
            "map-china", say("Homes of the accounts fairban would act on"), areas, layers, lang
        ),
        "map_border": charts.border_map(
            "map-border", say("The border region: areas, towns and homes"), areas, layers, lang
        ),
        "map_naive": charts.china_map(
            "map-naive",
            say("2019 presence rule: {n} accounts", n=f"{comparison.naive_accounts:,}"),
            areas,
            [
                _layer(
                    everyone,
                    naive,
                    COLOURS["naive"],
                    say("hit by the presence rule"),
                    9.0,
                    0.6,
                )
            ],
            lang,
        ),
        "map_fairban": charts.china_map(
            "map-fairban",
            say(
                "fairban: {n} accounts restricted or suspended",
                n=f"{comparison.fairban_accounts:,}",
            ),
            areas,
            [layers[1], layers[2]],
            lang,
        ),
    }
    platform = tables["by_platform.csv"].to_pylist()
    figures["chart_platform"] = charts.stacked_bars(
        "chart-platform",
        say("Measures by platform"),
        [
            _PLATFORMS_ZH.get(r["platform"], r["platform"]) if zh else r["platform"]
            for r in platform
        ],
        measures(("monitor", "restrict", "suspend"), platform),
        lang=lang,
    )
    provinces = [
        r
        for r in tables["by_province.csv"].to_pylist()
        if r["monitor"] + r["restrict"] + r["suspend"]
    ][:_TOP_PROVINCES_CHART]
    figures["chart_province"] = charts.stacked_bars(
        "chart-province",
        say("Measures by home province"),
        [
            _PLACES_ZH.get(r["province"], r["province"]) if zh else r["province_en"]
            for r in provinces
        ],
        measures(("monitor", "restrict", "suspend"), provinces),
        lang=lang,
    )
    strength = tables["by_strength.csv"].to_pylist()
    figures["chart_strength"] = charts.stacked_bars(
        "chart-strength",
        say("Measures by strength of evidence"),
        [
            _STRENGTHS_ZH.get(r["strength"], r["strength"]) if zh else r["strength"]
            for r in strength
        ],
        measures(MEASURES, strength),
        lang=lang,
    )
    naive_rows = comparison.table.to_pylist()
    sources = [r for r in naive_rows if r["group"] == "source"]
    figures["chart_naive_sources"] = charts.stacked_bars(
        "chart-naive-sources",
        say("Presence-rule hits by source of the touching fix"),
        [_SOURCES_ZH.get(r["key"], r["key"]) if zh else r["key"] for r in sources],
        [
            (
                say("fairban also restricts/suspends"),
                [r["both_accounts"] for r in sources],
                COLOURS["suspend"],
            ),
            (
                say("presence rule only"),
                [r["naive_only_accounts"] for r in sources],
                COLOURS["naive"],
            ),
        ],
        lang=lang,
    )
    province_rows = [r for r in naive_rows if r["group"] == "province"][:12]
    figures["chart_naive_provinces"] = charts.grouped_bars(
        "chart-naive-provinces",
        say("Accounts hit, by home province"),
        [_short_place(r["name"], lang) for r in province_rows],
        [
            (
                say("2019 presence rule"),
                [r["naive_accounts"] for r in province_rows],
                COLOURS["naive"],
            ),
            (
                say("fairban restrict/suspend"),
                [r["fairban_accounts"] for r in province_rows],
                COLOURS["suspend"],
            ),
        ],
        lang=lang,
    )
    if quality is not None:
        roles = quality.by_role.to_pylist()
        gap = "" if zh else " "
        figures["chart_quality"] = charts.grouped_bars(
            "chart-quality",
            say("Share of each role flagged"),
            [
                f"{r['role']}{gap}{'（' if zh else '('}{_measure_word(r['expected'], lang)}"
                f"{'）' if zh else ')'}"
                for r in roles
            ],
            [
                (
                    say("fairban restrict/suspend"),
                    [r["fairban_share"] for r in roles],
                    COLOURS["suspend"],
                ),
                (say("2019 presence rule"), [r["naive_share"] for r in roles], COLOURS["naive"]),
            ],
            unit=say("share of the role's accounts"),
            percent=True,
            lang=lang,
        )
    return {name: Markup(svg) for name, svg in figures.items()}


def _short_place(name: str, lang: str = "en") -> str:
    """'Yunnan 云南省' in one language: 'Yunnan' or '云南省' (a name in one stays)."""
    if not any(ord(c) > 127 for c in name) or " " not in name:
        return _PLACES_ZH.get(name, name) if lang == "zh-CN" else name
    english, _, chinese = name.partition(" ")
    return chinese if lang == "zh-CN" else english


# --------------------------------------------------------------------------- HTML


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("fairban.preview", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:,}"
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{v:.{d}%}"
    env.filters["km2"] = lambda v: f"{v:,.1f}"
    # the Chinese page's words for the measures and strengths (``any`` where either is fine)
    env.filters["measure"] = lambda v: _MEASURES_ZH.get(str(v), "均可" if v == "any" else v)
    env.filters["strength"] = lambda v: _STRENGTHS_ZH.get(str(v), v)
    return env


def _render(
    directive: Directive,
    summary: ReportSummary,
    tables: dict[str, pa.Table],
    comparison: Comparison,
    quality: Quality | None,
    figures: dict[str, Markup],
    template: str = "index.html.j2",
) -> str:
    naive_rows = comparison.table.to_pylist()
    prefectures = tables["by_prefecture.csv"].to_pylist()
    context = {
        "directive": directive,
        # the page's language: the directive's own words, or its translation for it
        "words": directive.words("en" if template == "index.html.j2" else "zh-CN"),
        "window_start": directive.window_start.isoformat(sep=" ", timespec="minutes"),
        "window_end": directive.window_end.isoformat(sep=" ", timespec="minutes"),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "s": summary,
        "colours": COLOURS,
        "measures": MEASURES,
        "strengths": STRENGTHS,
        "by_measure": tables["by_measure.csv"].to_pylist(),
        "by_platform": tables["by_platform.csv"].to_pylist(),
        "by_province": tables["by_province.csv"].to_pylist(),
        "prefectures": prefectures[:TOP_PREFECTURES],
        "prefecture_count": len(prefectures),
        "top_prefectures": TOP_PREFECTURES,
        "by_strength": tables["by_strength.csv"].to_pylist(),
        "naive_all": naive_rows[0],
        "naive_sources": [r for r in naive_rows if r["group"] == "source"],
        "naive_source_only": [r for r in naive_rows if r["group"] == "source_only"],
        "naive_provinces": [r for r in naive_rows if r["group"] == "province"],
        "naive_platforms": [r for r in naive_rows if r["group"] == "platform"],
        "c": comparison,
        "quality": quality,
        "roles": quality.by_role.to_pylist() if quality else [],
        "scores": quality.scores if quality else (),
        "personas": quality.personas.to_pylist() if quality else [],
        "figures": figures,
        "files": {
            name: FILES_ZH[name] if template != "index.html.j2" else what
            for name, what in {**FILES, **(TRUTH_FILES if quality else {})}.items()
        },
        "home_sources": _home_sources(comparison),
    }
    return _environment().get_template(template).render(context)


def _home_sources(comparison: Comparison) -> dict[str, int]:
    hits = comparison.hits
    values, counts = np.unique(
        hits.column("home_from").to_numpy(zero_copy_only=False).astype(str), return_counts=True
    )
    return {str(v) or "unknown": int(c) for v, c in zip(values, counts, strict=True)}
