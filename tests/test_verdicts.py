"""Verdicts from records, references and signals. Pure: no files."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from consentaudit.matching.consent_index import ConsentIndex, RecordMatch
from consentaudit.matching.perceptual import MIN_DETAIL
from consentaudit.matching.reference_index import ReferenceIndex
from consentaudit.merge import build_findings
from consentaudit.models import ConsentRecord, Fingerprint, Match, ReferenceEntry, ScannedImage
from consentaudit.signals import datamining
from consentaudit.verdicts import Evidence, Rules, judge
from consentaudit.vocab import ConsentStatus, MatchKind, Verdict

AS_OF = date(2026, 11, 26)
RULES = Rules(("ai-training",), AS_OF)


def rec(rid: str = "r1", **kw: object) -> ConsentRecord:
    base: dict[str, object] = {
        "status": ConsentStatus.GRANTED,
        "sha256": "a" * 64,
        "purposes": frozenset({"ai-training"}),
    }
    base.update(kw)
    return ConsentRecord(record_id=rid, **base)  # type: ignore[arg-type]


def verdict_for(record: ConsentRecord | None, purposes: tuple[str, ...] = ("ai-training",), **kw: object) -> Verdict:
    records = [RecordMatch(record, Match(record.record_id, MatchKind.SHA256))] if record else []
    return judge(Evidence(records=records, **kw), Rules(purposes, AS_OF)).verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "purposes", "expected"),
    [
        (rec(), ("ai-training",), Verdict.CONSENTED),
        (None, ("ai-training",), Verdict.UNCONSENTED),
        (rec(status=ConsentStatus.REVOKED, revoked_at=date(2026, 6, 1)), ("ai-training",), Verdict.REVOKED),
        (rec(status=ConsentStatus.REVOKED), ("ai-training",), Verdict.REVOKED),
        # revoked after the audit date: consent still held on that date
        (rec(status=ConsentStatus.REVOKED, revoked_at=date(2027, 1, 1)), ("ai-training",), Verdict.CONSENTED),
        (rec(expires_at=date(2026, 11, 26)), ("ai-training",), Verdict.EXPIRED),
        (rec(expires_at=date(2026, 11, 27)), ("ai-training",), Verdict.CONSENTED),
        (rec(granted_at=date(2027, 1, 1)), ("ai-training",), Verdict.UNCONSENTED),
        (rec(), ("ai-training", "commercial"), Verdict.OUT_OF_SCOPE),
        (rec(status=ConsentStatus.DENIED, purposes=frozenset()), ("ai-training",), Verdict.OUT_OF_SCOPE),
        (rec(purposes=frozenset({"biometric-identification"})), ("biometric-identification",), Verdict.OUT_OF_SCOPE),
        (
            rec(purposes=frozenset({"biometric-identification"}), explicit_biometric=True),
            ("biometric-identification",),
            Verdict.CONSENTED,
        ),
    ],
)
def test_record_verdicts(record: ConsentRecord | None, purposes: tuple[str, ...], expected: Verdict) -> None:
    assert verdict_for(record, purposes) == expected


def test_most_severe_wins_and_all_reasons_are_listed() -> None:
    r = rec(status=ConsentStatus.REVOKED, revoked_at=date(2026, 1, 1), expires_at=date(2026, 2, 1))
    sig = datamining.signal("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED")
    entry = ReferenceEntry("laion-sample", "x.jpg", "a" * 64, None)
    j = judge(
        Evidence(
            records=[RecordMatch(r, Match("r1", MatchKind.SHA256))],
            reference=(entry, Match("laion-sample:x.jpg", MatchKind.SHA256)),
            signals=[sig],
        ),
        Rules(("ai-training",), AS_OF),
    )
    assert j.verdict == Verdict.KNOWN_SCRAPED
    assert [x.verdict for x in j.reasons] == [
        Verdict.KNOWN_SCRAPED,
        Verdict.OPTED_OUT,
        Verdict.REVOKED,
        Verdict.EXPIRED,
    ]
    assert (
        judge(
            Evidence(error="empty file", reference=(entry, Match("e", MatchKind.SHA256))),
            Rules(("ai-training",), AS_OF),
        ).verdict
        == Verdict.UNREADABLE
    )


def test_severity_order_is_the_documented_one() -> None:
    order = sorted(Verdict, key=lambda v: v.severity, reverse=True)
    assert [v.value for v in order] == [
        "unreadable",
        "known_scraped",
        "opted_out",
        "revoked",
        "expired",
        "out_of_scope",
        "unconsented",
        "consented",
    ]


@pytest.mark.parametrize(
    ("value", "purpose", "prohibited"),
    [
        ("http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-AIMLTRAINING", "ai-training", True),
        ("DMI-PROHIBITED-AIMLTRAINING", "generative-ai-training", True),
        ("dmi-prohibited-genaimltraining", "ai-training", False),
        ("DMI-PROHIBITED-GENAIMLTRAINING", "generative-ai-training", True),
        ("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING", "search-indexing", False),
        ("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING", "ai-training", True),
        ("DMI PROHIBITED SEE CONSTRAINT", "research", True),
        ("DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR", "ai-training", True),
        ("DMI-PROHIBITED-SEELINKEDRIGHTSEXPR/", "ai-training", True),
        ("DMI-ALLOWED", "ai-training", False),
        ("DMI-UNSPECIFIED", "ai-training", False),
    ],
)
def test_data_mining_values(value: str, purpose: str, prohibited: bool) -> None:
    sig = datamining.signal(value)
    assert sig.value != "invalid"
    assert (purpose in sig.prohibits) is prohibited
    assert verdict_for(rec(purposes=frozenset({purpose})), (purpose,), signals=[sig]) == (
        Verdict.OPTED_OUT if prohibited else Verdict.CONSENTED
    )


def test_data_mining_states() -> None:
    assert datamining.state(datamining.signal("DMI-ALLOWED")) == "allowed"
    assert datamining.state(datamining.signal("DMI-UNSPECIFIED")) == "unspecified"
    assert datamining.state(datamining.signal("DMI-PROHIBITED")) == "prohibited"
    assert datamining.state(datamining.signal("maybe later")) == "invalid"


def _img(path: str, phash: str, sha: str) -> ScannedImage:
    return ScannedImage(path, 10, 0, Fingerprint(sha256=sha, phash=phash, dhash="0" * 16))


def test_revocation_propagates_to_near_duplicates_in_the_dataset() -> None:
    revoked = rec("r-rev", sha256="1" * 64, status=ConsentStatus.REVOKED, revoked_at=date(2026, 1, 1))
    granted = rec("r-ok", sha256="2" * 64)
    images = [
        _img("a.jpg", "ffff0000ffff0000", "1" * 64),  # covered by the revoked record
        _img("b.jpg", "ffff0000ffff0003", "2" * 64),
    ]  # its near-duplicate, with a granted record
    findings, groups = build_findings(images, ConsentIndex([revoked, granted], 9), None, RULES)
    assert groups == [["a.jpg", "b.jpg"]]
    by = {f.path: f for f in findings}
    assert by["a.jpg"].verdict == Verdict.REVOKED
    assert by["b.jpg"].verdict == Verdict.REVOKED
    assert any("near-duplicate of a.jpg" in r.detail and "r-rev" in r.detail for r in by["b.jpg"].reasons)


def test_path_record_with_a_different_picture_does_not_cover() -> None:
    r = rec("r-path", sha256=None, phash="0000000000000000", path="a.jpg")
    (f,), _ = build_findings([_img("a.jpg", "ffffffffffffffff", "3" * 64)], ConsentIndex([r], 9), None, RULES)
    assert f.verdict == Verdict.UNCONSENTED
    assert "names this path but its phash is 64 bits away" in f.reasons[0].detail


def test_reference_index_matches_mirrored_copies() -> None:
    entry = ReferenceEntry("s", "orig.jpg", None, "8f0f0f0f0f0f0f0f", None)
    idx = ReferenceIndex([entry])
    flipped = Fingerprint(sha256="4" * 64, phash="0123456789abcdef", phash_mirror="8f0f0f0f0f0f0f0e")
    hit = idx.lookup(flipped)
    assert hit is not None and hit[1].hash == "phash_mirror" and hit[1].distance == 1
    assert idx.lookup(Fingerprint(sha256="5" * 64, phash="0123456789abcdef")) is None


def test_a_256_bit_code_decides_every_candidate() -> None:
    """With 256-bit codes on both sides a 64-bit match is not enough: a colliding 64-bit code whose 256-bit
    code disagrees is rejected, and a wider 64-bit candidate whose 256-bit code agrees is accepted."""
    code256 = "0f" * 32
    far256 = "f0" * 32  # 256 bits away
    entries = [
        ReferenceEntry("s", "same-64", None, "8f0f0f0f0f0f0f0f", None, phash256=far256),
        ReferenceEntry("s", "wide-64", None, "8f0f0f0f0f0f0ff0", None, phash256=code256),  # 8 bits away
    ]
    idx = ReferenceIndex(entries)
    fp = Fingerprint(sha256="4" * 64, phash="8f0f0f0f0f0f0f0f", detail=60)
    asked: list[str] = []

    def image256(variant: str) -> str:
        asked.append(variant)
        return code256

    hits = idx.perceptual_hits(fp, image256)
    assert [(entries[i].ref_id, d, how) for i, d, how in hits] == [("wide-64", 8, "phash+phash256")]
    assert asked == ["phash"]  # computed once, for the variant the candidates came through
    # without the image's own 256-bit code the 64-bit rule applies (threshold 9)
    assert [entries[i].ref_id for i, _, _ in idx.perceptual_hits(fp, None)] == ["same-64", "wide-64"]


def test_a_lookup_confirms_candidates_only_until_the_nearest_hit() -> None:
    """`lookup` reports the nearest confirmed entry: candidates are confirmed nearest first and it stops at the
    first that counts (the others may each cost a keypoint computation), with the hit `perceptual_hits`
    would rank first; a nearer candidate that is rejected does not stop it."""
    entries = [
        ReferenceEntry("s", "same-64", None, "8f0f0f0f0f0f0f0f", None, phash256="f0" * 32),  # rejected: 256 away
        ReferenceEntry("s", "near-64", None, "8f0f0f0f0f0f0f0e", None, phash256="0f" * 32),
        ReferenceEntry("s", "wide-64", None, "8f0f0f0f0f0f0ff0", None, phash256="0f" * 32),
    ]
    idx = ReferenceIndex(entries)
    fp = Fingerprint(sha256="4" * 64, phash="8f0f0f0f0f0f0f0f", detail=60)
    confirmed: list[str] = []
    real = idx.confirm

    def counting(fp: Fingerprint, e: ReferenceEntry, *args: Any, **kwargs: Any) -> str | None:
        confirmed.append(e.ref_id)
        return real(fp, e, *args, **kwargs)

    idx.confirm = counting  # type: ignore[method-assign]
    every = idx.perceptual_hits(fp, lambda _: "0f" * 32)
    assert [entries[i].ref_id for i, _, _ in every] == ["near-64", "wide-64"]
    assert confirmed == ["same-64", "near-64", "wide-64"]
    confirmed.clear()
    hit = idx.lookup(fp, image256=lambda _: "0f" * 32)
    assert hit is not None and hit[0].ref_id == "near-64" and hit[1].distance == 1
    assert confirmed == ["same-64", "near-64"]  # wide-64 never asked


def test_images_without_detail_are_not_matched_perceptually() -> None:
    flat = Fingerprint(sha256="6" * 64, phash="8f0f0f0f0f0f0f0f", detail=MIN_DETAIL - 1)
    detailed = replace(flat, detail=MIN_DETAIL)
    idx = ReferenceIndex([ReferenceEntry("s", "r", None, "8f0f0f0f0f0f0f0f", None)])
    assert idx.lookup(flat) is None and idx.lookup(detailed) is not None
    cons = ConsentIndex(
        [ConsentRecord("c1", ConsentStatus.GRANTED, purposes=("ai-training",), phash="8f0f0f0f0f0f0f0f")]
    )
    assert cons.lookup("x.jpg", flat)[0] == [] and cons.lookup("x.jpg", detailed)[0] != []
    # nor is a reference entry that has too little detail of its own
    low = ReferenceIndex([ReferenceEntry("s", "r", None, "8f0f0f0f0f0f0f0f", None, detail=MIN_DETAIL - 1)])
    assert low.lookup(detailed) is None


def test_a_record_with_phash256_is_decided_by_it() -> None:
    near = ConsentRecord("near", ConsentStatus.GRANTED, purposes=("ai-training",), phash="8f0f0f0f0f0f0f0f")
    collide = replace(near, record_id="collide", phash256="f0" * 32)  # same 64-bit code, another picture
    wide = replace(near, record_id="wide", phash="8f0f0f0f0f0f00f0", phash256="0f" * 32)  # 12 bits away
    fp = Fingerprint(sha256="7" * 64, phash="8f0f0f0f0f0f0f0f", detail=60)
    idx = ConsentIndex([near, collide, wide])
    matches, _ = idx.lookup("x.jpg", fp, image256=lambda variant: "0f" * 32)
    assert [(m.record.record_id, m.match.distance, m.match.hash) for m in matches] == [
        ("near", 0, "phash"),  # no 256-bit code on the record: the 64-bit threshold decides
        ("wide", 12, "phash+phash256"),  # beyond the threshold, confirmed on 256 bits
    ]
    # without the image's 256-bit code, records fall back to the 64-bit threshold
    assert [m.record.record_id for m in idx.lookup("x.jpg", fp)[0]] == ["near", "collide"]


def test_the_summary_counts_as_prohibited_only_what_prohibits_an_audited_purpose() -> None:
    from consentaudit.merge import SummaryBuilder
    from consentaudit.models import Finding, Reason, Signal
    from consentaudit.vocab import SignalProtocol

    genai_only = datamining.signal("DMI-PROHIBITED-GENAIMLTRAINING")
    all_ai = datamining.signal("DMI-PROHIBITED-AIMLTRAINING")
    noai = Signal(SignalProtocol.X_ROBOTS_TAG, "noai", "crawl", ("ai-training",), "recorded HTTP header")

    def finding(path: str, *signals: Signal) -> Finding:
        return Finding(path, None, None, None, 1, Verdict.CONSENTED, (Reason(Verdict.CONSENTED, "x"),), signals=signals)

    builder = SummaryBuilder((), ("research",))
    for f in (finding("a", genai_only), finding("b", all_ai), finding("c", noai)):
        builder.add(f)
    opt = builder.build(0).opt_outs
    assert opt["iptc-data-mining"]["images"] == 2 and opt["iptc-data-mining"]["prohibited"] == 0
    assert opt["iptc-data-mining"]["unspecified"] == 2 and opt["x-robots-tag"]["prohibited"] == 0
    builder = SummaryBuilder((), ("ai-training",))
    for f in (finding("a", genai_only), finding("b", all_ai), finding("c", noai)):
        builder.add(f)
    opt = builder.build(0).opt_outs
    assert opt["iptc-data-mining"]["prohibited"] == 1 and opt["x-robots-tag"]["prohibited"] == 1
