"""The merge side of a scan: judge every scanned image, propagate revocations, summarise. Pure."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from consentaudit.matching.consent_index import ConsentIndex
from consentaudit.matching.duplicates import duplicate_groups
from consentaudit.matching.keypoints import Keypoints
from consentaudit.matching.perceptual import MIN_DETAIL, cached256, matchable
from consentaudit.matching.reference_index import ReferenceIndex
from consentaudit.models import OPT_OUT_COUNTS, DomainCount, Finding, Reason, ScannedImage, Signal, Summary
from consentaudit.signals import datamining
from consentaudit.signals.provenance import release_ids
from consentaudit.verdicts import Evidence, Rules, judge
from consentaudit.vocab import AI_SOURCE_TYPES, OPT_OUT_PROTOCOLS, REBUILT_JPEG_SHA256, SignalProtocol, Verdict

TOP_DOMAINS = 100
_PROPAGATED = "near-duplicate of "


def _meta(metadata: Iterable[tuple[str, str]], key: str) -> str | None:
    return next((v for k, v in metadata if k == key), None)


class Merger:
    """Judges images one at a time, as soon as their unit is scanned (duplicate groups are not known yet),
    then settles the groups: numbers them and propagates revocations to near-duplicates."""

    def __init__(self, consents: ConsentIndex, references: ReferenceIndex | None, rules: Rules) -> None:
        self.consents, self.references, self.rules = consents, references, rules

    def finding(
        self,
        img: ScannedImage,
        image256: Callable[[str], str | None] | None = None,
        image_keypoints: Callable[[str], Keypoints | None] | None = None,
        near256: Callable[[str], str | None] | None = None,
    ) -> Finding:
        """The finding for one image; `image256` and `image_keypoints` compute its 256-bit pHash and ORB
        keypoints (per variant) when a perceptual candidate needs them; `near256` estimates the former
        without decoding again, to rule out candidates (records and references) far out of reach."""
        image256 = cached256(image256)  # one computation per variant for records and references together
        rebuilt = _meta(img.metadata, REBUILT_JPEG_SHA256)
        records, conflicts = self.consents.lookup(
            img.path, img.fingerprint, img.digest, release_ids(img.metadata), image256, near256, rebuilt
        )
        ref = (
            self.references.lookup(
                img.fingerprint,
                img.digest,
                _meta(img.metadata, "crawl.url"),
                image256,
                image_keypoints,
                near256,
                _meta(img.metadata, "crawl.sha256"),
                rebuilt,
            )
            if self.references
            else None
        )
        evidence = Evidence(records, conflicts, ref, img.signals, img.error, _meta(img.metadata, "crawl.domain"))
        j = judge(evidence, self.rules)
        fp = img.fingerprint
        notes = list(img.notes)
        if fp and fp.phash and not matchable(fp):
            notes.append(
                f"near-flat image (detail {fp.detail} < {MIN_DETAIL}): matched by sha256, path, URL or "
                "release id only, not perceptually"
            )
        reasons = j.reasons + tuple(Reason(j.verdict, f"note: {n}") for n in notes)
        return Finding(
            path=img.path,
            sha256=img.digest,
            phash=fp.phash if fp else None,
            dhash=fp.dhash if fp else None,
            size=img.size,
            verdict=j.verdict,
            reasons=reasons,
            match=j.match,
            reference=ref[1] if ref else None,
            signals=img.signals,
            metadata=img.metadata,
        )


def settle_groups(groups: Sequence[Sequence[str]], members: Mapping[str, Finding], first: int = 1) -> list[Finding]:
    """The findings of duplicate-group members with their group number (`first` for groups[0]), and every
    near-duplicate of an image whose consent is revoked revoked too (with the source in its reasons)."""
    out: list[Finding] = []
    for n, group in enumerate(groups, start=first):
        source = next(
            (
                (p, r)
                for p in group
                for r in members[p].reasons
                if r.verdict == Verdict.REVOKED and not r.detail.startswith(_PROPAGATED)
            ),
            None,
        )
        for p in group:
            f = replace(members[p], duplicate_group=n)
            if source is not None and not any(r.verdict == Verdict.REVOKED for r in f.reasons):
                extra = Reason(Verdict.REVOKED, f"{_PROPAGATED}{source[0]}: {source[1].detail}")
                reasons = sorted((*f.reasons, extra), key=lambda r: -r.verdict.severity)
                f = replace(
                    f, verdict=max(f.verdict, Verdict.REVOKED, key=lambda v: v.severity), reasons=tuple(reasons)
                )
            out.append(f)
    return out


def settle_images(
    images: Sequence[ScannedImage], findings: dict[str, Finding], threshold: int
) -> tuple[dict[str, Finding], list[list[str]]]:
    """`findings` (by path) with the duplicate groups among `images` settled in place — group numbers, and
    a revocation spreading to every near-duplicate — and the groups."""
    groups = duplicate_groups(
        [
            (i.path, i.digest, i.fingerprint.phash if i.fingerprint else None,
             i.fingerprint.phash_mirror if i.fingerprint else None,
             i.fingerprint.phash_upright if i.fingerprint else None)
            for i in sorted(images, key=lambda i: i.path)
        ],
        threshold,
    )  # fmt: skip
    for f in settle_groups(groups, findings):
        findings[f.path] = f
    return findings, groups


def build_findings(
    images: Sequence[ScannedImage], consents: ConsentIndex, references: ReferenceIndex | None, rules: Rules
) -> tuple[list[Finding], list[list[str]]]:
    """One finding per image, sorted by path, plus the groups of duplicate images (all in memory)."""
    merger = Merger(consents, references, rules)
    findings, groups = settle_images(images, {img.path: merger.finding(img) for img in images}, consents.threshold)
    return [findings[p] for p in sorted(findings)], groups


def signal_state(s: Signal, purposes: Sequence[str]) -> str:
    """prohibited / allowed / unspecified / invalid for one opt-out signal and the audited purposes: it is
    "prohibited" only when it prohibits one of them."""
    if s.protocol == SignalProtocol.IPTC_DATA_MINING:
        return datamining.state(s, purposes)
    if s.verification.startswith(("Invalid", "C2PA manifest Invalid")):
        return "invalid"
    if set(s.prohibits) & set(purposes):
        return "prohibited"
    if s.prohibits:
        return "unspecified"
    value = s.value.lower()
    if value.endswith("=allowed") or value in ("0", "none") or "=y" in value:
        return "allowed"
    return "unspecified"


_RANK = {"prohibited": 3, "invalid": 2, "allowed": 1, "unspecified": 0}


class SummaryBuilder:
    """Counts for the summary, fed one finding at a time (and corrected when a finding changes)."""

    def __init__(self, fail_on: Sequence[Verdict], purposes: Sequence[str]) -> None:
        self.fail_on = tuple(fail_on)
        self.purposes = tuple(purposes)
        self.verdicts: Counter[str] = Counter()
        self.images = self.failing = self.bytes = self.ai = 0
        self.opt: dict[str, Counter[str]] = {p: Counter() for p in OPT_OUT_PROTOCOLS}
        self.domain_count: Counter[str] = Counter()
        self.domain_bytes: defaultdict[str, int] = defaultdict(int)

    def add(self, f: Finding, sign: int = 1) -> None:
        self.images += sign
        self.verdicts[f.verdict.value] += sign
        self.failing += sign * (f.verdict in self.fail_on)
        self.bytes += sign * f.size
        self.ai += sign * any(
            s.protocol == SignalProtocol.DIGITAL_SOURCE_TYPE and s.value in AI_SOURCE_TYPES for s in f.signals
        )
        states: dict[str, str] = {}
        for s in f.signals:
            if s.protocol in self.opt:
                st = signal_state(s, self.purposes)
                if s.protocol not in states or _RANK[st] > _RANK[states[s.protocol]]:
                    states[s.protocol] = st
        for proto, st in states.items():
            self.opt[proto]["images"] += sign
            self.opt[proto][st] += sign
        d = _meta(f.metadata, "crawl.domain")
        if d:
            self.domain_count[d] += sign
            self.domain_bytes[d] += sign * f.size

    def replace(self, old: Finding, new: Finding) -> None:
        self.add(old, -1)
        self.add(new)

    def build(self, duplicate_groups: int) -> Summary:
        keys = OPT_OUT_COUNTS
        ranked = sorted(
            (d for d, n in self.domain_count.items() if n > 0),
            key=lambda d: (-self.domain_count[d], -self.domain_bytes[d], d),
        )[:TOP_DOMAINS]
        return Summary(
            images=self.images,
            verdicts={v.value: self.verdicts.get(v.value, 0) for v in Verdict},
            failing=self.failing,
            duplicate_groups=duplicate_groups,
            bytes=self.bytes,
            opt_outs={p: {k: c.get(k, 0) for k in keys} for p, c in self.opt.items()},
            domains=tuple(DomainCount(d, self.domain_count[d], self.domain_bytes[d]) for d in ranked),
            ai_generated=self.ai,
        )
