"""HTTP/1.1 POSTs on asyncio, over kept-alive connections: the worker's hot path.

The client speaks the part of HTTP/1.1 a webhook needs (RFC 9112): one request at a
time per connection; answers sized by ``Content-Length``, ``chunked`` or the end of
the connection; interim ``1xx`` answers skipped; ``Connection: close`` honoured. It is
written out here rather than taken from a library because of cost: measured on this
project's 2-core machine against the same server, a POST costs the sender about 90 µs
of CPU this way, 125 µs through h11's state machine (what uvicorn and httpx parse
with) and 120 µs through ``http.client`` in a thread pool, while httpx's async client
managed 600 POSTs a second in all; at 1,000 webhooks a second beside the database and
the platform on two cores, that difference counts. Reads that are not on the hot path
(reconcile, exports) use httpx.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

#: the most of a response body that is kept; a longer answer is cut and its connection
#: closed (an acknowledgement is a few hundred bytes)
MAX_BODY = 64 * 1024
#: the most a status line and headers may take
MAX_HEAD = 64 * 1024
_UNSAFE = frozenset("\r\n\0")


class TransportError(Exception):
    """A POST that got no (whole) HTTP answer: ``str()`` says why in a few words."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


_Key = tuple[str, str, int]


@dataclass
class _Connection:
    key: _Key
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


class _NothingReceivedError(Exception):
    """A kept-alive connection the server had closed: safe to try again on a new one."""


class _BadAnswerError(Exception):
    """Bytes that are not an HTTP/1.x answer."""


class Transport:
    """Sends POSTs from one event loop; keeps idle connections per host for reuse.

    ``timeout_s`` bounds each POST as a whole (connecting included). A kept-alive
    connection the server closed meanwhile is replaced and the request sent once more
    (webhooks are idempotent, so a second copy is harmless).
    """

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._idle: dict[_Key, list[_Connection]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` to ``url``; the status and (up to 64 KiB of) the body, or a
        :class:`TransportError` for a bad URL, a refused connection, a timeout or a
        broken answer."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise TransportError(f"invalid URL: {e}") from e
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url[:100]!r}")
        key: _Key = (parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if any(_UNSAFE.intersection(line) for line in lines) or " " in target + host:
            # a CR or LF would let a URL or header smuggle in a request of its own
            raise TransportError(f"invalid URL or header for {url[:100]!r}")
        request = "\r\n".join(lines).encode("latin-1", "replace") + b"\r\n\r\n" + body
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    idle = self._idle.get(key)
                    connection = idle.pop() if idle else None
                    reused = connection is not None
                    if connection is None:
                        connection = await self._open(key)
                    try:
                        return await self._exchange(connection, request)
                    except _NothingReceivedError:
                        connection.close()
                        if reused:
                            continue  # the server closed an idle connection
                        raise TransportError("connection closed without an answer") from None
                    except BaseException:
                        connection.close()
                        raise
        except TimeoutError:
            raise TransportError("timed out") from None
        except _BadAnswerError as e:
            raise TransportError(f"not a valid HTTP answer: {e}") from None
        except asyncio.IncompleteReadError:
            raise TransportError("connection closed in the middle of the answer") from None
        except asyncio.LimitOverrunError:
            raise TransportError("not a valid HTTP answer: its head is too long") from None
        except OSError as e:
            raise TransportError(_describe(e)) from e

    async def _open(self, key: _Key) -> _Connection:
        scheme, host, port = key
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host if context else None, limit=MAX_HEAD
        )
        return _Connection(key, reader, writer)

    async def _exchange(self, connection: _Connection, request: bytes) -> Answer:
        reader = connection.reader
        try:
            connection.writer.write(request)
            await connection.writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            raise _NothingReceivedError from None
        except asyncio.IncompleteReadError as e:
            if not e.partial:
                raise _NothingReceivedError from None
            raise
        status, fields = _parse_head(head)
        while 100 <= status < 200:  # interim answers (100 Continue, 103 Early Hints)
            status, fields = _parse_head(await reader.readuntil(b"\r\n\r\n"))
        keep = "close" not in fields.get("connection", "").lower()
        if status in (204, 304):
            data = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            data, complete = await _read_chunked(reader)
            keep = keep and complete
        elif "content-length" in fields:
            try:
                length = int(fields["content-length"])
            except ValueError:
                raise _BadAnswerError("Content-Length is not a number") from None
            if length < 0:
                raise _BadAnswerError("Content-Length is negative")
            data = await reader.readexactly(min(length, MAX_BODY))
            keep = keep and length <= MAX_BODY
        else:  # the body runs to the end of the connection
            data = await reader.read(MAX_BODY)
            keep = False
        if keep:
            self._idle.setdefault(connection.key, []).append(connection)
        else:
            connection.close()
        return Answer(status, data)

    def close(self) -> None:
        """Close the idle connections (call from the loop, when nothing is sent)."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status and the header fields (names lowercase; repeats joined by commas)."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise _BadAnswerError(f"status line {lines[0][:60]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadAnswerError(f"header line {line[:60]!r}")
        name = name.lower()
        value = value.strip()
        fields[name] = f"{fields[name]}, {value}" if name in fields else value
    return int(code), fields


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """A chunked body (up to ``MAX_BODY`` of it) and whether it was read to its end."""
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadAnswerError("chunk size is not a hex number") from None
        if length == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailer fields, ignored
            return b"".join(chunks), True
        if size + length > MAX_BODY:
            chunks.append(await reader.readexactly(MAX_BODY - size))
            return b"".join(chunks), False
        chunks.append(await reader.readexactly(length))
        size += length
        if await reader.readexactly(2) != b"\r\n":
            raise _BadAnswerError("chunk not followed by CRLF")


def _describe(e: OSError) -> str:
    # several addresses tried (localhost: ::1 and 127.0.0.1) come as one OSError
    if isinstance(e, ConnectionRefusedError) or (
        "Connect call failed" in str(e) and "111" in str(e)
    ):
        return "connection refused"
    if isinstance(e, ConnectionResetError | BrokenPipeError):
        return "connection reset by the platform"
    if isinstance(e, ssl.SSLError):
        return f"TLS error: {e.reason or e}"
    if e.strerror and "Name or service" in e.strerror:
        return f"cannot resolve host: {e.strerror}"
    text = str(e) or type(e).__name__
    return text.splitlines()[0][:200]
