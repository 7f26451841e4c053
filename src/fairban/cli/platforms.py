"""``fairban worker``, ``platform``, ``platform-sim``, ``reconcile`` and the outbox
commands (registered on the main app).

Why one module of this size: these commands share the worker's and the reference
platform's options and their signal handling; each command stays a thin call.
"""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fairban.cli import app, err, out

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from fairban.platforms.worker import WorkerStats


def _default_actor() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "operator:unknown"


ActorOption = Annotated[
    str | None,
    typer.Option(help="Who is acting, for the audit log [default: operator:$USER]."),
]


def _engine(wait_s: float = 0.0) -> Engine:
    from fairban.config import get_settings
    from fairban.db import database_url, open_database

    def waiting(line: str) -> None:
        err.print(line, soft_wrap=True, highlight=False)

    return open_database(database_url(get_settings()), wait_s=wait_s, say=waiting)


def _when(at: datetime | None) -> str:
    return "" if at is None else f"{at:%Y-%m-%d %H:%M:%S}Z"


def _plain(text: str) -> None:
    out.print(text, markup=False, highlight=False)


# --- platform ------------------------------------------------------------------

platform_app = typer.Typer(
    help="The platforms fairban sends measures to: webhook URL and shared secret.",
    no_args_is_help=True,
)
app.add_typer(platform_app, name="platform")


@platform_app.command("add")
def platform_add(
    name: Annotated[str, typer.Argument(help="The platform's name, as in the evidence.")],
    url: Annotated[str, typer.Option("--url", help="Its webhook URL (http or https).")],
    secret: Annotated[
        str | None,
        typer.Option(
            help="The shared secret (at least 16 characters) [default: a new random one, "
            "shown once]."
        ),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Register a platform; measures and lifts for it go to its webhook, signed.

    Its read endpoints (accounts, data exports) are addressed relative to the webhook
    URL. Without --secret a secret is generated and printed once: give it to the
    platform now, it is not shown again.
    """
    from fairban.db import session_factory
    from fairban.platforms.registry import add_platform

    engine = _engine()
    try:
        with session_factory(engine)() as session, session.begin():
            platform, generated = add_platform(
                session, name=name, url=url, secret=secret, actor=actor or _default_actor()
            )
            shown = platform.secret
    finally:
        engine.dispose()
    _plain(f"platform {name} registered: webhook {url.strip()}")
    if generated:
        _plain(f"secret: {shown}")
        _plain("(shown once: configure the platform with it now)")


@platform_app.command("list")
def platform_list() -> None:
    """The registered platforms with their outbox counts (secrets are not shown)."""
    from fairban.db import session_factory
    from fairban.platforms.registry import list_platforms

    engine = _engine()
    try:
        with session_factory(engine, read_only=True)() as session:
            platforms = list_platforms(session)
    finally:
        engine.dispose()
    if not platforms:
        _plain("no platforms registered: add one with `fairban platform add NAME --url URL`")
        return
    table = Table("platform", "webhook", "enabled", "pending", "delivered", "dead", "last ack")
    for p in platforms:
        table.add_row(
            p.name,
            p.webhook_url,
            "yes" if p.enabled else "no",
            f"{p.pending:,}",
            f"{p.delivered:,}",
            f"{p.dead:,}",
            _when(p.last_delivered_at),
        )
    out.print(table)


def _set_enabled(name: str, enabled: bool, actor: str | None) -> None:
    from fairban.db import session_factory
    from fairban.platforms.registry import set_enabled

    engine = _engine()
    try:
        with session_factory(engine)() as session, session.begin():
            set_enabled(session, name, enabled, actor=actor or _default_actor())
    finally:
        engine.dispose()


@platform_app.command("disable")
def platform_disable(
    name: Annotated[str, typer.Argument(help="The platform.")], actor: ActorOption = None
) -> None:
    """Stop sending to a platform; its messages wait, in order, until it is enabled."""
    _set_enabled(name, False, actor)
    _plain(f"platform {name} disabled: its messages wait until `fairban platform enable {name}`")


@platform_app.command("enable")
def platform_enable(
    name: Annotated[str, typer.Argument(help="The platform.")], actor: ActorOption = None
) -> None:
    """Send to a platform again."""
    _set_enabled(name, True, actor)
    _plain(f"platform {name} enabled")


@platform_app.command("remove")
def platform_remove(
    name: Annotated[str, typer.Argument(help="The platform.")],
    force: Annotated[
        bool, typer.Option(help="Remove it even with messages still undelivered.")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Forget a platform. Refused while it has undelivered messages, unless --force
    (they then fail as addressed to an unknown platform and end as dead letters)."""
    from fairban.db import session_factory
    from fairban.platforms.registry import remove_platform

    engine = _engine()
    try:
        with session_factory(engine)() as session, session.begin():
            left = remove_platform(session, name, actor=actor or _default_actor(), force=force)
    finally:
        engine.dispose()
    note = f" ({left:,} undelivered messages stay in the outbox)" if left else ""
    _plain(f"platform {name} removed{note}")


# --- the reference platform ------------------------------------------------------


@app.command("platform-sim")
def platform_sim(
    name: Annotated[str, typer.Option("--name", help="The platform it plays (wechat, ...).")],
    secret: Annotated[
        str,
        typer.Option(
            envvar="FAIRBAN_SIM_SECRET",
            help="The secret shared with fairban (or FAIRBAN_SIM_SECRET, kept out of `ps`).",
        ),
    ],
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Its account table, a SQLite file [default: FAIRBAN_HOME/sim-NAME.db]."
        ),
    ] = None,
    fail_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of webhooks answered 503.")
    ] = 0.0,
    delay_ms: Annotated[int, typer.Option(min=0, help="Wait this long before answering.")] = 0,
    replay_window: Annotated[
        float, typer.Option(min=1.0, help="Seconds a signature stays acceptable.")
    ] = 300.0,
) -> None:
    """Run the reference platform: a real HTTP server that verifies signatures, applies
    measures and lifts to its own account table once per idempotency key, and answers
    account reads and data exports (docs/platforms.md).

    Register it with `fairban platform add NAME --url http://HOST:PORT/webhook --secret
    S`. POST /control (signed) makes it fail, answer garbage, lose acknowledgements or
    slow down while it runs. Stops on Ctrl-C or SIGTERM.
    """
    from fairban.config import get_settings
    from fairban.platforms.reference import Behaviour, serve
    from fairban.platforms.registry import check_name

    check_name(name)
    path = db if db is not None else get_settings().home / f"sim-{name}.db"
    serve(
        name=name,
        secret=secret,
        db_path=path,
        host=host,
        port=port,
        behaviour=Behaviour(fail_rate=fail_rate, delay_ms=delay_ms),
        tolerance_s=replay_window,
        announce=_plain,
    )


