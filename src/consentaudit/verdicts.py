"""Verdicts: what the records, reference matches and embedded signals say about one image. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from consentaudit.matching.consent_index import PathConflict, RecordMatch
from consentaudit.models import ConsentRecord, Match, Reason, ReferenceEntry, Signal
from consentaudit.vocab import (
    AI_SOURCE_TYPES,
    CRAWL_PROTOCOLS,
    REBUILT_JPEG,
    AiGenerated,
    ConsentStatus,
    MatchKind,
    Purpose,
    SignalProtocol,
    Verdict,
)

BIOMETRIC = Purpose.BIOMETRIC_IDENTIFICATION


@dataclass(frozen=True)
class Rules:
    """What the audit asks for: purposes, date, and the policy file's choices."""

    purposes: tuple[str, ...]
    as_of: date
    deny_domains: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()  # when set, any other source domain counts as scraped
    ai_generated: AiGenerated = AiGenerated.FLAG
    honour_crawl: tuple[str, ...] = CRAWL_PROTOCOLS  # crawl-time signals that can opt an image out


def domain_listed(domain: str, listed: Sequence[str]) -> bool:
    d = domain.lower()
    return any(d == e or d.endswith("." + e) for e in (x.lower().lstrip(".") for x in listed))


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    match: Match | None


def _describe(m: Match) -> str:
    if m.kind == MatchKind.CRAWL_SHA256:
        return "its crawl record's sha256 of the bytes downloaded, before any resize"
    if m.hash == REBUILT_JPEG:
        return "sha256 match of the JPEG this JPEG XL file rebuilds bit for bit"
    if m.distance is None:
        return f"{m.kind.value} match"
    return f"{m.kind.value} match, {m.hash or 'phash'} distance {m.distance}"


def evaluate_record(record: ConsentRecord, purposes: Sequence[str], as_of: date) -> list[Reason]:
    """What is wrong with this record for these purposes on this date (empty: it consents)."""
    rid = record.record_id
    if record.status == ConsentStatus.DENIED:
        return [Reason(Verdict.OUT_OF_SCOPE, f"record {rid}: consent was denied")]
    reasons: list[Reason] = []
    if record.revoked_at is not None and record.revoked_at <= as_of:
        reasons.append(Reason(Verdict.REVOKED, f"record {rid}: consent revoked on {record.revoked_at}"))
    elif record.status == ConsentStatus.REVOKED and record.revoked_at is None:
        reasons.append(Reason(Verdict.REVOKED, f"record {rid}: consent revoked (no date recorded)"))
    if record.granted_at is not None and record.granted_at > as_of:
        reasons.append(
            Reason(
                Verdict.UNCONSENTED,
                f"record {rid}: consent starts on {record.granted_at}, after the audit date {as_of}",
            )
        )
    if record.expires_at is not None and record.expires_at <= as_of:
        reasons.append(Reason(Verdict.EXPIRED, f"record {rid}: consent expired on {record.expires_at}"))
    missing = [p for p in purposes if p not in record.purposes]
    if missing:
        covered = ", ".join(sorted(record.purposes)) or "nothing"
        reasons.append(
            Reason(Verdict.OUT_OF_SCOPE, f"record {rid}: does not cover {', '.join(missing)} (covers {covered})")
        )
    if BIOMETRIC in purposes and BIOMETRIC in record.purposes and record.explicit_biometric is not True:
        reasons.append(
            Reason(
                Verdict.OUT_OF_SCOPE,
                f"record {rid}: biometric use needs explicit consent (explicit_biometric is not true)",
            )
        )
    return reasons


@dataclass(frozen=True)
class Evidence:
    """Everything known about one image that its verdict rests on."""

    records: Sequence[RecordMatch] = ()  # records covering the image, the deciding one first
    conflicts: Sequence[PathConflict] = ()  # records naming its path for another picture
    reference: tuple[ReferenceEntry, Match] | None = None
    signals: Sequence[Signal] = ()
    error: str | None = None  # why the image could not be read
    domain: str | None = None  # its recorded source domain


