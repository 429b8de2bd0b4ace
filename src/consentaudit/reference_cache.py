"""The reference cache: a fingerprint file, once parsed, kept as NumPy columns that later scans memory-map.

Reading a 1M-line fingerprint file costs seconds of JSON parsing; its columns load in a fraction of a second.
An entry of the cache is keyed by the sha256 of the file's bytes (and the set name and this format's version),
so a copy of the file, a fresh checkout or a CI runner that restores the cache folder finds it; the file's
resolved path, size, mtime and inode point to that key (`by-stat/`), so an unchanged file is found without
reading it, and a changed or replaced one is read again. An entry is written to a temporary folder and
renamed into place, so a crash leaves no half entry. Its meta.json holds the sha256 of each of its files and
of itself, checked whenever the entry is used, so a damaged entry (a flipped bit that still parses, a file cut
short or gone) is never served: it is parsed or built again, and replaced. The cache lives in
`$CONSENTAUDIT_CACHE_DIR`, else `$XDG_CACHE_HOME/consentaudit`, else `~/.cache/consentaudit`; it is a cache:
deleting it loses nothing, and when it cannot be written the file is simply parsed every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from consentaudit.digest import sha256_file, sha256_hex
from consentaudit.heap import give_back_free_memory
from consentaudit.matching.hamming import HammingIndex
from consentaudit.matching.reference_table import ReferenceTable
from consentaudit.reference_files import read_fingerprint_file

FORMAT = "reference-columns-v2"  # v2: each file's sha256 kept in meta.json


def cache_root() -> Path:
    env = os.environ.get("CONSENTAUDIT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "consentaudit"


def _stat_key(path: Path, set_name: str | None) -> str:
    st = path.stat()
    ident = [FORMAT, str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, set_name]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32]


def _content_key(path: Path, set_name: str | None) -> str:
    """The key of a file's entry: the sha256 of its bytes (~0.2 s for a 1M-line file), its set name, FORMAT."""
    h = hashlib.sha256(json.dumps([FORMAT, set_name]).encode())
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


_KEY = re.compile(r"[0-9a-f]{32}")


def _locate(base: Path, path: Path, set_name: str | None) -> tuple[Path, Path] | None:
    """(the entry of a file's columns, its stat pointer): the key the pointer for the file's path, size,
    mtime and inode names, without reading the file; else the sha256 of its bytes. None when the file cannot
    be read."""
    try:
        pointer = base / "by-stat" / _stat_key(path, set_name)
        with contextlib.suppress(OSError):
            key = pointer.read_text(encoding="ascii").strip()
            if _KEY.fullmatch(key):
                return base / key, pointer
        return base / _content_key(path, set_name), pointer
    except OSError:
        return None


def _point(pointer: Path, key: str) -> None:
    """Remember which entry a file's stat leads to (written aside and renamed into place)."""
    with contextlib.suppress(OSError):
        if pointer.exists() and pointer.read_text(encoding="ascii").strip() == key:
            return
        pointer.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=pointer.parent)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key)
        os.replace(tmp, pointer)


def read_cached_fingerprint_file(
    path: Path, set_name: str | None = None, root: Path | None = None
) -> tuple[str, ReferenceTable, dict[str, str], bool]:
    """(name, entries, header, from_cache) of a fingerprint file: from the cache when a file with the same
    bytes was parsed before, else parsed (`read_fingerprint_file`) and cached."""
    base = (root or cache_root()) / "references"
    found = _locate(base, path, set_name)
    if found is not None and found[0].exists():
        entry, pointer = found
        try:
            name, table, header = _load(entry)
            _point(pointer, entry.name)
            return name, table, header, True
        except (OSError, ValueError, KeyError, TypeError):  # a damaged entry: parse again, and replace it
            shutil.rmtree(entry, ignore_errors=True)
    name, table, header = read_fingerprint_file(path, set_name)
    if found is not None:
        entry, pointer = found
        table.entries_digest()  # computed once and kept with the columns, as are the content key and the
        table.content_key()  # sha256 lookup
        if _save(entry, name, table, header):
            _point(pointer, entry.name)
            # from here on as a later scan has it: memory-mapped (pages read as a match needs them), and the
            # parsed columns' memory given back (a 1M-line file: peak RSS of a first scan ~610 -> ~370 MB)
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                name, table, header = _load(entry, written=True)
                give_back_free_memory()
    return name, table, header, False


