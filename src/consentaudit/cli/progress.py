"""Progress display: a rich bar on a terminal, plain periodic lines otherwise, nothing when quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from consentaudit.progress import Progress as Tick
from consentaudit.progress import ProgressCallback


@contextmanager
def progress_display(quiet: bool, stream: TextIO | None = None, interval: float = 2.0) -> Iterator[ProgressCallback]:
    out = stream or sys.stderr
    if quiet:
        yield lambda _tick: None
        return
    if out.isatty():
        from rich.console import Console  # only for a terminal's bar
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} img/s"),
            TimeRemainingColumn(),
            console=Console(file=out),
            transient=True,
        )
        task = bar.add_task("scan", total=None, rate="-")
        start = time.monotonic()

        def tick_tty(t: Tick) -> None:
            elapsed = max(time.monotonic() - start, 1e-6)
            bar.update(task, completed=t.done, total=t.total, rate=f"{t.done / elapsed:,.0f}")

        with bar:
            yield tick_tty
        return

    last = [0.0]
    start = time.monotonic()

    def tick_plain(t: Tick) -> None:
        now = time.monotonic()
        if t.done < t.total and now - last[0] < interval:
            return
        last[0] = now
        rate = t.done / max(now - start, 1e-6)
        pct = 100.0 * t.done / t.total if t.total else 100.0
        out.write(f"scanned {t.done}/{t.total} ({pct:.0f}%), {t.cached} unchanged, {rate:,.0f} img/s\n")
        out.flush()

    yield tick_plain
