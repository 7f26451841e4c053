"""Fixtures for the whole suite, from the modules of ``tests/support`` (see its
``__init__``); a directory's own conftest.py adds what only its tests need."""

pytest_plugins = [
    "tests.support.db",
    "tests.support.cases",
    "tests.support.appeal_world",
    "tests.support.appeals",
    "tests.support.platforms",
    "tests.support.pgcluster",
]
