"""Report writers: each renders one finished Report to a text stream. Chosen by file extension."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TextIO

from consentaudit.errors import InputError
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


def format_of(path: Path) -> str:
    """The report format a file name asks for (its extension), one of WRITERS."""
    ext = path.suffix.lower().lstrip(".")
    ext = {"markdown": "md", "htm": "html"}.get(ext, ext)
    if ext not in WRITERS:
        raise InputError(f"{path}: unknown report format {ext!r} (choose from: {', '.join(sorted(WRITERS))})")
    return ext


def writer_for(path: Path) -> Writer:
    return WRITERS[format_of(path)]


def write_report(report: Report, path: Path, writer: Writer | None = None) -> None:
    writer = writer or writer_for(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        writer(report, out)
    tmp.replace(path)


__all__ = ["WRITERS", "Writer", "format_of", "write_report", "writer_for"]
