"""Reference sets of known scraped images: load a folder of images or a fingerprint file (JSONL)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from consentaudit.errors import InputError, ManifestError, Problem
from consentaudit.fingerprint import ALGORITHM
from consentaudit.matching.keypoints import Keypoints
from consentaudit.matching.reference_table import ReferenceTable, TableBuilder
from consentaudit.models import Fingerprint, ReferenceEntry, ScannedImage
from consentaudit.reference_columns import UnusualFile, read_columns
from consentaudit.text_files import not_utf8_at

FINGERPRINT_KIND = "consentaudit-fingerprints"
FINGERPRINT_SCHEMA = "1"
MAX_URL_BYTES = 1 << 20  # a Parquet URL list's longest url
_HEX = frozenset("0123456789abcdefABCDEF")


def parse_views(value: object) -> tuple[tuple[str, str, str], ...]:
    """A fingerprint file's `views` ({"c90": {"phash": 16 hex, "phash256": 64 hex}, ...}); malformed views
    are left out (the entry still matches through its own codes)."""
    if not isinstance(value, dict):
        return ()
    out = []
    for name, codes in sorted(value.items()):
        if isinstance(codes, dict):
            ph, p256 = codes.get("phash"), codes.get("phash256")
            if (
                isinstance(ph, str)
                and len(ph) == 16
                and isinstance(p256, str)
                and len(p256) == 64
                and _HEX.issuperset(ph + p256)
            ):
                out.append((str(name), ph.lower(), p256.lower()))
    return tuple(out)


def parse_keypoints(value: object) -> str | None:
    """A fingerprint file's `keypoints` (base64 of an ORB1 record); malformed ones are left out (the entry is
    then decided by its 256-bit codes alone)."""
    if not isinstance(value, str):
        return None
    try:
        Keypoints.decode(value)
    except ValueError:
        return None
    return value


def write_fingerprints(images: Iterable[ScannedImage], out: IO[str], name: str, description: str = "") -> int:
    """Write a fingerprint file: a header line, then one JSON object per readable image."""
    return write_set(entries_from_images(name, images), out, name, description, "")


def _hex_or_none(value: object, width: int) -> str | None:
    """`value` lower-cased when it is `width` hex digits; None when absent or of another length."""
    if not isinstance(value, str) or len(value) != width:
        return None
    if not _HEX.issuperset(value):
        raise ValueError(f"not {width} hex digits: {value[:80]!r}")
    return value.lower()


def read_fingerprint_file(path: Path, set_name: str | None = None) -> tuple[str, ReferenceTable, dict[str, str]]:
    """(name, entries as columns, header) of a fingerprint file; every malformed line is reported with its
    number (ManifestError). A large hash list of the plain shape (codes, path or URL, detail) is read by
    Arrow's JSON reader into columns; anything else, and any file with a problem, line by line."""
    with contextlib.suppress(UnusualFile):
        return read_columns(path, set_name)
    return _read_lines(path, set_name)


def _read_lines(path: Path, set_name: str | None) -> tuple[str, ReferenceTable, dict[str, str]]:
    name = set_name or path.stem
    header: dict[str, str] = {}
    rows = TableBuilder()
    problems: list[Problem] = []
    try:
        f = path.open(encoding="utf-8-sig")  # a byte-order mark is not part of the first line
    except OSError as exc:
        raise InputError(f"cannot read fingerprint file {path}: {exc}") from exc
    with f:
        try:
            for n, line in enumerate(f, start=1):
                if line.isspace() or not line:
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
                    header = {k: str(v) for k, v in obj.items() if isinstance(v, str)}
                    continue
                try:
                    sha, ph = _hex_or_none(obj.get("sha256"), 64), _hex_or_none(obj.get("phash"), 16)
                    dh, p256 = _hex_or_none(obj.get("dhash"), 16), _hex_or_none(obj.get("phash256"), 64)
                except ValueError as exc:
                    problems.append(Problem(str(path), n, "sha256", f"a code is malformed: {exc}"))
                    continue
                url = obj.get("url")
                url = url.strip() if isinstance(url, str) and url.strip() else None
                has_hash = sha is not None or ph is not None
                if not has_hash and url is None:
                    problems.append(
                        Problem(str(path), n, "sha256", "entry needs a 64-hex sha256, a 16-hex phash or a url")
                    )
                    continue
                det = obj.get("detail")
                rows.add(
                    "",
                    str(obj.get("path") or obj.get("url") or f"line {n}"),
                    sha,
                    ph,
                    dh,
                    url if not has_hash else None,
                    p256,
                    det if isinstance(det, int) and 0 <= det <= 100 else None,
                    parse_views(obj.get("views")),
                    parse_keypoints(obj.get("keypoints")),
                )
        except UnicodeDecodeError:
            raise InputError(f"cannot read fingerprint file {path}: not UTF-8 text at {not_utf8_at(path)}") from None
    if problems:
        raise ManifestError(problems)
    return name, rows.build().renamed(name), header


