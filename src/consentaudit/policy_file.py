"""The policy file: `consentaudit.toml`, or `[tool.consentaudit]` in pyproject.toml, in the working folder
(or a file named with --policy). Command-line options override it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentaudit.errors import InputError
from consentaudit.vocab import CRAWL_PROTOCOLS, AiGenerated, Verdict


@dataclass(frozen=True)
class PolicyFile:
    path: str | None = None
    purposes: tuple[str, ...] | None = None
    fail_on: tuple[Verdict, ...] | None = None
    phash_threshold: int | None = None
    max_image_pixels: int | None = None
    deny_domains: tuple[str, ...] = ()
    allow_domains: tuple[str, ...] = ()
    ai_generated: AiGenerated = AiGenerated.FLAG
    honour_crawl: tuple[str, ...] = CRAWL_PROTOCOLS
    keep_sensitive_metadata: bool = False
    trust_anchors: str | None = None  # path of a PEM file
    declared_purposes: tuple[str, ...] = ()  # purposes beyond the known vocabulary
    extra: dict[str, Any] = field(default_factory=dict)


def _err(path: Path, key: str, msg: str) -> InputError:
    return InputError(f"{path}: at key {key}: {msg}")


def _strings(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(path, key, "expected a list of strings")
    return tuple(value)


def find_policy(workdir: Path) -> tuple[Path, dict[str, Any]] | None:
    for name in ("consentaudit.toml",):
        p = workdir / name
        if p.is_file():
            return p, _load(p)
    py = workdir / "pyproject.toml"
    if py.is_file():
        doc = _load(py)
        section = doc.get("tool", {}).get("consentaudit")
        if isinstance(section, dict):
            return py, section
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read policy file {path}: {exc}") from None


def load_policy(explicit: Path | None, workdir: Path) -> PolicyFile:
    if explicit is not None:
        if not explicit.is_file():
            raise InputError(f"policy file not found: {explicit}")
        doc = _load(explicit)
        if explicit.name == "pyproject.toml":
            doc = doc.get("tool", {}).get("consentaudit", {})
        return parse_policy(explicit, doc)
    found = find_policy(workdir)
    return parse_policy(*found) if found else PolicyFile()


def parse_policy(path: Path, doc: dict[str, Any]) -> PolicyFile:
    known = {
        "purposes",
        "fail_on",
        "phash_threshold",
        "max_image_pixels",
        "domains",
        "ai_generated",
        "crawl_signals",
        "keep_sensitive_metadata",
        "trust_anchors",
        "declare_purposes",
    }
    for key in doc:
        if key not in known:
            raise _err(path, key, f"unknown setting (known: {', '.join(sorted(known))})")
    purposes = _strings(path, "purposes", doc["purposes"]) if "purposes" in doc else None
    fail_on = None
    if "fail_on" in doc:
        try:
            fail_on = tuple(Verdict(v) for v in _strings(path, "fail_on", doc["fail_on"]) if v != "none")
        except ValueError as exc:
            raise _err(path, "fail_on", str(exc)) from None
    ints: dict[str, int | None] = {}
    for key in ("phash_threshold", "max_image_pixels"):
        v = doc.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise _err(path, key, "expected a non-negative integer")
        ints[key] = v
    domains = doc.get("domains", {})
    if not isinstance(domains, dict):
        raise _err(path, "domains", "expected a table with allow / deny lists")
    for key in domains:
        if key not in ("allow", "deny"):
            raise _err(path, f"domains / {key}", "unknown setting (known: allow, deny)")
    try:
        ai = AiGenerated(doc.get("ai_generated", AiGenerated.FLAG))
    except ValueError:
        raise _err(path, "ai_generated", f"expected one of {', '.join(AiGenerated)}") from None
    crawl = doc.get("crawl_signals", {})
    honour: tuple[str, ...] = CRAWL_PROTOCOLS
    if crawl:
        if not isinstance(crawl, dict) or set(crawl) - {"honour"}:
            raise _err(path, "crawl_signals", "expected a table with an 'honour' list")
        honour = _strings(path, "crawl_signals / honour", crawl.get("honour", []))
        bad = [h for h in honour if h not in CRAWL_PROTOCOLS]
        if bad:
            raise _err(
                path, "crawl_signals / honour", f"unknown signal {bad[0]!r} (known: {', '.join(CRAWL_PROTOCOLS)})"
            )
    keep = doc.get("keep_sensitive_metadata", False)
    if not isinstance(keep, bool):
        raise _err(path, "keep_sensitive_metadata", "expected true or false")
    anchors = doc.get("trust_anchors")
    if anchors is not None and not isinstance(anchors, str):
        raise _err(path, "trust_anchors", "expected a path to a PEM file")
    return PolicyFile(
        path=str(path),
        purposes=purposes,
        fail_on=fail_on,
        phash_threshold=ints["phash_threshold"],
        max_image_pixels=ints["max_image_pixels"],
        deny_domains=_strings(path, "domains / deny", domains.get("deny", [])),
        allow_domains=_strings(path, "domains / allow", domains.get("allow", [])),
        ai_generated=ai,
        honour_crawl=honour,
        keep_sensitive_metadata=keep,
        trust_anchors=str(path.parent / anchors) if anchors else None,
        declared_purposes=_strings(path, "declare_purposes", doc.get("declare_purposes", [])),
    )