def judge(evidence: Evidence, rules: Rules) -> Judgement:
    """One verdict for one image: the most severe that applies; `reasons` lists every one that applied."""
    purposes, as_of, domain = rules.purposes, rules.as_of, evidence.domain
    records, signals = evidence.records, evidence.signals
    reasons: list[Reason] = []
    notes: list[str] = []
    if evidence.error is not None:
        reasons.append(Reason(Verdict.UNREADABLE, evidence.error))
    if evidence.reference is not None:
        entry, m = evidence.reference
        reasons.append(
            Reason(Verdict.KNOWN_SCRAPED, f"in reference set {entry.set_name!r} as {entry.ref_id} ({_describe(m)})")
        )
    if domain and rules.deny_domains and domain_listed(domain, rules.deny_domains):
        reasons.append(Reason(Verdict.KNOWN_SCRAPED, f"source domain {domain} is on the policy's deny list"))
    elif domain and rules.allow_domains and not domain_listed(domain, rules.allow_domains):
        reasons.append(Reason(Verdict.KNOWN_SCRAPED, f"source domain {domain} is not on the policy's allow list"))
    primary = records[0] if records else None
    for s in signals:
        if s.protocol in CRAWL_PROTOCOLS and s.protocol not in rules.honour_crawl:
            continue
        hit = [p for p in purposes if p in s.prohibits]
        if hit:
            detail = f"{s.source} = {s.value} prohibits {', '.join(hit)} ({s.verification})"
            if primary is not None and primary.record.status == ConsentStatus.GRANTED:
                granted = [p for p in hit if p in primary.record.purposes]
                if granted:
                    detail += f"; conflicts with record {primary.record.record_id}, which grants {', '.join(granted)}"
            reasons.append(Reason(Verdict.OPTED_OUT, detail))
    ai = next(
        (s for s in signals if s.protocol == SignalProtocol.DIGITAL_SOURCE_TYPE and s.value in AI_SOURCE_TYPES),
        None,
    )
    if ai is not None and rules.ai_generated != AiGenerated.IGNORE:
        detail = f"AI-generated image ({ai.value}, from {ai.source}; {ai.verification})"
        if rules.ai_generated == AiGenerated.EXCLUDE:
            reasons.append(Reason(Verdict.OUT_OF_SCOPE, detail + "; the policy excludes AI-generated images"))
        else:
            notes.append(detail)
    if primary is not None and primary.record.status == ConsentStatus.GRANTED:
        for s in signals:
            if s.protocol == SignalProtocol.MODEL_RELEASE and s.value == "MR-NON":
                notes.append(
                    f"conflict: the file says 'no model release' ({s.source}) but record "
                    f"{primary.record.record_id} claims consent"
                )
    if primary is None:
        msg = "no consent record covers this image"
        if evidence.conflicts:
            msg += "; " + "; ".join(c.detail for c in evidence.conflicts)
        reasons.append(Reason(Verdict.UNCONSENTED, msg))
    else:
        problems = evaluate_record(primary.record, purposes, as_of)
        if problems:
            reasons.extend(problems)
        else:
            rec = primary.record
            until = f" until {rec.expires_at}" if rec.expires_at else ""
            reasons.append(
                Reason(
                    Verdict.CONSENTED,
                    f"record {rec.record_id} ({_describe(primary.match)}) grants {', '.join(purposes)}{until}",
                )
            )
        for other in records[1:]:  # a revocation on any record covering the image holds
            for r in evaluate_record(other.record, purposes, as_of):
                if r.verdict == Verdict.REVOKED:
                    reasons.append(Reason(Verdict.REVOKED, f"{r.detail} ({_describe(other.match)})"))
    verdict = max((r.verdict for r in reasons), key=lambda v: v.severity)
    reasons.sort(key=lambda r: -r.verdict.severity)
    reasons.extend(Reason(verdict, f"note: {n}") for n in notes)
    return Judgement(verdict, tuple(reasons), primary.match if primary else None)
