"""Fixtures for HTTP tests through the app (FastAPI's TestClient): a small world of
2019 with 2019-style decisions (``appeal_world.py``), and per test a case store of its
own on SQLite and, with FAIRBAN_TEST_POSTGRES_URL, on PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def load_world_module() -> ModuleType:
    name = "fairban_tests_appeal_world"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "appeal_world.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


aw = load_world_module()


@pytest.fixture(scope="session")
def appeal_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return aw.build_world(tmp_path_factory.mktemp("appeal-world"))


@pytest.fixture
def portal(new_db_url: str, tmp_path: Path, appeal_world: Any) -> Iterator[Any]:
    yield from aw.make_portal(new_db_url, tmp_path, appeal_world)


@pytest.fixture
def console(new_db_url: str, tmp_path: Path, appeal_world: Any) -> Iterator[Any]:
    """A portal whose circuit breaker trips after 3 decided appeals."""
    yield from aw.make_portal(new_db_url, tmp_path, appeal_world, breaker_min_decided=3)
