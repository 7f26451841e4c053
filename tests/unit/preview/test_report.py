"""The written report: every file, sums that agree with the decisions table, no
network references, the truth section only with truth, and all-or-nothing writing."""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest

from fairban.errors import FairbanError, InputError
from fairban.preview import write_report

from .conftest import PreviewCase

MEASURES = ("none", "monitor", "restrict", "suspend")
ALWAYS = (
    "index.html",
    "index.zh-CN.html",
    "by_measure.csv",
    "by_platform.csv",
    "by_province.csv",
    "by_prefecture.csv",
    "by_strength.csv",
    "naive_rule.csv",
    "naive_hits.csv",
)
WITH_TRUTH = ("quality_by_role.csv", "quality_summary.csv", "personas.csv")


def read(report: Path, name: str) -> pa.Table:
    # codes such as 530300 must stay strings
    types = {c: pa.string() for c in ("province_gb", "prefecture_gb", "key", "home_gb")}
    return pa_csv.read_csv(
        report / name,
        convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=False),
    )


def measure_counts(decisions: pa.Table) -> Counter[str]:
    return Counter(decisions.column("measure").to_pylist())


def test_every_file_is_written(preview_case: PreviewCase) -> None:
    names = {p.name for p in preview_case.report.iterdir()}
    assert names == {*ALWAYS, *WITH_TRUTH}
    assert {p.name for p in preview_case.plain_report.iterdir()} == set(ALWAYS)
    assert preview_case.summary.files == tuple(sorted(names, key=[*ALWAYS, *WITH_TRUTH].index))
    # no staging folder is left beside the reports
    assert not [p for p in preview_case.report.parent.iterdir() if p.name.startswith(".")]


def test_measure_tables_add_up_to_the_decisions(preview_case: PreviewCase) -> None:
    expected = measure_counts(preview_case.decisions)
    total = preview_case.decisions.num_rows
    by_measure = {r["measure"]: r for r in read(preview_case.report, "by_measure.csv").to_pylist()}
    assert {m: by_measure[m]["accounts"] for m in MEASURES} == {m: expected[m] for m in MEASURES}
    for name in ("by_platform.csv", "by_province.csv", "by_prefecture.csv", "by_strength.csv"):
        table = read(preview_case.report, name)
        for measure in MEASURES:
            assert pc.sum(table[measure]).as_py() == expected[measure], (name, measure)
        assert pc.sum(table["accounts"]).as_py() == total, name
    assert preview_case.summary.measures == {m: expected[m] for m in MEASURES}
    assert preview_case.summary.decided == total


def test_platform_and_strength_match_the_decisions(preview_case: PreviewCase) -> None:
    decisions = preview_case.decisions.to_pylist()
    by_platform = read(preview_case.report, "by_platform.csv").to_pylist()
    for row in by_platform:
        for measure in MEASURES:
            want = sum(
                1 for d in decisions if d["platform"] == row["platform"] and d["measure"] == measure
            )
            assert row[measure] == want
    by_strength = read(preview_case.report, "by_strength.csv").to_pylist()
    for row in by_strength:
        assert row["accounts"] == sum(1 for d in decisions if d["strength"] == row["strength"])


def test_people_are_distinct_persons(preview_case: PreviewCase) -> None:
    decisions = preview_case.decisions.to_pylist()
    by_measure = {r["measure"]: r for r in read(preview_case.report, "by_measure.csv").to_pylist()}
    for measure in MEASURES:
        people = {d["person_id"] or d["account_id"] for d in decisions if d["measure"] == measure}
        assert by_measure[measure]["people"] == len(people)
    enforced = {
        d["person_id"] or d["account_id"]
        for d in decisions
        if d["measure"] in ("restrict", "suspend")
    }
    assert preview_case.summary.people_enforced == len(enforced)


