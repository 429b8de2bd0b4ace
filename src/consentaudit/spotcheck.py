"""A regulator's spot-check of a received report: draw a seeded sample of its findings, re-read and
re-fingerprint those files (never trusting the report's hashes), re-derive each verdict with the report's
recorded settings, and bound the report's error rate (exact one-sided Clopper-Pearson).

Near-duplicate propagation (a revocation spreading to copies) is re-derived among the sampled images and
the members of their recorded duplicate groups, re-read from the dataset — when any record can revoke at
all (otherwise nothing can spread and the members are not read); a duplicate the report omitted
altogether is outside what a sample can see (a full re-scan finds it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from consentaudit import __version__
from consentaudit.defaults import DEFAULT_BATCH
from consentaudit.errors import InputError
from consentaudit.executors import LocalExecutor
from consentaudit.inputs import REFERENCE, load_manifests, load_reference, read_report_and_digest, with_digest
from consentaudit.mapper import UnitMapper
from consentaudit.matching.reference_table import concat
from consentaudit.merge import settle_images
from consentaudit.models import Finding, Report
from consentaudit.policy_file import PolicyFile, load_policy
from consentaudit.request import AuditRequest
from consentaudit.sampling import clopper_pearson_upper, rng_for, stratified_sample, uniform_sample
from consentaudit.sources import open_source
from consentaudit.timestamps import now_utc
from consentaudit.vocab import ConsentStatus

KIND = "consentaudit-spot-check"


@dataclass(frozen=True)
class SpotCheckRequest:
    report: Path
    dataset: Path
    manifests: Sequence[Path] = ()
    references: Sequence[Path] = ()
    policy: Path | None = None
    sample: int = 300
    seed: str = ""
    tolerance: float = 0.01
    confidence: float = 0.95
    stratified: bool = False
    jobs: int = 1


@dataclass(frozen=True)
class Disagreement:
    path: str
    kind: str  # verdict | bytes | missing
    claimed: str
    derived: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpotCheckResult:
    report: str
    report_sha256: str
    dataset: str
    seed: str
    stratified: bool
    population: int
    sampled: tuple[str, ...]
    disagreements: tuple[Disagreement, ...]
    confidence: float
    tolerance: float
    upper_bound: float
    warnings: tuple[str, ...] = ()
    started_at: str = ""
    finished_at: str = ""
    tool_version: str = __version__
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return len({d.path for d in self.disagreements})

    @property
    def passed(self) -> bool:
        return self.upper_bound <= self.tolerance


def _input_warnings(report: Report, req: SpotCheckRequest, manifest_digests: dict[str, str]) -> list[str]:
    warnings: list[str] = []
    recorded = {m.sha256 for m in report.header.manifests}
    for path, digest in manifest_digests.items():
        if digest not in recorded:
            warnings.append(f"manifest {path} (sha256 {digest[:16]}…) is not one the report records")
    given = set(manifest_digests.values())
    for m in report.header.manifests:
        if m.sha256 not in given:
            warnings.append(f"the report used manifest {m.path} (sha256 {m.sha256[:16]}…), which was not given")
    names = {r.name for r in report.header.references}
    if len(req.references) != len(report.header.references):
        warnings.append(
            f"the report used {len(names)} reference set(s) ({', '.join(sorted(names)) or 'none'}); "
            f"{len(req.references)} given"
        )
    return warnings


def replay_request(
    report: Report,
    dataset: Path,
    pol: PolicyFile,
    manifests: Sequence[Path] = (),
    references: Sequence[Path] = (),
    jobs: int = 1,
) -> AuditRequest:
    """The audit the report's header records (purposes, date, threshold, pixel limit, fingerprint
    algorithm) with the policy given, to re-derive its verdicts."""
    h = report.header
    return AuditRequest(
        dataset=dataset,
        manifests=tuple(manifests),
        references=tuple(references),
        purposes=tuple(h.options.purposes),
        as_of=date.fromisoformat(str(h.options.as_of)),
        phash_threshold=h.options.phash_threshold,
        max_image_pixels=h.options.max_image_pixels,
        deny_domains=pol.deny_domains,
        allow_domains=pol.allow_domains,
        ai_generated=pol.ai_generated,
        honour_crawl=pol.honour_crawl,
        fast="jpeg-draft" in h.fingerprint_algorithm,
        jobs=jobs,
    )


def run_spot_check(req: SpotCheckRequest) -> SpotCheckResult:
    started = now_utc()
    if req.sample < 1:
        raise InputError("--sample must be at least 1")
    if not 0 < req.confidence < 1 or not 0 <= req.tolerance < 1:
        raise InputError("--confidence must be in (0, 1) and --tolerance in [0, 1)")
    report, report_digest = read_report_and_digest(req.report)
    h = report.header
    records, infos = load_manifests(req.manifests)
    warnings = _input_warnings(report, req, {m.path: m.sha256 for m in infos})
    tables = []
    for rp in req.references:
        if not rp.exists():
            raise InputError(f"reference set not found: {rp} (a spot-check takes the set's folder or file)")
        info, es = load_reference(rp, REFERENCE, jobs=req.jobs, warn=warnings.append)
        info = with_digest(info, es)
        tables.append(es)
        recorded = {r.name: r for r in h.references}
        was = recorded.get(info.name)
        if was is None:
            warnings.append(f"reference {rp}: the report used no set named {info.name!r}")
        elif was.sha256 and was.sha256 != info.sha256:
            warnings.append(
                f"reference {rp} (sha256 {info.sha256[:16]}…, {info.entries} entries) differs from the set the "
                f"report used (sha256 {was.sha256[:16]}…, {was.entries} entries)"
            )
        elif was.entries != info.entries:
            warnings.append(f"reference {rp}: {info.entries} entries, the report recorded {was.entries}")
    pol = load_policy(req.policy, Path.cwd())
    audit = replay_request(report, req.dataset, pol, jobs=req.jobs)
    claimed = {f.path: f for f in report.findings}
    rng = rng_for(req.seed, report_digest)
    if req.stratified:
        sampled = stratified_sample({p: f.verdict.value for p, f in claimed.items()}, req.sample, rng)
    else:
        sampled = uniform_sample(list(claimed), req.sample, rng)
    # only a revocation spreads through a duplicate group, so the members of a sampled image's group are
    # re-read only when some record can revoke (revoked, or revoked by the recorded date); else no member
    # can change the sampled image's verdict
    revocable = any(
        r.status == ConsentStatus.REVOKED or (r.revoked_at is not None and r.revoked_at <= audit.as_of) for r in records
    )
    groups = [list(g) for g in report.duplicates if revocable and any(p in g for p in sampled)]
    wanted = set(sampled) | {p for g in groups for p in g}
    items = {i.path: i for i in open_source(req.dataset).items() if i.path in wanted}
    mapper = UnitMapper(audit.settings(), audit.rules(), records, concat(tables), audit.phash_threshold)
    ordered = [items[p] for p in sorted(items)]
    units = [ordered[i : i + DEFAULT_BATCH] for i in range(0, len(ordered), DEFAULT_BATCH)]
    derived: dict[str, Finding] = {}
    images = []
    for _, result in LocalExecutor(req.jobs).map(units, mapper):
        derived.update((f.path, f) for f in result.findings)
        images.extend(result.images)
    settle_images(images, derived, audit.phash_threshold)
    disagreements = [d for p in sampled for d in _compare(p, claimed[p], derived.get(p))]
    errors = len({d.path for d in disagreements})
    return SpotCheckResult(
        report=str(req.report),
        report_sha256=report_digest,
        dataset=str(req.dataset),
        seed=req.seed,
        stratified=req.stratified,
        population=len(claimed),
        sampled=tuple(sampled),
        disagreements=tuple(disagreements),
        confidence=req.confidence,
        tolerance=req.tolerance,
        upper_bound=clopper_pearson_upper(errors, len(sampled), req.confidence),
        warnings=tuple(warnings),
        started_at=started,
        finished_at=now_utc(),
        settings={
            "purposes": list(audit.purposes),
            "as_of": str(audit.as_of),
            "phash_threshold": audit.phash_threshold,
            "max_image_pixels": audit.max_image_pixels,
            "fingerprint_algorithm": h.fingerprint_algorithm,
            "policy_file": pol.path,
        },
    )


def _compare(path: str, claimed: Finding, derived: Finding | None) -> list[Disagreement]:
    if derived is None:
        return [Disagreement(path, "missing", claimed.verdict.value, "-", ("the file is not in the dataset",))]
    out: list[Disagreement] = []
    if derived.sha256 != claimed.sha256:
        out.append(
            Disagreement(
                path,
                "bytes",
                claimed.sha256 or "-",
                derived.sha256 or "-",
                ("the file's bytes differ from the report",),
            )
        )
    if derived.verdict != claimed.verdict:
        out.append(
            Disagreement(
                path, "verdict", claimed.verdict.value, derived.verdict.value, tuple(r.detail for r in derived.reasons)
            )
        )
    return out
