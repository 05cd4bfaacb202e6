"""Reading and writing frames on raw file descriptors, with deadlines on the reading side.

Pipes and sockets are used as plain file descriptors so the same code serves the sandboxed worker
(blocking reads) and the trusted side (reads bounded by a wall-clock deadline).
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any

from grader.wire.codec import DEFAULT_LIMITS, PREFIX, FrameLimits, decode, encode, parse_prefix


class ChannelClosed(EOFError):
    """The other end closed its side (for a worker: it exited or was killed)."""


class ChannelTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


def write_frame(fd: int, message: Any) -> None:
    write_all(fd, encode(message))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError:
            raise ChannelClosed("the other end is gone") from None
        view = view[written:]


def read_exact(fd: int, size: int, deadline: float | None = None) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout("timed out")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                raise ChannelTimeout("timed out")
        chunk = os.read(fd, min(size - len(buffer), 1 << 20))
        if not chunk:
            raise ChannelClosed("the other end closed the channel")
        buffer += chunk
    return bytes(buffer)


def read_frame(fd: int, limits: FrameLimits = DEFAULT_LIMITS, deadline: float | None = None) -> Any:
    header_len, body_len = parse_prefix(read_exact(fd, PREFIX.size, deadline), limits)
    header = read_exact(fd, header_len, deadline)
    body = read_exact(fd, body_len, deadline)
    return decode(header, body, limits)


def send_with_fds(sock: socket.socket, message: Any, fds: list[int]) -> None:
    """Send one frame; the descriptors ride along with its first bytes (SCM_RIGHTS)."""
    data = encode(message)
    sent = socket.send_fds(sock, [data], fds)
    if sent < len(data):
        sock.sendall(data[sent:])


def recv_with_fds(sock: socket.socket, max_fds: int = 8) -> tuple[Any, list[int]]:
    """Receive one frame and any descriptors that came with it."""
    prefix, fds, _, _ = socket.recv_fds(sock, PREFIX.size, max_fds)
    if not prefix:
        raise ChannelClosed("control channel closed")
    if len(prefix) < PREFIX.size:
        prefix += read_exact(sock.fileno(), PREFIX.size - len(prefix))
    header_len, body_len = parse_prefix(prefix)
    header = read_exact(sock.fileno(), header_len)
    body = read_exact(sock.fileno(), body_len)
    return decode(header, body), list(fds)


class FrameReader:
    """Assembles frames from bytes as they arrive, so one poll loop can serve several pipes."""

    def __init__(self, limits: FrameLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.buffer = bytearray()
        self.sizes: tuple[int, int] | None = None

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        messages = []
        while True:
            if self.sizes is None:
                if len(self.buffer) < PREFIX.size:
                    break
                self.sizes = parse_prefix(bytes(self.buffer[: PREFIX.size]), self.limits)
            header_len, body_len = self.sizes
            end = PREFIX.size + header_len + body_len
            if len(self.buffer) < end:
                break
            header = bytes(self.buffer[PREFIX.size : PREFIX.size + header_len])
            body = bytes(self.buffer[PREFIX.size + header_len : end])
            del self.buffer[:end]
            self.sizes = None
            messages.append(decode(header, body, self.limits))
        return messages
