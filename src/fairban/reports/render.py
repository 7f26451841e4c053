"""A transparency report on disk: ``index.html`` (Chinese) and ``index.en.html``
(English), each self-contained (inline CSS and SVG, no script, nothing fetched), the CSV
files and ``report.json`` beside them, and the audit log's signed checkpoint.

Everything is written into a hidden sibling folder and renamed into place at the end: a
failure leaves no partial report, and ``force`` replaces an old one only once the new
one is whole.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from fairban.errors import InputError
from fairban.notices.i18n import Tr
from fairban.notices.reasons import platform_name
from fairban.reports.numbers import MEASURES, OUTCOMES, Report

LANGUAGES = {"zh-CN": "index.html", "en": "index.en.html"}

#: every word of the pages, (Chinese, English)
TEXT: dict[str, tuple[str, str]] = {
    "title": ("透明度报告", "Transparency report"),
    "period": ("报告期", "Period"),
    "days_note": ("按北京时间计，首尾两日均含在内", "Beijing days, both ends included"),
    "generated": ("生成时间（UTC）", "Generated (UTC)"),
    "other_language": ("English", "中文"),
    "contents": ("目录", "Contents"),
    "table": ("表格", "Table"),
    "glance": ("概览", "At a glance"),
    "measures": ("采取的措施", "Measures taken"),
    "measures_intro": (
        "报告期内生效的每一项限制或暂停措施（新采取、重新采取或改为另一措施）计为一项，"
        "与提交欧盟《数字服务法》透明度数据库的处置理由说明一一对应。",
        "Each restriction or suspension put in force in the period (imposed, re-imposed or "
        "changed to another measure) counts once: one statement of reasons each in the EU "
        "DSA Transparency Database.",
    ),
    "by_platform": ("按平台", "By platform"),
    "by_measure": ("按措施", "By measure"),
    "by_ground": ("按依据（理由代码）", "By ground (reason code)"),
    "ground_note": (
        "一项措施依据的每个理由代码各计一次。",
        "A measure counts under each reason code it rests on.",
    ),
    "by_automation": ("是否自动决定", "Automated or not"),
    "by_ending": ("这些措施目前的状态", "What became of these measures"),
    "platform": ("平台", "Platform"),
    "measure": ("措施", "Measure"),
    "ground": ("依据", "Ground"),
    "count": ("数量", "Number"),
    "total": ("合计", "Total"),
    "people": ("涉及人数", "People affected"),
    "automated": ("自动决定", "Automated"),
    "not_automated": ("人工决定", "Decided by a person"),
    "appeals": ("申诉", "Appeals"),
    "appeals_intro": (
        "通过在线申诉渠道提出的申诉（《反电信网络诈骗法》第三十二条第三款；《数字服务法》"
        "第20条）。",
        "Appeals through the online complaint channel (PRC Anti-Telecom and Online Fraud "
        "Law art. 32(3); DSA art. 20).",
    ),
    "received": ("收到的申诉", "Appeals received"),
    "decided": ("作出决定的申诉", "Appeals decided"),
    "median": ("作出决定用时（中位数）", "Time to decision (median)"),
    "p90": ("作出决定用时（第90百分位）", "Time to decision (90th percentile)"),
    "within_deadline": ("在答复期限内决定", "Decided within the deadline"),
    "open_at_end": ("期末尚未决定", "Open at the end of the period"),
    "overdue_at_end": ("期末已逾期", "Overdue at the end of the period"),
    "reversed": ("措施被撤销或减轻", "Measures reversed or reduced"),
    "reversal_rate": ("撤销或减轻比例", "Share reversed or reduced"),
    "outcome": ("结果", "Outcome"),
    "by_outcome": ("按结果", "By outcome"),
    "by_decider": ("按决定者", "By who decided"),
    "decider": ("决定者", "Decided by"),
    "automatic": ("自动复核", "Automatic re-check"),
    "person": ("人工审核", "A reviewer"),
    "appeal_grounds": ("申诉人所述理由", "What appellants said"),
    "hours": ("小时", "h"),
    "orders": ("依据的指令", "Directives acted on"),
    "orders_intro": (
        "主管部门发布、本期内据以采取措施的指令（《数字服务法》第15条第1款(a)项）。",
        "Authorities' directives acted on in the period (DSA art. 15(1)(a)).",
    ),
    "directive": ("指令", "Directive"),
    "issuer": ("发布机关", "Issuer"),
    "legal_basis": ("法律依据", "Legal basis"),
    "issued_at": ("发布时间", "Issued"),
    "versions": ("版本数", "Versions"),
    "hours_to_effect": ("从载入到首次生效（小时）", "Hours from loading to first effect"),
    "paused_now": ("目前已暂停", "Paused now"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "breaker": ("熔断与暂停", "Circuit breaker and pauses"),
    "breaker_intro": (
        "申诉获准比例过高时，指令会自动暂停（熔断）：不再采取新措施。",
        "A directive whose appeals are granted too often pauses itself (the circuit "
        "breaker): no new measures.",
    ),
    "trips": ("熔断次数", "Breaker trips"),
    "no_trips": ("本期没有熔断。", "The breaker did not trip in the period."),
    "at": ("时间（UTC）", "At (UTC)"),
    "granted_of": ("获准 / 已决定", "Granted / decided"),
    "pauses": ("操作员的暂停", "Pauses by operators"),
    "no_pauses": (
        "本期没有操作员暂停指令。",
        "No operator paused a directive in the period.",
    ),
    "actor": ("操作者", "By"),
    "reason": ("原因", "Reason"),
    "deliveries": ("告知与解除", "Notices and lifts"),
    "notices": ("发出的告知书", "Notices sent"),
    "kind": ("类型", "Kind"),
    "locale": ("语言", "Language"),
    "lifts_sent": ("发往平台的解除指令", "Lifts sent to platforms"),
    "lifts_delivered": ("平台已确认", "Confirmed by the platform"),
    "lift_median": ("确认用时（中位数，秒）", "Time to confirmation (median, s)"),
    "lift_p90": ("确认用时（第90百分位，秒）", "Time to confirmation (90th percentile, s)"),
    "statements": ("处置理由说明", "Statements of reasons"),
    "statements_intro": (
        "本期措施在欧盟《数字服务法》透明度数据库格式下的处置理由说明"
        "（第24条第5款；`fairban cases export-dsa`）。",
        "The period's measures as statements of reasons for the EU DSA Transparency "
        "Database (art. 24(5); `fairban cases export-dsa`).",
    ),
    "refused": ("不符合数据库规则而未提交", "Breaking the database's rules, not submitted"),
    "automation": ("自动化手段与保障", "Automated means and safeguards"),
    "automation_intro": (
        "《数字服务法》第15条第1款(e)项：自动化手段的使用、准确性指标与保障措施。",
        "DSA art. 15(1)(e): the use of automated means, indicators of accuracy, safeguards.",
    ),
    "safeguard_presence": (
        "仅凭位置（在某地区、其附近或被定位到该地区）绝不会导致限制或暂停。",
        "Location alone (being in, near or geolocated into an area) never leads to a "
        "restriction or suspension.",
    ),
    "safeguard_appeal": (
        "自动复核未准许的申诉，由人工审核员在{hours}小时内作出附理由的决定；"
        "高风险的撤销需第二名审核员确认。",
        "An appeal the automatic re-check does not grant is decided, with reasons, by a "
        "reviewer within {hours} hours; lifting a high-risk measure takes a second reviewer.",
    ),
    "safeguard_breaker": (
        "在{window}小时内已决定至少{min}项申诉、且获准比例超过{threshold}的指令自动暂停。",
        "A directive pauses itself when, of at least {min} appeals decided within "
        "{window} hours, more than {threshold} were granted.",
    ),
    "accuracy": (
        "准确性指标：本期作出决定的申诉中，措施被撤销或减轻的比例为{rate}。",
        "Indicator of accuracy: of the appeals decided in the period, {rate} reversed or "
        "reduced the measure.",
    ),
    "audit": ("审计日志", "Audit log"),
    "audit_intro": (
        "每一项操作都写入只增不改、哈希链接的审计日志。以下签名检查点可供任何人离线核验"
        "（`fairban audit verify --checkpoint`）。",
        "Every action is written to an append-only, hash-chained audit log. Anyone can "
        "check the signed checkpoint below offline (`fairban audit verify --checkpoint`).",
    ),
    "entries_in_period": ("本期写入的条目", "Entries written in the period"),
    "entry_range": ("条目编号", "Entry numbers"),
    "root_at_end": ("期末日志的默克尔根", "Merkle root of the log at the period's end"),
    "checkpoint": ("签名检查点", "Signed checkpoint"),
    "checkpoint_size": ("检查点覆盖的条目", "Entries the checkpoint covers"),
    "verifier_key": ("验证公钥", "Verifier key"),
    "not_covered": ("本报告未涵盖的内容", "What this report does not cover"),
    "not_covered_list": (
        "庭外争议解决（《数字服务法》第24条第1款(a)项）、因滥用而暂停服务（第23条）"
        "及月活跃用户数（第24条第2款）不在fairban的记录之内，须由平台另行报告。",
        "Out-of-court dispute settlement (DSA art. 24(1)(a)), suspensions for misuse "
        "(art. 23) and average monthly active recipients (art. 24(2)) are not recorded "
        "by fairban: the platform reports them separately.",
    ),
    "files": ("数据文件", "Data files"),
    "files_intro": (
        "本页的每个数字都来自以下文件（UTF-8编码，首行为列名）。",
        "Every number on this page comes from these files (UTF-8, a header row).",
    ),
    "none_shown": ("本期没有。", "None in the period."),
    "chart": ("图", "Chart"),
    "restrict": ("限制功能", "restrict"),
    "suspend": ("暂停使用", "suspend"),
    "granted": ("准许（解除措施）", "granted (measure lifted)"),
    "downgraded": ("减轻措施", "downgraded"),
    "upheld": ("维持", "upheld"),
    "in_force": ("仍然有效", "still in force"),
    "lifted": ("已解除", "lifted"),
    "expired": ("已到期", "expired"),
    "replaced": ("已改为另一措施", "replaced by another measure"),
    "lift": ("解除", "lift"),
    "never_been_there": ("从未去过该地区", "never been there"),
    "visited": ("只是短暂到访", "only visited"),
    "live_near_border": ("住在边境附近", "lives near the border"),
    "victim": ("是受害人", "a victim"),
    "know_the_person": ("认识相关人员", "knows the person"),
    "other": ("其他", "other"),
}

#: the report's palette (docs/preview.md's): restrict amber, suspend red; dark enough
#: beside white for a chart's bars (the text beside them is near-black)
COLOURS = {"restrict": "#b26a00", "suspend": "#c62828", "granted": "#2e7d32", "default": "#37607f"}


class Words:
    """The words of one language, for the template."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.index = 0 if lang == "zh-CN" else 1
        self.tr = Tr("zh-CN" if lang == "zh-CN" else "en")

    def __call__(self, key: str, **values: object) -> str:
        pair = TEXT.get(key)
        text = pair[self.index] if pair else key
        return text.format(**values) if values else text

    def platform(self, name: str) -> str:
        return platform_name(name, self.tr)

    def hours(self, value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} {self('hours')}"

    def share(self, value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    def number(self, value: float | None, digits: int = 1) -> str:
        return "—" if value is None else f"{value:.{digits}f}"


def bars(
    chart_id: str,
    label: str,
    items: Sequence[tuple[str, int]],
    colours: dict[str, str] | None = None,
    keys: Sequence[str] | None = None,
) -> Markup:
    """A horizontal bar chart as inline SVG: one bar per item, its value written beside
    it. ``keys`` (one per item) choose the bars' colours."""
    if not items:
        return Markup("")
    # narrow enough that a phone shows the labels near their size
    row, left, width, scale_w = 28, 170, 420, 200
    top = max((v for _, v in items), default=0) or 1
    height = row * len(items) + 8
    parts = [
        f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-t" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-t">{escape(label)}</title>',
    ]
    for i, (name, value) in enumerate(items):
        y = 4 + i * row
        key = keys[i] if keys else name
        colour = (colours or {}).get(key, COLOURS["default"])
        w = max(1.0, scale_w * value / top) if value else 0.0
        parts.append(
            f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" class="label">'
            f"{escape(name)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 17}" class="value">{value:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _csv(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _none(value: object) -> object:
    return "" if value is None else value


def csv_files(report: Report) -> dict[str, str]:
    """The report's tables as CSV text, by file name."""
    m, a = report.measures, report.appeals
    summary: list[tuple[str, object]] = [
        ("period_from", report.period_from),
        ("period_to", report.period_to),
        ("measures", m.total),
        ("measures_automated", m.automated),
        ("people", m.people),
        ("appeals_received", a.received),
        ("appeals_decided", a.decided),
        ("appeals_reversed", a.reversed),
        ("appeals_reversal_rate", _none(a.reversal_rate)),
        ("appeals_median_hours", _none(a.median_hours)),
        ("appeals_p90_hours", _none(a.p90_hours)),
        ("appeals_within_deadline", a.within_deadline),
        ("appeals_open_at_end", a.open_at_end),
        ("appeals_overdue_at_end", a.overdue_at_end),
        ("breaker_trips", len(report.breaker)),
        ("pauses", len(report.pauses)),
        ("lifts_sent", report.deliveries.lifts_sent),
        ("lifts_delivered", report.deliveries.lifts_delivered),
        ("lift_median_seconds", _none(report.deliveries.lift_median_seconds)),
        ("lift_p90_seconds", _none(report.deliveries.lift_p90_seconds)),
        ("statements", sum(report.statements.by_platform.values())),
        ("statements_refused", report.statements.refused),
        ("audit_entries_in_period", report.audit.entries_in_period),
        ("audit_first_id", _none(report.audit.first_id)),
        ("audit_last_id", _none(report.audit.last_id)),
        ("audit_root_at_end", _none(report.audit.root_at_end)),
        ("audit_checkpoint_size", report.audit.checkpoint_size),
        ("audit_verifier_key", report.audit.verifier_key),
    ]
    return {
        "summary.csv": _csv(summary, ["key", "value"]),
        "measures.csv": _csv(
            ((r.platform, r.measure, "yes" if r.automated else "no", r.decisions) for r in m.rows),
            ["platform", "measure", "automated", "measures"],
        ),
        "grounds.csv": _csv(m.by_ground.items(), ["code", "measures"]),
        "endings.csv": _csv(m.by_ending.items(), ["ending", "measures"]),
        "appeals.csv": _csv(
            (
                (who, outcome, n)
                for who, outcomes in a.by_decider.items()
                for outcome, n in outcomes.items()
            ),
            ["decided_by", "outcome", "appeals"],
        ),
        "appeal_grounds.csv": _csv(a.received_by_ground.items(), ["ground", "appeals"]),
        "directives.csv": _csv(
            (
                (
                    o.directive,
                    o.title,
                    o.issuer,
                    o.legal_basis,
                    o.issued_at,
                    o.versions,
                    o.measures,
                    _none(o.hours_to_effect),
                    "yes" if o.paused else "no",
                )
                for o in report.orders
            ),
            [
                "directive",
                "title",
                "issuer",
                "legal_basis",
                "issued_at",
                "versions",
                "measures",
                "hours_to_effect",
                "paused",
            ],
        ),
        "breaker.csv": _csv(
            ((t.directive, t.at, t.granted, t.decided, t.message) for t in report.breaker),
            ["directive", "at", "granted", "decided", "message"],
        ),
        "pauses.csv": _csv(
            ((p.directive, p.at, p.actor, p.reason) for p in report.pauses),
            ["directive", "at", "actor", "reason"],
        ),
        "statements.csv": _csv(report.statements.by_platform.items(), ["platform", "statements"]),
    }


def as_json(report: Report) -> str:
    data: dict[str, Any] = dataclasses.asdict(report)
    data["format"] = "fairban-transparency-report/1"
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("fairban.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def html(report: Report, lang: str, files: Sequence[str]) -> str:
    """The report's page in ``lang`` (``zh-CN`` or ``en``)."""
    w = Words(lang)
    m, a = report.measures, report.appeals
    charts = {
        "platform": bars(
            "chart-platform",
            w("by_platform"),
            [(w.platform(p), sum(by.values())) for p, by in m.by_platform.items()],
        ),
        "measure": bars(
            "chart-measure",
            w("by_measure"),
            [(w(k), m.by_measure[k]) for k in MEASURES],
            COLOURS,
            list(MEASURES),
        ),
        "ground": bars("chart-ground", w("by_ground"), list(m.by_ground.items())),
        "outcome": bars(
            "chart-outcome",
            w("by_outcome"),
            [(w(o), a.by_outcome.get(o, 0)) for o in OUTCOMES] if a.decided else [],
            COLOURS,
            list(OUTCOMES),
        ),
    }
    other = next(name for code, name in LANGUAGES.items() if code != lang)
    other_lang = next(code for code in LANGUAGES if code != lang)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            w=w,
            lang=lang,
            other=other,
            other_lang=other_lang,
            charts=charts,
            measure_labels=[w(k) for k in MEASURES],
            outcome_labels=[w(k) for k in OUTCOMES],
            files=files,
        )
    )


def write(report: Report, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write the report into ``out_dir``, whole or not at all; the files written."""
    check_out_dir(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tables = csv_files(report)
        data = {**tables, "report.json": as_json(report)}
        data["audit-log.checkpoint"] = report.audit.checkpoint
        names = sorted(data)
        for lang, name in LANGUAGES.items():
            data[name] = html(report, lang, names)
        for name, text in data.items():
            (partial / name).write_text(text, encoding="utf-8", newline="\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            partial.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return [out_dir / name for name in sorted(data)]


def check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse a file, or a folder that holds anything, unless ``force`` (a folder)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out", f"{out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise InputError("--out", f"{out_dir} exists and is not empty (give --force to replace it)")
