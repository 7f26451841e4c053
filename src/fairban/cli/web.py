"""``fairban serve``: the portal, the reviewer console and the JSON API; ``fairban
users add`` for console users; ``fairban contacts load`` for the phones one-time codes
go to; ``fairban appeals recheck`` to run waiting re-checks from a separate process
(registered on the main app)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from fairban.cli import app, err, out

users_app = typer.Typer(help="Reviewer console users.", no_args_is_help=True)
contacts_app = typer.Typer(help="Phones bound to accounts (where codes go).", no_args_is_help=True)
appeals_app = typer.Typer(help="Appeals: the automatic re-check.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(contacts_app, name="contacts")
app.add_typer(appeals_app, name="appeals")


def _waiting(line: str) -> None:
    err.print(line, soft_wrap=True, highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="Evidence folder the automatic re-check runs targeting on."
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev",
            help="Allow the development code sender (FAIRBAN_OTP_SENDER=dev, codes written "
            "to a file) on a --host other than loopback.",
        ),
    ] = False,
) -> None:
    """Serve the appeal portal (/), the reviewer console (/console) and the JSON API
    (/api/v1, OpenAPI at /api/docs). Migrates the database first. Without --data (or
    FAIRBAN_EVIDENCE_DIR) every appeal goes to a person.

    Client addresses (for the per-address limits) are the connection's own unless it
    comes from one of FAIRBAN_TRUSTED_PROXIES, whose X-Forwarded-For is then used.
    Request bodies are bounded while they stream: uploads by FAIRBAN_UPLOAD_MAX_FILES x
    FAIRBAN_UPLOAD_MAX_BYTES, the API's JSON by 4 KiB (an appeal 64 KiB), forms by
    64 KiB; larger ones get 413. Started before its database (a boot, a restart), it
    waits up to 60 s for it."""
    import uvicorn

    from fairban.config import Settings
    from fairban.db import STARTUP_WAIT_S, database_url, open_database

    settings = Settings()
    if settings.otp_sender == "dev" and not dev and not _loopback(host):
        err.print(
            f"--host {host}: FAIRBAN_OTP_SENDER=dev writes one-time codes to a file; "
            "set FAIRBAN_OTP_SENDER=http, or pass --dev",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    # started with the database (a boot, a restart): wait for it a while, then give up
    open_database(
        database_url(settings), migrate=True, wait_s=STARTUP_WAIT_S, say=_waiting
    ).dispose()
    if data is not None:
        if not data.is_dir():
            err.print(f"--data {data}: not a folder")
            raise typer.Exit(2)
        os.environ["FAIRBAN_EVIDENCE_DIR"] = str(data.resolve())
    from fairban.web.app import configure_logging

    configure_logging(settings)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # each worker a process: /metrics adds up their files (prometheus-client's
        # multiprocess mode), a fresh folder per start
        folder = settings.home.expanduser() / "metrics"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())
    out.print(f"fairban serving on http://{host}:{port}/ (console /console, API /api/docs)")
    # uvicorn's access log would print each URL, notice tokens included: ours logs the
    # route template only (fairban.web.app)
    uvicorn.run(
        "fairban.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="info",
        log_config=None,  # configure_logging's handler, in each worker too
        # the app alone decides a client's address (FAIRBAN_TRUSTED_PROXIES): Uvicorn's
        # own default trusts X-Forwarded-For from 127.0.0.1, i.e. from anyone's request
        # through a local proxy, or a local attacker's
        proxy_headers=False,
        # longer than a client's or proxy's idle keep-alive: a request sent on a
        # connection the server is closing fails without reaching it
        timeout_keep_alive=75,
    )


def _loopback(host: str) -> bool:
    """Whether ``host`` listens on this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="reviewer, senior, operator or auditor.")],
    password_env: Annotated[
        str, typer.Option(help="Read the password from this environment variable.")
    ] = "FAIRBAN_NEW_PASSWORD",
) -> None:
    """Create a console user (or set its role and password). The password comes from
    $FAIRBAN_NEW_PASSWORD or a prompt; at least 10 characters."""
    from datetime import UTC, datetime

    from fairban.config import Settings
    from fairban.db import database_url, open_database, session_factory
    from fairban.review.models import Role
    from fairban.review.users import add_user

    try:
        chosen = Role(role)
    except ValueError:
        err.print(f"--role {role!r}: use reviewer, senior, operator or auditor")
        raise typer.Exit(2) from None
    password = os.environ.get(password_env) or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    engine = open_database(database_url(Settings()), migrate=True)
    try:
        with session_factory(engine)() as session, session.begin():
            add_user(session, name, chosen, password, datetime.now(UTC))
    except ValueError as e:
        err.print(str(e))
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    out.print(f"user {name} ({chosen.value}) saved")


@contacts_app.command("load")
def contacts_load(
    file: Annotated[Path, typer.Argument(help="CSV with columns account_id,phone.")],
) -> None:
    """Record the phones platforms have bound to accounts (one-time codes go there)."""
    import csv
    from datetime import UTC, datetime

    from fairban.appeals.codes import set_contact
    from fairban.config import Settings
    from fairban.db import database_url, open_database, session_factory

    engine = open_database(database_url(Settings()), migrate=True)
    n = 0
    try:
        with (
            file.open(newline="", encoding="utf-8") as fh,
            session_factory(engine)() as session,
            session.begin(),
        ):
            now = datetime.now(UTC)
            for row in csv.DictReader(fh):
                set_contact(session, row["account_id"], row["phone"], now)
                n += 1
    finally:
        engine.dispose()
    out.print(f"{n:,} phones recorded")


