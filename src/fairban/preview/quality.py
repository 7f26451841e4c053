"""How right the decisions are, judged against a simulated world's truth.csv.

A rule "flags" an account when fairban would restrict or suspend it, or when the
naive rule would hit it (in 2019 that meant suspension). Accounts whose role is
expected ``restrict`` or ``suspend`` should be flagged, ``innocent`` ones should not,
and ``any`` (sellers of accounts) counts neither way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from fairban.errors import InputError
from fairban.measures import VISIBLE_VALUES, severity
from fairban.preview.decisions import ENFORCED
from fairban.preview.ledger import source_names

_TRUTH_COLUMNS = ("account_id", "role", "expected", "persona")
_POSITIVE = VISIBLE_VALUES
_EXPECTED_ORDER = {"suspend": 0, "restrict": 1, "any": 2, "innocent": 3}
#: how a measure stands to the expected one (``measure_fit``), in the CSVs' order
FIT = ("exact", "harsher", "lighter", "none")

Row = dict[str, Any]


@dataclass(frozen=True)
class RuleScore:
    rule: str
    flagged: int
    true_positives: int
    false_positives: int
    missed: int
    precision: float | None
    recall: float | None
    #: of the accounts truth expects restricted or suspended: those that got exactly
    #: that measure, a harsher one, a lighter one (monitor, or restrict for suspend),
    #: or none (principle 4: a measure harsher than the truth is shown, not hidden)
    exact: int = 0
    harsher: int = 0
    lighter: int = 0
    none: int = 0


def measure_fit(measure: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Per account, how ``measure`` stands to what truth ``expected``: ``exact``,
    ``harsher``, ``lighter`` or ``none`` (no measure where one was expected); innocent
    accounts are exact with none or monitor, harsher with a visible measure; ``any``
    is neither."""
    rank = np.array([severity(m) for m in measure], dtype=np.int64)
    want = np.array([severity(e) if e in _POSITIVE else 0 for e in expected], dtype=np.int64)
    positive = np.isin(expected, _POSITIVE)
    innocent = expected == "innocent"
    visible = rank >= severity("restrict")
    return {
        "exact": (positive & (rank == want)) | (innocent & ~visible),
        "harsher": (positive & (rank > want)) | (innocent & visible),
        "lighter": positive & (rank < want) & (rank > 0),
        "none": positive & (rank == 0),
    }


@dataclass(frozen=True)
class Quality:
    by_role: pa.Table  # quality_by_role.csv
    scores: tuple[RuleScore, RuleScore]  # fairban, naive
    personas: pa.Table  # personas.csv

    @property
    def summary(self) -> pa.Table:
        return pa.Table.from_pylist([score.__dict__ for score in self.scores])


