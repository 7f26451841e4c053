"""A throwaway PostgreSQL cluster of the test's own, for the tests that stop, crash or
restart the database server (the shared cluster of FAIRBAN_TEST_POSTGRES_URL serves
everyone else's tests: it is never restarted).

``initdb`` into a fresh folder, ``pg_ctl start`` on a free port with its socket in that
folder, a database ``fairban`` owned by a superuser ``fairban`` (trust authentication,
loopback only); stopped (``-m immediate``) and removed at the end. The binaries are
Debian's (``/usr/lib/postgresql/<version>/bin``, the newest), else those on PATH.
``initdb`` and the server refuse to run as root: as root they run as ``postgres``
through ``runuser``, in a folder that user owns.

The fixture ``pg_cluster`` (registered for the suite by tests/conftest.py) skips only
where no PostgreSQL binaries exist and FAIRBAN_TEST_POSTGRES_URL is unset (a machine
without PostgreSQL at all); where that URL is set (CI), missing binaries fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

#: the user the server runs as when the tests run as root
SERVER_USER = "postgres"


def find_bin() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``: the newest Debian
    version's, else the one ``initdb`` on PATH is in."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()],
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PgCluster:
    """A running throwaway cluster; ``url`` is its database's SQLAlchemy URL."""

    bin: Path
    root: Path  # data/, the socket and the log are in it
    port: int
    as_user: str | None  # run the binaries as this user (when the tests run as root)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://fairban@127.0.0.1:{self.port}/fairban"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}"
                f"{self.server_log()}"
            )
        return done

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _options(self) -> str:
        # small, loopback only, the socket in our own folder (not /var/run/postgresql)
        return (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c shared_buffers=16MB -c max_connections=100"
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "fairban", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.start()
        where = ["-h", str(self.root), "-p", str(self.port)]
        self._run("createdb", *where, "-U", "fairban", "fairban")

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m MODE``: ``immediate`` is the crash (no checkpoint, every
        backend killed, WAL replayed at the start)."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
            "-m", mode, "-w", "-t", "60", "restart",
        )  # fmt: skip

    def running(self) -> bool:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, cwd=self.root).returncode == 0


def _folder(as_user: str | None) -> Path:
    """A new folder the server's user owns, outside pytest's root-only tmp folders."""
    root = Path(tempfile.mkdtemp(prefix="fairban-pg-"))
    if as_user is not None:
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    return root


@contextmanager
def throwaway_cluster() -> Iterator[PgCluster]:
    """A new cluster, running; stopped at once and removed afterwards."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl): install postgresql")
    as_user = SERVER_USER if os.geteuid() == 0 else None
    root = _folder(as_user)
    cluster = PgCluster(bin_dir, root, free_port(), as_user)
    try:
        cluster.init()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            with suppress(RuntimeError):  # removed all the same
                cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster of this test's own (module docstring)."""
    if find_bin() is None:
        if not os.environ.get("FAIRBAN_TEST_POSTGRES_URL"):
            pytest.skip(
                "no PostgreSQL binaries (initdb, pg_ctl) and FAIRBAN_TEST_POSTGRES_URL unset: "
                "the database-restart tests need a cluster of their own"
            )
        pytest.fail("FAIRBAN_TEST_POSTGRES_URL is set but no initdb/pg_ctl was found")
    with throwaway_cluster() as cluster:
        yield cluster
