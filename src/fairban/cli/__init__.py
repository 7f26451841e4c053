"""The ``fairban`` command line: every subcommand is a thin call into a domain module.

Errors reach the person as one line on standard error (data contract, "Errors"); a
traceback only with ``--debug``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgressBar

from fairban import __version__
from fairban.errors import FairbanError
from fairban.progress import Advance

app = typer.Typer(
    name="fairban",
    help="Find the accounts that really run fraud from designated areas, with reasons, "
    "graded measures and appeals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # markdown: a docstring's lines join into paragraphs that fit the terminal
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

out = Console(soft_wrap=True)  # long lines stay whole when piped or copied
err = Console(stderr=True)
_debug = False


class RichProgress:
    """Progress bars on standard error, cleared when each stage ends so that an error
    stays the only line there; silent when ``quiet`` or when stderr is not a terminal."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet or not err.is_terminal

    def stage(
        self, description: str, total: float | None = None
    ) -> AbstractContextManager[Advance]:
        return self._stage(description, total)

    @contextmanager
    def _stage(self, description: str, total: float | None) -> Iterator[Advance]:
        if self.quiet:
            yield lambda n: None
            return
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if total is not None else TextColumn(""),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with RichProgressBar(*columns, console=err, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
            if total is not None:
                bar.update(task, completed=total)


def _version(value: bool) -> None:
    if value:
        out.print(f"fairban {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks on errors.")
    ] = False,
) -> None:
    global _debug
    _debug = debug


DataOption = Annotated[
    Path,
    typer.Option(
        "--data", "-d", help="Evidence folder (accounts, observations, interactions, confirmed)."
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


# the commands over evidence (validate, simulate, target, preview) register here, so
# that --help lists them first (they import ``app`` and the helpers above)
from fairban.cli import evidence as _evidence  # noqa: E402, F401

audit_app = typer.Typer(
    help="The tamper-evident audit log: verify it, export it, sign checkpoints of its "
    "head, and prove a case's entries, for anyone to verify.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
db_app = typer.Typer(help="The case store's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database, or migrate it to this version's schema; safe to run again.

    FAIRBAN_DATABASE_URL (PostgreSQL: postgresql://USER:PASSWORD@HOST/DB), by default
    the SQLite file FAIRBAN_HOME/fairban.db.
    """
    from fairban.config import get_settings
    from fairban.db import database_url, head_revision, open_database

    engine = open_database(database_url(get_settings()), migrate=True)
    where = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    out.print(f"database {where} is at migration {head_revision()}", markup=False, highlight=False)


# command groups of other domains live beside this module and register themselves on
# ``app`` (imported last: they import ``app``, ``out`` and ``err`` from here)
from fairban.cli import audit as _audit  # noqa: E402, F401
from fairban.cli import cases as _cases  # noqa: E402, F401
from fairban.cli import platforms as _platforms  # noqa: E402, F401
from fairban.cli import report as _report  # noqa: E402, F401
from fairban.cli import shadow as _shadow  # noqa: E402, F401
from fairban.cli import store as _store  # noqa: E402, F401
from fairban.cli import web as _web  # noqa: E402, F401


def main() -> None:
    """Entry point: run the app, turning expected failures into one line on stderr."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except typer.TyperException as e:  # usage errors: Typer's own one-line message
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {e}\n")
        sys.exit(int(getattr(e, "exit_code", 2)))
    except FairbanError as e:
        if _debug:
            raise
        # the contract's form: 'FILE row N: what is wrong', one line, no prefix
        sys.stderr.write(" ".join(str(e).split("\n")) + "\n")
        sys.exit(e.exit_code)
    except Exception as e:
        if _debug:
            raise
        sys.stderr.write(
            f"internal error: {type(e).__name__}: {e} (run again with --debug for details)\n"
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