def entry_from_fingerprint(name: str, ref_id: str, fp: Fingerprint) -> ReferenceEntry:
    """The reference entry of an image of set `name` (every code its fingerprint carries)."""
    return ReferenceEntry(
        name,
        ref_id,
        fp.sha256,
        fp.phash,
        fp.dhash,
        phash256=fp.phash256,
        detail=fp.detail,
        views=fp.views,
        keypoints=fp.keypoints,
    )


def entries_from_images(name: str, images: Iterable[ScannedImage]) -> Iterator[ReferenceEntry]:
    """An entry per readable image, then one per distinct source URL that the images' crawl records give
    (img2dataset's json sidecars or Parquet rows): a download of a scraped collection names its originals'
    URLs as well as their bytes, and a dataset image crawled from one of them matches even when it was changed
    past what its hashes find. An unreadable image's URL counts too."""
    urls: dict[str, None] = {}
    for img in images:
        if img.fingerprint is not None:
            yield entry_from_fingerprint(name, img.path, img.fingerprint)
        url = dict(img.metadata).get("crawl.url", "").strip()
        if url:
            urls[url] = None
    for url in urls:
        yield ReferenceEntry(name, url, None, None, url=url)


def read_url_list(path: Path, set_name: str) -> list[ReferenceEntry]:
    """A URL or domain list: one per line (text), the `url` column of a CSV, or of an img2dataset parquet."""
    urls: list[str] = []
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            try:
                import pyarrow.parquet  # noqa: F401 -- only: is the extra installed?
            except ImportError:
                raise InputError("reading a parquet URL list needs pyarrow (consentaudit[crawl])") from None
            urls = _parquet_urls(path)
        elif suffix == ".csv":
            import csv

            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "url" not in reader.fieldnames:
                    raise InputError(f"{path}: a CSV URL list needs a 'url' column")
                urls = [row["url"] for row in reader if row.get("url")]
        else:
            urls = [
                ln.strip()
                for ln in path.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")
            ]
    except UnicodeDecodeError:
        raise InputError(f"cannot read URL list {path}: not UTF-8 text at {not_utf8_at(path)}") from None
    except OSError as exc:
        raise InputError(f"cannot read URL list {path}: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for a broken file
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read URL list {path}: {exc}") from None
    return [ReferenceEntry(set_name, u, None, None, url=u.strip()) for u in dict.fromkeys(urls)]


def _parquet_urls(path: Path) -> list[str]:
    """The `url` column of a Parquet file, a bounded batch at a time (parquet_batches.py); InputError naming the
    row of a URL past MAX_URL_BYTES, or a file whose rows decode far past its size."""
    from consentaudit.sources.parquet_batches import ParquetBomb, record_rows

    urls: list[str] = []
    try:
        for n, row in enumerate(record_rows(path, ["url"], MAX_URL_BYTES), 1):
            if row is None:
                raise InputError(f"cannot read URL list {path}: row {n}: a url of over {MAX_URL_BYTES} bytes")
            if isinstance(url := row["url"], str):
                urls.append(url)
    except ParquetBomb as exc:
        raise InputError(f"cannot read URL list {path}: {exc}") from None
    return urls


def write_set(entries: Iterable[ReferenceEntry], out: IO[str], name: str, description: str, license: str) -> int:
    """A reference set as a fingerprint file (the format `fingerprint` writes; URL entries carry `url`)."""
    header = {
        "kind": FINGERPRINT_KIND,
        "schema_version": FINGERPRINT_SCHEMA,
        "algorithm": ALGORITHM,
        "name": name,
        "description": description,
        "license": license,
    }
    out.write(json.dumps(header, sort_keys=True) + "\n")
    n = 0
    for e in entries:
        row = {
            "path": e.ref_id,
            "sha256": e.sha256,
            "phash": e.phash,
            "dhash": e.dhash,
            "url": e.url,
            "phash256": e.phash256,
            "detail": e.detail,
            "views": {v[0]: {"phash": v[1], "phash256": v[2]} for v in e.views} or None,
            "keypoints": e.keypoints,
        }
        out.write(json.dumps({k: v for k, v in row.items() if v is not None}, sort_keys=True) + "\n")
        n += 1
    return n