def test_prefectures_are_named_and_roll_up_to_provinces(preview_case: PreviewCase) -> None:
    prefectures = read(preview_case.report, "by_prefecture.csv").to_pylist()
    provinces = {
        r["province_gb"]: r for r in read(preview_case.report, "by_province.csv").to_pylist()
    }
    rolled: Counter[str] = Counter()
    for row in prefectures:
        if row["prefecture_gb"]:
            assert row["prefecture"]
            assert row["prefecture"] != row["prefecture_gb"]
            assert row["province_gb"] == row["prefecture_gb"][:2] + "0000"
            rolled[row["province_gb"]] += row["accounts"]
    for gb, accounts in rolled.items():
        assert provinces[gb]["accounts"] == accounts
    kunming = [r for r in prefectures if r["prefecture_gb"] == "530100"]
    assert not kunming or kunming[0]["prefecture"] == "昆明市"


def test_html_references_nothing_outside(preview_case: PreviewCase) -> None:
    for report, page in itertools.product(
        (preview_case.report, preview_case.plain_report), ("index.html", "index.zh-CN.html")
    ):
        html = (report / page).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
        assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html, re.I)
        assert "<script" not in html
        assert "<link" not in html
        # every local link points at a file of the report or an anchor
        for target in re.findall(r'href="([^"]+)"', html):
            assert target.startswith("#") or (report / target).is_file(), target


def test_html_shows_the_directive_and_headline(preview_case: PreviewCase) -> None:
    html = (preview_case.report / "index.html").read_text(encoding="utf-8")
    directive = preview_case.directive
    assert directive.id in html
    assert directive.title in html
    for area in directive.areas:
        assert area.name in html
    s = preview_case.summary
    for number in (s.accounts_in_scope, s.measures["suspend"], s.naive_accounts):
        assert f">{number:,}<" in html
    for heading in (
        "At a glance",
        "What would happen",
        "Where the people live",
        "On what evidence",
    ):
        assert heading in html
    assert html.count("<svg") >= 8


def _structure(html: str) -> tuple[list[str], list[str], int, int]:
    """What both languages must share: section ids, every number cell, tables, figures."""
    return (
        re.findall(r'<section id="([^"]+)"', html),
        re.findall(r'<td class="n">([^<]*)</td>', html),
        html.count("<table>"),
        html.count("<svg"),
    )


def test_the_chinese_page_says_the_same(preview_case: PreviewCase) -> None:
    for report in (preview_case.report, preview_case.plain_report):
        en = (report / "index.html").read_text(encoding="utf-8")
        zh = (report / "index.zh-CN.html").read_text(encoding="utf-8")
        assert '<html lang="en">' in en
        assert '<html lang="zh-CN">' in zh
        assert _structure(zh) == _structure(en)
        assert 'href="index.zh-CN.html"' in en
        assert 'href="index.html"' in zh
        for heading in (
            "概览",
            "将会发生什么",
            "这些人住在哪里",
            "依据什么证据",
            "与2019年“在场”规则的对比",
        ):
            assert f"<h2>{heading}</h2>" in zh
        # no English prose in the Chinese page: its headings and table heads are Chinese
        for heading in re.findall(r"<h[23]>([^<]*)</h[23]>", zh):
            assert re.search(r"[\u4e00-\u9fff]", heading), heading
        for head in re.findall(r"<th[^>]*>([^<]*)</th>", zh):
            assert not re.fullmatch(r"[A-Za-z ()/:]+", head) or head in ("fairban",), head
    assert "与模拟器真实情况的核对" in (preview_case.report / "index.zh-CN.html").read_text(
        encoding="utf-8"
    )
    # the directive in the page's language: its zh-CN translation, its own words in English
    directive = preview_case.directive
    title, issuer, basis = directive.words("zh-CN")
    assert title != directive.title  # the simulated directive carries its Chinese
    zh = (preview_case.report / "index.zh-CN.html").read_text(encoding="utf-8")
    for words in (f"<h1>{title}</h1>", f"<dd>{issuer}</dd>", f"<dd>{basis}</dd>"):
        assert words in zh, words
    assert directive.title not in zh
    en = (preview_case.report / "index.html").read_text(encoding="utf-8")
    assert f"<h1>{directive.title}</h1>" in en


