"""What the tests share: helpers imported as a package (``from tests.support.cases
import D, Decide``) and fixtures that tests/conftest.py registers for the whole suite
through ``pytest_plugins``.

``tests`` itself is a namespace package found through pytest's ``pythonpath = ["."]``
(pyproject.toml); test modules are still imported with ``--import-mode=importlib``.

- ``db``: the databases (SQLite, and PostgreSQL with ``FAIRBAN_TEST_POSTGRES_URL``):
  ``session``, ``new_engine``, ``new_db_url``, ``tamper``
- ``cases``: real directive YAML and decisions.csv files, and cases made from them:
  ``make_directive``, ``D``, ``Decide`` (fixtures ``directive``, ``decide``)
- ``appeal_world``: a small simulated world of 2019 and the HTTP app seeded from it
  (fixtures ``appeal_world``, ``portal``, ``console``)
- ``appeals``: the test directive enforced on a few people, appeals filed and queued
  through the real flows, console users (fixtures ``enforced``, ``blobs``,
  ``world_cases``, ``world_recheck``)
- ``platforms``: the reference platform as a real subprocess, the command line and the
  outbox (fixtures ``sims``, ``shared_sim``, ``sim``)
- ``pgcluster``: a throwaway PostgreSQL cluster of the test's own, for tests that crash
  or restart the database (fixture ``pg_cluster``; never the shared one)
- ``surge``: a small surge with real processes (server, re-check, worker, platforms)
  and a client filing over HTTP, and the exactly-once checks of the fault tests
- ``servers``: a free port, and waiting for a server the test started
- ``preview_decisions``: a decisions table made from a world's truth, for the preview
  report's tests only
"""
