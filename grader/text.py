"""Making untrusted text safe to show: no control characters, bounded length.

``printable`` is for pages and files (newlines and tabs kept); ``terminal`` is for one line on an
instructor's or student's terminal, where a newline could fake a line of the grader's own output and an
escape sequence could retitle the window or clear the screen.
"""

from __future__ import annotations

import re

# Everything below space except tab and newline, DEL, C1 controls, and bidi overrides that could
# make a file name or message read differently from what it is.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The same, plus tab, newline and the Unicode line and paragraph separators: a terminal line stays one line.
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Lone surrogates: a file name's byte that is not UTF-8 (Python decodes it as U+DC80..U+DCFF), or a
# string a student built. No UTF-8 file, page or terminal can hold one: writing it raises.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """``text`` with every lone surrogate shown as its escape (``\\udce9``), so that it can be written
    as UTF-8 (a result, a page, a terminal line) instead of making the writing fail."""
    return text if text.isascii() else _SURROGATE.sub(_escape, text)


def printable(text: str, limit: int | None = None) -> str:
    text = _CONTROL.sub("\ufffd", encodable(text).replace("\r\n", "\n").replace("\r", "\n"))
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit:,} more characters not shown]"
    return text


def terminal(text: object, limit: int | None = None) -> str:
    """``text`` as one terminal line: every control character shown as an escape (``\\x1b``), never sent."""
    line = _TERMINAL.sub(_escape, encodable(str(text)))
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 3, 0)] + "..."
    return line


def lines(text: str) -> list[str]:
    """``text`` split at its newlines only. ``str.splitlines`` also splits at ``\\r``, ``\\x85``,
    U+2028 and other separators, which untrusted text could use to start a line of its own on the
    terminal; :func:`terminal` shows those as escapes instead."""
    return text.replace("\r\n", "\n").split("\n")


def shorten(text: str, limit: int, what: str = "characters") -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out; idempotent (for
    stored results, which are bounded again whenever they are written)."""
    if len(text) <= limit:
        return text
    cut = max(limit - len(f"\n[... {len(text):,} more {what} not shown]"), 0)
    return text[:cut] + f"\n[... {len(text) - cut:,} more {what} not shown]"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