# --- the worker ------------------------------------------------------------------


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due, then exit (for cron and tests).")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, help="Messages claimed at a time.")] = 200,
    concurrency: Annotated[int, typer.Option(min=1, help="POSTs in flight at once.")] = 16,
    max_attempts: Annotated[
        int, typer.Option(min=1, help="Tries before a message becomes a dead letter.")
    ] = 20,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds one POST may take, connecting included.")
    ] = 10.0,
    lease: Annotated[
        float,
        typer.Option(
            help="Seconds a claimed message is reserved for this worker; after a crash it "
            "is sent again once its lease ends. Must exceed --timeout."
        ),
    ] = 60.0,
    backoff_base: Annotated[
        float, typer.Option(min=0.0, help="Backoff after the first failed try, in seconds.")
    ] = 1.0,
    backoff_cap: Annotated[
        float, typer.Option(min=0.0, help="The longest backoff between tries, in seconds.")
    ] = 600.0,
    poll: Annotated[
        float, typer.Option(min=0.001, help="Seconds between looks for new messages.")
    ] = 0.05,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every failed try, not only dead letters.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No status line.")] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve Prometheus metrics (deliveries and failures by platform) on this "
            "port of 127.0.0.1; the outbox's lag is on `fairban serve`'s /metrics."
        ),
    ] = None,
) -> None:
    """Deliver the outbox: signed webhooks, in order per account, with retries.

    Claims due messages (several workers may run on PostgreSQL), sends them, records
    each try and each acknowledgement. Failed tries wait an exponential backoff with
    full jitter; after --max-attempts a message is dead until `fairban outbox retry`.
    Messages of a paused directive are held until it resumes. Ctrl-C or SIGTERM
    finishes the POSTs in flight, records them and exits. Started before its database
    (a boot, a restart), it waits up to 60 s for it (not with --once).
    """
    from fairban.platforms.worker import DeliveryWorker, WorkerConfig

    if metrics_port is not None:
        from prometheus_client import start_http_server

        # the worker is a process of its own: its counters on a port of its own,
        # loopback only (a sidecar or node agent scrapes it)
        start_http_server(metrics_port, addr="127.0.0.1")

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        config = WorkerConfig(
            batch=batch,
            concurrency=concurrency,
            max_attempts=max_attempts,
            backoff_base_s=backoff_base,
            backoff_cap_s=backoff_cap,
            timeout_s=timeout,
            lease_s=lease,
            poll_s=poll,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    from fairban.db import STARTUP_WAIT_S

    # a worker started with the database (a boot, a restart) waits for it a while
    engine = _engine(0.0 if once else STARTUP_WAIT_S)
    live = Live(Text(""), console=err, transient=True) if err.is_terminal and not quiet else None
    last_line = [time.monotonic()]  # without a terminal: a line every 30 s, none at once

    def progress(stats: WorkerStats) -> None:
        line = _status(stats)
        if live is not None:
            live.update(Text(line))
        elif not quiet and time.monotonic() - last_line[0] >= 30.0:
            last_line[0] = time.monotonic()
            err.print(line, markup=False, highlight=False)

    delivery = DeliveryWorker(engine, config, on_progress=progress)
    signals = [0]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals[0] += 1
        if signals[0] > 1:
            os._exit(130)  # asked twice: stop now; unrecorded tries are sent again later
        delivery.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if live is not None:
            live.start()
        stats = delivery.run(once=once)
    finally:
        if live is not None:
            live.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        engine.dispose()
    elapsed = time.monotonic() - stats.started
    pending = "" if stats.pending is None else f"; {stats.pending:,} pending"
    rate = stats.delivered / elapsed if elapsed > 0 else 0.0
    _plain(
        f"delivered {_count(stats.delivered, 'message')} in {elapsed:.1f} s ({rate:,.0f}/s); "
        f"{_count(stats.failed_tries, 'failed try', 'failed tries')}; "
        f"{_count(stats.dead, 'dead letter')}{pending}"
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _status(stats: WorkerStats) -> str:
    pending = "" if stats.pending is None else f", {stats.pending:,} pending"
    return (
        f"worker: {stats.delivered:,} delivered ({stats.rate:,.0f}/s), "
        f"{stats.failed_tries:,} failed tries, {stats.dead:,} dead, "
        f"{stats.in_flight:,} in flight{pending}"
    )


# --- the outbox ------------------------------------------------------------------

outbox_app = typer.Typer(
    help="The outbox of webhooks: what waits and why; dead letters.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("list")
def outbox_list(
    state: Annotated[
        str | None, typer.Option(help="Only messages in this state: pending, delivered, dead.")
    ] = None,
    platform: Annotated[str | None, typer.Option(help="Only messages to this platform.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, oldest first.")] = 50,
) -> None:
    """Outbox messages, oldest first: state, tries, the last error, and for a pending
    one why it waits (a paused directive, an earlier message, its next try)."""
    from fairban.db import session_factory
    from fairban.platforms.models import OutboxState
    from fairban.platforms.service import list_messages, outbox_counts

    wanted: OutboxState | None = None
    if state is not None:
        try:
            wanted = OutboxState(state)
        except ValueError as e:
            raise typer.BadParameter(
                f"{state!r} is not one of {', '.join(s.value for s in OutboxState)}",
                param_hint="--state",
            ) from e
    engine = _engine()
    try:
        with session_factory(engine, read_only=True)() as session:
            counts = outbox_counts(session, platform)
            messages = list_messages(session, state=wanted, platform=platform, limit=limit)
    finally:
        engine.dispose()
    _plain("outbox: " + ", ".join(f"{n:,} {s.value}" for s, n in counts.items()))
    if not messages:
        return
    table = Table("id", "platform", "account", "kind", "state", "tries", "created", "status")
    for m in messages:
        if m.state.value == "delivered":
            status = f"acknowledged {_when(m.delivered_at)}"
        elif m.state.value == "dead":
            status = m.last_error or ""
        else:
            status = m.waiting or "due now"
            if m.last_error:
                status += f"; last error: {m.last_error}"
        table.add_row(
            str(m.id),
            m.platform,
            m.account_id,
            m.kind.value,
            m.state.value,
            str(m.attempts),
            _when(m.created_at),
            status,
        )
    out.print(table)
    shown = counts[wanted] if wanted is not None else sum(counts.values())
    if platform is None and shown > len(messages):
        _plain(f"... {shown - len(messages):,} more (--limit)")


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Message ids (see `outbox list`).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
    platform: Annotated[
        str | None, typer.Option(help="With --all-dead: only this platform's.")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Give messages another round of tries (audited): a dead letter becomes pending
    with its tries counted from zero, a pending message becomes due now. A running
    worker picks them up, in order per account."""
    from fairban.db import session_factory
    from fairban.platforms.service import retry_messages

    if not ids and not all_dead:
        raise typer.BadParameter("give message ids or --all-dead")
    engine = _engine()
    try:
        with session_factory(engine)() as session, session.begin():
            done = retry_messages(
                session,
                ids or [],
                all_dead=all_dead,
                platform=platform,
                actor=actor or _default_actor(),
            )
    finally:
        engine.dispose()
    _plain(
        f"revived {_count(len(done.revived), 'dead letter')}, made "
        f"{_count(len(done.hurried), 'pending message')} due now"
        + _ids(done.revived + done.hurried)
    )
    if done.skipped:
        _plain(f"skipped {len(done.skipped):,} already delivered" + _ids(done.skipped))


def _ids(ids: list[int]) -> str:
    if not ids:
        return ""
    shown = ", ".join(f"#{i}" for i in sorted(ids)[:10])
    return f" ({shown}{', ...' if len(ids) > 10 else ''})"


# --- reconcile -------------------------------------------------------------------


@app.command()
def reconcile(
    platform: Annotated[
        str | None, typer.Option(help="Only this platform [default: every enabled one].")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for a platform.")] = 30.0,
) -> None:
    """Compare each platform's accounts with what fairban delivered to it.

    Lists every difference: a measure missing at the platform, a measure fairban lifted
    still on there, a different measure, or a measure fairban never sent. Exit status 0
    when they agree, 1 when they differ, 2 when a platform cannot be read.
    """
    from sqlalchemy import select

    from fairban.db import session_factory
    from fairban.platforms.client import PlatformUnavailableError
    from fairban.platforms.models import Platform
    from fairban.platforms.reconcile import reconcile as compare_platform
    from fairban.platforms.registry import get_platform

    engine = _engine()
    unreadable = 0
    differences = 0
    try:
        with session_factory(engine, read_only=True)() as session:
            if platform is not None:
                targets = [get_platform(session, platform)]
            else:
                targets = list(
                    session.scalars(
                        select(Platform).where(Platform.enabled).order_by(Platform.name)
                    )
                )
            if not targets:
                _plain("no platforms to reconcile: add one with `fairban platform add`")
                return
            for target in targets:
                try:
                    report = compare_platform(session, target, timeout_s=timeout)
                except PlatformUnavailableError as e:
                    unreadable += 1
                    err.print(str(e), markup=False, highlight=False)
                    continue
                waiting = ""
                if report.pending or report.dead:
                    waiting = (
                        f"; not yet delivered: {report.pending:,} pending, {report.dead:,} dead"
                    )
                verdict = (
                    "agree"
                    if report.ok
                    else f"{len(report.differences):,} difference"
                    + ("s" if len(report.differences) != 1 else "")
                )
                _plain(
                    f"{report.platform}: {report.measures_in_force:,} measures in force on "
                    f"{report.accounts_fairban:,} accounts in fairban, "
                    f"{report.accounts_platform:,} accounts with measures at the platform: "
                    f"{verdict}{waiting}"
                )
                if report.ok:
                    continue
                differences += len(report.differences)
                table = Table("account", "case", "fairban", "platform", "difference", "outbox")
                for d in report.differences:
                    table.add_row(
                        d.account_id,
                        d.case_number or "-",
                        d.fairban,
                        d.at_platform,
                        d.kind.text,
                        d.outbox,
                    )
                out.print(table)
    finally:
        engine.dispose()
    if unreadable:
        raise typer.Exit(2)
    if differences:
        raise typer.Exit(1)