def test_truth_section_only_with_truth(preview_case: PreviewCase) -> None:
    with_truth = (preview_case.report / "index.html").read_text(encoding="utf-8")
    without = (preview_case.plain_report / "index.html").read_text(encoding="utf-8")
    assert 'id="truth"' in with_truth
    assert "Checked against the simulator" in with_truth
    assert "Exact measure" in with_truth
    assert 'id="truth"' not in without
    assert "Checked against the simulator" not in without
    assert "wxid_p1_msli_qujing" in with_truth
    assert preview_case.plain_summary.precision == {}
    assert set(preview_case.summary.precision) == {"fairban", "naive"}


def test_quality_by_role_counts_the_truth(preview_case: PreviewCase) -> None:
    truth = read(preview_case.world, "truth.csv")
    roles = Counter(truth["role"].to_pylist())
    table = read(preview_case.report, "quality_by_role.csv").to_pylist()
    assert {r["role"]: r["accounts"] for r in table} == dict(roles)
    measures = dict(
        zip(
            preview_case.decisions["account_id"].to_pylist(),
            preview_case.decisions["measure"].to_pylist(),
            strict=True,
        )
    )
    for row in table:
        members = [
            a
            for a, r in zip(truth["account_id"].to_pylist(), truth["role"].to_pylist(), strict=True)
            if r == row["role"]
        ]
        flagged = sum(1 for a in members if measures.get(a) in ("restrict", "suspend"))
        assert row["fairban_flagged"] == flagged
        # principle 4: the exact measure, not just flagged (a suspended mule is harsher)
        rank = {"none": 0, "monitor": 1, "restrict": 2, "suspend": 3}
        got = [rank[measures.get(a) or "none"] for a in members]
        if row["expected"] in ("restrict", "suspend"):
            want = rank[row["expected"]]
            assert row["fairban_exact"] == sum(g == want for g in got)
            assert row["fairban_harsher"] == sum(g > want for g in got)
            assert row["fairban_lighter"] == sum(0 < g < want for g in got)
            assert row["fairban_none"] == sum(g == 0 for g in got)
        elif row["expected"] == "innocent":
            assert row["fairban_exact"] == sum(g <= 1 for g in got)
            assert row["fairban_harsher"] == flagged
            assert (row["fairban_lighter"], row["fairban_none"]) == (None, None)
    summary = {r["rule"]: r for r in read(preview_case.report, "quality_summary.csv").to_pylist()}
    # the fixture restricts a police investigator and only monitors one operator
    assert summary["fairban"]["false_positives"] >= 1
    assert summary["fairban"]["missed"] >= 1
    assert summary["naive"]["precision"] < summary["fairban"]["precision"]
    positive = [r for r in table if r["expected"] in ("restrict", "suspend")]
    for rule in ("fairban", "naive"):
        for how in ("exact", "harsher", "lighter", "none"):
            assert summary[rule][how] == sum(r[f"{rule}_{how}"] for r in positive), (rule, how)
        fit = [summary[rule][how] for how in ("exact", "harsher", "lighter", "none")]
        assert sum(fit) == sum(r["accounts"] for r in positive)
    # the 2019 rule suspends what it hits: a cash-out terminal it hits is harsher
    pos = next(r for r in table if r["role"] == "cashout_pos")
    assert pos["naive_harsher"] == pos["naive_flagged"] > 0


def test_personas_under_both_rules(preview_case: PreviewCase) -> None:
    personas = {r["account_id"]: r for r in read(preview_case.report, "personas.csv").to_pylist()}
    assert personas["wechat:wxid_f2_mule_dongguan"]["fairban_measure"] == "restrict"
    # Mr Duan lives in Ruili: cells across the border put him "in" the areas in 2019
    assert personas["wechat:wxid_p3_duan_ruili"]["naive_measure"] == "suspend"
    assert personas["wechat:wxid_p3_duan_ruili"]["fairban_measure"] == "none"
    assert personas["wechat:wxid_p1_msli_qujing"]["naive_measure"] == "none"


