"""Making untrusted text safe to show: no control characters, bounded length."""

from __future__ import annotations

import re

# Everything below space except tab and newline, DEL, C1 controls, and bidi overrides that could
# make a file name or message read differently from what it is.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = None) -> str:
    text = _CONTROL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"\n[... {len(text) - limit:,} more characters not shown]"
    return text
