"""`consentaudit manifest ...`: validate manifests, start one for a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import JobsOption, jobs_or_all
from consentaudit.cli.errors import handle_errors, shown

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
    id_prefix: Annotated[
        str, typer.Option("--id-prefix", help="Record ids are PREFIX000001, ...", metavar="PREFIX")
    ] = "r",
    status: Annotated[
        str, typer.Option("--status", help="Fill in this status (granted, revoked, denied).", metavar="STATUS")
    ] = "",
    purpose: Annotated[
        list[str] | None, typer.Option("--purpose", "-p", help="Fill in this purpose; repeatable.", metavar="PURPOSE")
    ] = None,
    granted_at: Annotated[
        str, typer.Option("--granted-at", help="Fill in this date (YYYY-MM-DD).", metavar="DATE")
    ] = "",
    jobs: JobsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a manifest with one row per image (sha256, phash, phash256, path) and the given defaults; what is
    not given is left for the controller to fill in."""
    from consentaudit.cli import allocator
    from consentaudit.cli.progress import progress_display
    from consentaudit.manifest_files import RecordDefaults, write_skeleton

    allocator.reuse_large_buffers()
    with progress_display(quiet) as tick:
        defaults = RecordDefaults(id_prefix, status, tuple(purpose or ()), granted_at)
        result = write_skeleton(dataset, output, force, tick, defaults, jobs_or_all(jobs))
    for path, why in result.skipped:
        typer.echo(f"skipped {shown(path)}: {shown(why)}", err=True)
    missing = [n for n, v in (("status", status), ("purposes", purpose), ("dates", granted_at)) if not v]
    todo = f"; fill in {', '.join(missing)}" if missing else ""
    typer.echo(f"wrote {result.written} record(s) to {output}{todo}")


@manifest_app.command("merge")
@handle_errors
def manifest_merge(
    files: Annotated[list[Path], typer.Argument(help="Manifests to merge, in order.", metavar="FILE")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Manifest to write (.csv, .jsonl, .json).", metavar="FILE")
    ],
    prefer: Annotated[
        str,
        typer.Option(
            "--prefer",
            help="A record id in two files with different content: error (default) or last (the later file's).",
            metavar="RULE",
        ),
    ] = "error",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Merge manifests into one: every input validated first; repeated identical records written once;
    a record id whose content differs is a conflict (file:line of both) unless --prefer last."""
    from consentaudit.manifest_files import merge_manifests

    result = merge_manifests(files, output, prefer, force)
    typer.echo(
        f"wrote {result.written} record(s) to {output} from {len(files)} manifest(s); "
        f"{result.identical} identical repeat(s) written once, {len(result.replaced)} replaced by a later file"
    )
