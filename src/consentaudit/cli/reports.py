"""`consentaudit scans | report | export`: stored scans, rendered again or exported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import DbOption, ThumbnailsOption, open_store
from consentaudit.cli.errors import handle_errors, shown
from consentaudit.errors import InputError
from consentaudit.reports.exports import EXPORTS, render_export


@handle_errors
def scans(db: DbOption = None) -> None:
    """List stored scans."""
    rows = open_store(db).list_scans()
    if not rows:
        typer.echo("no scans stored")
        return
    for r in rows:
        typer.echo(f"{r.id}\t{r.status}\t{r.started_at}\t{r.images} images\t{r.failing} failing\t{shown(r.dataset)}")


@handle_errors
def report(
    source: Annotated[
        str, typer.Argument(help="A received JSON report, or a scan id (see `consentaudit scans`).", metavar="REPORT")
    ],
    report: Annotated[list[Path], typer.Option("--report", "-o", help="Report file(s) to write.", metavar="FILE")],
    thumbnails: ThumbnailsOption = False,
    db: DbOption = None,
) -> None:
    """Render a received report or a stored scan again, in any format."""
    from consentaudit.audit import with_thumbnails
    from consentaudit.inputs import open_report
    from consentaudit.reports import check_output, format_of, write_report

    for r in report:
        check_output(r)
    formats = [format_of(r) for r in report]
    stored = open_report(source, lambda: open_store(db))
    if "html" in formats and thumbnails:
        stored = with_thumbnails(stored, stored.header.options.max_image_pixels)
    for r in report:
        write_report(stored, r)
        typer.echo(f"wrote {r}")


@handle_errors
def export(
    source: Annotated[
        str, typer.Argument(help="A received JSON report, or a scan id (see `consentaudit scans`).", metavar="REPORT")
    ],
    as_: Annotated[str, typer.Option("--as", help=f"Export format: {', '.join(EXPORTS)}.", metavar="FORMAT")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).", metavar="FILE")
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="croissant-rai only: the dataset's own Croissant file; write it with the audit's RAI "
            "properties merged in.",
            metavar="CROISSANT",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export a report (file or stored scan) as the EU AI Act summary draft, Croissant RAI or CycloneDX 1.6.

    The exports name the report they come from by its sha256 (and its signature, REPORT.sig, when one is
    beside the file)."""
    from consentaudit.inputs import open_delivered_report, read_json_document
    from consentaudit.reports.exports import croissant_rai, merge_croissant

    stored, delivered = open_delivered_report(source, lambda: open_store(db))
    if into is not None:
        if as_ != "croissant-rai":
            raise InputError("--into merges a croissant-rai export into a Croissant file: use --as croissant-rai")
        merged = merge_croissant(read_json_document(into), croissant_rai(stored, delivered))
        text = json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_export(stored, as_, delivered)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({as_}, {EXPORTS[as_][0]})")


