"""What a feature is: one SQL query, over tables it names, that makes one table.

A ``Feature`` declares the table it writes (its ``name``), the tables it reads (its
inputs: the evidence views, the presence stage's ``near``, or earlier features'
tables) and its SQL, made for one ``Scope`` (what the directive gives: the window,
the platforms, the areas). ``pipeline.PIPELINE`` runs them in order; a test runs one
alone over inline tables named as its ``reads``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fairban.targeting.features.clock import Window


@dataclass(frozen=True)
class Step:
    """One table to materialise: its ``name`` and the SQL (DuckDB dialect) that makes it."""

    name: str
    sql: str


@dataclass(frozen=True)
class Scope:
    """What a directive gives every feature: the evidence ``window``, the ``platforms``
    in scope and its areas as the pre-filter predicate over ``lat``, ``lon`` and
    ``accuracy_m`` (``AreaIndex.sql_prefilter``)."""

    window: Window
    platforms: tuple[str, ...]
    prefilter: str


#: a feature's SQL for one scope
Query = Callable[[Scope], str]


@dataclass(frozen=True)
class Feature:
    """One table of the pipeline: ``name`` is the table it writes, ``reads`` the tables
    its SQL reads (nothing else), ``query`` makes its SQL for a scope."""

    name: str
    reads: tuple[str, ...]
    query: Query

    def sql(self, scope: Scope) -> str:
        return self.query(scope)

    def step(self, scope: Scope) -> Step:
        return Step(self.name, self.query(scope))


def feature(name: str, *, reads: tuple[str, ...]) -> Callable[[Query], Feature]:
    """Make the decorated query a ``Feature`` that writes ``name`` from ``reads``."""

    def make(query: Query) -> Feature:
        return Feature(name, reads, query)

    return make
