"""The merge side of a scan: judge every scanned image and summarise. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date

from consentaudit.matching import ConsentIndex, ReferenceIndex, duplicate_groups
from consentaudit.models import Finding, Reason, ScannedImage, Summary, Verdict
from consentaudit.policy import judge


def build_findings(
    images: Sequence[ScannedImage],
    consents: ConsentIndex,
    references: ReferenceIndex | None,
    purposes: Sequence[str],
    as_of: date,
) -> tuple[list[Finding], list[list[str]]]:
    """One finding per image, sorted by path, plus the groups of duplicate images."""
    ordered = sorted(images, key=lambda i: i.path)
    groups = duplicate_groups([(i.path, i.fingerprint) for i in ordered], consents.threshold)
    group_of = {p: n for n, g in enumerate(groups, start=1) for p in g}
    findings: dict[str, Finding] = {}
    for img in ordered:
        records, conflicts = consents.lookup(img.path, img.fingerprint, img.digest)
        ref = references.lookup(img.fingerprint, img.digest) if references else None
        j = judge(error=img.error, records=records, conflicts=conflicts, reference=ref,
                  signals=img.signals, purposes=purposes, as_of=as_of)
        reasons = j.reasons
        if img.notes:
            reasons = reasons + tuple(Reason(j.verdict, f"note: {n}") for n in img.notes)
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
            findings[p] = Finding(**{**f.__dict__, "verdict": verdict, "reasons": tuple(reasons)})


def summarise(findings: Sequence[Finding], fail_on: Sequence[Verdict], duplicate_groups: int) -> Summary:
    counts = Counter(f.verdict.value for f in findings)
    verdicts = {v.value: counts.get(v.value, 0) for v in Verdict}
    failing = sum(1 for f in findings if f.verdict in fail_on)
    return Summary(images=len(findings), verdicts=verdicts, failing=failing,
                   duplicate_groups=duplicate_groups, bytes=sum(f.size for f in findings))
