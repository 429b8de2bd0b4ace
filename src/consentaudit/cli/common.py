"""Options and helpers shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.store import ScanStore, locate

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB (default: $CONSENTAUDIT_DB, else the "
        "project store found in .consentaudit/ here or above, else the user store).",
        metavar="URL",
    ),
]


def open_store(db: str | None) -> ScanStore:
    return ScanStore(locate(db, Path.cwd()))
