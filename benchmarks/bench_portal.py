"""The person's portal pages under load, with the re-check running beside the server.

    uv run --group bench python benchmarks/bench_portal.py [--postgres URL]
        [--persons 600] [--concurrency 8]

URL defaults to $FAIRBAN_TEST_POSTGRES_URL; the run uses a new schema of that database,
dropped afterwards. PERSONS synthetic cases (suspend, under the directive of a small
simulated world), each with a verified portal session, are written to the database
(``bench_appeals._seed``). ``fairban serve`` runs beside one ``fairban appeals recheck
--watch`` (no evidence folder: every appeal is taken in and queued for a person, the
re-check's database work without the engine). CONCURRENCY clients then walk each
person's journey: the SMS's bare link ``/c/<case>``, the case page (the notice and the
form), the appeal filed through the API, and the status page right after filing (the
issue's "first status page"), then again. Each page is timed from request to last byte;
``/api/v1/health`` is timed in the same run as the floor (an HTTP round trip through
the same server and middleware, no page). Prints markdown: p50, p95, p99 and max per
page. Tests never assert timings; this is where they are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from hashlib import sha256
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_appeals import Procs, _free_port, _percentile, _seed, _wait_http

PAGES = ("health (floor)", "bare link /c/<case>", "case page", "appeal (API)", "first status")


async def _walk(base: str, people: list[tuple[str, str]], concurrency: int) -> dict[str, Any]:
    import aiohttp

    times: dict[str, list[float]] = {p: [] for p in (*PAGES, "status again")}
    bad: dict[str, int] = {}
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for p in people:
        queue.put_nowait(p)
    timeout = aiohttp.ClientTimeout(total=120)

    async def timed(client: Any, page: str, method: str, path: str, ok: int, **kw: Any) -> None:
        started = time.perf_counter()
        async with client.request(method, path, allow_redirects=False, **kw) as r:
            await r.read()
            if r.status != ok:
                bad[f"{page} {r.status}"] = bad.get(f"{page} {r.status}", 0) + 1
        times[page].append(time.perf_counter() - started)

    async def one() -> None:
        while not queue.empty():
            number, token = queue.get_nowait()
            # a client per person: their own cookie jar, as on their own phone
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(base, cookie_jar=jar, timeout=timeout) as client:
                await timed(client, "health (floor)", "GET", "/api/v1/health", 200)
                await timed(client, "bare link /c/<case>", "GET", f"/c/{number}", 200)
                jar.update_cookies({"fb_portal": token})
                await timed(client, "case page", "GET", "/case", 200)
                body = {
                    "grounds": ["never_been_there"],
                    "statement": "I have never been to Myanmar.",
                    "submit_key": sha256(token.encode()).hexdigest()[:40],
                }
                headers = {"Authorization": f"Bearer {token}"}
                await timed(
                    client, "appeal (API)", "POST", "/api/v1/case/appeals", 201,
                    json=body, headers=headers,
                )  # fmt: skip
                await timed(client, "first status", "GET", "/case/status", 200)
                await timed(client, "status again", "GET", "/case/status", 200)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    return {"times": times, "bad": bad, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("FAIRBAN_TEST_POSTGRES_URL", ""))
    parser.add_argument("--persons", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("give --postgres URL or set FAIRBAN_TEST_POSTGRES_URL")

    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from fairban.db import make_engine, normalize_url, upgrade

    base_url = normalize_url(args.postgres)
    schema = f"fairban_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        version = c.exec_driver_sql("SHOW server_version").scalar()
    url = base_url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    procs: Procs | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="fairban-bench-portal-") as tmp:
            scratch = Path(tmp)
            world = scratch / "world"
            subprocess.run(
                [sys.executable, "-m", "fairban.cli", "simulate", "--accounts", "300",
                 "--seed", "7", "--out", str(world), "-q"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            tokens = _seed(url, world, args.persons, "pt", persons=False)
            people = [(f"FB-pt-qq-{i:07d}", t) for i, t in enumerate(tokens)]
            env = {
                **os.environ,
                "FAIRBAN_DATABASE_URL": url,
                "FAIRBAN_HOME": str(scratch / "home"),
                "FAIRBAN_SECRET_KEY": "bench",
                "FAIRBAN_APPEALS_PER_WINDOW": "1000",
                "FAIRBAN_RECHECK_IN_SERVER": "false",  # its own process, below
            }
            env.pop("FAIRBAN_EVIDENCE_DIR", None)
            procs = Procs(env, scratch)
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            procs.start("serve", "serve", "--port", str(port))
            procs.start("recheck", "appeals", "recheck", "--watch")
            _wait_http(f"{base}/api/v1/health")
            result = asyncio.run(_walk(base, people, args.concurrency))
            load = os.getloadavg()
            print(
                f"PostgreSQL {version}; {os.cpu_count()} cores shared by the server, the "
                f"re-check, PostgreSQL and the clients; load average after "
                f"{load[0]:.1f}\n"
            )
            print(
                f"{args.persons} persons, {args.concurrency} at a time, "
                f"{result['seconds']:.1f} s in all\n"
            )
            print("| page | requests | p50 ms | p95 ms | p99 ms | max ms |")
            print("|---|---:|---:|---:|---:|---:|")
            for page, values in result["times"].items():
                ms = sorted(v * 1000 for v in values)
                print(
                    f"| {page} | {len(ms)} | {_percentile(ms, 50):.0f} | "
                    f"{_percentile(ms, 95):.0f} | {_percentile(ms, 99):.0f} | {ms[-1]:.0f} |"
                )
            if result["bad"]:
                print(f"\nunexpected answers: {result['bad']}")
    finally:
        if procs is not None:
            procs.stop()
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
