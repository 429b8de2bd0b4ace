"""Report writers: each renders one finished Report to a text stream. Chosen by file extension."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Protocol, TextIO

from consentaudit.errors import InputError, OutputError
from consentaudit.models import Report
from consentaudit.reports.csvreport import write_csv
from consentaudit.reports.html import write_html
from consentaudit.reports.jsonreport import write_json
from consentaudit.reports.markdown import write_markdown


class Writer(Protocol):
    def __call__(self, report: Report, out: TextIO) -> None: ...


WRITERS: dict[str, Writer] = {
    "json": write_json,
    "csv": write_csv,
    "md": write_markdown,
    "html": write_html,
}


STDOUT = Path("-")  # `--report -`: the canonical JSON on standard output


def format_of(path: Path) -> str:
    """The report format a file name asks for (its extension), one of WRITERS; `-` is JSON."""
    if path == STDOUT:
        return "json"
    ext = path.suffix.lower().lstrip(".")
    ext = {"markdown": "md", "htm": "html"}.get(ext, ext)
    if ext not in WRITERS:
        raise InputError(f"{path}: unknown report format {ext!r} (choose from: {', '.join(sorted(WRITERS))})")
    return ext


def writer_for(path: Path) -> Writer:
    return WRITERS[format_of(path)]


def check_output(path: Path) -> None:
    """Fail now, before any work, when `path` cannot be written: its format is unknown, its folder cannot be
    made, or a file cannot be created there."""
    format_of(path)
    if path == STDOUT:
        return
    if path.is_dir():
        raise OutputError(f"cannot write report {path}: it is a folder")
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
        tmp.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from None


def write_report(report: Report, path: Path, writer: Writer | None = None, stdout: TextIO | None = None) -> None:
    """Write atomically (a temporary file renamed over `path`); nothing is left behind when writing fails.
    `-` writes to `stdout`."""
    writer = writer or writer_for(path)
    if path == STDOUT:
        writer(report, stdout or sys.stdout)
        return
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8", newline="") as out:
            writer(report, out)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write report {path}: {exc.strerror or exc}") from None


__all__ = ["STDOUT", "WRITERS", "Writer", "check_output", "format_of", "write_report", "writer_for"]
