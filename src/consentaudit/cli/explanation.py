"""`explain` output: the explanation as terminal text (control characters escaped) or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from consentaudit.codec import finding_to_dict
from consentaudit.explain import Candidate, Explanation
from consentaudit.visible import visible


def _candidate(c: Candidate) -> str:
    mark = "MATCH " if c.within else "      "
    return f"  {mark}{visible(c.id)}  {c.how}"


def explanation_text(e: Explanation) -> str:
    d = e.derived
    out = [
        f"{visible(e.path)} in {visible(e.dataset)}",
        f"  audited for {', '.join(e.purposes)} as of {e.as_of}; pHash match threshold {e.threshold} bits",
    ]
    fp = e.fingerprint
    if fp is not None:
        out.append(
            f"  sha256 {fp.sha256}  pHash {fp.phash}  mirrored {fp.phash_mirror}"
            + (f"  {fp.width}x{fp.height} {fp.format}" if fp.width else "")
            + (f"  upright {fp.phash_upright} (EXIF orientation {fp.orientation})" if fp.phash_upright else "")
        )
    if e.claimed is None:
        out.append("  the report has no finding for this path")
    else:
        agree = "agrees" if e.claimed.verdict == d.verdict else f"DIFFERS: the report says {e.claimed.verdict.value}"
        out.append(f"  verdict re-derived now: {d.verdict.value} ({agree})")
        if e.bytes_match is False:
            out.append("  the file's bytes are not those the report recorded")
    out.append("")
    out.append("Reasons (most severe first; the first decides):")
    for n, r in enumerate(d.reasons):
        out.append(f"  {'->' if n == 0 else '  '} {r.verdict.value}: {visible(r.detail)}")
    out.append("")
    out.append(f"Consent records considered ({len(e.records)}):")
    if not e.records:
        out.append("  none names these bytes or this path, or lies within 16 bits of its pHash")
    for c in e.records:
        out.append(_candidate(c))
        out += [f"          {visible(s)}" for s in c.says]
    if e.nearest:
        out.append("Nearest records (none covers this image):")
        out += [_candidate(c) for c in e.nearest]
    out.append("")
    out.append(f"Reference entries matched or near ({len(e.references)}):")
    if not e.references:
        out.append("  none")
    out += [_candidate(c) for c in e.references]
    out.append("")
    out.append(f"Signals ({len(e.signals)}):")
    if not e.signals:
        out.append("  none embedded or recorded at crawl")
    for s in e.signals:
        prohibits = f" prohibits {', '.join(s.prohibits)}" if s.prohibits else ""
        out.append(f"  {s.protocol.value}: {visible(s.value)} from {visible(s.source)}{prohibits} ({s.verification})")
    if e.duplicates:
        out.append("")
        out.append(f"Near-duplicates in the report ({len(e.duplicates)}; a revocation on one holds for all):")
        out += [f"  {visible(p)}" for p in e.duplicates]
    for w in e.warnings:
        out.append(f"warning: {visible(w)}")
    return "\n".join(out) + "\n"


def explanation_json(e: Explanation) -> str:
    doc: dict[str, Any] = {
        "path": e.path,
        "dataset": e.dataset,
        "threshold": e.threshold,
        "purposes": list(e.purposes),
        "as_of": e.as_of,
        "claimed": finding_to_dict(e.claimed) if e.claimed else None,
        "derived": finding_to_dict(e.derived),
        "bytes_match": e.bytes_match,
        "records": [asdict(c) for c in e.records],
        "nearest": [asdict(c) for c in e.nearest],
        "references": [asdict(c) for c in e.references],
        "duplicates": list(e.duplicates),
        "warnings": list(e.warnings),
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
