"""Reference sets as columns: the table, the Arrow reader against the line reader, the reference cache, and
the borderline rule that spares an exact re-hash when a 256-bit code decides."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from conftest import PHOTOS
from consentaudit import mapper as mapper_module
from consentaudit import reference_cache, reference_columns
from consentaudit.digest import entries_digest
from consentaudit.errors import ManifestError
from consentaudit.mapper import BORDER_MARGIN, UnitMapper
from consentaudit.matching.hamming import HammingIndex, distance, parse_hex64
from consentaudit.matching.reference_index import ReferenceIndex
from consentaudit.matching.reference_table import ReferenceTable, concat, table_of
from consentaudit.models import ReferenceEntry
from consentaudit.reference_cache import cached_index, read_cached_fingerprint_file
from consentaudit.reference_files import _read_lines, read_fingerprint_file
from consentaudit.scanner import ScanSettings, scan_unit
from consentaudit.sources import open_source
from consentaudit.verdicts import Rules

COLUMNS = ("set_code", "sha256", "has_sha256", "phash", "has_phash", "dhash", "has_dhash", "phash256",
           "has_phash256", "detail")  # fmt: skip


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _same(a: ReferenceTable, b: ReferenceTable) -> None:
    for c in COLUMNS:
        assert np.array_equal(getattr(a, c), getattr(b, c)), c
    for c in ("ref_ids", "urls"):
        for part in ("data", "offsets", "present"):
            assert np.array_equal(getattr(getattr(a, c), part), getattr(getattr(b, c), part)), (c, part)
    assert a.set_names == b.set_names and list(a) == list(b)


def _hash_list(path: Path, n: int = 300, seed: int = 1) -> list[dict[str, object]]:
    """A hash list of the shapes found in the wild: upper-case hex, missing codes, URL-only entries, codes
    of the wrong length (ignored), details in and out of range."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(n):
        row: dict[str, object] = {"path": f"laion/{i:06d}.jpg"}
        k = i % 7
        if k != 3:
            row["sha256"] = _hex(rng, 256).upper() if k == 1 else _hex(rng, 256)
        if k != 2:
            row["phash"] = _hex(rng, 64)
        if k in (0, 4):
            row["dhash"] = _hex(rng, 64)
            row["phash256"] = _hex(rng, 256)
        if k == 5:
            row["detail"] = rng.choice([0, 14, 15, 60, 100, 101, -3])
        if k == 6:
            row["phash"] = "abc"  # wrong length: absent, as the line reader treats it
        if k == 3:
            row = {"url": f" https://Example.org/{i}.jpg " if i % 2 else f"host{i}.example.com"}
        rows.append(row)
    head = {"kind": "consentaudit-fingerprints", "schema_version": "1", "name": "wild", "license": "CC0-1.0"}
    path.write_text("\n".join(json.dumps(r) for r in [head, *rows]) + "\n")
    return rows


def test_arrow_reader_gives_the_line_readers_columns(tmp_path: Path) -> None:
    f = tmp_path / "wild.jsonl"
    _hash_list(f)
    name, fast, header = read_fingerprint_file(f)
    name2, slow, header2 = _read_lines(f, None)
    assert (name, header) == (name2, header2) == ("wild", header2) and header["license"] == "CC0-1.0"
    _same(fast, slow)
    assert fast.entries_digest() == slow.entries_digest()
    assert fast.urls.get(3) == "https://Example.org/3.jpg" and fast[3].ref_id == " https://Example.org/3.jpg "
    windows = tmp_path / "windows.jsonl"  # a byte-order mark and CRLF line ends, as Windows tools write
    windows.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n"))
    _same(read_fingerprint_file(windows)[1], fast)
    _same(_read_lines(windows, None)[1], fast)


