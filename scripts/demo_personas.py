"""For `make demo`: what happened to each seed persona of 2019 (truth.csv's persona
column) under the demo directive: the case and measure, or none; then the notice of
every persona that was (rightly) hit. Exit 1 if an innocent persona is hit.

    python scripts/demo_personas.py demo/truth.csv
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from fairban.cases.models import Case
from fairban.cases.transitions import CaseState
from fairban.config import get_settings
from fairban.db import database_url, open_database, session_factory

VISIBLE = {"restrict", "suspend"}
IN_FORCE = {CaseState.ACTIVE, CaseState.APPEALED, CaseState.UPHELD, CaseState.DOWNGRADED}


def main(truth: Path) -> int:
    with truth.open(newline="", encoding="utf-8") as fh:
        personas = [r for r in csv.DictReader(fh) if r["persona"]]
    engine = open_database(database_url(get_settings()))
    with session_factory(engine, read_only=True)() as session:
        ids = [r["account_id"] for r in personas]
        found = session.scalars(select(Case).where(Case.account_id.in_(ids)))
        cases = {c.account_id: c for c in found}
    engine.dispose()

    wrong: list[str] = []
    hit: list[str] = []
    print(f"{'persona':<16} {'account':<34} {'expected':<9} {'measure':<9} case")
    for r in personas:
        case = cases.get(r["account_id"])
        in_force = case is not None and case.state in IN_FORCE and case.measure.value in VISIBLE
        measure = case.measure.value if in_force and case else "none"
        number = case.number if case else "-"
        print(f"{r['persona']:<16} {r['account_id']:<34} {r['expected']:<9} {measure:<9} {number}")
        if in_force and case:
            (wrong if r["expected"] == "innocent" else hit).append(case.number)
    print()
    if wrong:
        print(f"WRONG: innocent personas hit: {', '.join(wrong)}")
        return 1
    print("None of the innocent personas was hit.")
    for number in hit:
        print(f"\n--- the notice of {number} ---", flush=True)
        subprocess.run(
            [sys.executable, "-m", "fairban.cli", "cases", "show", number, "--lang", "zh-CN"],
            check=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
