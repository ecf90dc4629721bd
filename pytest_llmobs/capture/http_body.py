"""A request body read from its connection, whole within a deadline: of the length its
Content-Length says, or in chunks (Transfer-Encoding: chunked, which exporters that
stream their gzip, as Node's does, send). A client that stops sending, or sends a byte
at a time, is let go; what goes wrong raises OtlpError with the status to answer."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Protocol

from pytest_llmobs.capture.otlp_values import OtlpError

CHUNK = 1 << 16  # bytes read at once
MAX_LINE = 4096  # bytes of a chunk's size line or a trailer line
HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")  # a chunk's size, as HTTP/1.1 writes it


class Stream(Protocol):
    """What a request handler's rfile (a buffered socket reader) offers."""

    def read1(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int | None = -1, /) -> bytes: ...


class BodyReader:
    """Reads one request's body from rfile, each read bounded by the socket's timeout
    and all of them by the deadline (seconds from now)."""

    def __init__(
        self, rfile: Stream, connection: socket.socket, timeout: float, deadline: float
    ) -> None:
        self.rfile, self.connection, self.timeout = rfile, connection, timeout
        self.seconds, self.deadline = deadline, time.monotonic() + deadline

    def exactly(self, length: int, keep: bool = True, of: str = "its Content-Length") -> bytes:
        """The next length bytes (kept, or read and dropped)."""
        chunks = []
        while length > 0:
            self._in_time()
            chunk = self._io(self.rfile.read1, min(length, CHUNK))  # what came: one read
            if not chunk:
                raise OtlpError(400, f"the body ended before {of}")
            length -= len(chunk)
            chunks += [chunk] if keep else []
        return b"".join(chunks)

    def chunked(self, limit: int, keep: bool = True, drain: int = 0) -> bytes:
        """A chunked body of at most limit bytes, its trailer read and dropped. One over
        the limit is still read and dropped up to drain bytes before the 413, so that the
        client, which sends its body whole before it reads, gets the answer: closing on
        bytes unread would reset the connection under the client's next send."""
        chunks, size = [], 0
        while True:
            self._in_time()
            line = self._io(self.rfile.readline, MAX_LINE + 1)
            size_text = line.split(b";")[0].strip()  # `; extensions` are left
            if not HEX.fullmatch(size_text) or len(line) > MAX_LINE:
                raise OtlpError(400, "the chunked body is malformed")
            length = int(size_text, 16)
            size += length
            if size > max(limit, drain) or (length == 0 and size > limit):
                raise OtlpError(413, f"the body is over {limit} bytes")
            if length == 0:
                break
            keep = keep and size <= limit
            chunks.append(self.exactly(length, keep, of="the end of a chunk"))
            if self._io(self.rfile.readline, MAX_LINE + 1).strip():
                raise OtlpError(400, "the chunked body is malformed")
        while self._io(self.rfile.readline, MAX_LINE + 1).strip():  # the trailer
            self._in_time()
        return b"".join(chunks)

    def _in_time(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OtlpError(408, f"the body did not arrive: not whole within {self.seconds:g} s")
        self.connection.settimeout(min(self.timeout, left))

    def _io(self, read: Callable[[int], bytes], size: int) -> bytes:
        try:
            found = read(size)
        except OSError as exc:  # TimeoutError among them: the client stopped sending
            raise OtlpError(408, f"the body did not arrive: {type(exc).__name__}") from None
        return found
