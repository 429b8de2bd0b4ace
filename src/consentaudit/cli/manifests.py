"""`consentaudit manifest ...`: validate manifests, start one for a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.errors import handle_errors

manifest_app = typer.Typer(help="Validate consent manifests or start one for a dataset.", no_args_is_help=True)


@manifest_app.command("validate")
@handle_errors
def manifest_validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files, checked together.", metavar="FILE")],
) -> None:
    """Report every problem of the manifests as file:line: field: message (exit 2 when there are any)."""
    from consentaudit.manifest_files import validate_manifests

    records, manifests = validate_manifests(files)
    typer.echo(f"ok: {records} record(s) in {manifests} manifest(s)")


@manifest_app.command("init")
@handle_errors
def manifest_init(
    dataset: Annotated[Path, typer.Argument(help="Folder of images.", metavar="DATASET")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Manifest to write (.csv, .jsonl, .json).", metavar="FILE")
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a skeleton manifest: one row per image with sha256, phash, phash256 and path filled in."""
    from consentaudit.cli.progress import progress_display
    from consentaudit.manifest_files import write_skeleton

    with progress_display(quiet) as tick:
        result = write_skeleton(dataset, output, force, tick)
    for path, why in result.skipped:
        typer.echo(f"skipped {path}: {why}", err=True)
    typer.echo(f"wrote {result.written} record(s) to {output}; fill in status, purposes and dates")
