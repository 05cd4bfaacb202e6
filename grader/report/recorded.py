"""The stored probe answers of an assignment's result (``AssignmentResult.recorded``), as data.

Written by :mod:`grader.judging.replay` while grading; read there to re-judge, and here by the class
insight (which outputs students share). One frame in the wire format (:mod:`grader.wire.codec`: arrays
as raw bytes, every bit of every float kept), compressed, base64 text in the result JSON.

The document: ``{"format", "probes", "verify", "calls": [{"key", "check", "ok", "data" | "failure"}
| {"key", "check", "left_out": true} | {"key", "check", "repeat": index}], "verifier": {key: {"ok",
"data" | "error", "kind"}}}``. A question asked again in a grading gets its first answer, stored once
(``repeat``: the index of its first call).
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

from grader.wire.codec import PREFIX, FrameLimits, decode, encode, parse_prefix

FORMAT = "rnn-autograder/probes/1"
_READ_LIMITS = FrameLimits(max_header_bytes=2**28, max_body_bytes=2**30)


def pack(document: dict[str, Any]) -> str:
    """The document as text for the result JSON (raises TypeError for data the codec cannot write)."""
    return pack_measured(document)[0]


def pack_measured(document: dict[str, Any]) -> tuple[str, int]:
    """The text, and the size of the frame before compression (what one answer's share of the text is
    estimated from, when answers must be left out)."""
    frame = encode({**document, "format": FORMAT})
    return base64.b64encode(zlib.compress(frame, 6)).decode("ascii"), len(frame)


def unpack(text: str) -> dict[str, Any] | None:
    """The stored document, or None where there is none or it cannot be read."""
    if not text:
        return None
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
        header_len, body_len = parse_prefix(raw[: PREFIX.size], _READ_LIMITS)
        header = raw[PREFIX.size : PREFIX.size + header_len]
        document = decode(header, raw[PREFIX.size + header_len : PREFIX.size + header_len + body_len], _READ_LIMITS)
    except (ValueError, zlib.error, UnicodeEncodeError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    return document


def resolve_repeats(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recorded calls, each question asked again (``{"key", "check", "repeat": index}``) given the
    answer its first asking got (under its own check's name)."""
    resolved = []
    for call in calls:
        first = call.get("repeat")
        if type(first) is int and 0 <= first < len(calls) and "repeat" not in calls[first]:
            call = {**calls[first], "check": call.get("check")}
        resolved.append(call)
    return resolved


def answers(text: str) -> list[dict[str, Any]]:
    """The student's probe calls stored in ``text`` (each ``{"key", "check", "ok", "data"|"failure"}``)."""
    document = unpack(text)
    return resolve_repeats([c for c in (document or {}).get("calls") or [] if isinstance(c, dict)])
