"""`consentaudit store where | init`: which store the commands use, and making a project store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import DbOption
from consentaudit.cli.errors import handle_errors

store_app = typer.Typer(help="Where scans are stored (SQLite file or PostgreSQL server).", no_args_is_help=True)


@store_app.command("where")
@handle_errors
def store_where(db: DbOption = None) -> None:
    """Print the store the commands use here, and how it was chosen."""
    from consentaudit.store import locate

    typer.echo(locate(db, Path.cwd()).describe())


@store_app.command("init")
@handle_errors
def store_init(
    folder: Annotated[Path, typer.Argument(help="Project folder (default: here).", metavar="FOLDER")] = Path("."),
) -> None:
    """Make FOLDER the root of a project store: commands run in it or below it use FOLDER/.consentaudit/."""
    from consentaudit.store import ScanStore, init_project_store

    location = init_project_store(folder)
    ScanStore(location)
    typer.echo(f"project store: {location.url}")
