"""Offline C2PA validation with c2pa-python (the optional extra `consentaudit[c2pa]`).

Remote manifests are never fetched (`verify.remote_manifest_fetch` off); trust is judged only against the
PEM trust anchors given with --trust-anchors. Without the extra, `available()` is False and the pure-Python
reader's facts are reported as unverified.
"""

from __future__ import annotations

import io
import json
from typing import Any

from consentaudit.signals.c2pa_reader import (
    ACTION_LABELS,
    TRAINING_LABELS,
    assertion_entries,
    base_label,
    claim_generator,
    listed,
)
from consentaudit.signals.provenance import C2paFacts

_LIB: list[Any] = []  # c2pa-python once imported (None without the extra): the first file with a manifest pays

MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
    "GIF": "image/gif",
    "MPO": "image/jpeg",
    "JXL": "image/jxl",
}


def _c2pa() -> Any:
    if not _LIB:
        try:
            import c2pa
        except ImportError:  # pragma: no cover - depends on the optional extra
            c2pa = None
        _LIB.append(c2pa)
    return _LIB[0]


def available() -> bool:
    """Whether files with C2PA manifests are validated: c2pa-python imported, or (before any file needed it)
    installed: importing it costs ~50 ms that a dataset without manifests never pays."""
    if _LIB:
        return _LIB[0] is not None
    import importlib.util

    return importlib.util.find_spec("c2pa") is not None


def _context(trust_anchors: str | None) -> Any:
    lib = _c2pa()
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "verify_trust": True}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors}
    return lib.Context(settings=lib.Settings.from_dict(settings))


def describe(state: str | None, codes: list[str]) -> str:
    """The verification as one line. CAWG identity-assertion failures do not make the C2PA manifest
    invalid, but they are named: an identity that does not check out is part of the evidence."""
    identity = [c for c in codes if c.startswith("cawg.")]
    failures = [c for c in codes if c != "signingCredential.untrusted" and c not in identity]
    if state == "Invalid" or (state is None and failures):
        return "Invalid: " + (", ".join(failures + identity) or "validation failed")
    if state == "Trusted":
        base = "Trusted"
    elif "signingCredential.untrusted" in codes:
        base = "Valid, signer untrusted"
    else:
        base = state or "Valid"
    return base + (f"; CAWG identity failed: {', '.join(identity)}" if identity else "")


def _reason(exc: Exception) -> str:
    """What went wrong, in the validator's words, without a Python class name (`_C2paOther: ...`)."""
    text = str(exc).strip()
    return text or type(exc).__name__.lstrip("_").removeprefix("C2pa") or "validation failed"


def verify(
    data: bytes, fmt: str | None, sidecar: bytes | None, trust_anchors: str | None, where: str
) -> C2paFacts | None:
    """Validated facts of the file's manifest; None when the file carries none (or the format is unknown)."""
    lib = _c2pa()
    if lib is None or fmt not in MIME:
        return None
    try:
        with lib.Reader(MIME[fmt], io.BytesIO(data), manifest_data=sidecar, context=_context(trust_anchors)) as r:
            report = json.loads(r.json())
    except Exception as exc:  # c2pa-python signals every outcome by exception type and message
        text = f"{type(exc).__name__}: {exc}"
        if "NotFound" in text or "no JUMBF" in text:
            return None
        if "Remote" in text or "remote" in text:
            return C2paFacts("remote", "not fetched (remote manifest)", state="remote-only")
        return C2paFacts(where, f"Invalid: {_reason(exc)[:200]}", state="invalid")
    return facts_of(report if isinstance(report, dict) else {}, where)


def facts_of(report: dict[str, Any], where: str) -> C2paFacts:
    """The facts of c2pa-python's JSON report: the validation outcome, and the active manifest's training
    entries, digital source types and claim generator. Every field is the file's to fill (assertions are
    its own data): a value of another shape than the specification's is left out, never raised on."""
    codes = [str(s.get("code")) for s in listed(report.get("validation_status")) if isinstance(s, dict)]
    results = report.get("validation_results") or {}
    active_results = results.get("activeManifest") if isinstance(results, dict) else None
    if isinstance(active_results, dict):
        codes += [str(s.get("code")) for s in listed(active_results.get("failure")) if isinstance(s, dict)]
    codes = list(dict.fromkeys(codes))
    state = report.get("validation_state")
    verification = describe(state if isinstance(state, str) else None, codes)
    manifests = report.get("manifests")
    manifest = manifests.get(str(report.get("active_manifest") or "")) if isinstance(manifests, dict) else None
    if not isinstance(manifest, dict):
        manifest = {}
    training: list[tuple[str, str, str, tuple[str, ...]]] = []
    source_types: list[str] = []
    for a in listed(manifest.get("assertions")):
        if not isinstance(a, dict):
            continue
        label = base_label(str(a.get("label", "")))
        body = a.get("data")
        if label in TRAINING_LABELS and isinstance(body, dict):
            training.extend(assertion_entries(label, body))
        elif label in ACTION_LABELS and isinstance(body, dict):
            for action in listed(body.get("actions")):
                if isinstance(action, dict) and isinstance(action.get("digitalSourceType"), str):
                    source_types.append(action["digitalSourceType"])
    invalid = verification.startswith("Invalid")
    return C2paFacts(
        where,
        verification,
        tuple(training),
        tuple(source_types),
        state="invalid" if invalid else "present",
        generator=claim_generator(manifest),
    )