@handle_errors
def lists(
    source: Annotated[
        str, typer.Argument(help="A JSON report, or a scan id (see `consentaudit scans`).", metavar="REPORT")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the lists to.", metavar="DIR")],
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Verdicts to keep (default: consented); repeatable.", metavar="VERDICT"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write keep.txt, drop.txt, filter.jsonl, filter.parquet (path, shard, key, sha256, pHash, verdict, keep)
    and takedown.jsonl (sha256 + pHash of revoked and opted-out images) for a pipeline to apply.

    A path that cannot be a line naming its file (a line break, a name shown escaped, a shortened long path,
    an earlier copy of a repeated archive member) is left out of keep.txt and drop.txt, and the command exits
    2 naming it, after writing every list."""
    from consentaudit.filter_lists import write_lists
    from consentaudit.inputs import open_report
    from consentaudit.request import parse_verdicts
    from consentaudit.vocab import Verdict

    kept = parse_verdicts(keep, "--keep") if keep else (Verdict.CONSENTED,)
    written = write_lists(open_report(source, lambda: open_store(db)), output, kept)
    typer.echo(
        f"keep {written.keep}, drop {written.drop}, takedown {written.takedown}: "
        + ", ".join(str(f) for f in written.files)
    )
    if written.unlistable:  # written everywhere else; a pipeline filtering by drop.txt alone would miss them
        from consentaudit.visible import visible

        raise InputError(
            f"{len(written.unlistable)} path(s) cannot be a line of keep.txt or drop.txt naming the file (a line "
            "break, a name shown escaped, a shortened long path, an earlier copy of a repeated archive member) and "
            "are in neither; filter.jsonl and "
            f"filter.parquet list them as the report does: {', '.join(map(visible, written.unlistable[:20]))}"
        )


@handle_errors
def explain(
    path: Annotated[str, typer.Argument(help="The image: its path in the report, or a file in the dataset.")],
    scan: Annotated[
        str | None,
        typer.Option(
            "--scan", help="A stored scan id, or a JSON report file (default: the latest scan).", metavar="ID"
        ),
    ] = None,
    manifest: Annotated[
        list[Path] | None,
        typer.Option("--manifest", "-m", help="Manifest (default: the report's, where found).", metavar="FILE"),
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option("--reference", "-r", help="Reference set (default: the report's).", metavar="SET"),
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Policy file.", metavar="FILE")] = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="The dataset (default: the report's).", metavar="DATASET")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="text or json.", metavar="FORMAT")] = "text",
    db: DbOption = None,
) -> None:
    """Why one image got its verdict: the records, reference entries and signals considered, with distances,
    and the reasons in the order that decided; for an unconsented image, the nearest records."""
    from consentaudit.cli.explanation import explanation_json, explanation_text
    from consentaudit.explain import explain as run_explain
    from consentaudit.inputs import open_report

    if format_ not in ("text", "json"):
        raise InputError(f"--format must be text or json, not {format_!r}")
    store = open_store(db)
    if scan is None:
        rows = [r for r in store.list_scans() if r.status == "complete"]
        if not rows:
            raise InputError("no complete scan stored: give --scan ID or --scan REPORT.json")
        scan = str(max(r.id or 0 for r in rows))
    found = run_explain(path, open_report(scan, lambda: store), store, manifest or (), reference or (), policy, dataset)
    typer.echo(explanation_json(found) if format_ == "json" else explanation_text(found), nl=False)


@handle_errors
def query(
    out_dir: Annotated[str, typer.Argument(help="A `scan --out` folder.", metavar="DIR")],
    manifest: Annotated[
        list[Path] | None,
        typer.Option("--manifest", "-m", help="Images a manifest names by sha256; repeatable.", metavar="FILE"),
    ] = None,
    urls: Annotated[
        list[Path] | None,
        typer.Option("--urls", help="Images whose source URL or domain a list names; repeatable.", metavar="FILE"),
    ] = None,
    duplicates: Annotated[bool, typer.Option("--duplicates", help="The same bytes in more than one shard.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the rows (.csv, .jsonl, .parquet).", metavar="FILE")
    ] = None,
) -> None:
    """Cross-shard questions over a `scan --out` folder, answered by DuckDB without opening an image: exact
    sha256 against manifests, URL/domain lists, duplicates across shards. Exit 0 when nothing matches, 1
    when rows were found."""
    from consentaudit.findings_query import query as run_query
    from consentaudit.findings_query import write_rows
    from consentaudit.visible import visible

    rows = run_query(out_dir, manifest or (), urls or (), duplicates)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    if output is not None:
        write_rows(rows, output)
        typer.echo(f"wrote {len(rows)} row(s) to {output}")
    else:
        for r in rows[:200]:
            typer.echo(f"{r.kind}\t{visible(r.path)}\t{r.verdict}\t{visible(r.detail)}")
        if len(rows) > 200:
            typer.echo(f"… {len(rows) - 200} more (write them all with -o FILE)")
    typer.echo(", ".join(f"{k}: {n}" for k, n in counts.items()) or "no matches")
    raise typer.Exit(1 if rows else 0)
