"""`consentaudit spot-check` and `consentaudit diff`: a regulator's checks of a received report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.common import DbOption, open_store
from consentaudit.cli.errors import EXIT_FINDINGS, EXIT_OK, handle_errors


@handle_errors
def spot_check(
    report: Annotated[Path, typer.Argument(help="The received JSON report.", metavar="REPORT")],
    dataset: Annotated[Path, typer.Option("--dataset", help="The dataset the report describes.", metavar="DATASET")],
    manifest: Annotated[
        list[Path] | None, typer.Option("--manifest", "-m", help="Consent manifest; repeatable.", metavar="FILE")
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option("--reference", "-r", help="Reference set folder or file; repeatable.", metavar="SET"),
    ] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Policy file.", metavar="FILE")] = None,
    sample: Annotated[int, typer.Option("--sample", min=1, help="Findings to re-derive.", metavar="N")] = 300,
    seed: Annotated[
        str, typer.Option("--seed", help="Fixes the sample (set it after receiving the report).", metavar="SEED")
    ] = "",
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Largest acceptable error rate (default 0.01).", metavar="RATE")
    ] = 0.01,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence of the bound (default 0.95).", metavar="LEVEL")
    ] = 0.95,
    stratified: Annotated[bool, typer.Option("--stratified", help="Sample each verdict in proportion.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Spot-check report: OUT (.json) and OUT.md.", metavar="FILE")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).", metavar="N")
    ] = None,
) -> None:
    """Re-derive a seeded sample of REPORT's verdicts from the data; exit 0 when the error-rate bound is
    within --tolerance, 1 when not, 2 for bad inputs."""
    from consentaudit.cli import allocator
    from consentaudit.executors import default_jobs
    from consentaudit.reports import check_output
    from consentaudit.spotcheck import SpotCheckRequest, run_spot_check
    from consentaudit.spotcheck_report import write_spot_check_json, write_spot_check_markdown
    from consentaudit.visible import visible

    allocator.reuse_large_buffers()
    if not seed:
        raise typer.BadParameter("a --seed is required (fix it after receiving the report)", param_hint="--seed")
    md = out.with_name(out.name + ".md") if out is not None else None
    for p in (out, md):
        if p is not None:
            check_output(p if p.suffix in (".json", ".md") else p.with_suffix(".json"))
    req = SpotCheckRequest(
        report,
        dataset,
        tuple(manifest or ()),
        tuple(reference or ()),
        policy,
        sample,
        seed,
        tolerance,
        confidence,
        stratified,
        jobs or default_jobs(),
    )
    result = run_spot_check(req)
    for w in result.warnings:
        typer.echo(visible(f"warning: {w}"), err=True)
    for d in result.disagreements:
        typer.echo(visible(f"{d.kind.upper()}: {d.path}: report says {d.claimed}, the data says {d.derived}"))
    typer.echo(
        f"sample {len(result.sampled)} of {result.population}; {result.errors} disagreeing; error rate <= "
        f"{result.upper_bound:.4f} at {result.confidence:.0%} confidence (tolerance {result.tolerance}): "
        + ("PASSED" if result.passed else "FAILED")
    )
    if out is not None and md is not None:
        with out.open("w", encoding="utf-8") as f:
            write_spot_check_json(result, f)
        with md.open("w", encoding="utf-8") as f:
            write_spot_check_markdown(result, f)
        typer.echo(f"wrote {out} and {md}")
    raise typer.Exit(EXIT_OK if result.passed else EXIT_FINDINGS)


@handle_errors
def diff(
    old: Annotated[str, typer.Argument(help="A report file or scan id.", metavar="OLD")],
    new: Annotated[str, typer.Argument(help="A report file or scan id.", metavar="NEW")],
    format_: Annotated[str, typer.Option("--format", help="text or json.", metavar="FORMAT")] = "text",
    db: DbOption = None,
) -> None:
    """What changed from OLD to NEW: files, verdicts, bytes and inputs. Exit 0 when equal, 1 when not."""
    import json

    from consentaudit.inputs import open_report
    from consentaudit.report_diff import diff_reports
    from consentaudit.visible import visible

    if format_ not in ("text", "json"):
        raise typer.BadParameter("choose text or json", param_hint="--format")
    d = diff_reports(open_report(old, lambda: open_store(db)), open_report(new, lambda: open_store(db)))
    if format_ == "json":
        typer.echo(json.dumps(d.to_dict(), indent=2, sort_keys=True))
    else:
        for p in d.added:
            typer.echo(visible(f"added: {p}"))
        for p in d.removed:
            typer.echo(visible(f"removed: {p}"))
        for v in d.verdicts:
            typer.echo(visible(f"verdict: {v.path}: {v.old} -> {v.new} ({'; '.join(v.reasons)})"))
        for p in d.bytes_changed:
            typer.echo(visible(f"bytes: {p}"))
        for i in d.inputs:
            typer.echo(visible(f"input: {i}"))
        typer.echo("equal" if d.equal else "different")
    raise typer.Exit(EXIT_OK if d.equal else EXIT_FINDINGS)
