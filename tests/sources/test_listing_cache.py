"""A compressed shard's listing is kept between scans (sources/listing_cache.py): a re-judge, and the HTML
report's thumbnail pass, do not inflate the shard again to list it, and the report is the same; a shard or
crawl parquet changed since, `--rehash`, `verify --dataset` and a damaged entry all list the shard again."""

from __future__ import annotations

import io
import json
import os
import tarfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import PHOTOS
from consentaudit.attest import compare_dataset
from consentaudit.audit import run_audit
from consentaudit.codec import report_to_dict
from consentaudit.digest import sha256_hex
from consentaudit.models import Report
from consentaudit.request import AuditRequest
from consentaudit.sources import archives
from consentaudit.store import ScanStore
from consentaudit.vocab import Verdict

PHOTOS_USED = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)[:4]


def _write(shard: Path, photos: list[Path]) -> None:
    """A `.tar.bz2` shard: each photo with its crawl record, and one record past the sidecar limit (a note)."""
    with tarfile.open(shard, "w:bz2") as tf:
        for i, p in enumerate(photos):
            tf.add(p, f"{i:09d}.jpg")
            record = json.dumps({"url": f"https://example.org/{i}.jpg", "status": "success"}).encode()
            info = tarfile.TarInfo(f"{i:09d}.json")
            info.size = len(record)
            tf.addfile(info, io.BytesIO(record))
        big = json.dumps({"url": "https://example.org/x.jpg", "pad": "x" * (2 << 20)}).encode()
        info = tarfile.TarInfo("999999999.json")
        info.size = len(big)
        tf.addfile(info, io.BytesIO(big))


def _crawl_parquet(path: Path, refused: int) -> None:
    """img2dataset's crawl records beside the shard: `refused` rows the crawler refused (no image)."""
    keys = [f"8{i:08d}" for i in range(refused)]
    error = "Use of image disallowed by X-Robots-Tag directive"
    urls = [f"https://example.org/{k}" for k in keys]
    status = ["failed_to_download"] * refused
    pq.write_table(pa.table({"key": keys, "url": urls, "status": status, "error_message": [error] * refused}), path)


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The compressed shards listed from their bytes (not from the cache), by name, in order."""
    names: list[str] = []
    real = archives._list_tar

    def counting(archive: Path, rel: str, log: archives.ListingLog) -> object:
        names.append(archive.name)
        return real(archive, rel, log)

    monkeypatch.setattr(archives, "_list_tar", counting)
    return names


def _scan(dataset: Path, db: Path, day: int, rehash: bool = False) -> Report:
    req = AuditRequest(dataset=dataset, jobs=1, as_of=date(2026, 11, day), rehash=rehash)
    return run_audit(req, ScanStore(f"sqlite:///{db}"))


def _seen(report: Report) -> tuple[dict[str, str | None], list[str], dict[str, int], str]:
    return (
        {f.path: f.sha256 for f in report.findings},
        list(report.header.errors),
        dict(report.summary.crawl_refusals),
        report.header.dataset_digest,
    )


def test_a_re_judge_takes_a_compressed_shards_listing_from_the_cache(tmp_path: Path, listed: list[str]) -> None:
    dataset = tmp_path / "ds"
    dataset.mkdir()
    _write(dataset / "00000.tar.bz2", PHOTOS_USED[:3])
    _crawl_parquet(dataset / "00000.parquet", 2)
    db = tmp_path / "scans.db"

    first = _seen(_scan(dataset, db, 1))
    assert listed == ["00000.tar.bz2"]
    paths, notes, refusals, _ = first
    assert [paths[f"00000.tar.bz2/{i:09d}.jpg"] for i in range(3)] == [
        sha256_hex(p.read_bytes()) for p in PHOTOS_USED[:3]
    ]
    assert any("crawl record(s) over" in n for n in notes) and refusals == {"x-robots-tag": 2}

    again = _scan(dataset, db, 2)  # only --as-of changed: nothing listed, the same report
    assert listed == ["00000.tar.bz2"]
    assert _seen(again) == first
    assert all(f.verdict == Verdict.UNCONSENTED for f in again.findings)

    from consentaudit.audit import with_thumbnails

    thumbs = with_thumbnails(again, 10**8).thumbnails  # the HTML report's pass: the kept listing, then the images
    assert listed == ["00000.tar.bz2"] and sorted(thumbs) == [f"00000.tar.bz2/{i:09d}.jpg" for i in range(3)]

    _scan(dataset, db, 3, rehash=True)  # --rehash trusts no cache
    assert listed == ["00000.tar.bz2"] * 2
    assert compare_dataset(report_to_dict(again), dataset).matches  # verify --dataset lists it itself
    assert listed == ["00000.tar.bz2"] * 3


def test_a_changed_shard_crawl_parquet_or_entry_is_listed_again(
    tmp_path: Path, listed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "ds"
    dataset.mkdir()
    shard = dataset / "00000.tar.gz"
    with tarfile.open(shard, "w:gz") as tf:
        for i, p in enumerate(PHOTOS_USED[:2]):
            tf.add(p, f"{i:09d}.jpg")
    db = tmp_path / "scans.db"
    _scan(dataset, db, 1)
    _scan(dataset, db, 2)
    assert listed == ["00000.tar.gz"]

    with tarfile.open(shard, "w:gz") as tf:  # rewritten: other photos
        for i, p in enumerate(PHOTOS_USED[2:]):
            tf.add(p, f"{i:09d}.jpg")
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 1_000_000))
    paths, *_ = _seen(_scan(dataset, db, 3))
    assert listed == ["00000.tar.gz"] * 2
    assert [paths[f"00000.tar.gz/{i:09d}.jpg"] for i in range(2)] == [
        sha256_hex(p.read_bytes()) for p in PHOTOS_USED[2:]
    ]

    _crawl_parquet(dataset / "00000.parquet", 1)  # a crawl parquet put beside it
    _, _, refusals, _ = _seen(_scan(dataset, db, 4))
    assert listed == ["00000.tar.gz"] * 3 and refusals == {"x-robots-tag": 1}

    cache = Path(os.environ["CONSENTAUDIT_CACHE_DIR"]) / "listings"
    for entry in cache.glob("*.listing"):  # a flipped bit that still parses
        data = bytearray(entry.read_bytes())
        data[-3] ^= 0x01
        entry.write_bytes(bytes(data))
    again = _seen(_scan(dataset, db, 5))
    assert listed == ["00000.tar.gz"] * 4 and again[2] == {"x-robots-tag": 1}
    _scan(dataset, db, 6)  # the entry was replaced: from the cache again
    assert listed == ["00000.tar.gz"] * 4


def test_a_listing_that_stopped_before_the_shards_end_is_not_kept(tmp_path: Path, listed: list[str]) -> None:
    """A shard cut short (or damaged, or past its inflation limit) is listed again on every scan: a failure to
    read it is never remembered."""
    dataset = tmp_path / "ds"
    dataset.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i, p in enumerate(PHOTOS_USED):
            tf.add(p, f"{i:09d}.jpg")
    (dataset / "00000.tar.gz").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
    db = tmp_path / "scans.db"
    for day in (1, 2):
        found = {f.path: f.verdict for f in _scan(dataset, db, day).findings}
        assert found["00000.tar.gz"] == Verdict.UNREADABLE and found["00000.tar.gz/000000000.jpg"] != Verdict.UNREADABLE
    assert listed == ["00000.tar.gz"] * 2
