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
from fairban.measures import VISIBLE_VALUES
from fairban.preview.decisions import ENFORCED
from fairban.preview.ledger import source_names

_TRUTH_COLUMNS = ("account_id", "role", "expected", "persona")
_POSITIVE = VISIBLE_VALUES
_EXPECTED_ORDER = {"suspend": 0, "restrict": 1, "any": 2, "innocent": 3}

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
                "fairban_exact": int(((measure == kind) & member).sum())
                if kind in _POSITIVE
                else None,
            }
        )
    rows.sort(key=lambda r: (_EXPECTED_ORDER.get(r["expected"], 9), -r["accounts"], r["role"]))
    by_role = pa.Table.from_pylist(rows, schema=_ROLE_SCHEMA)
    scores = (
        _score("fairban", fairban, positive, innocent),
        _score("naive", naive, positive, innocent),
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
    pa.field("fairban_exact", pa.int64()),
]
_ROLE_SCHEMA = pa.schema(_ROLE_FIELDS)


def _score(
    rule: str,
    flagged: np.ndarray[Any, Any],
    positive: np.ndarray[Any, Any],
    innocent: np.ndarray[Any, Any],
) -> RuleScore:
    tp = int((flagged & positive).sum())
    fp = int((flagged & innocent).sum())
    return RuleScore(
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
