"""What an audit is asked to do: `AuditRequest`, built by one function that layers the defaults, the
policy file and the command-line flags, in that order. No scanning here; reading the policy file and the
trust anchors is the only I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from consentaudit.defaults import DEFAULT_BATCH, DEFAULT_MAX_PIXELS, DEFAULT_PHASH_THRESHOLD
from consentaudit.errors import InputError
from consentaudit.executors import default_jobs
from consentaudit.policy_file import PolicyFile, load_policy
from consentaudit.scanner import ScanSettings
from consentaudit.verdicts import Rules
from consentaudit.vocab import CRAWL_PROTOCOLS, AiGenerated, Purpose, Verdict

DEFAULT_FAIL_ON = tuple(v for v in Verdict if v != Verdict.CONSENTED)
DEFAULT_PURPOSES: tuple[str, ...] = (Purpose.AI_TRAINING,)


def today_utc() -> date:
    return datetime.now(UTC).date()


@dataclass
class AuditRequest:
    dataset: Path
    manifests: Sequence[Path] = ()
    references: Sequence[Path] = ()
    purposes: Sequence[str] = DEFAULT_PURPOSES
    as_of: date = field(default_factory=today_utc)
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD
    fail_on: Sequence[Verdict] = DEFAULT_FAIL_ON
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = DEFAULT_BATCH
    deny_domains: Sequence[str] = ()
    allow_domains: Sequence[str] = ()
    ai_generated: AiGenerated = AiGenerated.FLAG
    honour_crawl: Sequence[str] = CRAWL_PROTOCOLS
    keep_sensitive_metadata: bool = False
    verify_c2pa: bool = True
    trust_anchors: Path | None = None
    policy_file: str | None = None
    jobs: int = field(default_factory=default_jobs)
    fast: bool = True
    thumbnails: bool = False  # the audit collects thumbnails for an HTML report
    declared_purposes: Sequence[str] = ()  # purposes the policy file adds to the vocabulary
    rehash: bool = False  # read every file again: no fingerprint or file hash from the store's cache

    def settings(self) -> ScanSettings:
        anchors = None
        if self.trust_anchors is not None:
            try:
                anchors = self.trust_anchors.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"cannot read trust anchors {self.trust_anchors}: {exc}") from None
        return ScanSettings(self.max_image_pixels, self.keep_sensitive_metadata, self.verify_c2pa, anchors, self.fast)

    def rules(self) -> Rules:
        return Rules(
            tuple(self.purposes),
            self.as_of,
            tuple(self.deny_domains),
            tuple(self.allow_domains),
            self.ai_generated,
            tuple(self.honour_crawl),
        )


@dataclass(frozen=True)
class ScanFlags:
    """What the user typed for a scan; None (or empty) means "not given": the policy file or the default
    decides."""

    dataset: Path
    manifests: Sequence[Path] = ()
    references: Sequence[Path] = ()
    purposes: Sequence[str] = ()
    as_of: str | None = None
    fail_on: Sequence[str] = ()
    phash_threshold: int | None = None
    max_image_pixels: int | None = None
    policy: Path | None = None
    keep_sensitive_metadata: bool = False
    trust_anchors: Path | None = None
    no_c2pa_validation: bool = False
    jobs: int | None = None
    batch_size: int = DEFAULT_BATCH
    exact_hashes: bool = False
    thumbnails: bool = False
    rehash: bool = False


T = TypeVar("T")


def first(*values: T | None) -> T:
    """The first value that was given (flags before the policy file before the default)."""
    return next(v for v in values if v is not None)


def parse_verdicts(values: Iterable[str], option: str = "--fail-on") -> tuple[Verdict, ...]:
    """Verdicts given on the command line (comma-separated or repeated; `none` is none)."""
    out: list[Verdict] = []
    for v in (x.strip() for value in values for x in value.split(",")):
        if not v or v == "none":
            continue
        try:
            out.append(Verdict(v))
        except ValueError:
            choices = ", ".join(x.value for x in Verdict)
            raise InputError(f"{option}: {v!r} is not a verdict (choose from: {choices}, none)") from None
    return tuple(out)


def parse_as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of: {value!r} is not a date (YYYY-MM-DD)") from None


def build_request(flags: ScanFlags, workdir: Path) -> AuditRequest:
    """One request from defaults < policy file (--policy, else ./consentaudit.toml or pyproject.toml) <
    flags."""
    pol: PolicyFile = load_policy(flags.policy, workdir)
    fail_on = parse_verdicts(flags.fail_on) if flags.fail_on else None
    anchors = flags.trust_anchors or (Path(pol.trust_anchors) if pol.trust_anchors else None)
    return AuditRequest(
        dataset=flags.dataset,
        manifests=list(flags.manifests),
        references=list(flags.references),
        purposes=tuple(dict.fromkeys(flags.purposes or pol.purposes or DEFAULT_PURPOSES)),
        as_of=first(parse_as_of(flags.as_of), today_utc()),
        phash_threshold=first(flags.phash_threshold, pol.phash_threshold, DEFAULT_PHASH_THRESHOLD),
        fail_on=first(fail_on, pol.fail_on, DEFAULT_FAIL_ON),
        max_image_pixels=first(flags.max_image_pixels, pol.max_image_pixels, DEFAULT_MAX_PIXELS),
        deny_domains=pol.deny_domains,
        allow_domains=pol.allow_domains,
        ai_generated=pol.ai_generated,
        honour_crawl=pol.honour_crawl,
        keep_sensitive_metadata=flags.keep_sensitive_metadata or pol.keep_sensitive_metadata,
        verify_c2pa=not flags.no_c2pa_validation,
        trust_anchors=anchors,
        policy_file=pol.path,
        jobs=first(flags.jobs, default_jobs()),
        batch_size=flags.batch_size,
        fast=not flags.exact_hashes,
        thumbnails=flags.thumbnails,
        declared_purposes=pol.declared_purposes,
        rehash=flags.rehash,
    )
