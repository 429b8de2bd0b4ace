"""Text inputs (manifests, fingerprint files, URL lists) that are not UTF-8: where they stop being so.

Their readers decode as a stream; a decoding error gives a position inside the decoder's current block, which
names nothing a user can find. On that error path the file is read again, in blocks, to name the line and
column of the first byte that is not UTF-8.
"""

from __future__ import annotations

import codecs
import itertools
from pathlib import Path

BLOCK = 1 << 16


def not_utf8_at(path: Path) -> str:
    """'line N, column C (byte 0xNN)' of the first byte of `path` that is not UTF-8 (a leading byte-order mark
    is skipped; columns count characters), or 'an unknown place' when the file now reads as UTF-8 or cannot
    be read."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, column = 1, 1
    try:
        with path.open("rb") as f:
            head = f.read(len(codecs.BOM_UTF8))
            rest = iter(lambda: f.read(BLOCK), b"")
            for block in itertools.chain(() if head == codecs.BOM_UTF8 else (head,), rest):
                pending = decoder.getstate()[0]  # the start of a character cut by the previous block
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    data = pending + block
                    text = data[: exc.start].decode("utf-8")
                    line, column = _advance(line, column, text)
                    return f"line {line}, column {column} (byte 0x{data[exc.start]:02x})"
                line, column = _advance(line, column, text)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # the file ends inside a character
        return f"line {line}, column {column} (a character cut short at the end of the file)"
    except OSError:
        pass
    return "an unknown place"


def _advance(line: int, column: int, text: str) -> tuple[int, int]:
    newlines = text.count("\n")
    if newlines:
        return line + newlines, len(text) - text.rfind("\n")
    return line, column + len(text)
