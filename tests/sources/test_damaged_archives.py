"""A tar shard that stops being readable part way — cut short (an interrupted download), a damaged member
header, no end-of-archive marker, another archive appended, or not a tar at all — is audited, not lost: the
members before the damage are listed and judged, a member whose data runs past the end is an unreadable
image, where the archive stops is an unreadable finding at the archive's own path, and the scan finishes
with a dataset digest that `verify --dataset` re-derives. A member name given twice hides no image."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from conftest import PHOTOS
from consentaudit.attest import compare_dataset, dataset_entries
from consentaudit.audit import run_audit
from consentaudit.codec import report_to_dict
from consentaudit.digest import sha256_hex
from consentaudit.models import Report
from consentaudit.request import AuditRequest
from consentaudit.sources import open_source, read_item
from consentaudit.store import ScanStore
from consentaudit.vocab import Verdict
from hostile_files import quoted_overlap_zip

PHOTOS_USED = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)[:6]


def _tar_bytes() -> tuple[bytes, list[tarfile.TarInfo]]:
    """A plain shard of six real photos, and its members as written (with their header offsets)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for i, p in enumerate(PHOTOS_USED):
            tf.add(p, f"{i:09d}.jpg")
    data = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    return data, members


def _scan(dataset: Path, tmp_path: Path) -> Report:
    return run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'scans.db'}"))


def _by_path(report: Report) -> dict[str, tuple[Verdict, str]]:
    return {f.path: (f.verdict, f.reasons[0].detail) for f in report.findings}


def _digest_is_what_verify_derives(report: Report, dataset: Path) -> None:
    diff = compare_dataset(report_to_dict(report), dataset)
    assert diff.matches, (diff.added, diff.removed, diff.changed)