def read_truth(path: Path) -> pa.Table:
    """The columns of truth.csv the report needs, as strings."""
    if not path.is_file():
        raise InputError(str(path), "file not found")
    try:
        truth = pa_csv.read_csv(
            path,
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(_TRUTH_COLUMNS, pa.string()),
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        raise InputError(path.name, f"cannot be read as CSV: {error}") from None
    missing = [name for name in _TRUTH_COLUMNS if name not in truth.column_names]
    if missing:
        raise InputError(path.name, f"missing column(s) {', '.join(map(repr, missing))}")
    return truth.select(list(_TRUTH_COLUMNS))


def judge(ledger: pa.Table, truth: pa.Table) -> Quality:
    """Scores for fairban and the naive rule over the accounts of ``ledger`` that
    ``truth`` knows."""
    joined = ledger.join(truth, "account_id", join_type="inner")
    role = joined.column("role").to_numpy(zero_copy_only=False).astype(str)
    expected = joined.column("expected").to_numpy(zero_copy_only=False).astype(str)
    measure = joined.column("measure").to_numpy(zero_copy_only=False).astype(str)
    fairban = np.isin(measure, ENFORCED)
    naive = joined.column("naive_touches").to_numpy() > 0
    positive = np.isin(expected, _POSITIVE)
    innocent = expected == "innocent"
    # what the 2019 rule did to every account it hit: suspension
    naive_measure = np.where(naive, "suspend", "none")
    fit = measure_fit(measure, expected)
    naive_fit = measure_fit(naive_measure, expected)

    rows: list[Row] = []
    for name in sorted(set(role)):
        member = role == name
        count = int(member.sum())
        kind = str(expected[member][0])
        f, n = int((fairban & member).sum()), int((naive & member).sum())
        rows.append(
            {
                "role": name,
                "expected": kind,
                "accounts": count,
                "monitor": int(((measure == "monitor") & member).sum()),
                "restrict": int(((measure == "restrict") & member).sum()),
                "suspend": int(((measure == "suspend") & member).sum()),
                "fairban_flagged": f,
                "fairban_share": f / count,
                "naive_flagged": n,
                "naive_share": n / count,
                "fairban_recall": f / count if kind in _POSITIVE else None,
                "naive_recall": n / count if kind in _POSITIVE else None,
                "fairban_false_positive_rate": f / count if kind == "innocent" else None,
                "naive_false_positive_rate": n / count if kind == "innocent" else None,
                **{
                    f"{rule}_{how}": (
                        int((fits[how] & member).sum())
                        if kind in _POSITIVE or (kind == "innocent" and how in ("exact", "harsher"))
                        else None
                    )
                    for rule, fits in (("fairban", fit), ("naive", naive_fit))
                    for how in FIT
                },
            }
        )
    rows.sort(key=lambda r: (_EXPECTED_ORDER.get(r["expected"], 9), -r["accounts"], r["role"]))
    by_role = pa.Table.from_pylist(rows, schema=_ROLE_SCHEMA)
    scores = (
        _score("fairban", fairban, positive, innocent, fit),
        _score("naive", naive, positive, innocent, naive_fit),
    )
    return Quality(by_role, scores, _personas(joined))


_ROLE_FIELDS: list[pa.Field[Any]] = [
    pa.field("role", pa.string()),
    pa.field("expected", pa.string()),
    pa.field("accounts", pa.int64()),
    pa.field("monitor", pa.int64()),
    pa.field("restrict", pa.int64()),
    pa.field("suspend", pa.int64()),
    pa.field("fairban_flagged", pa.int64()),
    pa.field("fairban_share", pa.float64()),
    pa.field("naive_flagged", pa.int64()),
    pa.field("naive_share", pa.float64()),
    pa.field("fairban_recall", pa.float64()),
    pa.field("naive_recall", pa.float64()),
    pa.field("fairban_false_positive_rate", pa.float64()),
    pa.field("naive_false_positive_rate", pa.float64()),
    *(pa.field(f"{rule}_{how}", pa.int64()) for rule in ("fairban", "naive") for how in FIT),
]
_ROLE_SCHEMA = pa.schema(_ROLE_FIELDS)


def _score(
    rule: str,
    flagged: np.ndarray[Any, Any],
    positive: np.ndarray[Any, Any],
    innocent: np.ndarray[Any, Any],
    fit: dict[str, Any],
) -> RuleScore:
    tp = int((flagged & positive).sum())
    fp = int((flagged & innocent).sum())
    return RuleScore(
        **{how: int((fit[how] & positive).sum()) for how in FIT},
        rule=rule,
        flagged=int(flagged.sum()),
        true_positives=tp,
        false_positives=fp,
        missed=int((~flagged & positive).sum()),
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / int(positive.sum()) if positive.any() else None,
    )


def _personas(joined: pa.Table) -> pa.Table:
    people = joined.filter(pc.not_equal(joined.column("persona"), pa.scalar("")))
    rows = []
    for entry in people.to_pylist():
        hit = entry["naive_touches"] > 0
        rows.append(
            {
                "persona": entry["persona"],
                "account_id": entry["account_id"],
                "role": entry["role"],
                "expected": entry["expected"],
                "linked": bool(entry["decided"]),
                "fairban_measure": entry["measure"],
                "strength": entry["strength"] or "",
                "reasons": _reason_texts(entry["reasons"] or ""),
                "naive_measure": "suspend" if hit else "none",
                "naive_sources": source_names(entry["naive_sources"]),
                "naive_touches": entry["naive_touches"],
            }
        )
    rows.sort(key=lambda r: (r["persona"], r["account_id"]))
    return pa.Table.from_pylist(rows, schema=_PERSONA_SCHEMA)


_PERSONA_FIELDS: list[pa.Field[Any]] = [
    pa.field("persona", pa.string()),
    pa.field("account_id", pa.string()),
    pa.field("role", pa.string()),
    pa.field("expected", pa.string()),
    pa.field("linked", pa.bool_()),
    pa.field("fairban_measure", pa.string()),
    pa.field("strength", pa.string()),
    pa.field("reasons", pa.string()),
    pa.field("naive_measure", pa.string()),
    pa.field("naive_sources", pa.string()),
    pa.field("naive_touches", pa.int64()),
]
_PERSONA_SCHEMA = pa.schema(_PERSONA_FIELDS)


def _reason_texts(reasons: str) -> str:
    """The readable sentences of a reasons JSON array, joined; the raw text if it is
    not such an array (the report shows what the engine gave)."""
    try:
        parsed = json.loads(reasons) if reasons else []
    except json.JSONDecodeError:
        return reasons
    if not isinstance(parsed, list):
        return reasons
    texts = [
        str(item.get("text", item.get("code", ""))) for item in parsed if isinstance(item, dict)
    ]
    return "; ".join(texts)
