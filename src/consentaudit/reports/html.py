"""A self-contained HTML report: no network, no external assets. Summary with a verdict chart and the
opt-out / source-domain tables, then every finding with its evidence in a <details> element, filterable by
verdict and text when JavaScript runs, and complete when it does not. Every string that came from a file
is escaped, and no URL from a file ever becomes a link."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import TextIO

from consentaudit.models import Finding, Report
from consentaudit.vocab import Verdict

COLORS = {
    Verdict.CONSENTED: "#2e7d32",
    Verdict.UNCONSENTED: "#f9a825",
    Verdict.OUT_OF_SCOPE: "#ef6c00",
    Verdict.EXPIRED: "#8d6e63",
    Verdict.REVOKED: "#c62828",
    Verdict.OPTED_OUT: "#ad1457",
    Verdict.KNOWN_SCRAPED: "#6a1b9a",
    Verdict.UNREADABLE: "#455a64",
}

SCRIPT = """
(function () {
  var verdict = document.getElementById('verdict-filter');
  var search = document.getElementById('text-filter');
  var count = document.getElementById('shown-count');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.finding'));
  function apply() {
    var v = verdict.value, q = search.value.toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var ok = (!v || row.getAttribute('data-verdict') === v) &&
               (!q || row.textContent.toLowerCase().indexOf(q) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + rows.length + ' shown';
  }
  document.getElementById('filters').hidden = false;
  verdict.addEventListener('change', apply);
  search.addEventListener('input', apply);
  apply();
})();
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f5f5f5}td.num{text-align:right}.verdict{font-weight:600;color:#fff;padding:.1rem .4rem;
border-radius:.3rem;white-space:nowrap}img.thumb{max-width:96px;max-height:96px}code{font-size:.8rem}
dl{margin:.3rem 0}dt{font-weight:600}dd{margin:0 0 .3rem 1rem;word-break:break-all}#filters{margin:1rem 0}
.meta{color:#555;font-size:.85rem}
"""


def _e(text: object) -> str:
    return escape("" if text is None else str(text), quote=True)


def _chart(report: Report) -> str:
    counts = [(v, report.summary.verdicts.get(v.value, 0)) for v in Verdict]
    top = max((n for _, n in counts), default=0) or 1
    rows = []
    for i, (v, n) in enumerate(counts):
        w = round(300 * n / top)
        y = i * 24
        rows.append(
            f'<text x="0" y="{y + 16}" font-size="13">{v.value}</text>'
            f'<rect x="120" y="{y + 4}" width="{w}" height="16" fill="{COLORS[v]}"></rect>'
            f'<text x="{126 + w}" y="{y + 16}" font-size="13">{n}</text>'
        )
    return (
        f'<svg role="img" aria-label="verdict breakdown" width="480" height="{24 * len(counts)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def _evidence(f: Finding) -> str:
    parts = ["<dl>"]
    parts.append("<dt>reasons</dt>" + "".join(f"<dd>{_e(r.verdict.value)}: {_e(r.detail)}</dd>" for r in f.reasons))
    if f.match:
        m = f.match
        parts.append(
            f"<dt>consent match</dt><dd>{_e(m.record_id)} ({_e(m.kind.value)}"
            + (f", {_e(m.hash)} distance {m.distance}" if m.distance is not None else "")
            + ")</dd>"
        )
    if f.reference:
        parts.append(f"<dt>reference match</dt><dd>{_e(f.reference.record_id)} ({_e(f.reference.kind.value)})</dd>")
    if f.signals:
        parts.append(
            "<dt>signals</dt>"
            + "".join(
                f"<dd>{_e(s.protocol)} = {_e(s.value)} — {_e(s.source)}; {_e(s.verification)}"
                + (f"; prohibits {_e(', '.join(s.prohibits))}" if s.prohibits else "")
                + "</dd>"
                for s in f.signals
            )
        )
    if f.metadata:
        parts.append("<dt>metadata</dt>" + "".join(f"<dd>{_e(k)}: {_e(v)}</dd>" for k, v in f.metadata))
    parts.append(
        f"<dt>fingerprints</dt><dd>sha256 <code>{_e(f.sha256)}</code></dd>"
        f"<dd>pHash <code>{_e(f.phash)}</code> dHash <code>{_e(f.dhash)}</code></dd>"
    )
    parts.append("</dl>")
    return "".join(parts)


def write_html(report: Report, out: TextIO) -> None:
    """One self-contained page; thumbnails are the report's own (`Report.thumbnails`)."""
    h, s = report.header, report.summary
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
        "base-uri 'none'; form-action 'none'"
    )
    w = out.write
    w('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">')
    w(f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>consentaudit report — {_e(h.dataset)}</title><style>{STYLE}</style></head><body>")
    w(f"<h1>consentaudit report: {_e(h.dataset)}</h1>")
    w(
        f'<p class="meta">as of {_e(h.options.as_of)} · purposes {_e(", ".join(h.options.purposes))} · '
        f"consentaudit {_e(h.tool_version)} · report schema {_e(report.schema_version)} · scan {_e(h.scan_id)} · "
        f"{_e(h.started_at)} – {_e(h.finished_at)}</p>"
    )
    w(f'<p class="meta">dataset digest (Merkle root) <code>{_e(h.dataset_digest)}</code></p>')
    w("<h2>Summary</h2>")
    w(_chart(report))
    w(
        f"<p>{s.images} images, {s.failing} under --fail-on, {s.duplicate_groups} duplicate groups, "
        f"{s.ai_generated} declared AI-generated.</p>"
    )
    w(
        "<h3>Opt-out compliance</h3><table><tr><th>protocol</th><th>images carrying it</th><th>prohibited</th>"
        "<th>allowed</th><th>unspecified</th><th>invalid</th></tr>"
    )
    for proto, row in s.opt_outs.items():
        w(
            f"<tr><td>{_e(proto)}</td>"
            + "".join(
                f'<td class="num">{row.get(k, 0)}</td>'
                for k in ("images", "prohibited", "allowed", "unspecified", "invalid")
            )
            + "</tr>"
        )
    w("</table><h3>Source domains</h3>")
    if s.domains:
        w("<table><tr><th>domain</th><th>images</th><th>bytes</th></tr>")
        for d in s.domains:
            w(f'<tr><td>{_e(d.domain)}</td><td class="num">{d.images}</td><td class="num">{d.bytes}</td></tr>')
        w("</table>")
    else:
        w("<p>No source URLs were recorded.</p>")
    w("<h2>Findings</h2>")
    w('<div id="filters" hidden><label>verdict <select id="verdict-filter"><option value="">all</option>')
    for v in Verdict:
        w(f'<option value="{v.value}">{v.value}</option>')
    w(
        '</select></label> <label>search <input id="text-filter" type="search"></label> '
        '<span id="shown-count"></span></div>'
    )
    w(
        '<table id="findings"><thead><tr><th>image</th><th>path</th><th>verdict</th><th>evidence</th></tr>'
        "</thead><tbody>"
    )
    for f in report.findings:
        thumb = ""
        uri = report.thumbnails.get(f.path)
        if uri and uri.startswith("data:image/") and f.verdict != Verdict.UNREADABLE:
            thumb = f'<img class="thumb" alt="" src="{_e(uri)}">'
        first = f.reasons[0].detail if f.reasons else ""
        w(
            f'<tr class="finding" data-verdict="{_e(f.verdict.value)}"><td>{thumb}</td><td>{_e(f.path)}</td>'
            f'<td><span class="verdict" style="background:{COLORS[f.verdict]}">{_e(f.verdict.value)}</span></td>'
            f"<td><details><summary>{_e(first)}</summary>{_evidence(f)}</details></td></tr>"
        )
    w("</tbody></table>")
    w(f"<script>{SCRIPT}</script></body></html>\n")
