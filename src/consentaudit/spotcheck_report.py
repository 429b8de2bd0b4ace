"""The spot-check report: JSON (with a header and findings, so `sign` signs it like an audit report) and
Markdown for people."""

from __future__ import annotations

import json
from typing import Any, TextIO

from consentaudit.reports.markdown import md_escape
from consentaudit.spotcheck import KIND, SpotCheckResult


def spot_check_to_dict(r: SpotCheckResult) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "kind": KIND,
        "header": {
            "tool": "consentaudit",
            "tool_version": r.tool_version,
            "report": r.report,
            "report_sha256": r.report_sha256,
            "dataset": r.dataset,
            "seed": r.seed,
            "sampling": "stratified by verdict" if r.stratified else "uniform",
            "settings": r.settings,
            "warnings": list(r.warnings),
            "started_at": r.started_at,
            "finished_at": r.finished_at,
        },
        "summary": {
            "population": r.population,
            "sample_size": len(r.sampled),
            "errors": r.errors,
            "confidence": r.confidence,
            "upper_bound": r.upper_bound,
            "tolerance": r.tolerance,
            "passed": r.passed,
            "bound": "exact one-sided Clopper-Pearson upper bound on the report's error rate",
        },
        "sampled": list(r.sampled),
        "findings": [
            {"path": d.path, "kind": d.kind, "claimed": d.claimed, "derived": d.derived, "reasons": list(d.reasons)}
            for d in r.disagreements
        ],
    }


def write_spot_check_json(r: SpotCheckResult, out: TextIO) -> None:
    out.write(json.dumps(spot_check_to_dict(r), indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_spot_check_markdown(r: SpotCheckResult, out: TextIO) -> None:
    verdict = "PASSED" if r.passed else "FAILED"
    out.write(f"# Spot-check of {md_escape(r.report)}: {verdict}\n\n")
    out.write(f"- report sha256: `{r.report_sha256}`\n- dataset: {md_escape(r.dataset)}\n")
    out.write(f"- seed: `{md_escape(r.seed)}`, sampling {'stratified by verdict' if r.stratified else 'uniform'}\n")
    out.write(f"- sample: {len(r.sampled)} of {r.population} findings; disagreeing: {r.errors}\n")
    out.write(
        f"- error rate ≤ {r.upper_bound:.4f} at {r.confidence:.0%} confidence (exact one-sided Clopper–Pearson); "
        f"tolerance {r.tolerance}\n"
    )
    for w in r.warnings:
        out.write(f"- warning: {md_escape(w)}\n")
    if r.disagreements:
        out.write("\n| path | what | claimed | re-derived | reasons |\n|---|---|---|---|---|\n")
        for d in r.disagreements:
            out.write(
                f"| {md_escape(d.path)} | {d.kind} | {md_escape(d.claimed)} | {md_escape(d.derived)} | "
                f"{md_escape('; '.join(d.reasons))} |\n"
            )
