"""Progress reporting that domain code can use without importing a UI library.

Domain functions take a ``Progress`` and wrap long work in ``with progress.stage(...)
as advance:``; the CLI passes a Rich-backed reporter, tests and library callers get
``SILENT``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[float], None]


class Progress(Protocol):
    def stage(
        self, description: str, total: float | None = None
    ) -> AbstractContextManager[Advance]:
        """Report one stage of work; the context yields ``advance(amount_done)``."""
        ...


class _Silent:
    def stage(
        self, description: str, total: float | None = None
    ) -> AbstractContextManager[Advance]:
        return _noop()


@contextmanager
def _noop() -> Iterator[Advance]:
    yield lambda n: None


SILENT: Progress = _Silent()
