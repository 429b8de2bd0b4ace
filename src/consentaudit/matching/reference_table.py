"""A reference set as columns: NumPy arrays of codes, not one Python object per entry. Pure.

A 1M-entry set held as `ReferenceEntry` objects took ~1 GB and most of a scan's start; as columns it is
~100 bytes an entry (sha256 and 256-bit pHash as 32 raw bytes, 64-bit codes as uint64, ids and URLs as one
UTF-8 buffer with offsets), it pickles to a worker as a few buffers, and it can be memory-mapped from the
reference cache (`reference_cache.py`). An entry is made into a `ReferenceEntry` only when a match or a
report needs it (`table[i]`). Views and keypoints, which imported hash lists rarely carry, stay sparse.
"""

from __future__ import annotations

import hashlib
import io
import json
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from consentaudit.matching.reference_digest import streamed_digest
from consentaudit.models import ReferenceEntry

NO_DETAIL = -1
_ARRAYS = (
    "set_code", "sha256", "has_sha256", "phash", "has_phash", "dhash", "has_dhash", "phash256", "has_phash256",
    "detail",
)  # fmt: skip
_STRINGS = ("ref_ids", "urls")
U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Strings:
    """Optional strings as one UTF-8 buffer and offsets (None where `present` is False)."""

    data: U8
    offsets: I64  # n + 1
    present: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.present)

    def get(self, i: int) -> str | None:
        if not self.present[i]:
            return None
        return bytes(self.data[self.offsets[i] : self.offsets[i + 1]]).decode("utf-8")


