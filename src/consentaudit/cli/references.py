"""`consentaudit reference ...`: named reference sets kept in the store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from consentaudit.audit import load_reference, now_utc
from consentaudit.cli.common import DbOption, open_store
from consentaudit.cli.errors import handle_errors
from consentaudit.models import ReferenceInfo
from consentaudit.reference_files import read_fingerprint_file, write_set
from consentaudit.store import ReferenceSets

reference_app = typer.Typer(help="Named reference sets of known scraped images, URLs or domains.", no_args_is_help=True)


@reference_app.command("build")
@handle_errors
def reference_build(
    name: Annotated[str, typer.Argument(help="Name to store the set under.")],
    source: Annotated[
        Path,
        typer.Argument(
            help="A folder of images, tar shards or zip, a fingerprint file "
            "(.jsonl), or a URL/domain list (.txt one per line, .csv or .parquet with a url column)."
        ),
    ],
    description: Annotated[str, typer.Option("--description", help="What the collection is.")] = "",
    license_: Annotated[str, typer.Option("--license", help="The collection's licence.")] = "",
    force: Annotated[bool, typer.Option("--force", help="Replace a stored set of the same name.")] = False,
    db: DbOption = None,
) -> None:
    """Build and store a named reference set."""
    info, entries = load_reference(source)
    info = ReferenceInfo(name, str(source), len(entries), description or info.description, license_ or info.license)
    entries = [replace(e, set_name=name) for e in entries]
    ReferenceSets(open_store(db)).save(info, entries, str(source), now_utc(), force)
    typer.echo(f"stored reference set {name!r}: {len(entries)} entries from {source}")


@reference_app.command("list")
@handle_errors
def reference_list(db: DbOption = None) -> None:
    """List stored reference sets."""
    sets = ReferenceSets(open_store(db)).names()
    if not sets:
        typer.echo("no reference sets stored")
    for r in sets:
        typer.echo(f"{r['name']}\t{r['entries']} entries\t{r['created_at']}\t{r['source']}\t{r['description']}")


@reference_app.command("export")
@handle_errors
def reference_export(
    name: Annotated[str, typer.Argument(help="Stored set.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Fingerprint file to write (.jsonl).")],
    db: DbOption = None,
) -> None:
    """Write a stored set as a fingerprint file (importable elsewhere, usable with --reference)."""
    info, entries = ReferenceSets(open_store(db)).load(name)
    with output.open("w", encoding="utf-8") as out:
        n = write_set(entries, out, info.name, info.description, info.license)
    typer.echo(f"wrote {n} entries of {name!r} to {output}")


@reference_app.command("import")
@handle_errors
def reference_import(
    file: Annotated[Path, typer.Argument(help="A fingerprint file written by `reference export`.")],
    name: Annotated[str | None, typer.Option("--name", help="Store under this name (default: the file's).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a stored set of the same name.")] = False,
    db: DbOption = None,
) -> None:
    """Store a set from a fingerprint file."""
    set_name, entries, header = read_fingerprint_file(file, name)
    info = ReferenceInfo(set_name, str(file), len(entries), header.get("description", ""), header.get("license", ""))
    ReferenceSets(open_store(db)).save(
        info, [replace(e, set_name=set_name) for e in entries], str(file), now_utc(), force
    )
    typer.echo(f"stored reference set {set_name!r}: {len(entries)} entries from {file}")


@reference_app.command("remove")
@handle_errors
def reference_remove(name: Annotated[str, typer.Argument(help="Stored set.")], db: DbOption = None) -> None:
    """Remove a stored set."""
    ReferenceSets(open_store(db)).remove(name)
    typer.echo(f"removed reference set {name!r}")
