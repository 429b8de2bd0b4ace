"""JSON read one way only: duplicate keys, NaN/Infinity and nesting deeper than the parser's recursion
limit are errors, never silently resolved. Reports, signatures and manifests are read through here, so a
document cannot say two things to two readers. Pure."""

from __future__ import annotations

import json
from typing import Any


class StrictJsonError(ValueError):
    """Why a JSON text was refused; `line` and `column` when the parser knows them."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line, self.column = line, column


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJsonError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise StrictJsonError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """Parse `text`; StrictJsonError with the reason (and line/column for syntax errors) otherwise."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except StrictJsonError:
        raise
    except json.JSONDecodeError as exc:
        raise StrictJsonError(f"invalid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:
        raise StrictJsonError("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise StrictJsonError(f"invalid JSON: {exc}") from None