def _zip_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the zip members opened from now on (every read of a member opens it), in order."""
    import zipfile

    opened: list[str] = []
    real = zipfile.ZipFile.open

    def counting(self: zipfile.ZipFile, name: Any, *a: Any, **kw: Any) -> Any:
        opened.append(name if isinstance(name, str) else name.filename)
        return real(self, name, *a, **kw)

    monkeypatch.setattr(zipfile.ZipFile, "open", counting)
    return opened


def test_a_shard_cut_inside_a_member_keeps_the_members_before_it(tmp_path: Path) -> None:
    data, members = _tar_bytes()
    cut_in = members[4]  # cut half way through the fifth photo's data
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000.tar").write_bytes(data[: cut_in.offset_data + cut_in.size // 2])
    with pytest.raises(tarfile.ReadError), tarfile.open(shards / "00000.tar") as tf:  # tarfile alone: nothing
        tf.getmembers()

    report = _scan(shards, tmp_path)
    found = _by_path(report)
    for i, p in enumerate(PHOTOS_USED[:4]):  # whole members: read, hashed, judged as images
        verdict, _ = found[f"00000.tar/{i:09d}.jpg"]
        assert verdict == Verdict.UNCONSENTED
        f = next(f for f in report.findings if f.path == f"00000.tar/{i:09d}.jpg")
        assert f.sha256 == sha256_hex(p.read_bytes())
    verdict, why = found["00000.tar/000000004.jpg"]
    assert verdict == Verdict.UNREADABLE and "cut short" in why and "000000004.jpg" in why
    verdict, why = found["00000.tar"]
    assert verdict == Verdict.UNREADABLE and "cut short" in why and "after 5 members" in why
    assert "00000.tar/000000005.jpg" not in found  # beyond the cut: nothing to audit
    assert report.summary.images == 6  # four images, the cut member, the archive's own finding
    _digest_is_what_verify_derives(report, shards)


def test_a_damaged_header_is_reported_where_tarfile_would_end_quietly(tmp_path: Path) -> None:
    data, members = _tar_bytes()
    broken = bytearray(data)
    at = members[3].offset
    broken[at + 148 : at + 156] = b"0000000\x00"  # the fourth header's checksum: wrong
    shard = tmp_path / "00000.tar"
    shard.write_bytes(bytes(broken))
    with tarfile.open(shard) as tf:  # tarfile: three members and no word of the rest
        assert len(tf.getmembers()) == 3

    items = {i.path: i for i in open_source(shard).items()}
    assert [p for p, i in items.items() if i.problem is None] == [f"00000.tar/{i:09d}.jpg" for i in range(3)]
    why = items["00000.tar"].problem
    assert why is not None and f"damaged member header at byte {at}" in why and "after 3 members" in why
    report = _scan(shard, tmp_path)
    assert _by_path(report)["00000.tar"][0] == Verdict.UNREADABLE
    _digest_is_what_verify_derives(report, shard)


def test_a_shard_cut_between_members_or_with_an_archive_appended(tmp_path: Path) -> None:
    data, members = _tar_bytes()
    boundary = tmp_path / "boundary.tar"  # ends where the fourth header would start: no end marker
    boundary.write_bytes(data[: members[3].offset])
    items = {i.path: i for i in open_source(boundary).items()}
    assert sorted(p for p, i in items.items() if i.problem is None) == [f"boundary.tar/{i:09d}.jpg" for i in range(3)]
    why = items["boundary.tar"].problem
    assert why is not None and "without an end-of-archive marker" in why and "after 3 members" in why

    appended = tmp_path / "appended.tar"  # two archives, one after the other: tar lists the first only
    appended.write_bytes(data + data)
    items = {i.path: i for i in open_source(appended).items()}
    assert len([i for i in items.values() if i.problem is None]) == 6
    why = items["appended.tar"].problem
    assert why is not None and f"data after the end-of-archive marker, at byte {len(data)}" in why

    whole = tmp_path / "whole.tar"
    whole.write_bytes(data)
    assert all(i.problem is None for i in open_source(whole).items())  # an intact shard: nothing reported


def test_a_compressed_shard_cut_short_keeps_the_members_before_it(tmp_path: Path) -> None:
    data, _ = _tar_bytes()
    packed = gzip.compress(data)
    shard = tmp_path / "00000.tar.gz"
    shard.write_bytes(packed[: len(packed) * 3 // 4])
    items = list(open_source(shard).items())
    listed = [i for i in items if i.member is not None]
    assert 2 <= len(listed) < 6
    read = {}
    for i in listed:
        try:
            read[i.member] = read_item(i)
        except OSError as exc:
            read[i.member] = exc
    whole = [m for m, v in read.items() if isinstance(v, bytes)]
    assert whole and all(read[m] == PHOTOS_USED[int(m[:9])].read_bytes() for m in whole)
    archive_item = next(i for i in items if i.path == "00000.tar.gz")
    assert archive_item.problem is not None and "cut short or damaged" in archive_item.problem
    report = _scan(shard, tmp_path)
    assert report.summary.images == len(items)
    _digest_is_what_verify_derives(report, shard)


def test_a_file_that_is_not_an_archive_at_all_is_one_finding_and_the_scan_finishes(tmp_path: Path) -> None:
    """A shard of garbage is an unreadable finding at its path, and its bytes are still bound into the digest
    as a data file (the same path twice once stopped the merge with a TypeError)."""
    dataset = tmp_path / "set"
    dataset.mkdir()
    (dataset / "00000.tar").write_bytes(bytes(range(256)) * 40)
    (dataset / PHOTOS_USED[0].name).write_bytes(PHOTOS_USED[0].read_bytes())
    report = _scan(dataset, tmp_path)
    verdict, why = _by_path(report)["00000.tar"]
    assert verdict == Verdict.UNREADABLE and why.startswith("archive unreadable")
    assert [f.path for f in report.files] == ["00000.tar"]
    assert dataset_entries(dataset)["00000.tar"] == sha256_hex((dataset / "00000.tar").read_bytes())
    _digest_is_what_verify_derives(report, dataset)


class _Stream(io.RawIOBase):
    """A file that cannot seek: zipfile then writes each member's sizes after its data (a data descriptor),
    as `zip - ... | ...` and other streaming writers do."""

    def __init__(self) -> None:
        self.out = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return self.out.write(b)


def _zip_bytes(method: int, streamed: bool) -> tuple[bytes, list[int]]:
    """A zip of the six photos (with a json sidecar beside the first), and each photo's local header offset."""
    import zipfile

    out: Any = _Stream() if streamed else io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for i, p in enumerate(PHOTOS_USED):
            zf.writestr(f"{i:09d}.jpg", p.read_bytes())
            if i == 0:
                zf.writestr("000000000.json", json.dumps({"url": "https://example.org/a.jpg"}))
    data = (out.out if streamed else out).getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        offsets = [i.header_offset for i in zf.infolist() if i.filename.endswith(".jpg")]
    return data, offsets