def _save(entry: Path, name: str, table: ReferenceTable, header: dict[str, str]) -> bool:
    arrays = {**table.columns(), **table.sha_columns()}
    return _write(entry, arrays, {"format": FORMAT, "name": name, "header": header, **table.meta()})


def _write(entry: Path, arrays: Mapping[str, np.ndarray], meta: dict[str, Any]) -> bool:
    """One cache entry: `arrays` as .npy files and `meta` as meta.json, written aside and renamed into place.
    False when it could not be written."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    except OSError:
        return False
    try:
        files = {}
        for col, values in arrays.items():
            np.save(tmp / f"{col}.npy", values, allow_pickle=False)
            files[f"{col}.npy"] = sha256_file(tmp / f"{col}.npy")
        (tmp / "meta.json").write_text(json.dumps(_checked({**meta, "files": files})), encoding="utf-8")
        os.replace(tmp, entry)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def _meta_sha256(meta: Mapping[str, Any]) -> str:
    return sha256_hex(json.dumps(meta, sort_keys=True).encode())


def _checked(meta: dict[str, Any]) -> dict[str, Any]:
    return {**meta, "meta_sha256": _meta_sha256(meta)}


def _arrays(entry: Path, fmt: str, written: bool = False) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """An entry's arrays, memory-mapped, and its meta; ValueError when it is of another format, its meta is not
    what was written, or any of its files is missing, added or not the bytes that were written. `written`:
    the entry this process has just written and hashed, its files not hashed again (0.14 s for 1M entries)."""
    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ValueError("another cache format")
    if meta.pop("meta_sha256", None) != _meta_sha256(meta):
        raise ValueError("meta.json is not the file that was written")
    files = meta["files"]
    if not isinstance(files, dict) or sorted(files) != sorted(f.name for f in entry.glob("*.npy")):
        raise ValueError("files missing or added")
    for name, digest in files.items():  # read, not mapped: the pages pass through the page cache, not the RSS
        if not written and sha256_file(entry / name) != digest:
            raise ValueError(f"{name} is not the file that was written")
    # memory-mapped, seen as plain arrays (np.memmap's own indexing is ~10x slower)
    arrays = {
        name.removesuffix(".npy"): np.load(entry / name, mmap_mode="r", allow_pickle=False).view(np.ndarray)
        for name in files
    }
    return arrays, meta


def _load(entry: Path, written: bool = False) -> tuple[str, ReferenceTable, dict[str, str]]:
    arrays, meta = _arrays(entry, FORMAT, written)
    table = ReferenceTable.from_columns(arrays, meta)
    return str(meta["name"]), table, {str(k): str(v) for k, v in meta["header"].items()}


INDEX_FORMAT = "hamming-index-v2"  # v2: as FORMAT
CACHED_INDEX_FROM = 100_000  # codes: a smaller index sorts in well under 0.1 s, not worth a cache entry


def cached_index(codes: np.ndarray, root: Path | None = None) -> HammingIndex:
    """The radius index over `codes` (a reference set's pHashes): memory-mapped from the cache when one was
    built for the same codes, else built (sorting 1M codes four ways takes ~1 s, every scan) and kept. Keyed
    by the codes themselves, so a fingerprint file and a stored set with the same codes share it; a loaded
    index whose codes differ (a damaged or colliding entry) is built again."""
    if len(codes) < CACHED_INDEX_FROM:
        return HammingIndex(codes)
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    digest = hashlib.sha256(INDEX_FORMAT.encode())
    digest.update(codes.data)  # the contiguous array's own buffer, not a copy
    entry = (root or cache_root()) / "indexes" / digest.hexdigest()[:32]
    if entry.exists():
        try:
            arrays, _ = _arrays(entry, INDEX_FORMAT)
            index = HammingIndex.from_state(arrays)
            if np.array_equal(index.codes, codes):
                return index
        except (OSError, ValueError, KeyError, TypeError):
            pass
        shutil.rmtree(entry, ignore_errors=True)  # damaged or not these codes: built again, and replaced
    index = HammingIndex(codes)
    if _write(entry, index.state(), {"format": INDEX_FORMAT, "codes": len(codes)}):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):  # memory-mapped, as a later scan's
            index = HammingIndex.from_state(_arrays(entry, INDEX_FORMAT, written=True)[0])
            give_back_free_memory()
    return index
