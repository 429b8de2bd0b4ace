"""How the library reports progress: a callback the CLI turns into a progress bar. The library never
prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    cached: int
    path: str | None = None


ProgressCallback = Callable[[Progress], None]
