"""Options and helpers shared by the command modules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from consentaudit.store import ScanStore

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
    from consentaudit.store import ScanStore, locate  # SQLAlchemy only when a command needs the store

    return ScanStore(locate(db, Path.cwd()))
