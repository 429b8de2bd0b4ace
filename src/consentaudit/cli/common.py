"""Options and helpers shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.store import ScanStore, default_url

DbOption = Annotated[
    str | None, typer.Option("--db", help="Store URL (default: sqlite in ./.consentaudit/).", metavar="URL")
]


def open_store(db: str | None) -> ScanStore:
    return ScanStore(db or default_url(Path.cwd()))