@pytest.mark.parametrize(
    ("method", "streamed"),
    [(0, False), (8, False), (8, True), (0, True)],
    ids=["stored", "deflated", "deflated-streamed", "stored-streamed"],
)
def test_a_zip_cut_short_keeps_the_members_before_the_cut(tmp_path: Path, method: int, streamed: bool) -> None:
    """A zip lists its members only in the central directory at its end: one cut short (an interrupted
    download) cannot be listed by any zip reader. Its members are recovered from their local headers — stored
    or deflated, sizes before or (streamed) after the data — audited as images with their crawl sidecar, the
    member the cut runs through is unreadable, and the archive's finding says what was recovered."""
    import zipfile

    data, offsets = _zip_bytes(method, streamed)
    dataset = tmp_path / "set"
    dataset.mkdir()
    cut = dataset / "cut.zip"
    cut.write_bytes(data[: (offsets[4] + offsets[5]) // 2])  # half way through the fifth photo
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(cut)
    report = _scan(dataset, tmp_path)
    found = {f.path: f for f in report.findings}
    for i, p in enumerate(PHOTOS_USED[:4]):
        f = found[f"cut.zip/{i:09d}.jpg"]
        assert f.verdict == Verdict.UNCONSENTED and f.sha256 == sha256_hex(p.read_bytes()) and f.phash
    assert dict(found["cut.zip/000000000.jpg"].metadata).get("crawl.url") == "https://example.org/a.jpg"
    fifth = found["cut.zip/000000004.jpg"]
    assert fifth.verdict == Verdict.UNREADABLE and "cut short" in fifth.reasons[0].detail
    archive = found["cut.zip"]
    why = archive.reasons[0].detail
    assert archive.verdict == Verdict.UNREADABLE and "zip cut short" in why and "interrupted" in why
    assert "5 whole member(s) recovered" in why  # four photos and the json and "000000004.jpg" in why
    assert "cut.zip/000000005.jpg" not in found
    _digest_is_what_verify_derives(report, dataset)


def test_garbage_named_zip_is_not_called_a_cut_zip(tmp_path: Path) -> None:
    dataset = tmp_path / "set"
    dataset.mkdir()
    (dataset / "junk.zip").write_bytes(bytes(range(256)) * 40)
    found = _by_path(_scan(dataset, tmp_path))
    assert found["junk.zip"][0] == Verdict.UNREADABLE
    assert "cut short" not in found["junk.zip"][1] and "BadZipFile" in found["junk.zip"][1]


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_a_member_name_given_twice_hides_no_image(tmp_path: Path, kind: str) -> None:
    """Tar and zip both take a name more than once; extracting keeps the last copy, but a loader reading the
    stream trains on every one. The last is audited under the name, each earlier copy is an unreadable
    finding of its own (before, it was silently dropped)."""
    archive = tmp_path / f"set.{kind}"
    photos = PHOTOS_USED[:3]
    if kind.startswith("tar"):  # a compressed tar is read forward: the member is found by its offset
        with tarfile.open(archive, "w:gz" if kind == "tar.gz" else "w") as tf:
            for p in photos:
                tf.add(p, "same.jpg")
    else:
        import warnings
        import zipfile

        with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
            for p in photos:
                zf.write(p, "same.jpg")
    report = _scan(archive, tmp_path)
    found = {f.path: f for f in report.findings}
    assert found[f"set.{kind}/same.jpg"].sha256 == sha256_hex(photos[-1].read_bytes())
    for k in (1, 2):
        copy = found[f"set.{kind}/same.jpg (copy {k} of 3)"]
        assert copy.verdict == Verdict.UNREADABLE and "appears 3 times" in copy.reasons[0].detail
    assert report.summary.images == 3
    _digest_is_what_verify_derives(report, archive)


@pytest.mark.parametrize("other_first", [False, True])
@pytest.mark.parametrize("other", ["link", "absolute"])
def test_a_link_or_an_absolute_name_beside_an_image_of_that_name_hides_neither(
    tmp_path: Path, other: str, other_first: bool
) -> None:
    """A symlink member `a.jpg`, or a member `/a.jpg` (which extraction writes as `a.jpg`), beside a plain
    image `a.jpg`: both are findings. The last keeps the name, as extraction keeps it; the earlier is
    `(copy 1 of 2)`. The image is read only when it is the last (reading by name finds the last)."""
    archive = tmp_path / "set.tar"
    photo = PHOTOS_USED[0]
    with tarfile.open(archive, "w") as tf:
        odd = tarfile.TarInfo("a.jpg" if other == "link" else "/a.jpg")
        if other == "link":
            odd.type, odd.linkname = tarfile.SYMTYPE, "b.jpg"
        else:
            odd.size = 3
        members = [(tf.gettarinfo(photo, "a.jpg"), io.BytesIO(photo.read_bytes())), (odd, io.BytesIO(b"abc"))]
        for info, body in reversed(members) if other_first else members:
            tf.addfile(info, body if info.isfile() else None)
    found = _by_path(_scan(archive, tmp_path))
    assert set(found) == {"set.tar/a.jpg", "set.tar/a.jpg (copy 1 of 2)"}
    plain_verdict, plain_why = found["set.tar/a.jpg"]
    copy_verdict, copy_why = found["set.tar/a.jpg (copy 1 of 2)"]
    assert copy_verdict == Verdict.UNREADABLE
    if other_first:  # the image is last: audited under its name
        assert plain_verdict == Verdict.UNCONSENTED
        assert ("link member" if other == "link" else "absolute member name") in copy_why
    else:
        assert plain_verdict == Verdict.UNREADABLE
        assert ("link member" if other == "link" else "absolute member name") in plain_why
        assert "appears 2 times" in copy_why


@pytest.mark.parametrize("outer", ["tar", "zip"])
def test_an_archive_inside_an_archive_is_a_finding_not_passed_over(tmp_path: Path, outer: str) -> None:
    """A shard holding another shard: the images inside the inner one are in the dataset but not listed, so
    the inner archive is an unreadable finding that says so (the scan fails its gate), never skipped like a
    caption; the images beside it are audited, and the digest is still what `verify --dataset` derives."""
    import zipfile

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tf:
        tf.add(PHOTOS_USED[1], "hidden.jpg")
    archive = tmp_path / f"set.{outer}"
    parts = {"a.jpg": PHOTOS_USED[0].read_bytes(), "more/00001.tar": inner.getvalue(), "a.txt": b"a caption"}
    if outer == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, data in parts.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    report = _scan(archive, tmp_path)
    found = _by_path(report)
    assert set(found) == {f"set.{outer}/a.jpg", f"set.{outer}/more/00001.tar"}
    verdict, why = found[f"set.{outer}/more/00001.tar"]
    assert verdict == Verdict.UNREADABLE and "inside the archive" in why and "not listed" in why
    assert found[f"set.{outer}/a.jpg"][0] == Verdict.UNCONSENTED
    assert report.summary.failing == 2  # the default gate fails on the unaudited inner archive too
    _digest_is_what_verify_derives(report, archive)


@pytest.mark.parametrize("kind", ["zip-deflated", "zip-lzma", "tar.xz"])
def test_damaged_compressed_data_is_an_unreadable_member_not_a_failed_scan(tmp_path: Path, kind: str) -> None:
    """Bytes flipped inside a compressed member's data: zlib and lzma raise their own errors, not OSError
    (they stopped the whole scan with an internal error). The member is unreadable, the others audited."""
    import zipfile

    dataset = tmp_path / "set"
    dataset.mkdir()
    archive = dataset / f"d.{kind.split('-')[0]}"
    if kind.startswith("zip"):
        method = zipfile.ZIP_DEFLATED if kind == "zip-deflated" else zipfile.ZIP_LZMA
        with zipfile.ZipFile(archive, "w", compression=method) as zf:
            for i, p in enumerate(PHOTOS_USED[:3]):
                zf.writestr(f"{i}.jpg", p.read_bytes())
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo("1.jpg")
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 40
    else:
        with tarfile.open(archive, "w:xz") as tf:
            for i, p in enumerate(PHOTOS_USED[:3]):
                tf.add(p, f"{i}.jpg")
        at = archive.stat().st_size // 2
    data = bytearray(archive.read_bytes())
    for k in range(at, at + 48):
        data[k] ^= 0x55
    archive.write_bytes(bytes(data))
    report = _scan(dataset, tmp_path)
    found = _by_path(report)
    assert found[f"{archive.name}/0.jpg"][0] == Verdict.UNCONSENTED
    damaged = [(p, why) for p, (v, why) in found.items() if v == Verdict.UNREADABLE]
    assert damaged and all("Error" in why or "CRC" in why or "cut short" in why for _, why in damaged)
    _digest_is_what_verify_derives(report, dataset)


def test_a_cut_zip_is_walked_once_per_process_not_once_per_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a recovered member needs the walk over the local headers, which inflates every streamed
    member to find its end: each work unit (an ArchiveReader) reuses the process's walk of the same file, and
    a file changed since is walked again."""
    from consentaudit.sources import archive_reader, archives

    data, offsets = _zip_bytes(8, streamed=True)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: offsets[5]])
    walks: list[str] = []
    real = archives.local_members

    def counted(f: Any, end: int, limit: int) -> Any:
        walks.append(str(end))
        return real(f, end, limit)

    monkeypatch.setattr(archives, "local_members", counted)  # the listing's walk
    monkeypatch.setattr(archive_reader, "local_members", counted)  # the readers'
    monkeypatch.setattr(archive_reader, "_RECOVERED", {})
    members = [i for i in open_source(cut).items() if i.member is not None]
    assert len(members) == 5 and len(walks) == 1  # the listing: five photos (the json is their sidecar)
    for unit in (members[:2], members[2:]):
        with archive_reader.ArchiveReader() as reader:
            for item in unit:
                assert read_item(item, archives=reader)
    assert len(walks) == 2  # the listing's walk, then one for both units
    cut.write_bytes(data[: offsets[4]])  # another cut: another walk
    with archive_reader.ArchiveReader() as reader:
        assert read_item(members[0], archives=reader) == PHOTOS_USED[0].read_bytes()
    assert len(walks) == 3


def test_a_compressed_shard_is_decompressed_a_few_times_not_once_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .tar.gz cannot be read by offset: each work unit reads its members in one forward pass over the
    stream, as far as its last member, and the shard is cut into few units (2 x jobs), not one a batch; a
    process keeps its reader across units, so the next unit goes on from where the last stopped. Every header
    the scan parses is counted: the listing's pass, then one more over all units — at first each unit re-listed
    the whole shard and rewound to its own members (~1.5 passes a batch of 64), then each unit began again
    from the start of the stream (1.5 passes over two units)."""
    n = 120
    shard = tmp_path / "00000.tar.gz"
    with tarfile.open(shard, "w:gz") as tf:
        for i in range(n):
            data = PHOTOS_USED[i % len(PHOTOS_USED)].read_bytes() + bytes(i)  # every member distinct
            info = tarfile.TarInfo(f"{i:09d}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    parsed: list[int] = []
    real = tarfile.TarInfo.fromtarfile.__func__  # type: ignore[attr-defined]

    def counted(cls: type[tarfile.TarInfo], archive: tarfile.TarFile) -> tarfile.TarInfo:
        parsed.append(1)
        return real(cls, archive)  # type: ignore[no-any-return]

    monkeypatch.setattr(tarfile.TarInfo, "fromtarfile", classmethod(counted))
    report = run_audit(
        AuditRequest(dataset=shard, jobs=1, batch_size=8), ScanStore(f"sqlite:///{tmp_path / 'scans.db'}")
    )
    assert report.summary.images == n
    by_path = {f.path: f for f in report.findings}
    for i in range(n):
        expected = PHOTOS_USED[i % len(PHOTOS_USED)].read_bytes() + bytes(i)
        assert by_path[f"00000.tar.gz/{i:09d}.jpg"].sha256 == sha256_hex(expected)
    # the listing (n headers and the end), then 2 units on one job: the first to n/2, the second on to the end
    assert len(parsed) <= 2 * n + 4, len(parsed)


def test_a_reader_kept_across_units_never_reads_a_shard_rewritten_since(tmp_path: Path) -> None:
    """The reader a process keeps across its work units holds the shard open: a shard rewritten at the same
    path (other photos; a compressed tar and a zip alike) is opened again, not read through the old handle,
    which would give the old bytes, or fail at offsets the new listing gives."""
    import zipfile

    def write(shard: Path, photos: list[Path]) -> None:
        if shard.suffix == ".zip":
            with zipfile.ZipFile(shard, "w", zipfile.ZIP_DEFLATED) as zf:
                for i, p in enumerate(photos):
                    zf.writestr(f"{i:09d}.jpg", p.read_bytes())
            return
        with tarfile.open(shard, "w:gz") as tf:
            for i, p in enumerate(photos):
                tf.add(p, f"{i:09d}.jpg")

    for name in ("00000.tar.gz", "00000.zip"):
        dataset = tmp_path / name.replace(".", "-")
        dataset.mkdir()
        for k, photos in enumerate((PHOTOS_USED[:3], PHOTOS_USED[3:])):
            write(dataset / name, photos)
            db = f"sqlite:///{tmp_path / f'{dataset.name}-{k}.db'}"
            sha = {f.path: f.sha256 for f in run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(db)).findings}
            assert [sha[f"{name}/{i:09d}.jpg"] for i in range(3)] == [sha256_hex(p.read_bytes()) for p in photos]


@pytest.mark.parametrize("method", [0, 8], ids=["stored", "deflated"])
def test_a_large_image_under_another_name_in_a_cut_zip_is_still_audited(tmp_path: Path, method: int) -> None:
    """A member named otherwise is told an image by its first bytes. In a zip cut short, the recovered member
    was read whole to look at them, and one past 1 MB (a sidecar's limit) was never looked at: a camera photo
    named `photo.bin` was passed over as a data file, where the same zip whole had it audited. Now its head alone
    is read, as a zip reader reads it, and both give the same findings."""
    import zipfile

    photo = PHOTOS_USED[0].read_bytes() + bytes(1 << 20)  # past 1 MB; a JPEG decoder stops at its end marker
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        zf.writestr("photo.bin", photo)
        zf.writestr("000000001.jpg", PHOTOS_USED[1].read_bytes())
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        last = zf.getinfo("000000001.jpg")
        members_end = last.header_offset + 30 + len(last.filename) + len(last.extra) + last.compress_size
    findings = {}
    for kind, body in (("whole", data), ("cut", data[: members_end + 20])):  # cut inside the central directory
        (tmp_path / kind / "set").mkdir(parents=True)
        (tmp_path / kind / "set" / "set.zip").write_bytes(body)
        findings[kind] = {f.path: f for f in _scan(tmp_path / kind / "set", tmp_path / kind).findings}
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(tmp_path / "cut" / "set" / "set.zip")
    kept, found = findings["whole"], findings["cut"]
    assert kept["set.zip/photo.bin"].sha256 == sha256_hex(photo) and kept["set.zip/photo.bin"].phash
    for path in ("set.zip/photo.bin", "set.zip/000000001.jpg"):
        assert (found[path].verdict, found[path].sha256, found[path].phash) == (
            Verdict.UNCONSENTED,
            kept[path].sha256,
            kept[path].phash,
        )


def test_a_zip_whose_members_overlap_is_not_inflated_member_by_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python 3.11's zipfile reads a quoted-overlap zip bomb (3.12's refuses it): a 177 KB zip of 300 members each
    inflating to a 20 MB photo-and-zeros took 24 s to scan, and a kernel of 1 GB per member would take hours. A
    member whose header and data, as the central directory gives their sizes, run into the next member or the
    central directory is an unreadable finding, never opened (one not named as an image is counted in the
    report's notes, as it may be one); the last member, whose data is the kernel itself, is a member like any
    other. A zip written by zipfile, stored or deflated, streamed or not, overlaps nowhere."""
    import zipfile

    dataset = tmp_path / "ds"
    dataset.mkdir()
    photo = PHOTOS_USED[0].read_bytes()
    quoted_overlap_zip(dataset / "bomb.zip", photo + bytes(1 << 20), 20)
    quoted_overlap_zip(dataset / "named.zip", photo + bytes(1 << 20), 5, suffix=".bin")  # images by their bytes
    with zipfile.ZipFile(dataset / "bomb.zip") as zf:  # the bomb works: each member inflates to the kernel
        assert zf.read("00000.jpg").endswith(bytes(1 << 20)) and zf.read("00019.jpg") == photo + bytes(1 << 20)
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zipfile.ZipFile(dataset / f"plain-{method}.zip", "w", method) as zf:
            for i, p in enumerate(PHOTOS_USED):
                zf.writestr(f"{i:09d}.jpg", p.read_bytes())
            with zf.open("streamed.jpg", "w") as member:  # a data descriptor after its data
                member.write(photo)

    opened = _zip_opens(monkeypatch)
    report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    found = {f.path: f for f in report.findings}
    bombs = [found[f"bomb.zip/{i:05d}.jpg"] for i in range(19)]
    assert all(f.verdict == Verdict.UNREADABLE and "overlaps the next member" in f.reasons[0].detail for f in bombs)
    assert found["bomb.zip/00019.jpg"].sha256 == sha256_hex(photo + bytes(1 << 20))
    assert not {f"{i:05d}.jpg" for i in range(19)} & set(opened)
    assert [p for p in found if p.startswith("named.zip")] == ["named.zip/00004.bin"]  # the one not overlapping
    assert any("named.zip: 4 other member(s) not read" in e for e in report.header.errors)
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        plain = [f for path, f in found.items() if path.startswith(f"plain-{method}.zip/")]
        assert len(plain) == len(PHOTOS_USED) + 1 and all(f.verdict != Verdict.UNREADABLE for f in plain)


def _zeros_member(tf: tarfile.TarFile, name: str, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    tf.addfile(info, io.BytesIO(bytes(size)))


@pytest.mark.parametrize("compression", ["bz2", "xz"])
def test_a_compressed_shard_is_inflated_no_further_than_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    """bzip2 and xz have no ceiling on how far they inflate (100 MB of zeros bzip2 to 113 bytes): a 260 KB
    `.tar.bz2` of eight 1 GB members of zeros took 41 s to list. A compressed shard's stream is inflated no
    further than 1024 times its size or 1 GB (lowered here to 16 times and 8 MB, the shard ~220 KB): the members
    before the limit are audited, the member whose data would pass it is not read (an image's name: an unreadable
    finding), the shard itself is a finding saying where and why the listing stopped, and neither the listing
    nor the reader of a unit inflates past it. With the limit out of reach the same shard is read to its end."""
    from consentaudit.sources import archive_reader, inflation
    from consentaudit.sources.archive_reader import ArchiveReader

    monkeypatch.setattr(inflation, "INFLATED_FLOOR", 8 << 20)
    monkeypatch.setattr(inflation, "INFLATED_RATIO", 16)
    shards = tmp_path / "shards"
    shards.mkdir()
    shard = shards / f"00000.tar.{compression}"
    with tarfile.open(shard, f"w:{compression}") as tf:
        tf.add(PHOTOS_USED[0], "00000.jpg")
        _zeros_member(tf, "00000.bin", 4 << 20)  # within the limit: passed over
        _zeros_member(tf, "00001.jpg", 64 << 20)  # past it: not read
        tf.add(PHOTOS_USED[1], "00002.jpg")
    assert 16 * shard.stat().st_size < 8 << 20  # the floor is the limit here

    report = _scan(shards, tmp_path)
    found = _by_path(report)
    first = next(f for f in report.findings if f.path == f"{shard.name}/00000.jpg")
    assert first.verdict == Verdict.UNCONSENTED and first.sha256 == sha256_hex(PHOTOS_USED[0].read_bytes())
    verdict, why = found[f"{shard.name}/00001.jpg"]
    assert verdict == Verdict.UNREADABLE and "may inflate to" in why and "not read" in why
    verdict, why = found[shard.name]
    assert verdict == Verdict.UNREADABLE and "at member '00001.jpg'" in why and "after it are not read" in why
    assert f"{shard.name}/00002.jpg" not in found
    _digest_is_what_verify_derives(report, shards)
    with ArchiveReader() as reader, pytest.raises(OSError, match="not found"):  # asked by name: never reached
        reader.read(str(shard), "00002.jpg", 1 << 30)

    monkeypatch.setattr(inflation, "INFLATED_FLOOR", 1 << 30)  # the limit out of reach: all of it is read
    monkeypatch.setattr(archive_reader, "_KEPT", {})  # (not by the reader this process kept under the lower one)
    report = run_audit(AuditRequest(dataset=shards, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'lifted.db'}"))
    found = _by_path(report)
    assert found[f"{shard.name}/00002.jpg"][0] == Verdict.UNCONSENTED and shard.name not in found
    with ArchiveReader() as reader:
        assert reader.read(str(shard), "00002.jpg", 1 << 30) == PHOTOS_USED[1].read_bytes()


def test_a_zips_members_are_inflated_no_further_than_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip's members compressed with bzip2 (or lzma) may inflate any amount each: the images and sidecars
    read from one zip may inflate to no more than 1024 times its size or 1 GB (lowered here to 16 times and
    48 MB, the zip ~300 KB), spent member by member in the central directory's order. A member that does not
    fit is never opened (an image: an unreadable finding saying why; a crawl record or C2PA sidecar: counted in
    the report's notes), a later one that fits is read, and stored members, whose bytes are the zip's own,
    spend nothing."""
    import zipfile

    from consentaudit.sources import inflation

    monkeypatch.setattr(inflation, "INFLATED_FLOOR", 48 << 20)
    monkeypatch.setattr(inflation, "INFLATED_RATIO", 16)
    dataset = tmp_path / "ds"
    dataset.mkdir()
    photo = PHOTOS_USED[0].read_bytes()
    with zipfile.ZipFile(dataset / "bombs.zip", "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("00000.jpg", photo)
        zf.writestr("00001.jpg", photo + bytes(47 << 20))  # fits: read (a JPEG with 47 MB of zeros after it)
        zf.writestr("00002.jpg", bytes(40 << 20))  # does not fit: never opened
        zf.writestr("00003.json", json.dumps({"url": "https://example.org/" + "a" * 900_000}))  # nor this: 0.9 MB
        zf.writestr("00003.c2pa", bytes(1 << 20))  # nor this
        zf.writestr("00003.jpg", photo[::-1][:9] + photo)  # fits, after the one that did not
        zf.writestr("00004.jpg", PHOTOS_USED[1].read_bytes(), zipfile.ZIP_STORED)  # stored: spends nothing
    opened = _zip_opens(monkeypatch)
    assert 16 * (dataset / "bombs.zip").stat().st_size < 48 << 20  # the floor is the limit here
    report = run_audit(AuditRequest(dataset=dataset, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'db'}"))
    found = {f.path: f for f in report.findings}
    assert found["bombs.zip/00000.jpg"].sha256 == sha256_hex(photo)
    assert found["bombs.zip/00001.jpg"].sha256 == sha256_hex(photo + bytes(47 << 20))
    assert found["bombs.zip/00001.jpg"].verdict == Verdict.UNCONSENTED
    bomb = found["bombs.zip/00002.jpg"]
    assert bomb.verdict == Verdict.UNREADABLE and "inflates to 41943040 bytes" in bomb.reasons[0].detail
    assert not {"00002.jpg", "00003.json", "00003.c2pa"} & set(opened)
    assert any("bombs.zip: 2 sidecar(s) not read" in e for e in report.header.errors)
    assert found["bombs.zip/00003.jpg"].sha256 == sha256_hex(photo[::-1][:9] + photo)
    assert found["bombs.zip/00004.jpg"].verdict == Verdict.UNCONSENTED
    _digest_is_what_verify_derives(report, dataset)
