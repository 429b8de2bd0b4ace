"""A Markdown report for people: the run, the summary table, then every finding that is not consented."""

from __future__ import annotations

from typing import TextIO

from consentaudit.models import OPT_OUT_COUNTS, Report
from consentaudit.visible import visible
from consentaudit.vocab import Verdict


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell (no HTML, no pipes, no line breaks, no control characters)."""
    out = (
        visible(" ".join(text.split()))
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
    for ch in "`*_[]":
        out = out.replace(ch, "\\" + ch)
    return out


def write_markdown(report: Report, out: TextIO) -> None:
    h, s = report.header, report.summary
    w = out.write
    w("# consentaudit report\n\n")
    w(f"- Dataset: {md_escape(h.dataset)}\n")
    w(f"- As of: {h.options.as_of} — purposes: {', '.join(h.options.purposes)}\n")
    w(f"- Tool: consentaudit {h.tool_version}, report schema {report.schema_version}\n")
    w(f"- Fingerprints: `{h.fingerprint_algorithm}`; pHash threshold {h.options.phash_threshold}\n")
    for m in h.manifests:
        w(f"- Manifest: {md_escape(m.path)} ({m.records} records, sha256 `{m.sha256}`)\n")
    for r in h.references:
        w(f"- Reference set: {md_escape(r.name)} ({r.entries} entries)\n")
    w(f"- Started {h.started_at}, finished {h.finished_at}\n")
    for e in h.errors:
        w(f"- Note: {md_escape(e)}\n")
    w("\n## Summary\n\n| verdict | images |\n|---|---:|\n")
    for v in Verdict:
        w(f"| {v.value} | {s.verdicts.get(v.value, 0)} |\n")
    w(f"| **total** | **{s.images}** |\n\n")
    fail_on = ", ".join(v.value for v in h.options.fail_on) or "none"
    w(f"{s.failing} image(s) fall under --fail-on ({fail_on}). {s.duplicate_groups} duplicate group(s).\n")
    if s.opt_outs or s.crawl_refusals:
        w(
            "\n## Opt-out compliance\n\nEvery image was checked for every protocol below; absence of a signal "
            "is *unspecified*, never permission. *Refused at crawl* counts the downloads the crawler did not make "
            "because the server reserved the image (img2dataset's crawl records): they are not in the dataset.\n\n"
        )
        w(
            "| protocol | images carrying it | prohibited | allowed | unspecified | invalid | refused at crawl |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n"
        )
        for proto, row, refused in s.compliance():
            counts = " | ".join(str(row.get(k, 0)) for k in OPT_OUT_COUNTS)
            w(f"| {md_escape(proto)} | {counts} | {refused} |\n")
    if s.domains:
        w("\n## Source domains\n\n| domain | images | bytes |\n|---|---:|---:|\n")
        for d in s.domains:
            w(f"| {md_escape(d.domain)} | {d.images} | {d.bytes} |\n")
    if s.ai_generated:
        w(f"\n{s.ai_generated} image(s) declare AI-generated content (digital source type).\n")
    flagged = [f for f in report.findings if f.verdict != Verdict.CONSENTED]
    w("\n## Findings\n\n")
    if not flagged:
        w("Every image is consented for the requested purposes.\n")
    else:
        w("| path | verdict | match | reasons |\n|---|---|---|---|\n")
        for f in flagged:
            fm = f.match
            match = (
                ""
                if fm is None
                else f"{fm.record_id} ({fm.kind.value}" + (f", d={fm.distance})" if fm.distance is not None else ")")
            )
            reasons = " · ".join(f"**{r.verdict.value}**: {md_escape(r.detail)}" for r in f.reasons)
            w(f"| {md_escape(f.path)} | {f.verdict.value} | {md_escape(match)} | {reasons} |\n")
    if report.duplicates:
        w("\n## Duplicate groups\n\n")
        for n, g in enumerate(report.duplicates, start=1):
            w(f"{n}. " + ", ".join(md_escape(p) for p in g) + "\n")
