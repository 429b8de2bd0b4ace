"""`consentaudit scan`: flags -> one AuditRequest -> run_audit -> reports, summary, exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import DbOption, ThumbnailsOption, open_store, store_location
from consentaudit.cli.errors import EXIT_FINDINGS, EXIT_OK, handle_errors
from consentaudit.defaults import DEFAULT_BATCH, DEFAULT_MAX_PIXELS, DEFAULT_PHASH_THRESHOLD


@handle_errors
def scan(
    dataset: Annotated[
        Path, typer.Argument(help="Folder of images (scanned recursively), a tar shard or a zip.", metavar="DATASET")
    ],
    manifest: Annotated[
        list[Path] | None,
        typer.Option("--manifest", "-m", help="Consent manifest (.csv, .jsonl, .json); repeatable.", metavar="FILE"),
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Known-scraped set: a folder of images or shards, a shard or Parquet file of images, a "
            "fingerprint file, a URL list, or the name of a stored set; repeatable.",
            metavar="SET",
        ),
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            "--purpose",
            "-p",
            help="Purpose the dataset is audited for; repeatable (default: ai-training).",
            metavar="PURPOSE",
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Audit date, YYYY-MM-DD (default: today, UTC).", metavar="DATE")
    ] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            "-o",
            help="Report file; the format comes from the extension (.json, .csv, .md, .html); '-' writes the "
            "JSON report to standard output; repeatable.",
            metavar="FILE",
        ),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="Verdicts that make the exit code 1 "
            "(comma-separated or repeated; 'none' never fails; default: all but consented).",
            metavar="VERDICTS",
        ),
    ] = None,
    phash_threshold: Annotated[
        int | None,
        typer.Option(
            "--phash-threshold",
            min=0,
            max=32,
            help=f"Largest pHash distance that counts as the same picture (default: {DEFAULT_PHASH_THRESHOLD}).",
            metavar="BITS",
        ),
    ] = None,
    max_image_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-image-pixels",
            min=1,
            help=f"Images with more pixels are decompression bombs (default: {DEFAULT_MAX_PIXELS}).",
            metavar="PIXELS",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy file (default: consentaudit.toml or [tool.consentaudit] in ./pyproject.toml).",
            metavar="FILE",
        ),
    ] = None,
    keep_sensitive_metadata: Annotated[
        bool,
        typer.Option(
            "--keep-sensitive-metadata", help="Also store and report GPS, camera serial numbers and EXIF captions."
        ),
    ] = False,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchors", help="PEM trust anchors for C2PA signers (with the c2pa extra).", metavar="PEM"
        ),
    ] = None,
    no_c2pa_validation: Annotated[
        bool,
        typer.Option(
            "--no-c2pa-validation",
            help="Read C2PA manifests without validating them even when c2pa-python is installed.",
        ),
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).", metavar="N")
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Images per work unit (also how often progress is stored).", metavar="N"
        ),
    ] = DEFAULT_BATCH,
    exact_hashes: Annotated[
        bool, typer.Option("--exact-hashes", help="Decode every image fully (imagehash-exact hashes; slower).")
    ] = False,
    rehash: Annotated[
        bool,
        typer.Option(
            "--rehash",
            help="Read and hash every file again, reusing no fingerprint from the store (which knows a file "
            "unchanged by its size and mtime).",
        ),
    ] = False,
    thumbnails: ThumbnailsOption = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            "--distributor",
            help="What runs the work units: local (a process pool, the default) or ray (a Ray cluster, or a "
            "local Ray with --jobs CPUs; the [ray] extra). --distributor is img2dataset's spelling.",
            metavar="NAME",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join (default: $RAY_ADDRESS, else a running cluster, else a local Ray).",
            metavar="ADDRESS",
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Retries of a failed work unit (Ray).", metavar="N")
    ] = 2,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Also write the findings as one Parquet per shard (+ a done marker, + summary.json) to this "
            "folder or URL; a rerun skips finished shards.",
            metavar="DIR",
        ),
    ] = None,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")] = False,
) -> None:
    """Fingerprint every image of DATASET, check it against the manifests and references, report."""
    from consentaudit import audit
    from consentaudit.cli import allocator
    from consentaudit.cli.progress import progress_display
    from consentaudit.reports import STDOUT, check_output, format_of, write_report
    from consentaudit.request import ScanFlags, build_request

    allocator.reuse_large_buffers()
    reports = list(report or [])
    for r in reports:
        check_output(r)  # an unknown format or an unwritable path fails before the scan, not after it
    formats = [format_of(r) for r in reports]
    to_stdout = STDOUT in reports
    flags = ScanFlags(
        dataset=dataset,
        manifests=tuple(manifest or ()),
        references=tuple(reference or ()),
        purposes=tuple(purpose or ()),
        as_of=as_of,
        fail_on=tuple(fail_on or ()),
        phash_threshold=phash_threshold,
        max_image_pixels=max_image_pixels,
        policy=policy,
        keep_sensitive_metadata=keep_sensitive_metadata,
        trust_anchors=trust_anchors,
        no_c2pa_validation=no_c2pa_validation,
        jobs=jobs,
        batch_size=batch_size,
        exact_hashes=exact_hashes,
        thumbnails=thumbnails and "html" in formats,
        rehash=rehash,
    )
    req = build_request(flags, Path.cwd())
    if not quiet:  # rich only for what is shown: `--help`, `--version` and `-q` scans never load it
        from rich.console import Console
        from rich.text import Text

        console = Console(stderr=to_stdout)  # with `--report -` stdout carries the report alone
        if not req.manifests:
            console.print(Text("warning: no --manifest given: no image can be consented", style="yellow"))
    from consentaudit.executors import executor_for

    run = executor_for(executor or ("ray" if ray_address else "local"), req.jobs, ray_address, retries)
    run.prepare()  # a Ray cluster's workers start while the store opens and the dataset is listed
    try:
        # opened by the scan when needed: a store not made yet opens while the first units hash
        where = store_location(db)
        store = audit.StoreToOpen(lambda: open_store(where), where.holds_nothing())
        with progress_display(quiet) as tick:
            result = audit.run_audit(req, store, tick, run, out)
    finally:
        run.close()
    for r in reports:
        write_report(result, r)
    if not quiet:
        from consentaudit.cli.summary import print_summary

        print_summary(result, console)
        for r in reports:
            console.print(Text(f"wrote {r}" if r != STDOUT else "wrote the JSON report to standard output"))
    raise typer.Exit(EXIT_FINDINGS if result.summary.failing else EXIT_OK)
