"""A streaming HTTP/1.1 POST over asyncio, for the SUBSCRIBE call: the status, the headers
(``Location`` of a 307, ``Mesos-Stream-Id``) and then the body as it arrives, chunked or not.
Unlike a general HTTP client it can be closed at any moment (a lost heartbeat)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

MAX_HEADER = 64 * 1024


class StreamError(OSError):
    pass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    chunked: bool = field(default=False)

    async def body(self) -> AsyncIterator[bytes]:
        if not self.chunked:
            length = self.headers.get("content-length")
            if length is not None and length.isdigit():
                if int(length):
                    yield await self.reader.readexactly(int(length))
                return
            while data := await self.reader.read(65536):
                yield data
            return
        while True:
            line = await self.reader.readline()
            if not line.endswith(b"\r\n"):
                raise StreamError("the stream ended inside a chunk header")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await self.reader.readline()
                return
            data = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield data

    async def read_all(self, limit: int = 1 << 20) -> bytes:
        out = b""
        async for data in self.body():
            out += data
            if len(out) > limit:
                break
        return out

    def close(self) -> None:
        self.writer.close()


async def post(
    host: str, port: int, path: str, headers: dict[str, str], body: bytes, timeout: float = 10
) -> Response:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        writer.close()
        raise StreamError(f"no HTTP response: {e}") from None
    if len(head) > MAX_HEADER:
        writer.close()
        raise StreamError("response headers too large")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        writer.close()
        raise StreamError(f"bad status line {status_line!r}")
    found = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            found[name.strip().lower()] = value.strip()
    chunked = found.get("transfer-encoding", "").lower() == "chunked"
    return Response(int(parts[1]), found, reader, writer, chunked)
