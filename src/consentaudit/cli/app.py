"""consentaudit's commands."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from consentaudit import __version__, attest
from consentaudit.audit import (
    DEFAULT_BATCH,
    DEFAULT_FAIL_ON,
    REFERENCE,
    AuditRequest,
    fingerprint_folder,
    run_audit,
    thumbnail_source,
)
from consentaudit.cli.common import DbOption, open_store
from consentaudit.cli.errors import EXIT_DATASET, EXIT_FINDINGS, EXIT_OK, EXIT_SIGNATURE, handle_errors
from consentaudit.cli.progress import progress_display
from consentaudit.cli.references import reference_app
from consentaudit.cli.summary import print_summary
from consentaudit.errors import InputError, ManifestError, Problem
from consentaudit.executors import default_jobs
from consentaudit.fingerprint import DEFAULT_MAX_PIXELS
from consentaudit.manifest import FIELDS, MANIFEST_VERSION, ParsedManifest, check_unique, parse_manifest
from consentaudit.matching.perceptual import DEFAULT_PHASH_THRESHOLD
from consentaudit.models import Report
from consentaudit.policy_file import load_policy
from consentaudit.reference_files import write_fingerprints
from consentaudit.reports import write_report, writer_for
from consentaudit.reports.exports import EXPORTS
from consentaudit.reports.html import HtmlReport
from consentaudit.vocab import Verdict

app = typer.Typer(
    help="Audit an image training set against consent manifests and known-scraped sets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
manifest_app = typer.Typer(help="Validate consent manifests or start one for a dataset.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")
app.add_typer(reference_app, name="reference")


def _parse_fail_on(values: list[str] | None) -> tuple[Verdict, ...]:
    if not values:
        return DEFAULT_FAIL_ON
    out: list[Verdict] = []
    for v in (x.strip() for value in values for x in value.split(",")):
        if not v or v == "none":
            continue
        try:
            out.append(Verdict(v))
        except ValueError:
            choices = ", ".join(x.value for x in Verdict)
            raise typer.BadParameter(
                f"{v!r} is not a verdict (choose from: {choices}, none)", param_hint="--fail-on"
            ) from None
    return tuple(out)


def _write_reports(report: Report, paths: list[Path], dataset: Path | None, no_thumbnails: bool) -> None:
    for r in paths:
        writer = None
        if r.suffix.lower() in (".html", ".htm"):
            writer = HtmlReport(None if no_thumbnails or dataset is None else thumbnail_source(dataset))
        write_report(report, r, writer)


def _first(*values: int | None) -> int:
    return next(v for v in values if v is not None)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"consentaudit {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """consentaudit: prove what an image training set contains and whether the people in it agreed."""


@app.command()
@handle_errors
def scan(
    dataset: Annotated[Path, typer.Argument(help="Folder of images (scanned recursively).")],
    manifest: Annotated[
        list[Path] | None, typer.Option("--manifest", "-m", help="Consent manifest (.csv, .jsonl, .json); repeatable.")
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Known-scraped set: a "
            "folder of images or shards, a fingerprint file, a URL list, or the name of a stored "
            "set; repeatable.",
        ),
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option("--purpose", "-p", help="Purpose the dataset is audited for; repeatable (default: ai-training)."),
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Audit date, YYYY-MM-DD (default: today, UTC).")] = None,
    report: Annotated[
        list[Path] | None,
        typer.Option(
            "--report", "-o", help="Report file; the format comes from the extension (.json, .csv, .md); repeatable."
        ),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-on",
            help="Verdicts that make the exit code 1 "
            "(comma-separated or repeated; 'none' never fails; default: all but consented).",
        ),
    ] = None,
    phash_threshold: Annotated[
        int | None,
        typer.Option(
            "--phash-threshold",
            min=0,
            max=32,
            help=f"Largest pHash distance that counts as the same picture [default: {DEFAULT_PHASH_THRESHOLD}].",
        ),
    ] = None,
    max_image_pixels: Annotated[
        int | None,
        typer.Option(
            "--max-image-pixels",
            min=1,
            help=f"Images with more pixels are decompression bombs [default: {DEFAULT_MAX_PIXELS}].",
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="Policy file (default: consentaudit.toml or [tool.consentaudit] in ./pyproject.toml)."
        ),
    ] = None,
    keep_sensitive_metadata: Annotated[
        bool, typer.Option("--keep-sensitive-metadata", help="Also store and report GPS and camera serial numbers.")
    ] = False,
    trust_anchors: Annotated[
        Path | None,
        typer.Option("--trust-anchors", help="PEM trust anchors for C2PA signers (with consentaudit[c2pa])."),
    ] = None,
    no_c2pa_validation: Annotated[
        bool,
        typer.Option(
            "--no-c2pa-validation",
            help="Read C2PA manifests without validating them even when c2pa-python is installed.",
        ),
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes [default: all cores].")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per work unit (also how often progress is stored).")
    ] = DEFAULT_BATCH,
    exact_hashes: Annotated[
        bool, typer.Option("--exact-hashes", help="Decode every image fully (imagehash-exact hashes; slower).")
    ] = False,
    no_thumbnails: Annotated[
        bool, typer.Option("--no-thumbnails", help="No image thumbnails in HTML reports.")
    ] = False,
    db: DbOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary.")] = False,
) -> None:
    """Fingerprint every image of DATASET, check it against the manifests and references, report."""
    try:
        audit_date = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(f"{as_of!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None
    pol = load_policy(policy, Path.cwd())
    fail = _parse_fail_on(fail_on) if fail_on else (pol.fail_on if pol.fail_on is not None else DEFAULT_FAIL_ON)
    reports = list(report or [])
    for r in reports:
        writer_for(r)  # unknown formats fail before the scan
    purposes = tuple(dict.fromkeys(purpose or pol.purposes or ["ai-training"]))
    anchors = trust_anchors or (Path(pol.trust_anchors) if pol.trust_anchors else None)
    req = AuditRequest(
        dataset=dataset,
        manifests=list(manifest or []),
        references=list(reference or []),
        purposes=purposes,
        phash_threshold=_first(phash_threshold, pol.phash_threshold, DEFAULT_PHASH_THRESHOLD),
        fail_on=fail,
        max_image_pixels=_first(max_image_pixels, pol.max_image_pixels, DEFAULT_MAX_PIXELS),
        deny_domains=pol.deny_domains,
        allow_domains=pol.allow_domains,
        ai_generated=pol.ai_generated,
        honour_crawl=pol.honour_crawl,
        keep_sensitive_metadata=keep_sensitive_metadata or pol.keep_sensitive_metadata,
        verify_c2pa=not no_c2pa_validation,
        trust_anchors=anchors,
        policy_file=pol.path,
        jobs=jobs or default_jobs(),
        batch_size=batch_size,
        fast=not exact_hashes,
    )
    if audit_date:
        req.as_of = audit_date
    store = open_store(db)
    with progress_display(quiet) as tick:
        result = run_audit(req, store, tick)
    _write_reports(result, reports, dataset, no_thumbnails)
    if not quiet:
        console = Console()
        print_summary(result, console)
        for r in reports:
            console.print(Text(f"wrote {r}"))
    raise typer.Exit(EXIT_FINDINGS if result.summary.failing else EXIT_OK)


@manifest_app.command("validate")
@handle_errors
def manifest_validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files, checked together.")],
) -> None:
    """Report every problem of the manifests as file:line: field: message (exit 2 when there are any)."""
    parsed: list[ParsedManifest] = []
    problems: list[Problem] = []
    for f in files:
        try:
            text = f.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise InputError(f"manifest not found: {f}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{f}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        m = parse_manifest(str(f), text)
        parsed.append(m)
        problems.extend(m.problems)
    problems.extend(check_unique(parsed))
    if problems:
        raise ManifestError(problems)
    total = sum(len(m.records) for m in parsed)
    typer.echo(f"ok: {total} record(s) in {len(parsed)} manifest(s)")


@manifest_app.command("init")
@handle_errors
def manifest_init(
    dataset: Annotated[Path, typer.Argument(help="Folder of images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest to write (.csv, .jsonl, .json).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Write a skeleton manifest: one row per image with sha256, phash, phash256 and path filled in."""
    if output.exists() and not force:
        raise InputError(f"{output} exists (use --force to overwrite)")
    ext = output.suffix.lower()
    if ext not in (".csv", ".jsonl", ".json"):
        raise InputError(f"{output}: manifest format must be .csv, .jsonl or .json")
    with progress_display(quiet) as tick:
        images = fingerprint_folder(dataset, REFERENCE, progress=tick)  # with the 256-bit pHash
    rows = []
    for n, img in enumerate(images, start=1):
        if img.fingerprint is None:
            typer.echo(f"skipped {img.path}: {img.error}", err=True)
            continue
        rows.append(
            {
                "record_id": f"r{n:06d}",
                "sha256": img.fingerprint.sha256,
                "phash": img.fingerprint.phash,
                "phash256": img.fingerprint.phash256,
                "path": img.path,
            }
        )
    with output.open("w", encoding="utf-8", newline="") as out:
        if ext == ".csv":
            w = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        elif ext == ".jsonl":
            for row in rows:
                out.write(json.dumps(row, sort_keys=True) + "\n")
        else:
            doc = {"manifest_version": MANIFEST_VERSION, "dataset": str(dataset), "controller": None, "records": rows}
            out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    typer.echo(f"wrote {len(rows)} record(s) to {output}; fill in status, purposes and dates")


