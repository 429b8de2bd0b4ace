"""Plain-dict forms of the models, for JSON reports and the store. Pure; stable key order."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

from consentaudit.models import (
    DataFileDigest,
    DomainCount,
    Finding,
    Fingerprint,
    ManifestInfo,
    Match,
    Reason,
    ReferenceInfo,
    Report,
    ReportHeader,
    ScannedImage,
    ScanOptions,
    Signal,
    Summary,
)
from consentaudit.vocab import MatchKind, SignalProtocol, Verdict


def signal_to_dict(s: Signal) -> dict[str, Any]:
    return {
        "protocol": s.protocol,
        "value": s.value,
        "source": s.source,
        "prohibits": list(s.prohibits),
        "verification": s.verification,
        "raw": s.raw,
    }


def signal_from_dict(d: dict[str, Any]) -> Signal:
    return Signal(
        SignalProtocol(d["protocol"]),
        d["value"],
        d["source"],
        tuple(d.get("prohibits") or ()),
        d.get("verification", "unverified"),
        d.get("raw"),
    )


def scanned_to_dict(img: ScannedImage) -> dict[str, Any]:
    fp = img.fingerprint
    return {
        "path": img.path,
        "size": img.size,
        "mtime_ns": img.mtime_ns,
        "error": img.error,
        "sha256": img.digest,
        "fingerprint": None
        if fp is None
        else {
            "sha256": fp.sha256,
            "phash": fp.phash,
            "dhash": fp.dhash,
            "phash_mirror": fp.phash_mirror,
            "phash_trim": fp.phash_trim,
            "phash256": fp.phash256,
            "detail": fp.detail,
            "views": [list(v) for v in fp.views],
            "keypoints": fp.keypoints,
            "width": fp.width,
            "height": fp.height,
            "format": fp.format,
            "exact": fp.exact,
            "probed": [list(kv) for kv in fp.probed],
            "orientation": fp.orientation,
            "phash_upright": fp.phash_upright,
        },
        "signals": [signal_to_dict(s) for s in img.signals],
        "metadata": [list(kv) for kv in img.metadata],
        "notes": list(img.notes),
        "sidecars": img.sidecars,
    }


# the hex codes of a fingerprint and their lengths: checked when one is read back (a damaged store row must
# not reach the matching as a code it cannot parse)
HEX_CODES = {
    "sha256": 64,
    "phash": 16,
    "dhash": 16,
    "phash_mirror": 16,
    "phash_trim": 16,
    "phash256": 64,
    "phash_upright": 16,
}
_HEX = re.compile(r"[0-9a-fA-F]+")


def checked_hex(name: str, value: Any) -> str | None:
    """`value` when it is None or `HEX_CODES[name]` hex digits; ValueError otherwise."""
    if value is None or (isinstance(value, str) and len(value) == HEX_CODES[name] and _HEX.fullmatch(value)):
        return value
    raise ValueError(f"{name} {str(value)[:80]!r} is not {HEX_CODES[name]} hex digits")


def checked_views(views: Iterable[Any]) -> None:
    """`checked_hex` on each view's (name, pHash, 256-bit pHash) codes."""
    for _, phash, phash256 in views:
        checked_hex("phash", phash)
        checked_hex("phash256", phash256)


def scanned_from_dict(d: dict[str, Any]) -> ScannedImage:
    f = d.get("fingerprint")
    if f is not None:
        for name in HEX_CODES:
            checked_hex(name, f.get(name))
        checked_views(f.get("views", ()))
        for kind, value in f.get("probed", ()):
            if str(kind).startswith(("phash256:", "near256:")):
                checked_hex("phash256", value)
    return ScannedImage(
        path=d["path"],
        size=d["size"],
        mtime_ns=d["mtime_ns"],
        fingerprint=None
        if f is None
        else Fingerprint(
            **{
                **f,
                "views": tuple(tuple(v) for v in f.get("views", ())),
                "probed": tuple((str(k), str(v)) for k, v in f.get("probed", ())),
            }
        ),
        error=d.get("error"),
        sha256=d.get("sha256"),
        signals=tuple(signal_from_dict(s) for s in d.get("signals", ())),
        metadata=tuple((k, v) for k, v in d.get("metadata", ())),
        notes=tuple(d.get("notes", ())),
        sidecars=d.get("sidecars") if isinstance(d.get("sidecars"), str) else None,
    )


def match_to_dict(m: Match | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"record_id": m.record_id, "kind": m.kind.value, "distance": m.distance, "hash": m.hash}


def match_from_dict(d: dict[str, Any] | None) -> Match | None:
    if d is None:
        return None
    return Match(d["record_id"], MatchKind(d["kind"]), d.get("distance"), d.get("hash"))