@appeals_app.command("recheck")
def appeals_recheck(
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="Evidence folder (without: every appeal is queued)."),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running: look for new appeals every --poll s.")
    ] = False,
    poll: Annotated[float, typer.Option(min=0.01, help="Seconds between looks.")] = 0.2,
    batch: Annotated[int, typer.Option(min=1, help="Appeals re-checked in one transaction.")] = 200,
) -> None:
    """Take in and re-check every appeal waiting for it, then exit (or, with --watch,
    keep doing it: the loop that `fairban serve` runs unless
    FAIRBAN_RECHECK_IN_SERVER=false). With --watch, a lost database (a restart) is
    waited for, retrying with a growing pause up to 5 s, one line each time; started
    before its database, it waits up to 60 s for it."""
    import signal
    import time

    from fairban.appeals.recheck import DecisionCache
    from fairban.appeals.sessions import PURGE_EVERY_S
    from fairban.appeals.worker import purge_expired, run_pending
    from fairban.config import Settings
    from fairban.db import (
        STARTUP_WAIT_S,
        Backoff,
        database_lost,
        database_url,
        db_error_line,
        open_database,
        session_factory,
    )
    from fairban.web.deps import expired_purges

    settings = Settings()
    engine = open_database(
        database_url(settings),
        migrate=False,
        wait_s=STARTUP_WAIT_S if watch else 0.0,
        say=_waiting,
    )
    evidence = data or settings.evidence_dir
    cache = (
        DecisionCache(
            evidence,
            settings.home.expanduser() / "recheck",
            duckdb_memory_limit=settings.duckdb_memory_limit,
        )
        if evidence
        else None
    )
    factory = session_factory(engine)
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    total = 0
    purged = 0.0
    backoff = Backoff()
    try:
        while not stop:
            try:
                done = run_pending(factory, cache, settings, limit=batch)
                total += done
                if watch and time.monotonic() - purged >= PURGE_EVERY_S:
                    purge_expired(factory, expired_purges(settings))  # as serve's loop does
                    purged = time.monotonic()
                backoff.reset()
            except Exception as e:
                if not database_lost(e):
                    raise
                if not watch:
                    err.print(f"re-check: database unavailable ({db_error_line(e)})")
                    raise typer.Exit(1) from None
                # a restart of the database must not end the loop: wait and try again
                wait_s = backoff.next_s()
                err.print(
                    f"re-check: database unavailable ({db_error_line(e)}); "
                    f"trying again in {wait_s:.1f} s",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
                time.sleep(wait_s)
                continue
            if done == 0:
                if not watch:
                    break
                time.sleep(poll)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    out.print(f"{total:,} appeals re-checked")


@appeals_app.command("demo-access")
def appeals_demo_access(
    truth: Annotated[
        Path, typer.Option(help="The simulator's truth.csv (its persona column names them).")
    ],
) -> None:
    """For a demo: a fresh notice link (and a phone, if none is on file) for each case
    of the seed personas, and a reviewer and a senior reviewer with new random
    passwords. Prints them; the one-time codes then appear in FAIRBAN_HOME/codes.log."""
    import csv
    import secrets
    from datetime import UTC, datetime

    from sqlalchemy import select

    from fairban.appeals.codes import set_contact
    from fairban.appeals.models import AccountContact
    from fairban.cases.links import appeal_url, issue_token
    from fairban.cases.models import Case
    from fairban.config import Settings
    from fairban.db import database_url, open_database, session_factory
    from fairban.review.models import Role
    from fairban.review.users import add_user

    with truth.open(newline="", encoding="utf-8") as fh:
        personas = {r["account_id"]: r["persona"] for r in csv.DictReader(fh) if r.get("persona")}
    settings = Settings()
    engine = open_database(database_url(settings), migrate=True)
    now = datetime.now(UTC)
    lines: list[str] = []
    try:
        with session_factory(engine)() as session, session.begin():
            cases = session.scalars(
                select(Case).where(Case.account_id.in_(personas)).order_by(Case.account_id)
            )
            for i, case in enumerate(cases):
                if session.get(AccountContact, case.account_id) is None:
                    set_contact(session, case.account_id, f"+86130{i:08d}", now)
                contact = session.get(AccountContact, case.account_id)
                phone = contact.phone if contact else ""
                link = appeal_url(settings, case, issue_token(case))
                lines.append(
                    f"{personas[case.account_id]:<16} {case.account_id}  {case.state.value} "
                    f"{case.measure.value}  phone {phone}\n    {link}"
                )
            passwords = {name: secrets.token_urlsafe(9) for name in ("reviewer", "senior")}
            add_user(session, "demo-reviewer", Role.REVIEWER, passwords["reviewer"], now)
            add_user(session, "demo-senior", Role.SENIOR, passwords["senior"], now)
    finally:
        engine.dispose()
    out.print("Notice links of the seed personas' cases:" if lines else "No persona has a case.")
    for line in lines:
        out.print(line, markup=False, highlight=False)
    out.print(f"Console {settings.public_url.rstrip('/')}/console:")
    out.print(f"  demo-reviewer / {passwords['reviewer']}", markup=False, highlight=False)
    out.print(f"  demo-senior   / {passwords['senior']}", markup=False, highlight=False)
    out.print(f"One-time codes: {settings.home.expanduser() / 'codes.log'}")