def test_odd_values_read_by_columns_or_lines_give_the_line_readers_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values the column reader leaves to the line reader, or reads itself, end as the line reader reads them:
    explicit nulls, a header line in the middle, codes with non-ASCII characters (64 characters but more
    bytes, or 64 bytes but fewer characters), a detail written as a string, batches cut mid-file."""
    rng = random.Random(8)
    base = [{"path": f"p{i}.jpg", "sha256": _hex(rng, 256), "phash": _hex(rng, 64)} for i in range(40)]
    odd = {
        "nulls": [*base[:5], {"path": "n.jpg", "sha256": None, "phash": _hex(rng, 64), "url": None}, *base[5:]],
        "header inside": [*base[:20], {"kind": "consentaudit-fingerprints", "name": "late"}, *base[20:]],
        "wide characters": [*base[:3], {"path": "w.jpg", "sha256": _hex(rng, 256), "phash": "é" * 16}, *base[3:]],
        "short by bytes": [*base[:3], {"path": "s.jpg", "sha256": _hex(rng, 256), "phash": "é" * 8}, *base[3:]],
        "string detail": [*base[:3], {"path": "d.jpg", "phash": _hex(rng, 64), "detail": "50"}, *base[3:]],
    }
    for rows in odd.values():
        f = tmp_path / "odd.jsonl"
        f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
        try:
            want: ReferenceTable | type[ManifestError] = _read_lines(f, None)[1]
        except ManifestError:
            want = ManifestError
        if want is ManifestError:
            with pytest.raises(ManifestError):
                read_fingerprint_file(f)
            continue
        assert isinstance(want, ReferenceTable)
        _same(read_fingerprint_file(f)[1], want)
        with_lines = tmp_path / "many.jsonl"  # the same lines cut into several Arrow batches
        with_lines.write_text(f.read_text(encoding="utf-8") * 50, encoding="utf-8")
        monkeypatch.setattr(reference_columns, "BLOCK", 1 << 14)
        _same(read_fingerprint_file(with_lines)[1], _read_lines(with_lines, None)[1])
        monkeypatch.undo()


def test_a_hash_list_is_read_without_importing_pandas(tmp_path: Path) -> None:
    """Converting Arrow values to Python or NumPy objects makes pyarrow import pandas (0.7 s of a first use);
    the column reader reads Arrow's buffers instead."""
    pytest.importorskip("pyarrow", reason="pyarrow is not installed: the column reader is not used")
    try:
        import importlib.util

        if importlib.util.find_spec("pandas") is None:
            pytest.skip("pandas is not installed: nothing could import it")
    except ValueError:
        pass
    f = tmp_path / "wild.jsonl"
    _hash_list(f, 2000)
    code = (
        "import sys; from pathlib import Path; from consentaudit.reference_columns import read_columns; "
        f"t = read_columns(Path({str(f)!r}))[1]; print(len(t), 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["2000", "False"]


def test_a_malformed_code_is_reported_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    _hash_list(f, 20)
    lines = f.read_text().splitlines()
    lines[7] = json.dumps({"path": "x.jpg", "phash": "zz" * 8})
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as err:
        read_fingerprint_file(f)
    assert [(p.line, p.file) for p in err.value.problems] == [(8, str(f))]


def test_entries_digest_formats_runs_of_lines_as_the_lines_would_be(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mix of present fields, URLs, entries sharing sha256 or codes, across several digest blocks: the
    columns' digest equals the digest of the lines themselves."""
    from consentaudit.matching import reference_digest

    rng = random.Random(12)
    entries = []
    for i in range(400):
        pattern = rng.randrange(32)
        url = f"site{rng.randrange(9)}.example/{i}" if pattern & 16 else None
        entries.append(
            ReferenceEntry(
                "s", f"r{i}",
                _hex(rng, 256) if pattern & 1 else None,
                _hex(rng, 64) if pattern & 2 else None,
                _hex(rng, 64) if pattern & 4 else None,
                url=url,
                phash256=_hex(rng, 256) if pattern & 8 else None,
            )
        )  # fmt: skip
    entries += [replace(entries[k], ref_id=f"again{k}") for k in range(0, 400, 37)]  # equal lines
    entries += [ReferenceEntry("s", "zero", "0" * 64, "0" * 16, "f" * 16), ReferenceEntry("s", "none", None, None)]
    want = entries_digest((e.sha256, e.phash, e.dhash, e.url, e.phash256) for e in entries)
    for block in (7, 64, 65536):
        monkeypatch.setattr(reference_digest, "DIGEST_BLOCK", block)
        assert table_of(entries).entries_digest() == want, block
    for few in ([entries[3]], [entries[5]] * 3):  # one line; equal lines (no column varies)
        assert table_of(few).entries_digest() == entries_digest(
            (e.sha256, e.phash, e.dhash, e.url, e.phash256) for e in few
        )


def test_table_round_trip_digest_and_first_sha256_wins() -> None:
    rng = random.Random(3)
    entries = [
        ReferenceEntry("a", f"r{i}", _hex(rng, 256), _hex(rng, 64), None if i % 2 else _hex(rng, 64),
                       phash256=_hex(rng, 256) if i % 3 else None, detail=i % 101,
                       views=(("c90", _hex(rng, 64), _hex(rng, 256)),) if i == 4 else (),
                       keypoints="T1JCMQ==" if i == 5 else None)
        for i in range(40)
    ]  # fmt: skip
    entries.append(ReferenceEntry("b", "dup", entries[7].sha256, None))
    entries.append(ReferenceEntry("b", "dup2", entries[7].sha256, "00" * 8))  # ties broken by the next field
    for u in ("example.com/a", "!bang.org", "-minus.org", "a b.org", "ex\x01ample.com", "example.com/a/b"):
        entries.append(ReferenceEntry("b", u, None, None, url=u))
    entries.append(ReferenceEntry("b", "site", None, None, url="example.com"))
    t = concat([table_of(entries[:20]), table_of(entries[20:])])
    assert list(t) == entries and t.set_names == ("a", "b")
    assert t.entries_digest() == entries_digest((e.sha256, e.phash, e.dhash, e.url, e.phash256) for e in entries)
    assert t.find_sha256(entries[7].sha256 or "") == 7  # the first of two entries with the same bytes
    assert t.find_sha256("0" * 64) is None and t.find_sha256("not hex") is None
    assert t.sha256_rows(entries[7].sha256 or "") == [7, 40, 41]
    codes = [parse_hex64(_hex(rng, 64)) for _ in range(3)]
    brute = [
        min((distance(c, parse_hex64(p)) for c in codes for p in [e.phash, *(v[1] for v in e.views)] if p), default=-1)
        for e in entries
    ]
    assert t.phash_distances(codes).tolist() == brute
    assert t.renamed("c")[-1] == ReferenceEntry("c", "site", None, None, url="example.com")


def test_cache_serves_columns_and_a_changed_file_is_read_again(tmp_path: Path) -> None:
    f = tmp_path / "set.jsonl"
    _hash_list(f, 50)
    cache = tmp_path / "cache"
    name, first, _, hit = read_cached_fingerprint_file(f, root=cache)
    assert not hit and first.digest
    assert isinstance(first.phash.base, np.memmap)  # parsed, cached, then served from the entry it wrote
    want = list(first)  # (the damage below is written into the files `first` maps)
    assert read_fingerprint_file(f)[1].entries_digest() == first.digest
    unwritable = tmp_path / "file-not-folder"
    unwritable.write_text("")
    _, parsed, _, _ = read_cached_fingerprint_file(f, root=unwritable)  # no cache: the parsed columns
    assert not isinstance(parsed.phash.base, np.memmap)
    _same(parsed, first)
    name2, again, _, hit2 = read_cached_fingerprint_file(f, root=cache)
    assert hit2 and name2 == name and isinstance(again.phash.base, np.memmap)  # memory-mapped from the cache
    _same(first, again)
    assert again.entries_digest() == first.digest
    # the content key and the sha256 lookup come from the cache, equal to computing them on the columns
    assert again.key == first.key == table_of(list(first)).content_key()
    assert "_sha_index" in again.__dict__
    for k in (0, 17, 49):
        assert again.find_sha256(again[k].sha256 or "") == table_of(list(first)).find_sha256(first[k].sha256 or "")
    (entry,) = (e for e in (cache / "references").iterdir() if e.name != "by-stat")
    (entry / "phash.npy").write_bytes(b"\x93NUMPY damaged")  # a damaged entry is parsed again and replaced
    _, redone, _, hit_damaged = read_cached_fingerprint_file(f, root=cache)
    assert not hit_damaged and list(redone) == want
    assert read_cached_fingerprint_file(f, root=cache)[3]
    # damage that still loads: a flipped bit in a code, an edited meta.json, a column gone — parsed again
    codes = np.load(entry / "phash.npy")
    with (entry / "phash.npy").open("r+b") as fh:
        fh.seek(-8 * len(codes), os.SEEK_END)  # the first code
        fh.write((int(codes[0]) ^ 1).to_bytes(8, "little"))
    assert np.load(entry / "phash.npy")[0] != codes[0]  # a valid .npy, with another code
    for damage in (
        lambda: None,
        lambda: (entry / "meta.json").write_text(json.dumps({**_meta(entry), "name": "renamed"})),
        lambda: (entry / "sha.order.npy").unlink(),
    ):
        damage()
        _, redone, _, hit_damaged = read_cached_fingerprint_file(f, root=cache)
        assert not hit_damaged and list(redone) == want
        assert read_cached_fingerprint_file(f, root=cache)[3]  # the entry replaced: served from it again
    rows = _hash_list(f, 50, seed=2)  # new content; same size, mtime moved on
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    _, changed, _, hit3 = read_cached_fingerprint_file(f, root=cache)
    assert not hit3 and changed[0].sha256 == str(rows[0]["sha256"]).lower() != want[0].sha256


def test_each_cache_file_is_hashed_once_when_written_and_once_a_later_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first use writes the entry and hashes each file as it is written, not again when it maps what it
    wrote; a later use hashes each file once, to check it (as does the radius index's entry)."""
    f = tmp_path / "set.jsonl"
    _hash_list(f, 50)
    cache = tmp_path / "cache"
    hashed: list[str] = []
    real = reference_cache.sha256_file
    monkeypatch.setattr(reference_cache, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    _, first, _, hit = read_cached_fingerprint_file(f, root=cache)
    (entry,) = (e for e in (cache / "references").iterdir() if e.name != "by-stat")
    files = sorted(p.name for p in entry.glob("*.npy"))
    assert not hit and isinstance(first.phash.base, np.memmap) and sorted(hashed) == files
    hashed.clear()
    assert read_cached_fingerprint_file(f, root=cache)[3]
    assert sorted(hashed) == files
    codes = np.random.default_rng(3).integers(0, 2**63, size=reference_cache.CACHED_INDEX_FROM, dtype=np.uint64)
    hashed.clear()
    built = cached_index(codes, root=cache)
    (index_entry,) = (cache / "indexes").iterdir()
    index_files = sorted(p.name for p in index_entry.glob("*.npy"))
    assert sorted(hashed) == index_files and isinstance(built.codes.base, np.memmap)
    hashed.clear()
    assert np.array_equal(cached_index(codes, root=cache).codes, codes) and sorted(hashed) == index_files


def _meta(entry: Path) -> dict[str, object]:
    meta: dict[str, object] = json.loads((entry / "meta.json").read_text())
    return meta


def test_a_copy_of_a_cached_file_is_found_by_its_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh checkout, a download or a CI runner's restored cache: another path, mtime and inode, the same
    bytes — served from the cache without parsing; the stat of each path is remembered (no hashing next time)."""
    f = tmp_path / "set.jsonl"
    _hash_list(f, 50)
    cache = tmp_path / "cache"
    _, first, _, _ = read_cached_fingerprint_file(f, root=cache)
    want = list(first)
    copy = tmp_path / "checkout" / "set.jsonl"
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    parsed: list[Path] = []
    real_read, real_key = reference_cache.read_fingerprint_file, reference_cache._content_key
    monkeypatch.setattr(reference_cache, "read_fingerprint_file", lambda p, n=None: parsed.append(p) or real_read(p, n))
    hashed: list[Path] = []
    monkeypatch.setattr(reference_cache, "_content_key", lambda p, n: hashed.append(p) or real_key(p, n))
    _, again, _, hit = read_cached_fingerprint_file(copy, root=cache)
    assert hit and parsed == [] and hashed == [copy] and list(again) == want
    assert read_cached_fingerprint_file(copy, root=cache)[3] and hashed == [copy]  # its stat now leads there
    assert read_cached_fingerprint_file(copy, "renamed", root=cache)[3] is False  # another set name: parsed
    lines = copy.read_text().splitlines()
    copy.write_text("\n".join([*lines[:-1], lines[-1].replace('"laion/', '"other/')]) + "\n")
    st = copy.stat()  # the same size; the mtime moved on (as a clock tick may not have)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    _, edited, _, hit_edited = read_cached_fingerprint_file(copy, root=cache)  # other bytes: parsed again
    assert not hit_edited and parsed[-1] == copy and edited[len(edited) - 1].ref_id.startswith("other/")


def _near(code: str, bits: int, rng: random.Random) -> str:
    value = parse_hex64(code)
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return f"{value:016x}"


def test_far_256_bit_code_needs_no_exact_rehash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry whose 64-bit code lies in the borderline band of a real photo's fast pHash: with a 256-bit
    code far from the photo's it cannot match at any 64-bit distance, so the photo is not re-hashed; without
    a 256-bit code (64-bit rules) or with a close one it is."""
    items = [i for i in open_source(PHOTOS).items() if i.path.endswith(".jpg")][:1]
    img = scan_unit(items, ScanSettings())[0]
    fp = img.fingerprint
    assert fp is not None and fp.phash and not fp.exact
    rng = random.Random(5)
    code = _near(fp.phash, 9, rng)
    assert distance(parse_hex64(code), parse_hex64(fp.phash)) == 9
    probe = mapper_module._probe(items[0], img, ScanSettings().max_pixels)
    assert probe is not None
    mine = probe.phash256("phash") or ""
    far = f"{int(mine, 16) ^ ((1 << 256) - 1):064x}"  # every bit differs
    close = f"{int(mine, 16) ^ 0b111:064x}"  # 3 bits: a sure match near d=9, a different zone at d=15
    calls: list[str] = []
    real = mapper_module.refingerprint_exact
    monkeypatch.setattr(mapper_module, "refingerprint_exact", lambda *a: calls.append(a[1].path) or real(*a))
    rules = Rules(("ai-training",), date(2026, 1, 1))
    for p256, expected in ((far, 0), (None, 1), (close, 1)):
        calls.clear()
        entry = ReferenceEntry("s", "e", None, code, phash256=p256)
        index = ReferenceIndex([entry])
        assert index.borderline(fp, BORDER_MARGIN, probe.phash256) == bool(expected)
        UnitMapper(ScanSettings(), rules, [], [entry], 8)(items)
        assert len(calls) == expected, p256


def test_a_stored_set_loads_as_columns_and_an_older_store_gets_them(tmp_path: Path) -> None:
    from sqlalchemy import delete, func, select

    from consentaudit.models import ReferenceInfo
    from consentaudit.store import ReferenceSets, ScanStore
    from consentaudit.store.refsets import REFCOLS

    f = tmp_path / "wild.jsonl"
    _hash_list(f, 120)
    _, table, _ = read_fingerprint_file(f)
    dup = ReferenceEntry("x", table[0].ref_id, "ab" * 32, None)  # the same ref_id again: the last one is kept
    entries = [*table, dup]
    sets = ReferenceSets(ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    sets.save(ReferenceInfo("wild", str(f), len(entries)), entries, str(f), "2026-12-01T00:00:00Z")
    info, loaded = sets.load_table("wild")
    _, rows = sets.load("wild", keypoints=False)
    assert info.entries == len(rows) == len(loaded) == 120 and list(loaded) == rows  # rows in ref_id order
    assert next(e for e in loaded if e.ref_id == dup.ref_id).sha256 == "ab" * 32 and loaded.digest
    with sets.engine.begin() as conn:  # a set stored before the columns existed
        conn.execute(delete(REFCOLS))
    _, rebuilt = sets.load_table("wild")
    assert list(rebuilt) == rows and rebuilt.entries_digest() == loaded.entries_digest()
    with sets.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(REFCOLS)).scalar() == 1  # written back
    sets.remove("wild")
    with sets.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(REFCOLS)).scalar() == 0


def test_near_threshold_asks_once_for_several_thresholds() -> None:
    """One radius query per code answers for every threshold: a code is "near" exactly when it is within the
    margin of one of them (records are checked at the threshold and at the 256-bit candidate radius)."""
    from consentaudit.matching.hamming import HammingIndex
    from consentaudit.matching.perceptual import near_threshold
    from consentaudit.models import Fingerprint

    rng = random.Random(9)
    query = f"{rng.getrandbits(64):016x}"
    fp = Fingerprint(sha256="0" * 64, phash=query)
    for d in range(0, 26):
        code = parse_hex64(_near(query, d, rng))
        index = HammingIndex([code, parse_hex64(query) ^ ((1 << 64) - 1)])  # and one 64 bits away
        want = any(t - 3 < d <= t + 3 for t in (5, 14))
        assert near_threshold(index, fp, (5, 14), 3) == want, d
        assert near_threshold(index, fp, 14, 3) == (11 < d <= 17), d
        assert not near_threshold(index, fp, (5, 14), 3, relevant=lambda pos: pos == 1)


def test_a_large_sets_radius_index_is_kept_and_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index over a large set's codes is sorted once and then memory-mapped: the loaded index answers
    every query as the built one; a damaged entry and other codes are built again."""
    monkeypatch.setattr(reference_cache, "CACHED_INDEX_FROM", 3000)  # a small "large" set keeps the test quick
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    codes[100:110] = codes[7] ^ np.uint64(0b1011)  # near neighbours to find
    cache = tmp_path / "cache"
    built = cached_index(codes, root=cache)
    loaded = cached_index(codes.copy(), root=cache)
    assert isinstance(loaded.codes.base, np.memmap) and isinstance(loaded.state()["sorted"].base, np.memmap)
    assert isinstance(built.codes.base, np.memmap)  # built, kept, then served from the entry like `loaded`
    queries = [int(c) for c in codes[:40]] + [int(codes[7] ^ np.uint64(1 << 40)), int(rng.integers(0, 2**63))]
    for q in queries:
        for radius in (0, 6, 14):
            assert loaded.within(q, radius) == built.within(q, radius) == HammingIndex(codes).within(q, radius)
    assert len(built.within(int(codes[7]), 3)) == 11
    (entry,) = (cache / "indexes").iterdir()
    near7 = built.within(int(codes[7]), 3)
    (entry / "pos.npy").write_bytes(b"\x93NUMPY damaged")  # (`built` maps these files: not used after this)
    redone = cached_index(codes, root=cache)  # built again, the entry replaced, and served from it
    assert isinstance(redone.codes.base, np.memmap)
    assert np.load(entry / "pos.npy").shape == (4 * len(codes),)
    assert redone.within(int(codes[7]), 3) == near7
    assert isinstance(cached_index(codes, root=cache).codes.base, np.memmap)
    pos = np.load(entry / "pos.npy")
    with (entry / "pos.npy").open("r+b") as fh:  # a flipped bit in a position: still a valid array
        fh.seek(-pos.itemsize * len(pos), os.SEEK_END)
        fh.write((int(pos[0]) ^ 1).to_bytes(pos.itemsize, "little"))
    assert np.load(entry / "pos.npy")[0] != pos[0]
    assert np.array_equal(cached_index(codes, root=cache).state()["pos"], pos)  # built again, not served
    other = codes.copy()
    other[0] ^= np.uint64(1)
    assert cached_index(other, root=cache).within(int(other[0]), 0) == [(0, 0)]
    assert len(list((cache / "indexes").iterdir())) == 2
    small = codes[:2000]  # below the threshold: built in memory, no entry
    assert cached_index(small, root=cache).within(int(codes[7]), 3) == HammingIndex(small).within(int(codes[7]), 3)
    assert len(list((cache / "indexes").iterdir())) == 2
    state = HammingIndex(codes).state()
    with pytest.raises(ValueError):
        HammingIndex.from_state({**state, "start": state["start"][:-1]})


def test_a_narrower_query_of_the_same_code_is_answered_from_the_wider_one(tmp_path: Path) -> None:
    """`borderline` asks within threshold + margin (15), `perceptual_hits` within 14: one index query, and
    the narrower answer is exactly the index's."""
    f = tmp_path / "set.jsonl"
    _hash_list(f, 4000)
    _, table, _ = read_fingerprint_file(f)
    index = ReferenceIndex(table)
    code = int(table.phash[0])
    asked: list[int] = []
    real = index._index.within

    def counting(q: int, radius: int) -> list[tuple[int, int]]:
        asked.append(radius)
        return real(q, radius)

    index._index.within = counting  # type: ignore[method-assign]
    probe = code ^ 0b111  # three bits off an entry: in both answers
    wide, narrow = index._within(probe, 15), index._within(probe, 14)
    assert asked == [15]
    assert narrow == real(probe, 14) and (0, 3) in narrow and set(narrow) <= set(wide)
    assert index._within(probe, 16) == real(probe, 16) and asked == [15, 16]


def test_lexsort_orders_rows_as_numpy_does_up_to_equal_rows() -> None:
    """The digest's sort: constant keys left out, the first varying key sorted, its ties sorted on all keys.
    The sorted rows equal np.lexsort's, for keys with many ties, few ties, constants, and none varying."""
    from consentaudit.matching.reference_digest import _lexsort

    rng = np.random.default_rng(4)
    n = 3000
    cases = [
        [rng.integers(0, 3, n), rng.integers(0, 2, n), np.ones(n, dtype=bool), rng.integers(0, 4, n)],
        [rng.integers(0, 2**63, n, dtype=np.uint64), np.zeros(n, dtype=np.uint64), rng.integers(0, 2**40, n)],
        [rng.integers(0, 5, n), np.full(n, 7)],
        [np.full(n, 7), np.ones(n, dtype=bool)],
    ]
    for keys in cases:
        ours, numpy_s = _lexsort(list(keys), n), np.lexsort(keys)
        assert sorted(ours.tolist()) == list(range(n))
        table = np.stack([np.asarray(k, dtype=np.int64) for k in keys], axis=1)
        assert np.array_equal(table[ours], table[numpy_s])
