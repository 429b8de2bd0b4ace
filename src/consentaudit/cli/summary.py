"""The terminal summary printed after a scan."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from consentaudit.models import Report
from consentaudit.visible import visible
from consentaudit.vocab import Verdict

STYLES = {
    Verdict.CONSENTED: "green",
    Verdict.UNREADABLE: "magenta",
    Verdict.KNOWN_SCRAPED: "red",
    Verdict.OPTED_OUT: "red",
    Verdict.REVOKED: "red",
    Verdict.EXPIRED: "yellow",
    Verdict.OUT_OF_SCOPE: "yellow",
    Verdict.UNCONSENTED: "yellow",
}


def print_summary(report: Report, console: Console, limit: int = 20) -> None:
    h, s = report.header, report.summary
    console.print(Text(visible(f"consentaudit {h.tool_version} — scan {h.scan_id} of {h.dataset}"), style="bold"))
    console.print(Text(f"as of {h.options.as_of}; purposes: {', '.join(h.options.purposes)}"))
    table = Table(show_header=True, header_style="bold")
    table.add_column("verdict")
    table.add_column("images", justify="right")
    for v in Verdict:
        n = s.verdicts.get(v.value, 0)
        if n:
            table.add_row(Text(v.value, style=STYLES[v]), str(n))
    table.add_row(Text("total", style="bold"), str(s.images))
    console.print(table)
    flagged = [f for f in report.findings if f.verdict in h.options.fail_on]
    for f in flagged[:limit]:
        line = Text()
        line.append(f"{f.verdict.value:<13}", style=STYLES[f.verdict])
        line.append(visible(f" {f.path}: {f.reasons[0].detail if f.reasons else ''}"))
        console.print(line)
    if len(flagged) > limit:
        console.print(Text(f"… and {len(flagged) - limit} more (see the report)"))
    carried = {p: row for p, row in s.opt_outs.items() if row["images"]}
    if carried:
        console.print(
            Text(
                "opt-out signals: "
                + "; ".join(
                    f"{p}: {row['images']} carried ({row['prohibited']} prohibit)" for p, row in carried.items()
                )
            )
        )
    if s.crawl_refusals:
        refused = ", ".join(f"{p} {n}" for p, n in s.crawl_refusals.items())
        console.print(Text(visible(f"downloads refused at crawl time (not in the dataset): {refused}")))
    if s.domains:
        console.print(
            Text(visible("top source domains: " + ", ".join(f"{d.domain} ({d.images})" for d in s.domains[:5])))
        )
    if s.duplicate_groups:
        console.print(f"{s.duplicate_groups} group(s) of duplicate images")
    for e in h.errors:
        console.print(Text(visible(f"note: {e}")))
    console.print(Text(f"{s.failing} image(s) under --fail-on", style="bold red" if s.failing else "bold green"))
