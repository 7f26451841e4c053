"""Fixtures for the whole suite. Modules of fixtures live beside this file and are
loaded by path (pytest runs with --import-mode=importlib, so ``tests`` is no package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def _load(name: str) -> ModuleType:
    module_name = f"fairban_tests_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, Path(__file__).parent / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# databases (tests/db.py): db_url, db_engine, db_kind, session, new_db_url, new_engine, tamper
_db = _load("db")
db_url = _db.db_url
db_engine = _db.db_engine
db_kind = _db.db_kind
session = _db.session
new_db_url = _db.new_db_url
new_engine = _db.new_engine
tamper = _db.tamper
