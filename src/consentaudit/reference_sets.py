"""Reference sets as the commands use them: build a named set from a folder, shard or file, import and
export fingerprint files, fingerprint a folder into a file `scan --reference` accepts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from consentaudit.errors import InputError
from consentaudit.inputs import REFERENCE, load_reference
from consentaudit.mapper import fingerprint_source
from consentaudit.models import ReferenceInfo
from consentaudit.progress import ProgressCallback
from consentaudit.reference_files import read_fingerprint_file, write_fingerprints, write_set
from consentaudit.store import ReferenceSets, ScanStore
from consentaudit.timestamps import now_utc
from consentaudit.visible import visible

MAX_NAME = 200  # characters: a set's name is a key of the store and what `--reference NAME` is typed as


def checked_name(name: str) -> str:
    """`name` when it can name a stored set: not blank, at most MAX_NAME characters, no control or bidi
    characters (it is shown in listings and reports); else an InputError saying which rule it breaks."""
    if not name.strip():
        raise InputError("a reference set needs a name that is not blank")
    if len(name) > MAX_NAME:
        raise InputError(f"reference set name of {len(name)} characters: at most {MAX_NAME}")
    if visible(name) != name:
        raise InputError(f"reference set name '{visible(name)}': control and bidi characters are not allowed")
    return name


def build_set(
    store: ScanStore,
    name: str,
    source: Path,
    description: str = "",
    license_: str = "",
    force: bool = False,
    jobs: int = 1,
    warn: Callable[[str], None] | None = None,
) -> ReferenceInfo:
    checked_name(name)
    info, table = load_reference(source, jobs=jobs, warn=warn)
    info = ReferenceInfo(name, str(source), len(table), description or info.description, license_ or info.license)
    ReferenceSets(store).save(info, table.renamed(name), str(source), now_utc(), force)
    return info


def import_set(store: ScanStore, file: Path, name: str | None = None, force: bool = False) -> ReferenceInfo:
    set_name, table, header = read_fingerprint_file(file, name)
    checked_name(set_name)
    info = ReferenceInfo(set_name, str(file), len(table), header.get("description", ""), header.get("license", ""))
    ReferenceSets(store).save(info, table.renamed(set_name), str(file), now_utc(), force)
    return info


def export_set(store: ScanStore, name: str, output: Path) -> int:
    info, entries = ReferenceSets(store).load(name)
    with output.open("w", encoding="utf-8") as out:
        return write_set(entries, out, info.name, info.description, info.license)


def fingerprint_to_file(
    folder: Path,
    output: Path,
    name: str | None = None,
    description: str = "",
    progress: ProgressCallback | None = None,
    jobs: int = 1,
) -> tuple[int, int]:
    """(images fingerprinted, unreadable files skipped); the folder fingerprinted on `jobs` processes. The
    file also holds an entry per source URL that the images' crawl records give."""
    images = fingerprint_source(folder, REFERENCE, progress, jobs)
    with output.open("w", encoding="utf-8") as out:
        write_fingerprints(images, out, name or folder.resolve().name, description)
    n = sum(img.fingerprint is not None for img in images)
    return n, len(images) - n