def test_summary_renders_for_the_terminal(preview_case: PreviewCase) -> None:
    text = preview_case.summary.render()
    assert preview_case.directive.id in text
    assert str(preview_case.report / "index.html") in text
    assert "precision" in text
    fit = preview_case.summary.fit["fairban"]
    assert (
        f"measure exact {fit['exact']:,}, harsher {fit['harsher']:,}, lighter "
        f"{fit['lighter']:,}, none {fit['none']:,}" in text
    )
    assert "precision" not in preview_case.plain_summary.render()
    assert preview_case.summary.index_html == preview_case.report / "index.html"


def test_refuses_a_non_empty_folder_unless_forced(
    preview_case: PreviewCase, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    decisions = preview_case.decisions.slice(0, 5)
    with pytest.raises(FairbanError, match="not empty"):
        write_report(preview_case.directive, preview_case.evidence, decisions, out)
    assert (out / "keep.txt").read_text() == "mine"
    write_report(preview_case.directive, preview_case.evidence, decisions, out, force=True)
    assert not (out / "keep.txt").exists()
    assert (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_bad_decisions_leave_nothing(preview_case: PreviewCase, tmp_path: Path) -> None:
    out = tmp_path / "report"
    bad = preview_case.decisions.drop_columns(["strength"])
    with pytest.raises(InputError, match="strength"):
        write_report(preview_case.directive, preview_case.evidence, bad, out)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_dry_run_still_reports_the_presence_rule(
    preview_case: PreviewCase, tmp_path: Path
) -> None:
    empty = preview_case.decisions.slice(0, 0)
    out = tmp_path / "report"
    summary = write_report(
        preview_case.directive,
        preview_case.evidence,
        empty,
        out,
        truth=preview_case.world / "truth.csv",
    )
    assert summary.decided == 0
    assert set(summary.measures.values()) == {0}
    # the presence rule does not depend on fairban's decisions
    assert summary.naive_accounts == preview_case.summary.naive_accounts
    assert summary.naive_people == preview_case.summary.naive_people
    assert summary.fairban_only == 0
    hits = read(out, "naive_hits.csv")
    assert set(hits["home_from"].to_pylist()) <= {"evidence", ""}
    assert (out / "index.html").is_file()


def _chart_words(page: str) -> str:
    """Every text of the page's charts and maps: their titles and what they draw."""
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) >= 8
    texts = [html.unescape(t) for svg in svgs for t in re.findall(r">([^<>]+)<", svg)]
    return "\n".join(t.strip() for t in texts if t.strip())


#: the charts' own English words: none of them on the Chinese page's charts
ENGLISH_LABELS = (
    "accounts",
    "monitor",
    "restrict",
    "suspend",
    "designated area",
    "border town",
    "MYANMAR",
    "CHINA",
    "Laukkai",
    "Ruili",
    "Measures by",
    "presence rule",
    "share of",
    "village points",
    " km",
    "dot area",
    "Homes of",
    "strong",
    "wechat",
)


def test_the_charts_speak_their_pages_language(preview_case: PreviewCase) -> None:
    report = preview_case.report
    zh = _chart_words((report / "index.zh-CN.html").read_text(encoding="utf-8"))
    for words in (
        "各平台的措施",
        "按住处省份的措施",
        "指定地区",
        "缅甸",
        "边境城镇（中国）",
        "老街",
        "瑞丽",
        "限制功能",
        "暂停使用",
        "账号数",
        "各角色被标记的比例",
        "公里",  # the maps' scale bars
        "缅甸轮廓由其村庄点位（MIMU）推算",
    ):
        assert words in zh, words
    found = [w for w in ENGLISH_LABELS if w.casefold() in zh.casefold()]
    assert found == [], found
    en = _chart_words((report / "index.html").read_text(encoding="utf-8"))
    # (the English page's town and area names are outlines: a white stroke around them)
    for words in ("Measures by platform", "designated area", "MYANMAR", "restrict", " km"):
        assert words in en, words
    assert re.findall(r"[\u4e00-\u9fff]", en) == []  # the English page's charts stay English