@app.command()
@handle_errors
def fingerprint(
    folder: Annotated[Path, typer.Argument(help="Folder of images (e.g. a known scraped set).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Fingerprint file to write (.jsonl).")],
    name: Annotated[str | None, typer.Option("--name", help="Name of the set (default: folder name).")] = None,
    description: Annotated[str, typer.Option("--description", help="What the set is and its licence.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Fingerprint a folder into a file that `scan --reference` accepts."""
    with progress_display(quiet) as tick:
        images = fingerprint_folder(folder, REFERENCE, progress=tick)
    with output.open("w", encoding="utf-8") as out:
        n = write_fingerprints(images, out, name or folder.resolve().name, description)
    bad = len(images) - n
    typer.echo(f"wrote {n} fingerprint(s) to {output}" + (f"; {bad} unreadable file(s) skipped" if bad else ""))


@app.command()
@handle_errors
def scans(db: DbOption = None) -> None:
    """List stored scans."""
    rows = open_store(db).list_scans()
    if not rows:
        typer.echo("no scans stored")
        return
    for r in rows:
        typer.echo(f"{r.id}\t{r.status}\t{r.started_at}\t{r.images} images\t{r.failing} failing\t{r.dataset}")


@app.command("report")
@handle_errors
def report_cmd(
    scan_id: Annotated[int, typer.Argument(help="Scan id (see `consentaudit scans`).")],
    report: Annotated[list[Path], typer.Option("--report", "-o", help="Report file(s) to write.")],
    no_thumbnails: Annotated[bool, typer.Option("--no-thumbnails", help="No thumbnails in HTML reports.")] = False,
    db: DbOption = None,
) -> None:
    """Render a stored scan again."""
    stored = open_store(db).load_report(scan_id)
    dataset = Path(stored.header.dataset)
    _write_reports(stored, list(report), dataset if dataset.exists() else None, no_thumbnails)
    for r in report:
        typer.echo(f"wrote {r}")


@app.command()
@handle_errors
def keygen(
    key: Annotated[Path, typer.Argument(help="Private key file to write (KEY.pub is written beside it).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Write an Ed25519 signing key (mode 0600) and its public key."""
    pub = attest.keygen(key, force)
    typer.echo(f"wrote {key} (private, mode 0600) and {pub}")


@app.command()
@handle_errors
def sign(
    report: Annotated[Path, typer.Argument(help="A JSON report.")],
    key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (from `consentaudit keygen`).")],
) -> None:
    """Write REPORT.sig, a detached signature over the canonical JSON report."""
    out = attest.sign(report, key)
    typer.echo(f"wrote {out}")


@app.command()
@handle_errors
def verify(
    report: Annotated[Path, typer.Argument(help="A signed JSON report.")],
    signature: Annotated[Path | None, typer.Option("--signature", help="Signature (default: REPORT.sig).")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="The signer's public key.")] = None,
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", help="Also check that this dataset is exactly the one the report describes."),
    ] = None,
) -> None:
    """Check a report's signature and, with --dataset, that the data still has the report's Merkle root.

    Exit codes: 0 verified, 2 input error, 4 signature invalid (report changed or another key), 5 dataset
    differs from the report."""
    if public_key is None:
        raise typer.BadParameter("--public-key is required", param_hint="--public-key")
    sig = signature or report.with_name(report.name + ".sig")
    try:
        doc = attest.verify_signature(report, sig, public_key)
    except attest.SignatureInvalid as exc:
        typer.echo(f"SIGNATURE INVALID: {exc}", err=True)
        raise typer.Exit(EXIT_SIGNATURE) from None
    typer.echo(f"signature OK: {report} signed by {public_key}")
    if dataset is None:
        return
    diff = attest.compare_dataset(doc, dataset)
    if diff.matches:
        typer.echo(f"dataset OK: {dataset} has Merkle root {diff.actual_root}")
        return
    typer.echo(f"DATASET DIFFERS: report root {diff.expected_root}, {dataset} root {diff.actual_root}", err=True)
    for label, paths in (("added", diff.added), ("removed", diff.removed), ("changed", diff.changed)):
        for p in paths:
            typer.echo(f"  {label}: {p}", err=True)
    raise typer.Exit(EXIT_DATASET)


@app.command("export")
@handle_errors
def export_cmd(
    scan_id: Annotated[int, typer.Argument(help="Scan id (see `consentaudit scans`).")],
    as_: Annotated[str, typer.Option("--as", help=f"Export format: {', '.join(EXPORTS)}.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    db: DbOption = None,
) -> None:
    """Export a stored scan as the EU AI Act summary draft, a Croissant RAI fragment or CycloneDX 1.6."""
    if as_ not in EXPORTS:
        raise typer.BadParameter(f"{as_!r} is not one of {', '.join(EXPORTS)}", param_hint="--as")
    kind, fn = EXPORTS[as_]
    result = fn(open_store(db).load_report(scan_id))
    text = result if isinstance(result, str) else json.dumps(result, indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({as_}, {kind})")


def main() -> None:
    """Console-script entry point; exit codes: 0 clean, 1 findings, 2 input, 3 internal, 130 interrupted."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command body (e.g. during option parsing)
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
