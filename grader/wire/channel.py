"""Reading and writing frames on raw file descriptors, with deadlines on the reading side.

Pipes and sockets are used as plain file descriptors so the same code serves the sandboxed worker
(blocking reads) and the trusted side (reads bounded by a wall-clock deadline).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import select
import socket
import time
from collections.abc import Callable
from typing import Any

from grader.wire.codec import DEFAULT_LIMITS, PREFIX, FrameError, FrameLimits, decode, encode, parse_prefix

# A reply frame of a student's process is followed by this many bytes: its HMAC-SHA256 under a key the
# trusted side gave that process's grader code alone (grader.inside.child keeps it out of the student's
# reach: only code that reaches into the process's own objects, which the integrity scan flags, finds
# it). A hostile round's module put a pipe of its own in place of the reply pipe and rewrote every reply
# on its way (steps counted, weights written, APIs used): a2 80 where the work earns 50, a3 100 where the
# rules give 10. Bytes written to the reply pipe by anything but the grader's code cannot carry the tag.
TAG_SIZE = hashlib.sha256().digest_size

try:  # OpenSSL's HMAC, a C function: no Python code of it (hmac.HMAC's methods) sees the key
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - Python without OpenSSL
    _hmac_digest = hmac.digest  # type: ignore[assignment]


def tag(key: bytes, frame: bytes, number: int = 0) -> bytes:
    """The tag of the ``number``-th frame (from 0) a process sends: a frame sent again, or in another's
    place, carries the wrong one."""
    return _hmac_digest(key, number.to_bytes(8, "little") + frame, "sha256")


def tagged_sender(fd: int, key: bytes) -> Callable[[Any], None]:
    """``send(message)``: a tagged frame on ``fd``, with what it calls bound now (the encoder, OpenSSL's
    HMAC, ``os.write``). The student's process makes it before the student's code runs, so that replacing
    names later (this module's, ``os.write``, ``json.dumps``) reaches neither the key nor what is sent.
    Only the grader's code may hold it (a thread's target leads anyone to what it holds)."""
    encode_, digest, write, sent = encode, _hmac_digest, os.write, [0]

    def send(message: Any) -> None:
        data = encode_(message)
        view = memoryview(data + digest(key, sent[0].to_bytes(8, "little") + data, "sha256"))
        sent[0] += 1
        while view:
            try:
                view = view[write(fd, view) :]
            except BrokenPipeError:
                raise ChannelClosed("the other end is gone") from None

    return send


class ChannelClosed(EOFError):
    """The other end closed its side (for a worker: it exited or was killed)."""


class ChannelTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


def write_frame(fd: int, message: Any) -> None:
    """One frame (the replies of a student's process go through :func:`tagged_sender` instead)."""
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
    """Assembles frames from bytes as they arrive, so one poll loop can serve several pipes. With
    ``key``, every frame must be followed by its tag (:data:`TAG_SIZE`), or FrameError."""

    def __init__(self, limits: FrameLimits = DEFAULT_LIMITS, key: bytes | None = None, received: int = 0) -> None:
        self.limits = limits
        self.key = key
        self.received = received  # frames of this sender read before: the next one's number
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
            signed = end + (TAG_SIZE if self.key is not None else 0)
            if len(self.buffer) < signed:
                break
            if self.key is not None and not hmac.compare_digest(
                bytes(self.buffer[end:signed]), tag(self.key, bytes(self.buffer[:end]), self.received)
            ):
                raise FrameError("a reply that the grader's code in that process did not write (its tag is wrong)")
            self.received += 1
            header = bytes(self.buffer[PREFIX.size : PREFIX.size + header_len])
            body = bytes(self.buffer[PREFIX.size + header_len : end])
            del self.buffer[:signed]
            self.sizes = None
            messages.append(decode(header, body, self.limits))
        return messages
