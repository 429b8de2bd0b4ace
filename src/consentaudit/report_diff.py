"""What changed between two reports of a dataset: files added and removed, verdict changes (with the new
reasons), the same path with other bytes, and changed inputs (manifests, references, settings). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consentaudit.models import Report


@dataclass(frozen=True)
class VerdictChange:
    path: str
    old: str
    new: str
    reasons: tuple[str, ...]


@dataclass
class ReportDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    verdicts: list[VerdictChange] = field(default_factory=list)
    bytes_changed: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.added or self.removed or self.verdicts or self.bytes_changed or self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "added": self.added,
            "removed": self.removed,
            "verdict_changes": [
                {"path": v.path, "old": v.old, "new": v.new, "reasons": list(v.reasons)} for v in self.verdicts
            ],
            "bytes_changed": self.bytes_changed,
            "inputs_changed": self.inputs,
        }


def diff_reports(old: Report, new: Report) -> ReportDiff:
    a = {f.path: f for f in old.findings}
    b = {f.path: f for f in new.findings}
    d = ReportDiff(sorted(b.keys() - a.keys()), sorted(a.keys() - b.keys()))
    for path in sorted(a.keys() & b.keys()):
        fa, fb = a[path], b[path]
        if fa.sha256 != fb.sha256:
            d.bytes_changed.append(path)
        if fa.verdict != fb.verdict:
            d.verdicts.append(
                VerdictChange(path, fa.verdict.value, fb.verdict.value, tuple(r.detail for r in fb.reasons))
            )
    ha, hb = old.header, new.header
    ma = {m.path: m.sha256 for m in ha.manifests}
    mb = {m.path: m.sha256 for m in hb.manifests}
    for path in sorted(ma.keys() | mb.keys()):
        if ma.get(path) != mb.get(path):
            d.inputs.append(f"manifest {path}: {(ma.get(path) or 'absent')[:16]} -> {(mb.get(path) or 'absent')[:16]}")
    ra = {r.name: r.entries for r in ha.references}
    rb = {r.name: r.entries for r in hb.references}
    for name in sorted(ra.keys() | rb.keys()):
        if ra.get(name) != rb.get(name):
            d.inputs.append(f"reference set {name}: {ra.get(name, 'absent')} -> {rb.get(name, 'absent')} entries")
    oa, ob = ha.options, hb.options
    for label, x, y in (
        ("purposes", ", ".join(oa.purposes), ", ".join(ob.purposes)),
        ("as of", str(oa.as_of), str(ob.as_of)),
        ("pHash threshold", str(oa.phash_threshold), str(ob.phash_threshold)),
        ("pixel limit", str(oa.max_image_pixels), str(ob.max_image_pixels)),
        ("fingerprint algorithm", ha.fingerprint_algorithm, hb.fingerprint_algorithm),
    ):
        if x != y:
            d.inputs.append(f"{label}: {x} -> {y}")
    return d
