"""Reference sets of known scraped images: load a folder of images or a fingerprint file (JSONL)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from consentaudit.errors import InputError, ManifestError, Problem
from consentaudit.fingerprint import ALGORITHM
from consentaudit.models import ReferenceEntry, ScannedImage

FINGERPRINT_KIND = "consentaudit-fingerprints"
FINGERPRINT_SCHEMA = "1"


def write_fingerprints(images: Iterable[ScannedImage], out: IO[str], name: str, description: str = "") -> int:
    """Write a fingerprint file: a header line, then one JSON object per readable image."""
    header = {"kind": FINGERPRINT_KIND, "schema_version": FINGERPRINT_SCHEMA, "algorithm": ALGORITHM,
              "name": name, "description": description}
    out.write(json.dumps(header, sort_keys=True) + "\n")
    n = 0
    for img in images:
        fp = img.fingerprint
        if fp is None:
            continue
        row = {"path": img.path, "sha256": fp.sha256, "phash": fp.phash, "dhash": fp.dhash,
               "phash_mirror": fp.phash_mirror, "width": fp.width, "height": fp.height}
        out.write(json.dumps(row, sort_keys=True) + "\n")
        n += 1
    return n


def read_fingerprints(path: Path, set_name: str | None = None) -> tuple[str, list[ReferenceEntry]]:
    """Entries of a fingerprint file; a line without a usable hash is a listed problem."""
    name = set_name or path.stem
    entries: list[ReferenceEntry] = []
    problems: list[Problem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read fingerprint file {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), n, None, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), n, None, "expected a JSON object"))
            continue
        if obj.get("kind") == FINGERPRINT_KIND:
            name = set_name or str(obj.get("name") or name)
            continue
        sha, ph = obj.get("sha256"), obj.get("phash")
        if not (isinstance(sha, str) and len(sha) == 64) and not (isinstance(ph, str) and len(ph) == 16):
            problems.append(Problem(str(path), n, "sha256", "entry needs a 64-hex sha256 or a 16-hex phash"))
            continue
        dh = obj.get("dhash")
        entries.append(ReferenceEntry(
            set_name=name,
            ref_id=str(obj.get("path") or obj.get("url") or f"line {n}"),
            sha256=sha.lower() if isinstance(sha, str) and len(sha) == 64 else None,
            phash=ph.lower() if isinstance(ph, str) and len(ph) == 16 else None,
            dhash=dh.lower() if isinstance(dh, str) and len(dh) == 16 else None,
        ))
    if problems:
        raise ManifestError(problems)
    return name, entries


def entries_from_images(name: str, images: Iterable[ScannedImage]) -> Iterator[ReferenceEntry]:
    for img in images:
        if img.fingerprint is not None:
            fp = img.fingerprint
            yield ReferenceEntry(name, img.path, fp.sha256, fp.phash, fp.dhash)
