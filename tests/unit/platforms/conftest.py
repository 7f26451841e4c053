"""Real processes for the platform tests: the reference platform (`fairban platform-sim`)
started as a subprocess on a free port, the command line, and a database of each
test's own. No mocks: the worker talks HTTP to a server that keeps its own SQLite
table. The helpers live in support.py (``sys.modules["fairban_tests_platform_support"]``).
"""

from __future__ import annotations

import importlib.util
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import pytest


def _load_support() -> ModuleType:
    name = "fairban_tests_platform_support"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "support.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


support = _load_support()
Sim = support.Sim


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sim]]:
    """``sims(name)`` starts a reference platform for the module; all stop at its end."""
    started: list[Sim] = []
    folder = tmp_path_factory.mktemp("sims")

    def start(name: str = "wechat") -> Sim:
        sim = Sim(name=name, db=folder / f"{name}-{uuid4().hex[:6]}.db", home=folder)
        started.append(sim)
        return sim.start()

    try:
        yield start
    finally:
        for sim in started:
            sim.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_sim(sims: Callable[..., Sim]) -> Sim:
    """One reference platform for the module's tests (each resets its behaviour)."""
    return sims("wechat")


@pytest.fixture
def sim(shared_sim: Sim) -> Sim:
    """The module's reference platform, well-behaved at the start of the test."""
    if shared_sim.process is None or shared_sim.process.poll() is not None:
        shared_sim.start()
    shared_sim.reset()
    return shared_sim
