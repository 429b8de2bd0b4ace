"""A self-contained HTML report that says what to do: no network, no external assets. First the verdict
chart and a next step for each verdict found, most severe first; then the images needing action, grouped
by verdict in order of severity with their evidence; the consented images collapsed; then the inputs the
audit used (manifests, reference sets, settings, warnings) and the opt-out / source-domain tables. Rows
are filterable by verdict and text when JavaScript runs, and complete when it does not. Every string that
came from a file is escaped, and no URL from a file ever becomes a link."""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import TextIO

from consentaudit.models import OPT_OUT_COUNTS, Finding, Report
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

# What the reader should do about each verdict: the report's advice, shown where the verdict appears.
NEXT_STEP = {
    Verdict.UNREADABLE: "Repair or remove: a file that cannot be decoded cannot be audited, and a loader may "
    "still read it.",
    Verdict.KNOWN_SCRAPED: "Remove: the image is in a known scraped collection or comes from a source domain "
    "the policy denies. Consent records cannot cure a scraped source.",
    Verdict.OPTED_OUT: "Remove before training: the file or the server it came from reserves text and data "
    "mining for the audited purposes. Keep the image out of every later release too.",
    Verdict.REVOKED: "Remove the image and its near-duplicates now: the subject withdrew consent. For a "
    "dataset already released, publish the takedown list (`consentaudit lists` writes takedown.jsonl).",
    Verdict.EXPIRED: "Renew consent with the subject before use, or remove the image.",
    Verdict.OUT_OF_SCOPE: "The consent does not cover the audited purposes (or was denied): obtain consent "
    "for them, or exclude the image from this use.",
    Verdict.UNCONSENTED: "Find the consent record and add it to a manifest (then re-scan), or remove the "
    "image. `consentaudit explain PATH` shows the nearest records.",
    Verdict.CONSENTED: "Keep: a record covers the audited purposes on the audit date. Its evidence is listed "
    "per image.",
}

SCRIPT = """
(function () {
  var verdict = document.getElementById('verdict-filter');
  var search = document.getElementById('text-filter');
  var count = document.getElementById('shown-count');
  var consented = document.getElementById('consented');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.finding'));
  var groups = Array.prototype.slice.call(document.querySelectorAll('tbody.group'));
  function apply() {
    var v = verdict.value, q = search.value.toLowerCase(), shown = 0, openConsented = false;
    rows.forEach(function (row) {
      var ok = (!v || row.getAttribute('data-verdict') === v) &&
               (!q || row.textContent.toLowerCase().indexOf(q) !== -1);
      row.hidden = !ok;
      if (ok) {
        shown += 1;
        if ((v || q) && row.getAttribute('data-verdict') === 'consented') { openConsented = true; }
      }
    });
    groups.forEach(function (g) { g.hidden = !g.querySelector('tr.finding:not([hidden])'); });
    if (consented && openConsented) { consented.open = true; }
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
.meta{color:#555;font-size:.85rem}ol.todo li{margin:.4rem 0}section.inputs{background:#fafafa;padding:.5rem 1rem}
details.consented>summary{font-size:1.1rem;font-weight:600;cursor:pointer;margin:1rem 0}
tr.group th{background:#eee;font-size:1rem}
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


def _row(report: Report, f: Finding) -> str:
    """A finding's row; its first cell is the thumbnail when the report has thumbnails (`--thumbnails`)."""
    cell = ""
    if report.thumbnails:
        uri = report.thumbnails.get(f.path)
        thumb = ""
        if uri and uri.startswith("data:image/") and f.verdict != Verdict.UNREADABLE:
            thumb = f'<img class="thumb" alt="" src="{_e(uri)}">'
        cell = f"<td>{thumb}</td>"
    first = f.reasons[0].detail if f.reasons else ""
    return (
        f'<tr class="finding" data-verdict="{_e(f.verdict.value)}">{cell}<td>{_e(f.path)}</td>'
        f'<td><span class="verdict" style="background:{COLORS[f.verdict]}">{_e(f.verdict.value)}</span></td>'
        f"<td><details><summary>{_e(first)}</summary>{_evidence(f)}</details></td></tr>"
    )


def _head(report: Report) -> str:
    """The findings tables' header: an image column only when the report has thumbnails."""
    image = "<th>image</th>" if report.thumbnails else ""
    return f"<thead><tr>{image}<th>path</th><th>verdict</th><th>evidence</th></tr></thead>"


