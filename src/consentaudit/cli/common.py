"""Options and helpers shared by the command modules."""

from __future__ import annotations

import atexit
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from consentaudit.store import ScanStore, StoreLocation

ThumbnailsOption = Annotated[
    bool,
    typer.Option(
        "--thumbnails/--no-thumbnails",
        help="Embed a small thumbnail of each readable image in HTML reports (read from the dataset). Off by "
        "default: thumbnails are pictures of the people in the dataset, which the consent records do not hold.",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL: sqlite:///FILE or postgresql+psycopg://USER@HOST/DB, or a plain path to a SQLite file "
        "(default: $CONSENTAUDIT_DB, else the project store found in .consentaudit/ here or above, else the user "
        "store).",
        metavar="URL",
    ),
]

JobsOption = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).", metavar="N")
]


def jobs_or_all(jobs: int | None) -> int:
    """--jobs, else one process per core this process may run on."""
    from consentaudit.executors import default_jobs

    return jobs if jobs is not None else default_jobs()


def store_location(db: str | None) -> StoreLocation:
    """The store a command uses (--db, $CONSENTAUDIT_DB, the project store, the user store), not opened."""
    from consentaudit.store.location import locate

    return locate(db, Path.cwd())


def open_store(db: str | StoreLocation | None) -> ScanStore:
    """The store of `--db` (or one already located), open; closed when the process leaves."""
    from consentaudit.store import ScanStore  # SQLAlchemy only when a command needs the store
    from consentaudit.store.location import StoreLocation

    store = ScanStore(db if isinstance(db, StoreLocation) else store_location(db))
    # closed before the process leaves (cli.app.main skips interpreter teardown): its engine, which may outlive
    # the store object in a reference cycle, without keeping either alive
    atexit.register(_dispose, weakref.ref(store.engine))
    return store


def _dispose(ref: weakref.ref[Any]) -> None:  # the store's SQLAlchemy Engine
    engine = ref()
    if engine is not None:
        engine.dispose()