@dataclass(frozen=True, eq=False)
class ReferenceTable(Sequence[ReferenceEntry]):
    """The entries of one or more reference sets, column by column (`table[i]` is entry i)."""

    set_names: tuple[str, ...]
    set_code: npt.NDArray[np.int32]  # entry -> index into set_names
    ref_ids: Strings
    urls: Strings
    sha256: U8  # (n, 32)
    has_sha256: npt.NDArray[np.bool_]
    phash: U64
    has_phash: npt.NDArray[np.bool_]
    dhash: U64
    has_dhash: npt.NDArray[np.bool_]
    phash256: U8  # (n, 32)
    has_phash256: npt.NDArray[np.bool_]
    detail: npt.NDArray[np.int8]  # NO_DETAIL where unknown
    views: dict[int, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)  # sparse
    keypoints: dict[int, str] = field(default_factory=dict)  # sparse
    digest: str = ""  # `entries_digest` of the entries, when already known (the reference cache keeps it)
    key: str = ""  # `content_key()`, when already known (the reference cache keeps it)

    def __len__(self) -> int:
        return len(self.set_code)

    @overload
    def __getitem__(self, i: int) -> ReferenceEntry: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[ReferenceEntry]: ...
    def __getitem__(self, i: int | slice) -> ReferenceEntry | Sequence[ReferenceEntry]:
        if isinstance(i, slice):
            return [self.entry(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.entry(i)

    def __iter__(self) -> Iterator[ReferenceEntry]:
        return (self.entry(i) for i in range(len(self)))

    def entry(self, i: int) -> ReferenceEntry:
        detail = int(self.detail[i])
        return ReferenceEntry(
            set_name=self.set_names[int(self.set_code[i])],
            ref_id=self.ref_ids.get(i) or "",
            sha256=bytes(self.sha256[i]).hex() if self.has_sha256[i] else None,
            phash=f"{int(self.phash[i]):016x}" if self.has_phash[i] else None,
            dhash=f"{int(self.dhash[i]):016x}" if self.has_dhash[i] else None,
            url=self.urls.get(i),
            phash256=bytes(self.phash256[i]).hex() if self.has_phash256[i] else None,
            detail=None if detail == NO_DETAIL else detail,
            views=self.views.get(i, ()),
            keypoints=self.keypoints.get(i),
        )

    def phash256_hex(self, i: int) -> str | None:
        return bytes(self.phash256[i]).hex() if self.has_phash256[i] else None

    def sha256_rows(self, digest: str) -> list[int]:
        """Every entry whose sha256 is `digest` (64 hex), in entry order."""
        try:
            raw = np.frombuffer(bytes.fromhex(digest), dtype=np.uint8)
        except ValueError:
            return []
        if raw.shape != (32,):
            return []
        order, prefixes = self._sha_order()
        key = np.uint64(int(digest[:16], 16))
        lo, hi = np.searchsorted(prefixes, key, "left"), np.searchsorted(prefixes, key, "right")
        return [k for k in order[lo:hi].tolist() if np.array_equal(self.sha256[k], raw)]

    def find_sha256(self, digest: str) -> int | None:
        """The first entry whose sha256 is `digest` (64 hex), or None."""
        rows = self.sha256_rows(digest)
        return rows[0] if rows else None

    def phash_distances(self, codes: Sequence[int]) -> I64:
        """Per entry, the least Hamming distance from any of `codes` to its pHash or one of its views' pHashes;
        -1 where the entry has neither (or no code is given)."""
        dist = np.full(len(self), -1, dtype=np.int64)
        if not codes:
            return dist
        q = np.array(codes, dtype=np.uint64)
        own = np.bitwise_count(np.asarray(self.phash)[:, None] ^ q[None, :]).min(axis=1).astype(np.int64)
        dist = np.where(self.has_phash, own, dist)
        for i, vs in self.views.items():
            for v in vs:
                d = min((c ^ int(v[1], 16)).bit_count() for c in codes)
                dist[i] = d if dist[i] < 0 else min(int(dist[i]), d)
        return dist

    def _sha_order(self) -> tuple[I64, U64]:
        cached = self.__dict__.get("_sha_index")
        if cached is None:
            rows = np.flatnonzero(self.has_sha256)
            prefixes = self.sha256[rows, :8].copy().view(">u8").ravel().astype(np.uint64)
            order = np.argsort(prefixes, kind="stable")
            cached = (rows[order].astype(np.int64), prefixes[order])
            object.__setattr__(self, "_sha_index", cached)
        return cached

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_sha_index"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def url_rows(self) -> Iterator[tuple[int, str]]:
        for i in np.flatnonzero(self.urls.present).tolist():
            yield i, self.urls.get(i) or ""

    def entries_digest(self) -> str:
        """`digest.entries_digest` of the entries (sha256, pHash, dHash, URL, 256-bit pHash per entry), as
        the report header records it; kept once computed."""
        if self.digest:
            return self.digest
        value = streamed_digest(self)
        object.__setattr__(self, "digest", value)
        return value

    def content_key(self) -> str:
        """A sha256 over every column a match depends on, in entry order: part of a scan's run key. Kept
        once computed."""
        if not self.key:
            object.__setattr__(self, "key", self._content_key())
        return self.key

    def _content_key(self) -> str:
        h = hashlib.sha256()
        for a in (
            self.sha256, self.has_sha256, self.phash, self.has_phash, self.dhash, self.has_dhash,
            self.phash256, self.has_phash256, self.detail, self.urls.data, self.urls.offsets, self.urls.present,
        ):  # fmt: skip
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(json.dumps(sorted(self.views.items())).encode())
        return h.hexdigest()

    def take(self, rows: Sequence[int] | npt.NDArray[np.int64]) -> ReferenceTable:
        """The entries at `rows`, in that order."""
        idx = np.asarray(rows, dtype=np.int64)
        back = {int(old): new for new, old in enumerate(idx.tolist())}

        def strings(s: Strings) -> Strings:
            starts, ends = s.offsets[idx], s.offsets[idx + 1]
            lengths = ends - starts
            offsets = np.zeros(len(idx) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            spans = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
            return Strings(np.asarray(s.data)[spans], offsets, np.asarray(s.present)[idx])

        return ReferenceTable(
            self.set_names, self.set_code[idx], strings(self.ref_ids), strings(self.urls),
            self.sha256[idx], self.has_sha256[idx], self.phash[idx], self.has_phash[idx], self.dhash[idx],
            self.has_dhash[idx], self.phash256[idx], self.has_phash256[idx], self.detail[idx],
            {back[k]: v for k, v in self.views.items() if k in back},
            {back[k]: v for k, v in self.keypoints.items() if k in back},
        )  # fmt: skip

    def by_ref_id(self) -> ReferenceTable:
        """One entry per ref_id (the last of duplicates, as a stored set keeps them), ordered by ref_id."""
        last = {self.ref_ids.get(i) or "": i for i in range(len(self))}
        return self.take([last[k] for k in sorted(last)])

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Every array of the table by name (the strings as `<column>.data/.offsets/.present`)."""
        arrays = {c: np.asarray(getattr(self, c)) for c in _ARRAYS}
        for c in _STRINGS:
            s: Strings = getattr(self, c)
            arrays.update({f"{c}.data": s.data, f"{c}.offsets": s.offsets, f"{c}.present": s.present})
        return arrays

    def meta(self, keypoints: bool = True) -> dict[str, Any]:
        """What is not an array, as JSON-ready values: set names, the digest, views (and keypoints)."""
        meta: dict[str, Any] = {
            "set_names": list(self.set_names),
            "digest": self.digest,
            "key": self.key,
            "views": [[i, [list(v) for v in vs]] for i, vs in sorted(self.views.items())],
        }
        if keypoints:
            meta["keypoints"] = [[i, k] for i, k in sorted(self.keypoints.items())]
        return meta

    @classmethod
    def from_columns(cls, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]) -> ReferenceTable:
        """The table `columns()` and `meta()` describe; ValueError when the columns disagree in length."""

        def strings(c: str) -> Strings:
            return Strings(arrays[f"{c}.data"], arrays[f"{c}.offsets"], arrays[f"{c}.present"])

        table = cls(
            set_names=tuple(meta["set_names"]),
            ref_ids=strings("ref_ids"),
            urls=strings("urls"),
            views={int(i): tuple((str(a), str(b), str(c)) for a, b, c in vs) for i, vs in meta["views"]},
            keypoints={int(i): str(k) for i, k in meta.get("keypoints", ())},
            digest=str(meta["digest"]),
            key=str(meta.get("key", "")),
            **{c: arrays[c] for c in _ARRAYS},
        )
        if len({len(getattr(table, c)) for c in _ARRAYS} | {len(table.ref_ids), len(table.urls)}) != 1:
            raise ValueError("columns of different lengths")
        if "sha.order" in arrays and "sha.prefixes" in arrays:
            order, prefixes = arrays["sha.order"], arrays["sha.prefixes"]
            if len(order) != len(prefixes) or len(order) != int(np.count_nonzero(table.has_sha256)):
                raise ValueError("a sha256 lookup of another length")
            object.__setattr__(table, "_sha_index", (order, prefixes))
        return table

    def sha_columns(self) -> dict[str, npt.NDArray[Any]]:
        """The sorted sha256 lookup (`find_sha256`) as arrays, for `from_columns` to take back instead of
        sorting again (an argsort of 1M prefixes: ~0.2 s)."""
        order, prefixes = self._sha_order()
        return {"sha.order": order, "sha.prefixes": prefixes}

    def to_bytes(self) -> bytes:
        """The columns (not the keypoints) as one .npz buffer with a JSON part: what a store keeps of a set."""
        buf = io.BytesIO()
        arrays = self.columns()
        arrays["meta"] = np.frombuffer(json.dumps(self.meta(keypoints=False)).encode(), dtype=np.uint8)
        save: Any = np.savez  # numpy's stub reads the array keywords as its own options
        save(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceTable:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls.from_columns({k: z[k] for k in z.files if k != "meta"}, json.loads(bytes(z["meta"]).decode()))

    def renamed(self, name: str) -> ReferenceTable:
        """Every entry in one set called `name`."""
        return replace(self, set_names=(name,), set_code=np.zeros(len(self), dtype=np.int32))


def _strings(data: bytearray, offsets: array[int], present: bytearray) -> Strings:
    flags = np.frombuffer(bytes(present), dtype=np.uint8).astype(bool)
    return Strings(np.frombuffer(bytes(data), np.uint8), np.array(offsets, np.int64), flags)


def _hex_rows(values: bytearray, width: int) -> U8:
    return np.frombuffer(bytes(values), dtype=np.uint8).reshape(-1, width)


class TableBuilder:
    """Appends entries column by column (one set name each) and makes a ReferenceTable."""

    def __init__(self) -> None:
        self._names: dict[str, int] = {}
        self._set = array("i")
        self._ids, self._id_off, self._id_has = bytearray(), array("q", [0]), bytearray()
        self._urls, self._url_off, self._url_has = bytearray(), array("q", [0]), bytearray()
        self._sha, self._sha_has = bytearray(), bytearray()
        self._p, self._p_has, self._d, self._d_has = array("Q"), bytearray(), array("Q"), bytearray()
        self._p256, self._p256_has = bytearray(), bytearray()
        self._detail = array("b")
        self._views: dict[int, tuple[tuple[str, str, str], ...]] = {}
        self._keypoints: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._set)

    def add(
        self,
        set_name: str,
        ref_id: str,
        sha256: str | None,
        phash: str | None,
        dhash: str | None = None,
        url: str | None = None,
        phash256: str | None = None,
        detail: int | None = None,
        views: tuple[tuple[str, str, str], ...] = (),
        keypoints: str | None = None,
    ) -> None:
        """One entry; hex codes must be well-formed (64, 16, 16, 64 hex digits) — the readers check them."""
        i = len(self._set)
        self._set.append(self._names.setdefault(set_name, len(self._names)))
        self._ids += ref_id.encode("utf-8")
        self._id_off.append(len(self._ids))
        self._id_has.append(1)
        if url is not None:
            self._urls += url.encode("utf-8")
        self._url_off.append(len(self._urls))
        self._url_has.append(url is not None)
        self._sha += bytes.fromhex(sha256) if sha256 else bytes(32)
        self._sha_has.append(sha256 is not None)
        self._p.append(int(phash, 16) if phash else 0)
        self._p_has.append(phash is not None)
        self._d.append(int(dhash, 16) if dhash else 0)
        self._d_has.append(dhash is not None)
        self._p256 += bytes.fromhex(phash256) if phash256 else bytes(32)
        self._p256_has.append(phash256 is not None)
        self._detail.append(NO_DETAIL if detail is None else detail)
        if views:
            self._views[i] = views
        if keypoints:
            self._keypoints[i] = keypoints

    def add_entry(self, e: ReferenceEntry) -> None:
        self.add(e.set_name, e.ref_id, e.sha256, e.phash, e.dhash, e.url, e.phash256, e.detail, e.views, e.keypoints)

    def build(self) -> ReferenceTable:
        def flags(b: bytearray) -> npt.NDArray[np.bool_]:
            return np.frombuffer(bytes(b), dtype=np.uint8).astype(bool)

        return ReferenceTable(
            tuple(self._names),
            np.frombuffer(self._set, dtype=np.int32).copy() if len(self._set) else np.zeros(0, np.int32),
            Strings(np.frombuffer(bytes(self._ids), np.uint8), np.array(self._id_off, np.int64), flags(self._id_has)),
            Strings(
                np.frombuffer(bytes(self._urls), np.uint8), np.array(self._url_off, np.int64), flags(self._url_has)
            ),
            _hex_rows(self._sha, 32),
            flags(self._sha_has),
            np.array(self._p, dtype=np.uint64),
            flags(self._p_has),
            np.array(self._d, dtype=np.uint64),
            flags(self._d_has),
            _hex_rows(self._p256, 32),
            flags(self._p256_has),
            np.array(self._detail, dtype=np.int8),
            dict(self._views),
            dict(self._keypoints),
        )


def table_of(entries: Iterable[ReferenceEntry]) -> ReferenceTable:
    """A ReferenceTable of entries already in hand (a folder's fingerprints, a URL list, a stored set)."""
    if isinstance(entries, ReferenceTable):
        return entries
    b = TableBuilder()
    for e in entries:
        b.add_entry(e)
    return b.build()


def concat(tables: Sequence[ReferenceTable]) -> ReferenceTable:
    """The entries of several tables, in order (each keeps its set names)."""
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return table_of(())
    names: dict[str, int] = {}
    codes, views, keypoints = [], {}, {}
    base = 0
    for t in tables:
        remap = np.array([names.setdefault(n, len(names)) for n in t.set_names] or [0], dtype=np.int32)
        codes.append(remap[t.set_code])
        views.update({base + k: v for k, v in t.views.items()})
        keypoints.update({base + k: v for k, v in t.keypoints.items()})
        base += len(t)

    def strings(parts: Sequence[Strings]) -> Strings:
        shifts = np.cumsum([0, *(len(p.data) for p in parts[:-1])])
        offsets = np.concatenate(
            [parts[0].offsets[:1], *(p.offsets[1:] + s for p, s in zip(parts, shifts, strict=True))]
        )
        return Strings(np.concatenate([p.data for p in parts]), offsets, np.concatenate([p.present for p in parts]))

    def cat(name: str) -> Any:
        return np.concatenate([getattr(t, name) for t in tables])

    return ReferenceTable(
        tuple(names),
        np.concatenate(codes),
        strings([t.ref_ids for t in tables]),
        strings([t.urls for t in tables]),
        cat("sha256"), cat("has_sha256"), cat("phash"), cat("has_phash"), cat("dhash"), cat("has_dhash"),
        cat("phash256"), cat("has_phash256"), cat("detail"), views, keypoints,
    )  # fmt: skip
