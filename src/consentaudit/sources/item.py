"""One dataset entry as listed by a source and read by a worker."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from consentaudit import jpegxl

if TYPE_CHECKING:
    from consentaudit.models import CacheState

DEFAULT_MAX_FILE_BYTES = 1 << 30  # the largest file or member read
MAX_SIDECAR_BYTES = 1 << 20  # the largest crawl record read (a sample's json, a Parquet row's other columns)
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
SHARD_SUFFIXES = (*ARCHIVE_SUFFIXES, ".parquet")  # what a shard's name ends with (a Parquet shard holds images)
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".gif",
        ".webp",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".avif",
        ".jxl",
        ".jp2",
        ".j2k",
        ".ico",
        ".ppm",
        ".pgm",
        ".pbm",
        ".tga",
    }
)


_ESCAPE_LIKE = re.compile(r"\\x[0-9a-f]{2}")  # text that reads as an escaped byte

# How an image file begins, whatever its name: a file (or archive member) named otherwise is audited as an
# image when its first HEAD_BYTES say it is one, as a loader that decodes by content would read it.
HEAD_BYTES = 32
_MAGICS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
# ISO-BMFF brands of still images (HEIF/HEIC/AVIF); other brands (mp41, isom, qt, ...) are video.
IMAGE_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"mif2")
# A BMP's info header sizes (BITMAPCOREHEADER, OS/2 2.x, BITMAPINFOHEADER, V2, V3, OS/2 2.x, V4, V5)
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def looks_like_image(head: bytes) -> bool:
    """Whether a file's first bytes (HEAD_BYTES of them) are an image's signature. A BMP's two-byte "BM" is
    also how text starts ("BMW 3 series ...", a caption beside its image), so it counts only with a BMP's
    info header size after it and its pixel data after that header."""
    if head.startswith(_MAGICS):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    if head[4:8] == b"ftyp" and head[8:12] in IMAGE_BRANDS:
        return True
    if jpegxl.is_jpegxl(head):  # its container's signature box, or a bare codestream's FF 0A
        return True
    if head[:2] == b"BM" and len(head) >= 18:
        pixels, dib = int.from_bytes(head[10:14], "little"), int.from_bytes(head[14:18], "little")
        return dib in _BMP_DIB_SIZES and pixels >= 14 + dib
    return False


def display_name(name: str) -> str:
    """A file name as reports and the store show it: bytes that are not UTF-8 (which Python decodes to
    lone surrogates) are written as `\\xNN`, so every name round-trips into UTF-8 text. Two names never show
    alike: in a name with such a byte, or with text that reads as one (a literal backslash, `x`, two hex
    digits), every backslash is doubled too — `a\\xff.jpg` typed so is shown `a\\\\xff.jpg`, the byte 0xff
    `a\\xff.jpg` — and every other name is shown as it is. Reading always uses the raw name (`Item.location`,
    `Item.member`)."""
    if name.isascii():
        if "\\" not in name or not _ESCAPE_LIKE.search(name):
            return name
    elif not any("\udc80" <= c <= "\udcff" for c in name) and not _ESCAPE_LIKE.search(name):
        return name
    return "".join(
        f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else "\\\\" if c == "\\" else c for c in name
    )


@dataclass(frozen=True)
class Item:
    """One dataset entry. `problem` is set when the entry cannot be read safely (it is still reported)."""

    path: str  # relative POSIX path inside the dataset
    location: str  # absolute filesystem path to read from
    size: int
    mtime_ns: int
    problem: str | None = None
    member: str | None = None  # member name when `location` is an archive
    crawl_json: str | None = None  # text of the crawl record (<key>.json sidecar or parquet row)
    c2pa_sidecar: str | None = None  # a .c2pa sidecar: file location, or member name in the same archive
    file_id: tuple[int, int] | None = None  # (st_dev, st_ino) when listed: reading checks it is the same file
    offset: int | None = None  # where a plain tar member's bytes start in the archive: read without re-listing
    c2pa_state: str = ""  # the .c2pa sidecar as listed (its size and mtime): a changed sidecar is read again
    xmp_sidecar: str | None = None  # an .xmp sidecar (`photo.xmp`, `photo.jpg.xmp`): location, or member name
    xmp_state: str = ""  # the .xmp sidecar as listed (its size and mtime)
    member_state: str = ""  # what else names an archive member's bytes as listed (a zip member's CRC-32)

    @property
    def cache_state(self) -> CacheState:
        """What the fingerprint cache compares: size, mtime and `sidecars`."""
        return (self.size, self.mtime_ns, self.sidecars)

    @property
    def sidecars(self) -> str | None:
        """What the audit of this entry reads beside its own bytes — the crawl record's text, the C2PA and XMP
        sidecars' names and states — and what else names those bytes as listed (`member_state`), as a short
        digest; None when it has none. The fingerprint cache keeps it beside the file's size and mtime, so that
        an image whose crawl record or sidecar changed (an opt-out header added to its `.json`, a parquet
        rewritten, a manifest replaced, an opt-out written into its `.xmp`), or a zip member replaced by other
        bytes of the same size and date, is read again, not judged on what was cached from before."""
        if self.crawl_json is None and self.c2pa_sidecar is None and self.xmp_sidecar is None and not self.member_state:
            return None
        h = hashlib.sha256()
        parts = [self.crawl_json or "", self.c2pa_sidecar or "", self.c2pa_state]
        if self.xmp_sidecar is not None:  # only then: the digests of entries without one stay as they were
            parts += [self.xmp_sidecar, self.xmp_state]
        if self.member_state:  # likewise
            parts.append(self.member_state)
        for part in parts:
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()[:32]

    @property
    def shard(self) -> str:
        """The shard this entry belongs to, as `--out` names its findings Parquet: the archive's path inside
        the dataset for an archive member (also for an unsafe member), "files" for a loose file."""
        if self.member is not None:
            return self.path[: -len(display_name(self.member)) - 1]
        if self.location.lower().endswith(SHARD_SUFFIXES):  # an unsafe member, or an unreadable archive
            m = _IN_ARCHIVE.match(self.path)
            return m.group(1) if m else self.path
        return LOOSE_SHARD


LOOSE_SHARD = "files"
_IN_ARCHIVE = re.compile(r"^(.*?\.(?:tar|tar\.gz|tgz|tar\.bz2|tar\.xz|zip|parquet))/", re.IGNORECASE)


# The longest dataset path kept as it is, in UTF-8 bytes. A path is a key of the store, and PostgreSQL indexes
# keys of at most ~2,700 bytes (a third of a page); a report's paths are the same whatever the store.
MAX_PATH_BYTES = 2048


def key_path(path: str) -> str:
    """`path`, or when it is longer than MAX_PATH_BYTES a key that stands for it alone: its first ~1,000 and
    last ~200 bytes around the start of the sha256 of the whole."""
    if len(path) * 4 <= MAX_PATH_BYTES:  # no UTF-8 character takes more than 4 bytes
        return path
    raw = path.encode()
    if len(raw) <= MAX_PATH_BYTES:
        return path
    head, tail = raw[:1000].decode(errors="ignore"), raw[-200:].decode(errors="ignore")
    return f"{head}…[{hashlib.sha256(raw).hexdigest()[:16]}]…{tail}"


_SHORTENED = re.compile(r"…\[[0-9a-f]{16}\]…")  # the mark key_path leaves in a long path's key
_COPY = re.compile(r" \(copy \d+ of \d+\)$")  # the mark copy_name leaves


def sample_key(member: str) -> str:
    """WebDataset's sample key (`__key__`) of an archive member: its path up to the first dot of its base name
    (`a/x.seg.png` -> `a/x`; img2dataset's `000010005.jpg` -> `000010005`): the sample a loader groups it into.
    The name itself when its base name has no dot after its first character."""
    start = member.rfind("/") + 1
    i = member.find(".", start + 1)
    return member[:i] if i > 0 else member


def copy_name(path: str, k: int, n: int) -> str:
    """The path an archive's k-th of n members sharing `path` is audited under (all but the last)."""
    return f"{path} (copy {k} of {n})"


def shown_as_named(path: str) -> bool:
    """Whether a dataset path as reports show it is the file's own name, as UTF-8 text: not when the display
    escaped a byte or doubled a backslash (`display_name`), nor a long path's key (`key_path`), nor an
    earlier archive member of a repeated name (`copy_name`)."""
    return (
        not ("\\" in path and _ESCAPE_LIKE.search(path))
        and not ("…[" in path and _SHORTENED.search(path))
        and not (path.endswith(")") and _COPY.search(path))
    )


def capped(item: Item) -> Item:
    """An item whose path is longer than MAX_PATH_BYTES as a finding under its `key_path`, not read."""
    short = key_path(item.path)
    if short == item.path:
        return item
    why = (
        f"path of {len(item.path.encode())} bytes, longer than the {MAX_PATH_BYTES} a store keeps as a key: "
        "not audited (shorten its folder or file names)"
    )
    return replace(item, path=short, problem=item.problem or why, member=None, offset=None)
