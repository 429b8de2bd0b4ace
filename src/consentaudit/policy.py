"""Verdicts: what the records, reference matches and embedded signals say about one image. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from consentaudit.matching import PathConflict, RecordMatch
from consentaudit.models import ConsentRecord, ConsentStatus, Match, Reason, ReferenceEntry, Signal, Verdict

BIOMETRIC = "biometric-identification"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[Reason, ...]
    match: Match | None


def _describe(m: Match) -> str:
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
        reasons.append(Reason(Verdict.UNCONSENTED, f"record {rid}: consent starts on {record.granted_at}, "
                                                   f"after the audit date {as_of}"))
    if record.expires_at is not None and record.expires_at <= as_of:
        reasons.append(Reason(Verdict.EXPIRED, f"record {rid}: consent expired on {record.expires_at}"))
    missing = [p for p in purposes if p not in record.purposes]
    if missing:
        covered = ", ".join(sorted(record.purposes)) or "nothing"
        reasons.append(Reason(Verdict.OUT_OF_SCOPE,
                              f"record {rid}: does not cover {', '.join(missing)} (covers {covered})"))
    if BIOMETRIC in purposes and BIOMETRIC in record.purposes and record.explicit_biometric is not True:
        reasons.append(Reason(Verdict.OUT_OF_SCOPE, f"record {rid}: biometric use needs explicit consent "
                                                    "(explicit_biometric is not true)"))
    return reasons


def judge(
    *,
    error: str | None,
    records: Sequence[RecordMatch],
    conflicts: Sequence[PathConflict],
    reference: tuple[ReferenceEntry, Match] | None,
    signals: Sequence[Signal],
    purposes: Sequence[str],
    as_of: date,
) -> Judgement:
    """One verdict for one image: the most severe that applies; `reasons` lists every one that applied."""
    reasons: list[Reason] = []
    if error is not None:
        reasons.append(Reason(Verdict.UNREADABLE, error))
    if reference is not None:
        entry, m = reference
        reasons.append(Reason(Verdict.KNOWN_SCRAPED,
                              f"in reference set {entry.set_name!r} as {entry.ref_id} ({_describe(m)})"))
    primary = records[0] if records else None
    for s in signals:
        hit = [p for p in purposes if p in s.prohibits]
        if hit:
            detail = f"{s.source} = {s.value} prohibits {', '.join(hit)} ({s.verification})"
            if primary is not None and primary.record.status == ConsentStatus.GRANTED:
                granted = [p for p in hit if p in primary.record.purposes]
                if granted:
                    detail += (f"; conflicts with record {primary.record.record_id}, "
                               f"which grants {', '.join(granted)}")
            reasons.append(Reason(Verdict.OPTED_OUT, detail))
    if primary is None:
        msg = "no consent record covers this image"
        if conflicts:
            msg += "; " + "; ".join(c.detail for c in conflicts)
        reasons.append(Reason(Verdict.UNCONSENTED, msg))
    else:
        problems = evaluate_record(primary.record, purposes, as_of)
        if problems:
            reasons.extend(problems)
        else:
            rec = primary.record
            until = f" until {rec.expires_at}" if rec.expires_at else ""
            reasons.append(Reason(Verdict.CONSENTED, f"record {rec.record_id} ({_describe(primary.match)}) "
                                                     f"grants {', '.join(purposes)}{until}"))
        for other in records[1:]:  # a revocation on any record covering the image holds
            for r in evaluate_record(other.record, purposes, as_of):
                if r.verdict == Verdict.REVOKED:
                    reasons.append(Reason(Verdict.REVOKED, f"{r.detail} ({_describe(other.match)})"))
    verdict = max((r.verdict for r in reasons), key=lambda v: v.severity)
    reasons.sort(key=lambda r: -r.verdict.severity)
    return Judgement(verdict, tuple(reasons), primary.match if primary else None)