def _inputs(report: Report) -> str:
    h = report.header
    o = h.options
    parts = ['<section class="inputs"><h2>What the audit used</h2><h3>Consent manifests</h3>']
    if h.manifests:
        parts.append("<table><tr><th>manifest</th><th>records</th><th>sha256</th></tr>")
        parts += [
            f'<tr><td>{_e(m.path)}</td><td class="num">{m.records}</td><td><code>{_e(m.sha256)}</code></td></tr>'
            for m in h.manifests
        ]
        parts.append("</table>")
    else:
        parts.append("<p>None: no image can be consented.</p>")
    parts.append("<h3>Known-scraped reference sets</h3>")
    if h.references:
        parts.append("<table><tr><th>set</th><th>entries</th><th>from</th><th>sha256 of its fingerprints</th></tr>")
        parts += [
            f'<tr><td>{_e(r.name)}</td><td class="num">{r.entries}</td><td>{_e(r.path)}</td>'
            f"<td><code>{_e(r.sha256 or '-')}</code></td></tr>"
            for r in h.references
        ]
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append(
        "<h3>Settings</h3><dl>"
        f"<dt>purposes</dt><dd>{_e(', '.join(o.purposes))}</dd><dt>as of</dt><dd>{_e(o.as_of)}</dd>"
        f"<dt>pHash match threshold</dt><dd>{o.phash_threshold} bits</dd>"
        f"<dt>--fail-on</dt><dd>{_e(', '.join(v.value for v in o.fail_on) or 'none')}</dd>"
        f"<dt>largest image</dt><dd>{o.max_image_pixels} pixels</dd>"
        f"<dt>fingerprint algorithm</dt><dd><code>{_e(h.fingerprint_algorithm)}</code></dd></dl>"
    )
    if h.errors:
        parts.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(x)}</li>" for x in h.errors) + "</ul>")
    parts.append("</section>")
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
    consented = s.verdicts.get(Verdict.CONSENTED.value, 0)
    w(
        f"<p>{s.images} images: {consented} consented, {s.images - consented} needing action; {s.failing} under "
        f"--fail-on, {s.duplicate_groups} duplicate groups, {s.ai_generated} declared AI-generated.</p>"
    )
    present = sorted((v for v in Verdict if s.verdicts.get(v.value, 0)), key=lambda v: -v.severity)
    w('<h2 id="todo">What to do</h2><ol class="todo">')
    for v in present:
        w(
            f'<li><span class="verdict" style="background:{COLORS[v]}">{_e(v.value)}</span> '
            f"<strong>{s.verdicts[v.value]}</strong> — {_e(NEXT_STEP[v])}</li>"
        )
    w("</ol>")
    w('<div id="filters" hidden><label>verdict <select id="verdict-filter"><option value="">all</option>')
    for v in Verdict:
        w(f'<option value="{v.value}">{v.value}</option>')
    w(
        '</select></label> <label>search <input id="text-filter" type="search"></label> '
        '<span id="shown-count"></span></div>'
    )
    problems = [v for v in present if v != Verdict.CONSENTED]
    w(f'<h2 id="problems">Images needing action ({s.images - consented})</h2>')
    if problems:
        w(f'<table id="findings">{_head(report)}')
        columns = 4 if report.thumbnails else 3
        for v in problems:  # one pass per verdict, most severe first: findings stream from the store
            w(
                f'<tbody class="group" data-verdict="{v.value}"><tr class="group"><th colspan="{columns}">'
                f"{_e(v.value)} ({s.verdicts[v.value]}): {_e(NEXT_STEP[v])}</th></tr>"
            )
            for f in report.findings:
                if f.verdict == v:
                    w(_row(report, f))
            w("</tbody>")
        w("</table>")
    else:
        w("<p>None: every image is consented.</p>")
    if consented:
        w(
            f'<details class="consented" id="consented"><summary>Consented images ({consented}) — '
            f"{_e(NEXT_STEP[Verdict.CONSENTED])}</summary>"
            f"<table>{_head(report)}<tbody>"
        )
        for f in report.findings:
            if f.verdict == Verdict.CONSENTED:
                w(_row(report, f))
        w("</tbody></table></details>")
    w(_inputs(report))
    w(
        "<h2>Opt-out compliance</h2><table><tr><th>protocol</th><th>images carrying it</th><th>prohibited</th>"
        "<th>allowed</th><th>unspecified</th><th>invalid</th><th>refused at crawl</th></tr>"
    )
    for proto, row, refused in s.compliance():
        counts = "".join(f'<td class="num">{row.get(k, 0)}</td>' for k in OPT_OUT_COUNTS)
        w(f'<tr><td>{_e(proto)}</td>{counts}<td class="num">{refused}</td></tr>')
    w("</table><h2>Source domains</h2>")
    if s.domains:
        w("<table><tr><th>domain</th><th>images</th><th>bytes</th></tr>")
        for d in s.domains:
            w(f'<tr><td>{_e(d.domain)}</td><td class="num">{d.images}</td><td class="num">{d.bytes}</td></tr>')
        w("</table>")
    else:
        w("<p>No source URLs were recorded.</p>")
    w(f"<script>{SCRIPT}</script></body></html>\n")
