"""The merge side of a scan: judge every scanned image and summarise. Pure."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from consentaudit import datamining
from consentaudit.matching import ConsentIndex, ReferenceIndex, duplicate_groups
from consentaudit.models import DomainCount, Finding, Reason, ScannedImage, Signal, Summary, Verdict
from consentaudit.policy import Rules, judge
from consentaudit.provenance import AI_SOURCE_TYPES, release_ids

OPT_OUT_PROTOCOLS = ("iptc-data-mining", "c2pa-training-mining", "cawg-training-mining", "x-robots-tag",
                     "tdm-reservation", "content-usage")
TOP_DOMAINS = 100


def _meta(img: ScannedImage, key: str) -> str | None:
    return next((v for k, v in img.metadata if k == key), None)


def build_findings(
    images: Sequence[ScannedImage],
    consents: ConsentIndex,
    references: ReferenceIndex | None,
    rules: Rules,
) -> tuple[list[Finding], list[list[str]]]:
    """One finding per image, sorted by path, plus the groups of duplicate images."""
    ordered = sorted(images, key=lambda i: i.path)
    groups = duplicate_groups([(i.path, i.fingerprint) for i in ordered], consents.threshold)
    group_of = {p: n for n, g in enumerate(groups, start=1) for p in g}
    findings: dict[str, Finding] = {}
    for img in ordered:
        records, conflicts = consents.lookup(img.path, img.fingerprint, img.digest, release_ids(img.metadata))
        ref = references.lookup(img.fingerprint, img.digest) if references else None
        j = judge(error=img.error, records=records, conflicts=conflicts, reference=ref, signals=img.signals,
                  purposes=rules.purposes, as_of=rules.as_of, rules=rules, domain=_meta(img, "crawl.domain"))
        reasons = j.reasons + tuple(Reason(j.verdict, f"note: {n}") for n in img.notes)
        fp = img.fingerprint
        findings[img.path] = Finding(
            path=img.path, sha256=img.digest, phash=fp.phash if fp else None, dhash=fp.dhash if fp else None,
            size=img.size, verdict=j.verdict, reasons=reasons, match=j.match,
            reference=ref[1] if ref else None, signals=img.signals, metadata=img.metadata,
            duplicate_group=group_of.get(img.path),
        )
    _propagate_revocations(findings, groups)
    return [findings[p] for p in sorted(findings)], groups


def _propagate_revocations(findings: dict[str, Finding], groups: Sequence[Sequence[str]]) -> None:
    """Every near-duplicate of an image whose consent is revoked is revoked too."""
    for group in groups:
        revoked = [(p, r) for p in group for r in findings[p].reasons
                   if r.verdict == Verdict.REVOKED and not r.detail.startswith("near-duplicate of")]
        if not revoked:
            continue
        src_path, src_reason = revoked[0]
        for p in group:
            f = findings[p]
            if any(r.verdict == Verdict.REVOKED for r in f.reasons):
                continue
            extra = Reason(Verdict.REVOKED, f"near-duplicate of {src_path}: {src_reason.detail}")
            reasons = sorted((*f.reasons, extra), key=lambda r: -r.verdict.severity)
            verdict = max(f.verdict, Verdict.REVOKED, key=lambda v: v.severity)
            findings[p] = replace(f, verdict=verdict, reasons=tuple(reasons))


def signal_state(s: Signal) -> str:
    """prohibited / allowed / unspecified / invalid for one opt-out signal."""
    if s.protocol == "iptc-data-mining":
        return datamining.state(s)
    if s.verification.startswith(("Invalid", "C2PA manifest Invalid")):
        return "invalid"
    if s.prohibits:
        return "prohibited"
    value = s.value.lower()
    if value.endswith("=allowed") or value in ("0", "none") or "=y" in value:
        return "allowed"
    return "unspecified"


def opt_out_table(findings: Sequence[Finding]) -> dict[str, dict[str, int]]:
    """Per protocol: images carrying it and how many of those prohibit / allow / leave it open / are invalid.
    An image whose signals of one protocol disagree counts once, under the strictest state."""
    rank = {"prohibited": 3, "invalid": 2, "allowed": 1, "unspecified": 0}
    table = {p: {"images": 0, "prohibited": 0, "allowed": 0, "unspecified": 0, "invalid": 0}
             for p in OPT_OUT_PROTOCOLS}
    for f in findings:
        states: dict[str, str] = {}
        for s in f.signals:
            if s.protocol in table:
                st = signal_state(s)
                if s.protocol not in states or rank[st] > rank[states[s.protocol]]:
                    states[s.protocol] = st
        for proto, st in states.items():
            table[proto]["images"] += 1
            table[proto][st] += 1
    return table


def domain_table(findings: Sequence[Finding]) -> tuple[DomainCount, ...]:
    count: Counter[str] = Counter()
    size: defaultdict[str, int] = defaultdict(int)
    for f in findings:
        d = next((v for k, v in f.metadata if k == "crawl.domain"), None)
        if d:
            count[d] += 1
            size[d] += f.size
    ranked = sorted(count, key=lambda d: (-count[d], -size[d], d))[:TOP_DOMAINS]
    return tuple(DomainCount(d, count[d], size[d]) for d in ranked)


def summarise(findings: Sequence[Finding], fail_on: Sequence[Verdict], duplicate_groups: int) -> Summary:
    counts = Counter(f.verdict.value for f in findings)
    verdicts = {v.value: counts.get(v.value, 0) for v in Verdict}
    failing = sum(1 for f in findings if f.verdict in fail_on)
    ai = sum(1 for f in findings if any(s.protocol == "digital-source-type" and s.value in AI_SOURCE_TYPES
                                        for s in f.signals))
    return Summary(images=len(findings), verdicts=verdicts, failing=failing, duplicate_groups=duplicate_groups,
                   bytes=sum(f.size for f in findings), opt_outs=opt_out_table(findings),
                   domains=domain_table(findings), ai_generated=ai)
