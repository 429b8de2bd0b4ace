"""`consentaudit reference ...`: named reference sets kept in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import DbOption, JobsOption, jobs_or_all, open_store
from consentaudit.cli.errors import handle_errors, shown

reference_app = typer.Typer(help="Named reference sets of known scraped images, URLs or domains.", no_args_is_help=True)


@reference_app.command("build")
@handle_errors
def reference_build(
    name: Annotated[str, typer.Argument(help="Name to store the set under.", metavar="NAME")],
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of images, tar shards or zip, a Parquet file of images (the source URLs of their "
            "crawl records join the set), a fingerprint file (.jsonl), or a URL/domain list (.txt one per line, "
            ".csv or .parquet with a url column).",
            metavar="SOURCE",
        ),
    ],
    description: Annotated[str, typer.Option("--description", help="What the collection is.", metavar="TEXT")] = "",
    license_: Annotated[str, typer.Option("--license", help="The collection's licence.", metavar="TEXT")] = "",
    force: Annotated[bool, typer.Option("--force", help="Replace a stored set of the same name.")] = False,
    jobs: JobsOption = None,
    db: DbOption = None,
) -> None:
    """Build and store a named reference set."""
    from consentaudit.cli import allocator
    from consentaudit.reference_sets import build_set

    def warn(text: str) -> None:
        typer.echo(f"warning: {text}", err=True)

    allocator.reuse_large_buffers()
    info = build_set(open_store(db), name, source, description, license_, force, jobs_or_all(jobs), warn)
    typer.echo(f"stored reference set {name!r}: {info.entries} entries from {source}")


@reference_app.command("list")
@handle_errors
def reference_list(db: DbOption = None) -> None:
    """List stored reference sets."""
    from consentaudit.store import ReferenceSets

    sets = ReferenceSets(open_store(db)).names()
    if not sets:
        typer.echo("no reference sets stored")
    for r in sets:
        name, source, description = (shown(r[k]) for k in ("name", "source", "description"))
        typer.echo(f"{name}\t{r['entries']} entries\t{r['created_at']}\t{source}\t{description}")


@reference_app.command("export")
@handle_errors
def reference_export(
    name: Annotated[str, typer.Argument(help="Stored set.", metavar="NAME")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Fingerprint file to write (.jsonl).", metavar="FILE")],
    db: DbOption = None,
) -> None:
    """Write a stored set as a fingerprint file (importable elsewhere, usable with --reference)."""
    from consentaudit.reference_sets import export_set

    n = export_set(open_store(db), name, output)
    typer.echo(f"wrote {n} entries of {name!r} to {output}")


@reference_app.command("import")
@handle_errors
def reference_import(
    file: Annotated[Path, typer.Argument(help="A fingerprint file written by `reference export`.", metavar="FILE")],
    name: Annotated[
        str | None, typer.Option("--name", help="Store under this name (default: the file's).", metavar="NAME")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a stored set of the same name.")] = False,
    db: DbOption = None,
) -> None:
    """Store a set from a fingerprint file."""
    from consentaudit.reference_sets import import_set

    info = import_set(open_store(db), file, name, force)
    typer.echo(f"stored reference set {info.name!r}: {info.entries} entries from {file}")


@reference_app.command("remove")
@handle_errors
def reference_remove(
    name: Annotated[str, typer.Argument(help="Stored set.", metavar="NAME")], db: DbOption = None
) -> None:
    """Remove a stored set."""
    from consentaudit.store import ReferenceSets

    ReferenceSets(open_store(db)).remove(name)
    typer.echo(f"removed reference set {name!r}")


@handle_errors
def fingerprint(
    folder: Annotated[Path, typer.Argument(help="Folder of images (e.g. a known scraped set).", metavar="FOLDER")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Fingerprint file to write (.jsonl).", metavar="FILE")],
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the set (default: folder name).", metavar="NAME")
    ] = None,
    description: Annotated[
        str, typer.Option("--description", help="What the set is and its licence.", metavar="TEXT")
    ] = "",
    jobs: JobsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fingerprint a folder into a file that `scan --reference` accepts."""
    from consentaudit.cli import allocator
    from consentaudit.cli.progress import progress_display
    from consentaudit.reference_sets import fingerprint_to_file

    allocator.reuse_large_buffers()
    with progress_display(quiet) as tick:
        n, bad = fingerprint_to_file(folder, output, name, description, tick, jobs_or_all(jobs))
    typer.echo(f"wrote {n} fingerprint(s) to {output}" + (f"; {bad} unreadable file(s) skipped" if bad else ""))