def metadata_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Reportable metadata as one entry per key; a key read several times (two plus:ModelReleaseID) keeps
    every distinct value, joined with "; " in the order read."""
    values: dict[str, list[str]] = {}
    for k, v in pairs:
        if v not in values.setdefault(k, []):
            values[k].append(v)
    return {k: "; ".join(vs) for k, vs in values.items()}


def finding_to_dict(f: Finding) -> dict[str, Any]:
    return {
        "path": f.path,
        "sha256": f.sha256,
        "phash": f.phash,
        "dhash": f.dhash,
        "size": f.size,
        "verdict": f.verdict.value,
        "reasons": [{"verdict": r.verdict.value, "detail": r.detail} for r in f.reasons],
        "match": match_to_dict(f.match),
        "reference": match_to_dict(f.reference),
        "signals": [signal_to_dict(s) for s in f.signals],
        "metadata": metadata_dict(f.metadata),
        "duplicate_group": f.duplicate_group,
    }


def finding_from_dict(d: dict[str, Any]) -> Finding:
    return Finding(
        path=d["path"],
        sha256=d.get("sha256"),
        phash=d.get("phash"),
        dhash=d.get("dhash"),
        size=d["size"],
        verdict=Verdict(d["verdict"]),
        reasons=tuple(Reason(Verdict(r["verdict"]), r["detail"]) for r in d["reasons"]),
        match=match_from_dict(d.get("match")),
        reference=match_from_dict(d.get("reference")),
        signals=tuple(signal_from_dict(s) for s in d.get("signals", ())),
        metadata=tuple(sorted((d.get("metadata") or {}).items())),
        duplicate_group=d.get("duplicate_group"),
    )


def header_to_dict(h: ReportHeader) -> dict[str, Any]:
    o = h.options
    return {
        "tool": h.tool,
        "tool_version": h.tool_version,
        "fingerprint_algorithm": h.fingerprint_algorithm,
        "dataset": h.dataset,
        "scan_id": h.scan_id,
        "as_of": o.as_of.isoformat(),
        "purposes": list(o.purposes),
        "options": {
            "phash_threshold": o.phash_threshold,
            "fail_on": [v.value for v in o.fail_on],
            "max_image_pixels": o.max_image_pixels,
        },
        "manifests": [{"path": m.path, "sha256": m.sha256, "records": m.records} for m in h.manifests],
        "references": [
            {
                "name": x.name,
                "path": x.path,
                "entries": x.entries,
                "description": x.description,
                "license": x.license,
                "sha256": x.sha256,
            }
            for x in h.references
        ],
        "started_at": h.started_at,
        "finished_at": h.finished_at,
        "errors": list(h.errors),
        "dataset_digest": h.dataset_digest,
        "executor": h.executor,
    }


def header_from_dict(h: dict[str, Any]) -> ReportHeader:
    o = h["options"]
    return ReportHeader(
        tool=h["tool"],
        tool_version=h["tool_version"],
        fingerprint_algorithm=h["fingerprint_algorithm"],
        dataset=h["dataset"],
        options=ScanOptions(
            purposes=tuple(h["purposes"]),
            as_of=date.fromisoformat(h["as_of"]),
            phash_threshold=o["phash_threshold"],
            fail_on=tuple(Verdict(v) for v in o["fail_on"]),
            max_image_pixels=o["max_image_pixels"],
        ),
        manifests=tuple(ManifestInfo(m["path"], m["sha256"], m["records"]) for m in h["manifests"]),
        references=tuple(
            ReferenceInfo(
                x["name"], x["path"], x["entries"], x.get("description", ""), x.get("license", ""), x.get("sha256", "")
            )
            for x in h["references"]
        ),
        started_at=h["started_at"],
        finished_at=h["finished_at"],
        scan_id=h.get("scan_id"),
        errors=tuple(h.get("errors", ())),
        executor=str(h.get("executor", "local")),
        dataset_digest=h.get("dataset_digest"),
    )


def summary_to_dict(s: Summary) -> dict[str, Any]:
    return {
        "images": s.images,
        "verdicts": dict(s.verdicts),
        "failing": s.failing,
        "duplicate_groups": s.duplicate_groups,
        "bytes": s.bytes,
        "ai_generated": s.ai_generated,
        "opt_outs": {k: dict(v) for k, v in s.opt_outs.items()},
        "crawl_refusals": dict(sorted(s.crawl_refusals.items())),
        "domains": [{"domain": d.domain, "images": d.images, "bytes": d.bytes} for d in s.domains],
    }


def summary_from_dict(s: dict[str, Any]) -> Summary:
    return Summary(
        s["images"],
        dict(s["verdicts"]),
        s["failing"],
        s["duplicate_groups"],
        s["bytes"],
        opt_outs={k: dict(v) for k, v in (s.get("opt_outs") or {}).items()},
        domains=tuple(DomainCount(d["domain"], d["images"], d["bytes"]) for d in s.get("domains") or ()),
        ai_generated=s.get("ai_generated", 0),
        crawl_refusals={str(k): int(v) for k, v in (s.get("crawl_refusals") or {}).items()},
    )


def file_to_dict(f: DataFileDigest) -> dict[str, Any]:
    return {"path": f.path, "sha256": f.sha256, "size": f.size}


def file_from_dict(d: dict[str, Any]) -> DataFileDigest:
    return DataFileDigest(d["path"], d.get("sha256"), int(d.get("size", 0)))


def report_to_dict(r: Report) -> dict[str, Any]:
    """The whole report as one dict (small reports and tests; writers stream instead)."""
    return {
        "schema_version": r.schema_version,
        "header": header_to_dict(r.header),
        "summary": summary_to_dict(r.summary),
        "findings": [finding_to_dict(f) for f in r.findings],
        "duplicates": [list(g) for g in r.duplicates],
        "files": [file_to_dict(f) for f in r.files],
    }


def report_from_dict(d: dict[str, Any]) -> Report:
    """A report read back from its JSON form (a received audit.json)."""
    return Report(
        header_from_dict(d["header"]),
        summary_from_dict(d["summary"]),
        [finding_from_dict(f) for f in d.get("findings", [])],
        tuple(tuple(g) for g in d.get("duplicates", [])),
        str(d.get("schema_version", "1")),
        tuple(file_from_dict(f) for f in d.get("files", [])),
    )
