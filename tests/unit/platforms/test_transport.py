"""The worker's HTTP/1.1 client against a real TCP server that answers as platforms in
the wild may: sized, chunked, to the end of the connection, after 100 Continue,
closing kept-alive connections, garbage, silence."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from fairban.platforms.transport import MAX_BODY, Answer, Transport, TransportError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def serve(handler: Handler, *posts: tuple[bytes, dict[str, str]], timeout: float = 5.0) -> Any:
    """Run a server with ``handler`` (given each connection's number) and POST to it;
    the answers (or errors) and the number of connections opened."""

    async def main() -> tuple[list[Answer | TransportError], int]:
        connections = 0

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            try:
                await handler(reader, writer, connections)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = Transport(timeout_s=timeout)
        results: list[Answer | TransportError] = []
        for body, headers in posts or ((b"{}", {}),):
            try:
                results.append(await transport.post(f"http://127.0.0.1:{port}/hook", body, headers))
            except TransportError as e:
                results.append(e)
        transport.close()
        server.close()
        return results, connections

    return asyncio.run(main())


def answers(*responses: bytes, hang_up: bool = False) -> Handler:
    """A handler answering each request, on whichever connection, with the next
    response; it keeps a connection open for more unless ``hang_up``."""
    queue = iter(responses)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await read_request(reader)
            writer.write(next(queue))
            await writer.drain()
            if hang_up:
                return

    return handler


OK = b'{"id":"k","applied":true}'
SIZED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n" + OK


def test_a_kept_alive_connection_is_reused() -> None:
    results, connections = serve(answers(SIZED, SIZED, SIZED), *[(b"{}", {})] * 3)
    assert results == [Answer(200, OK)] * 3
    assert connections == 1


def test_the_request_on_the_wire() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        seen.append(await read_request(reader))
        writer.write(SIZED)

    serve(handler, ('{"边境":1}'.encode(), {"Idempotency-Key": "k", "X-Empty": ""}))
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /hook HTTP/1.1"
    assert lines[1].startswith("Host: 127.0.0.1:")
    assert lines[2:] == ["Content-Length: 12", "Idempotency-Key: k", "X-Empty: "]
    assert body == '{"边境":1}'.encode()


def test_chunked_interim_and_to_the_end_answers() -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"id\r\n15\r\n":"k","applied":true}\r\n0\r\nTrailer: x\r\n\r\n'
    )
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + SIZED
    results, connections = serve(answers(chunked, interim), *[(b"{}", {})] * 2)
    assert results == [Answer(202, OK), Answer(200, OK)]
    assert connections == 1

    to_the_end = b"HTTP/1.0 200 OK\r\n\r\n" + OK
    results, connections = serve(answers(to_the_end, to_the_end, hang_up=True), *[(b"{}", {})] * 2)
    assert results == [Answer(200, OK), Answer(200, OK)]
    assert connections == 2  # no length: the connection ended the answer


def test_connection_close_and_idle_connections_the_server_closed() -> None:
    close = b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    results, connections = serve(answers(close, close, hang_up=True), *[(b"{}", {})] * 2)
    assert results == [Answer(503, b"")] * 2
    assert connections == 2

    # the server keeps one request per connection but says nothing: the kept-alive
    # connection is dead when reused, and the request goes again on a new one
    results, connections = serve(answers(SIZED, SIZED, SIZED, hang_up=True), *[(b"{}", {})] * 3)
    assert results == [Answer(200, OK)] * 3
    assert connections == 3


def test_a_long_answer_is_cut_and_its_connection_dropped() -> None:
    long = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 10) + b"x" * (
        MAX_BODY + 10
    )
    results, connections = serve(answers(long, SIZED), *[(b"{}", {})] * 2)
    first = results[0]
    assert isinstance(first, Answer)
    assert len(first.body) == MAX_BODY
    assert results[1] == Answer(200, OK)
    assert connections == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (b"hello\r\n\r\n", "not a valid HTTP answer: status line 'hello'"),
        (b"HTTP/1.1 2xx OK\r\n\r\n", "not a valid HTTP answer: status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "not a valid HTTP answer: header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length is not a number"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort", "in the middle of the answer"),
        (b"HTTP/1.1 200 OK\r\nContent-", "in the middle of the answer"),
        (b"", "connection closed without an answer"),
    ],
)
def test_broken_answers(response: bytes, error: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()

    (result,), _ = serve(handler)
    assert isinstance(result, TransportError)
    assert error in str(result)


def test_silence_times_out() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    (result,), _ = serve(handler, timeout=0.3)
    assert str(result) == "timed out"


def test_urls_and_headers_that_cannot_be_sent() -> None:
    async def main() -> list[str]:
        transport = Transport(timeout_s=2)
        errors = []
        for url, headers in [
            ("ftp://127.0.0.1/hook", {}),
            ("http://127.0.0.1:port/hook", {}),
            ("http://127.0.0.1:9/hook", {}),
            ("http://127.0.0.1:9/a b", {}),
            ("http://127.0.0.1:9/hook", {"X-Evil": "1\r\nX-Injected: 2"}),
        ]:
            try:
                await transport.post(url, b"{}", headers)
            except TransportError as e:
                errors.append(str(e))
        return errors

    assert asyncio.run(main()) == [
        "not an http(s) URL: 'ftp://127.0.0.1/hook'",
        "invalid URL: Port could not be cast to integer value as 'port'",
        "connection refused",
        "invalid URL or header for 'http://127.0.0.1:9/a b'",
        "invalid URL or header for 'http://127.0.0.1:9/hook'",
    ]
