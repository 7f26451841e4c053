"""`tests/unit/` mirrors `src/fairban/` (docs/architecture.md says so): every package of
fairban has a folder of unit tests of its own."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fairban"
UNIT = ROOT / "tests" / "unit"


def test_every_package_has_its_unit_tests() -> None:
    packages = sorted(p.parent.name for p in SRC.glob("*/__init__.py"))
    missing = [p for p in packages if not any((UNIT / p).glob("test_*.py"))]
    assert missing == [], f"tests/unit/<package>/test_*.py missing for {missing}"
    assert len(packages) >= 14
