"""File-derived text made safe to show: control characters (C0, DEL, C1) and bidirectional overrides are
written as escapes, so a file name can neither drive a terminal (`ESC ] 0 ; title BEL`), break a CSV or
Markdown row (`CR`), nor reorder what a reader sees (U+202E). Pure."""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\udc80-\udcff]")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if "\udc80" <= c <= "\udcff":  # a byte of a name that is not UTF-8 (surrogateescape): shown as that byte
        return f"\\x{ord(c) - 0xDC00:02x}"
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def visible(text: str) -> str:
    """`text` with every control or bidi-override character written as `\\xNN` / `\\uNNNN`, and every byte
    that was not UTF-8 (a command-line path's lone surrogate) as `\\xNN`, as reports show it."""
    return _UNSAFE.sub(_escape, text)
