"""Parallel units, resume after SIGKILL, unchanged re-scans, streaming reports, progress output."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import DATASET, EXPECTED, FIXTURES, MANIFESTS, PHOTOS, ROOT, SCRAPED, photo_with_gps
from consentaudit import landing
from consentaudit.audit import StoreToOpen, run_audit
from consentaudit.cli.app import app
from consentaudit.cli.progress import progress_display
from consentaudit.codec import report_to_dict
from consentaudit.digest import merkle_root, sha256_hex
from consentaudit.executors import LocalExecutor
from consentaudit.inputs import load_inputs, needs_store
from consentaudit.merge import SummaryBuilder
from consentaudit.progress import Progress
from consentaudit.reports.jsonreport import canonical_json
from consentaudit.request import AuditRequest
from consentaudit.sources.item import Item
from consentaudit.store import ScanStore, StoreLocation
from consentaudit.vocab import Verdict


def _findings(report: object) -> list[dict[str, object]]:
    return report_to_dict(report)["findings"]  # type: ignore[arg-type]


def test_two_jobs_give_the_same_findings_as_one(tmp_path: Path) -> None:
    one = run_audit(AuditRequest(dataset=DATASET, jobs=1, batch_size=3), ScanStore(f"sqlite:///{tmp_path / 'a'}"))
    two = run_audit(AuditRequest(dataset=DATASET, jobs=2, batch_size=3), ScanStore(f"sqlite:///{tmp_path / 'b'}"))
    assert _findings(one) == _findings(two)
    assert one.header.dataset_digest == two.header.dataset_digest


def _opener(url: str, events: list[str]) -> Callable[[], ScanStore]:
    def open_store() -> ScanStore:
        events.append("store opened")
        return ScanStore(url)

    return open_store


def _watch_pools(monkeypatch: pytest.MonkeyPatch, events: list[str]) -> None:
    real = LocalExecutor.start

    def start(self: LocalExecutor, units: Iterable[Sequence[Item]], work: Any) -> Any:
        events.append("pool started")
        return real(self, units, work)

    monkeypatch.setattr(LocalExecutor, "start", start)


def test_a_new_store_opens_while_the_first_units_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store not made yet holds nothing: with two jobs the pool starts on every image before the store
    (SQLAlchemy) opens, the plan made once it is open confirms those units, and no second pool maps them."""
    events: list[str] = []
    _watch_pools(monkeypatch, events)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    req = AuditRequest(dataset=DATASET, manifests=[MANIFESTS / "fixtures.csv"], jobs=2, batch_size=3)
    head = run_audit(req, StoreToOpen(_opener(url, events), StoreLocation(url, "--db").holds_nothing()))
    assert events == ["pool started", "store opened"]
    plain = run_audit(replace(req, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'plain.db'}"))
    assert _findings(head) == _findings(plain)
    assert head.header.dataset_digest == plain.header.dataset_digest
    assert head.duplicates == plain.duplicates and head.summary == plain.summary
    assert not multiprocessing.active_children()  # the workers stopped


def test_a_head_start_the_store_does_not_confirm_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Told "empty" by a store that is not (another process made it meanwhile): the units already started
    are dropped, the plan decides — an unchanged re-scan is answered from the store, a re-judge maps
    nothing — and the findings are those of a scan without a head start."""
    url = f"sqlite:///{tmp_path / 'db'}"
    req = AuditRequest(dataset=DATASET, manifests=[MANIFESTS / "fixtures.csv"], jobs=2, batch_size=3)
    first = run_audit(req, ScanStore(url))
    events: list[str] = []
    _watch_pools(monkeypatch, events)
    again = run_audit(req, StoreToOpen(_opener(url, events), empty=True))
    assert events == ["pool started", "store opened"]  # the clone: nothing mapped after the store opened
    assert _findings(again) == _findings(first)
    ticks: list[Progress] = []
    later = replace(req, as_of=date(2031, 1, 1))  # another run key, every file in the fingerprint cache
    rejudged = run_audit(later, StoreToOpen(_opener(url, events), empty=True), ticks.append)
    assert ticks[-1].cached == len(EXPECTED["verdicts"])  # every image from the cache, none mapped
    assert _findings(rejudged) == _findings(run_audit(replace(later, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'x'}")))
    assert not multiprocessing.active_children()


def test_streamed_json_is_byte_identical_to_the_canonical_dump(tmp_path: Path) -> None:
    report = run_audit(AuditRequest(dataset=DATASET, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'a'}"))
    expected = json.dumps(report_to_dict(report), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert canonical_json(report) == expected


def test_unchanged_rescan_reuses_the_previous_audit_and_a_change_is_seen(tmp_path: Path, dataset_copy: Path) -> None:
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    req = AuditRequest(dataset=dataset_copy, jobs=1)
    first = run_audit(req, store)
    ticks: list[Progress] = []
    second = run_audit(req, store, ticks.append)
    assert second.header.scan_id != first.header.scan_id
    assert _findings(second) == _findings(first)
    assert ticks[-1].cached == len(EXPECTED["verdicts"])
    target = dataset_copy / "unconsented" / "sanyo-vpcsx550.jpg"
    target.write_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes())
    third = run_audit(req, store)
    changed = {f.path: f.sha256 for f in third.findings}
    assert (
        changed["unconsented/sanyo-vpcsx550.jpg"]
        != {f.path: f.sha256 for f in first.findings}["unconsented/sanyo-vpcsx550.jpg"]
    )
    assert third.header.dataset_digest != first.header.dataset_digest


def test_the_summary_counted_as_findings_land_equals_counting_the_stored_findings(
    tmp_path: Path, dataset_copy: Path
) -> None:
    """The summary is counted from the findings as they land and as the merge judges and settles them
    (duplicate groups, a revocation spreading to near-duplicates): it equals counting every stored finding
    afterwards — on a cold two-job scan, a re-judge of cached images, a scan where one file changed, and the
    img2dataset shard with its crawl records (domains, X-Robots-Tag refusals)."""
    from datetime import date

    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    # a revoked record named by sha256 alone, and a re-encoded copy of its photo: the copy is revoked only by
    # its duplicate group (the merge changes its verdict)
    spread = dataset_copy / "spread"
    spread.mkdir()
    photo = (PHOTOS / "nikon-e950.jpg").read_bytes()
    (spread / "a.jpg").write_bytes(photo)
    with Image.open(PHOTOS / "nikon-e950.jpg") as im:
        im.save(spread / "b.jpg", quality=80)
    record = {"record_id": "r-spread", "sha256": hashlib.sha256(photo).hexdigest(), "status": "revoked",
              "purposes": ["ai-training"], "granted_at": "2025-03-01", "revoked_at": "2026-01-01",
              "subject_ids": ["subj-x"]}  # fmt: skip
    (tmp_path / "spread.jsonl").write_text(json.dumps(record) + "\n")

    def check(req: AuditRequest) -> None:
        report = run_audit(req, store)
        recount = SummaryBuilder(req.fail_on, req.purposes)
        for f in store.iter_findings(report.header.scan_id):
            recount.add(f)
        want = recount.build(len(report.duplicates))
        assert report.summary.images == len(report.findings) > 0
        assert report.summary == replace(want, crawl_refusals=report.summary.crawl_refusals)

    full = {
        "manifests": [MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl", tmp_path / "spread.jsonl"],
        "references": [SCRAPED],
        "purposes": ["ai-training"],
        "fail_on": [Verdict.REVOKED, Verdict.OPTED_OUT],
    }
    as_of = date.fromisoformat(EXPECTED["as_of"])
    check(AuditRequest(dataset=dataset_copy, jobs=2, batch_size=3, as_of=as_of, **full))  # type: ignore[arg-type]
    check(AuditRequest(dataset=dataset_copy, jobs=1, as_of=date(2030, 1, 1), **full))  # type: ignore[arg-type]
    (dataset_copy / "unconsented" / "sanyo-vpcsx550.jpg").write_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes())
    check(AuditRequest(dataset=dataset_copy, jobs=1, as_of=as_of, **full))  # type: ignore[arg-type]
    shard = AuditRequest(dataset=FIXTURES / "shards", manifests=[MANIFESTS / "fixtures-shards.csv"], jobs=1)
    check(shard)
    spread_report = run_audit(AuditRequest(dataset=dataset_copy, jobs=1, as_of=as_of, **full), store)  # type: ignore[arg-type]
    by_path = {f.path: f for f in spread_report.findings}
    assert by_path["spread/a.jpg"].verdict == by_path["spread/b.jpg"].verdict == Verdict.REVOKED
    assert any("duplicate" in r.detail for r in by_path["spread/b.jpg"].reasons)  # revoked through its group


def test_duplicate_groups_settle_alike_from_kept_and_from_stored_findings(
    tmp_path: Path, dataset_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge settles a small scan's groups from the findings the driver kept as they landed, reading
    none back; past KEEP_FINDINGS the rest come from the store. Group numbers and a revocation spread
    through a group come out the same whichever way a member arrives."""
    photo = (PHOTOS / "nikon-e950.jpg").read_bytes()
    (dataset_copy / "spread").mkdir()
    (dataset_copy / "spread" / "a.jpg").write_bytes(photo)
    with Image.open(PHOTOS / "nikon-e950.jpg") as im:
        im.save(dataset_copy / "spread" / "b.jpg", quality=80)
    record = {"record_id": "r-spread", "sha256": hashlib.sha256(photo).hexdigest(), "status": "revoked",
              "purposes": ["ai-training"], "granted_at": "2025-03-01", "revoked_at": "2026-01-01",
              "subject_ids": ["subj-x"]}  # fmt: skip
    (tmp_path / "spread.jsonl").write_text(json.dumps(record) + "\n")
    req = AuditRequest(dataset=dataset_copy, manifests=[MANIFESTS / "fixtures.csv", tmp_path / "spread.jsonl"], jobs=1)
    reads: list[int] = []
    real = ScanStore.get_findings

    def counted(self: ScanStore, scan_id: int, paths: Sequence[str]) -> Any:
        reads.append(len(paths))
        return real(self, scan_id, paths)

    monkeypatch.setattr(ScanStore, "get_findings", counted)
    results = {}
    KEEP_FINDINGS = landing.KEEP_FINDINGS  # the default, read before it is patched
    for keep in (KEEP_FINDINGS, 3, 0):
        monkeypatch.setattr(landing, "KEEP_FINDINGS", keep)
        reads.clear()
        report = run_audit(req, ScanStore(f"sqlite:///{tmp_path / f'k{keep}.db'}"))
        assert report.duplicates
        results[keep] = (_findings(report), sum(reads))
    grouped = sum(len(g) for g in report.duplicates)
    assert results[KEEP_FINDINGS][1] == 0 and 0 < results[3][1] < grouped and results[0][1] == grouped
    assert results[KEEP_FINDINGS][0] == results[3][0] == results[0][0]
    by_path = {f["path"]: f for f in results[0][0]}
    assert by_path["spread/b.jpg"]["verdict"] == "revoked"  # through its group


def test_dataset_digest_is_a_merkle_root_over_path_and_sha(tmp_path: Path) -> None:
    report = run_audit(AuditRequest(dataset=DATASET, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'a'}"))
    assert report.header.dataset_digest == merkle_root((f.path, f.sha256) for f in report.findings)
    assert merkle_root([("a", "1"), ("b", "2")]) != merkle_root([("a", "2"), ("b", "1")])
    assert merkle_root([("a", "1"), ("b", "2"), ("c", "3")]) == merkle_root([("c", "3"), ("a", "1"), ("b", "2")])


def _many(folder: Path, n: int) -> None:
    folder.mkdir()
    with Image.open(PHOTOS / "canon-ixus.jpg") as im:
        base = im.convert("RGB").resize((64, 48))
    for i in range(n):
        img = base.copy()
        img.putpixel((i % 64, (i // 64) % 48), (i % 256, 0, 0))
        img.save(folder / f"img{i:04d}.jpg", quality=90)


def test_sigkill_then_resume_audits_every_image_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "many"
    _many(data, 1200)  # more than one write of the driver (landing.WRITE_IMAGES)
    db = tmp_path / "scans.db"
    cmd = [
        sys.executable,
        "-m",
        "consentaudit.cli.app",
        "scan",
        str(data),
        "--db",
        f"sqlite:///{db}",
        "--jobs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
        "--fail-on",
        "none",
        "--exact-hashes",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    stored = con.execute("select count(*) from image").fetchone()[0]
            except sqlite3.Error:
                continue
            if stored >= 50:
                break
    assert proc.poll() is None, "the scan finished before it could be killed; make the dataset larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as con:
        (status,) = con.execute("select status from scan").fetchone()
        partial = con.execute("select count(*) from image").fetchone()[0]
    assert status == "running" and 50 <= partial < 1200
    out = tmp_path / "r.json"
    done = subprocess.run([*cmd, "--report", str(out)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as con:
        scans = con.execute("select id, status from scan").fetchall()
        rows = con.execute("select path, count(*) from image group by path having count(*) > 1").fetchall()
        per_scan = con.execute(
            "select count(*), count(distinct path) from image where scan_id = ?", (scans[0][0],)
        ).fetchone()
    assert scans == [(scans[0][0], "complete")]  # the killed scan was resumed, not restarted
    assert rows == [] and per_scan == (1200, 1200)
    report = json.loads(out.read_text())
    assert sorted(f["path"] for f in report["findings"]) == sorted(p.name for p in data.iterdir())


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_draws_a_bar() -> None:
    out = FakeTTY()
    with progress_display(False, out) as tick:
        tick(Progress(0, 10, 0))
        tick(Progress(10, 10, 0))
    text = out.getvalue()
    assert "scanning" in text and "10/10" in text and "img/s" in text


def test_progress_without_a_terminal_prints_plain_lines() -> None:
    out = io.StringIO()
    with progress_display(False, out, interval=0) as tick:
        tick(Progress(5, 10, 2))
        tick(Progress(10, 10, 2))
    lines = out.getvalue().splitlines()
    assert lines == [lines[0], lines[1]] and lines[-1].startswith("scanned 10/10 (100%), 2 unchanged")
    assert "\x1b[" not in out.getvalue()  # no terminal control codes


def test_quiet_prints_nothing() -> None:
    out = FakeTTY()
    with progress_display(True, out) as tick:
        tick(Progress(10, 10, 0))
    assert out.getvalue() == ""


def test_copy_of_dataset_keeps_paths(tmp_path: Path) -> None:
    dst = tmp_path / "d"
    shutil.copytree(DATASET, dst)
    r = run_audit(AuditRequest(dataset=dst, jobs=1), ScanStore(f"sqlite:///{tmp_path / 'x'}"))
    assert {f.path for f in r.findings} == set(EXPECTED["verdicts"])


def test_fast_hashes_decide_exactly_like_imagehash_exact_ones(tmp_path: Path) -> None:
    args = {
        "dataset": DATASET,
        "jobs": 1,
        "manifests": [ROOT / "manifests/fixtures.csv", ROOT / "manifests/fixtures-extra.jsonl"],
        "references": [ROOT / "fixtures/scraped"],
    }
    fast = run_audit(AuditRequest(**args, fast=True), ScanStore(f"sqlite:///{tmp_path / 'f'}"))  # type: ignore[arg-type]
    exact = run_audit(AuditRequest(**args, fast=False), ScanStore(f"sqlite:///{tmp_path / 'e'}"))  # type: ignore[arg-type]
    assert "jpeg-draft" in fast.header.fingerprint_algorithm
    assert "full-decode" in exact.header.fingerprint_algorithm

    def decisions(r: object) -> list[tuple[object, ...]]:
        return [
            (f["path"], f["verdict"], (f["match"] or {}).get("record_id"), (f["reference"] or {}).get("record_id"))
            for f in _findings(r)
        ]

    assert decisions(fast) == decisions(exact)


def test_a_changed_policy_is_not_answered_from_the_previous_audit(tmp_path: Path) -> None:
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    shards = ROOT / "fixtures" / "shards"
    first = run_audit(AuditRequest(dataset=shards, jobs=1), store)
    denied = run_audit(AuditRequest(dataset=shards, jobs=1, deny_domains=["pinterest.example"]), store)
    before = {f.path: f.verdict.value for f in first.findings}
    after = {f.path: f.verdict.value for f in denied.findings}
    assert before["00000.tar/000000005.jpg"] == "unconsented"
    assert after["00000.tar/000000005.jpg"] == "known_scraped"


def test_an_image_tied_by_sha256_is_not_re_hashed_or_probed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a `manifest init` manifest every record carries the image's sha256 and pHash: the exact re-hash
    and the 256-bit probe could only decide records the sha256 already decided. A revoked record for a
    look-alike is still decided (it can change the verdict)."""
    import csv

    from consentaudit import fingerprint, mapper
    from consentaudit.manifest_files import RecordDefaults, write_skeleton
    from consentaudit.store import ScanStore

    data = tmp_path / "ds"
    data.mkdir()
    for p in sorted(PHOTOS.glob("*.jpg"))[:8]:
        shutil.copy(p, data / p.name)
    manifest = tmp_path / "m.csv"
    write_skeleton(data, manifest, defaults=RecordDefaults(status="granted", purposes=("ai-training",)))
    rows = list(csv.DictReader(manifest.open()))
    rehashed: list[str] = []
    probed = {"n": 0}
    real_rehash, real_gray = mapper.refingerprint_exact, fingerprint.gray256

    def rehash(item: object, img: object, *a: object, **k: object) -> object:
        rehashed.append(str(getattr(item, "path", "")))
        return real_rehash(item, img, *a, **k)  # type: ignore[arg-type]

    def gray(*a: object, **k: object) -> object:
        probed["n"] += 1
        return real_gray(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(mapper, "refingerprint_exact", rehash)
    monkeypatch.setattr(fingerprint, "gray256", gray)
    report = run_audit(
        AuditRequest(dataset=data, manifests=[manifest], jobs=1), ScanStore(f"sqlite:///{tmp_path / 'a.db'}")
    )
    assert report.summary.verdicts["consented"] == 8
    assert rehashed == [] and probed["n"] == 0
    # a revoked record for a look-alike of one image (its pHash, another sha256) is still decided
    revoked = dict(rows[0], record_id="r-revoked", sha256="0" * 64, path="", status="revoked", revoked_at="2026-01-01")
    with manifest.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(revoked)
    report = run_audit(
        AuditRequest(dataset=data, manifests=[manifest], jobs=1), ScanStore(f"sqlite:///{tmp_path / 'b.db'}")
    )
    by_path = {f.path: f.verdict.value for f in report.findings}
    assert by_path[rows[0]["path"]] == "revoked"
    assert probed["n"] >= 1  # the revoked look-alike needed the 256-bit code


def test_units_are_sized_to_the_job() -> None:
    """Few large files on two jobs: enough units, shrinking towards the end, that neither worker waits long on
    the other's last one; many files: --batch-size holds but for the tail; one job: --batch-size."""
    from consentaudit.executors import MIN_UNIT, units_of

    def sizes(n: int, batch: int, jobs: int) -> list[int]:
        items = [Item(f"{i}.jpg", f"/d/{i}.jpg", 1, 1) for i in range(n)]
        units = list(units_of(items, batch, jobs))
        assert [i for u in units for i in u] == items  # every item once, in order
        return [len(u) for u in units]

    few = sizes(100, 64, 2)
    assert few[0] == 25 and len(few) >= 8  # not 64 and 36
    assert few == sorted(few, reverse=True) and few[-1] <= MIN_UNIT
    many = sizes(100_000, 64, 2)
    assert many[:1000] == [64] * 1000 and max(many[-5:]) <= 8
    assert sizes(100, 64, 1) == [64, 36]  # one job: units only pace the store's progress
    assert sizes(3, 64, 8) == [3]


def test_a_compressed_shard_is_cut_into_few_contiguous_units() -> None:
    """Members of a .tar.gz are read in a forward pass up to a unit's last one: few contiguous units a shard
    (2 x jobs over the compressed shards, at least one each, at most one a batch); plain tars, zips and loose
    files keep the batch units."""
    from consentaudit.audit import stream_units

    def members(shard: str, n: int) -> list[Item]:
        return [Item(f"{shard}/{i}.jpg", f"/d/{shard}", 1, 1, member=f"{i}.jpg", offset=512 * i) for i in range(n)]

    one = members("a.tar.gz", 1000)
    plain = members("p.tar", 200)
    loose = [Item(f"{i}.jpg", f"/d/{i}.jpg", 1, 1) for i in range(10)]
    units = list(stream_units([*one, *plain, *loose], 64, 2))
    assert [len(u) for u in units[:4]] == [250] * 4 and [i for u in units[:4] for i in u] == one
    assert [i for u in units[4:] for i in u] == [*plain, *loose] and max(len(u) for u in units[4:]) <= 64
    many = [m for k in range(8) for m in members(f"s{k}.tgz", 100)]  # 8 shards, 2 jobs: one unit each
    assert [len(u) for u in stream_units(many, 64, 2)] == [100] * 8
    assert [len(u) for u in stream_units(members("b.tar.xz", 100), 64, 1)] == [50, 50]
    assert [len(u) for u in stream_units(members("c.tar.bz2", 10), 64, 4)] == [10]  # never below a batch


def test_inputs_that_need_the_store_are_known_before_it_opens(tmp_path: Path) -> None:
    """A reference folder or archive keeps its fingerprints in the store's cache, a name may be a stored set:
    those scans open the store first. Manifests, fingerprint files and URL lists load without it."""
    prints = tmp_path / "set.jsonl"
    assert CliRunner().invoke(app, ["fingerprint", str(SCRAPED), "-o", str(prints), "--jobs", "1"]).exit_code == 0
    urls = tmp_path / "urls.txt"
    urls.write_text("https://example.com/a.jpg\n")
    shard = FIXTURES / "shards" / "00000.tar"
    cases = (([], False), ([prints, urls], False), ([SCRAPED], True), ([shard], True), ([Path("a-set-name")], True))
    for refs, needed in cases:
        assert needs_store(AuditRequest(dataset=DATASET, references=refs)) is needed, refs
    req = AuditRequest(dataset=DATASET, manifests=[MANIFESTS / "fixtures.csv"], references=[prints, urls])
    inputs = load_inputs(req, req.settings(), None)
    assert [r.name for r in inputs.references] == ["scraped", "urls"] and len(inputs.records) > 0
    with pytest.raises(ValueError, match="no store"):
        load_inputs(replace(req, references=[Path("a-set-name")]), req.settings(), None)


def test_the_fingerprint_cache_reuses_an_image_only_under_the_settings_that_made_it(tmp_path: Path) -> None:
    """A cached image carries what its scan's settings read: GPS kept by `--keep-sensitive-metadata` must not
    reach a later report that did not ask for it, and a photo refused under a small `--max-image-pixels` is
    fingerprinted once the limit allows it. Under the same settings the cache still serves every image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo_with_gps(folder / "gps.jpg")
    shutil.copy(PHOTOS / "nikon-e950.jpg", folder / "plain.jpg")
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")

    def scan(**settings: Any) -> tuple[dict[str, dict[str, Any]], int]:
        ticks: list[Progress] = []
        report = run_audit(AuditRequest(dataset=folder, jobs=1, **settings), store, ticks.append)
        return {f["path"]: f for f in _findings(report)}, ticks[-1].cached

    def gps(found: dict[str, dict[str, Any]]) -> list[str]:
        return [k for f in found.values() for k in f["metadata"] if "GPS" in k]

    kept, _ = scan(keep_sensitive_metadata=True)
    assert gps(kept)  # asked for: reported
    plain, cached = scan()
    assert gps(plain) == [] and cached == 0  # not asked for: read again, not taken from the cache
    again, cached = scan()
    assert gps(again) == [] and cached == 2  # the same settings: every image from the cache
    store = ScanStore(f"sqlite:///{tmp_path / 'db2'}")  # a store whose cache first sees a small limit
    small, _ = scan(max_image_pixels=1000)
    assert {f["verdict"] for f in small.values()} == {Verdict.UNREADABLE.value}
    whole, cached = scan()
    assert cached == 0 and Verdict.UNREADABLE.value not in {f["verdict"] for f in whole.values()}
    assert {p: f["phash"] for p, f in whole.items()} == {p: f["phash"] for p, f in plain.items()}


def test_every_setting_that_shapes_a_scanned_image_is_in_the_cache_tag() -> None:
    """Each setting that changes what a scan reads from a file (a kept GPS position, a refused bomb, a C2PA
    manifest validated or not, against which trust anchors) gives another cache tag; the tag is stable."""
    from consentaudit.scanner import ScanSettings
    from consentaudit.signals import c2pa_verify

    base = ScanSettings()
    variants = [
        ScanSettings(keep_sensitive_metadata=True),
        ScanSettings(max_pixels=base.max_pixels // 2),
        *([ScanSettings(verify_c2pa=False)] if c2pa_verify.available() else []),  # else read either way
        ScanSettings(trust_anchors="-----BEGIN CERTIFICATE-----\nA\n"),
        ScanSettings(trust_anchors="-----BEGIN CERTIFICATE-----\nB\n"),
        ScanSettings(with256=True),
    ]
    tags = [s.cache_tag() for s in (base, *variants)]
    assert len(set(tags)) == len(tags)
    assert ScanSettings().cache_tag() == base.cache_tag()


def test_a_changed_crawl_record_or_c2pa_sidecar_is_read_again(tmp_path: Path) -> None:
    """The fingerprint cache keeps what was read beside each image (its crawl record, its C2PA sidecar):
    an opt-out header added to an image's `.json` — loose, or inside a shard rewritten with the same image
    member — and a `.c2pa` sidecar put beside an image are seen by the next scan on the same store, which
    read the cached signals from before them. An image whose sidecars did not change still comes from
    the cache."""
    import tarfile

    folder = tmp_path / "set"
    folder.mkdir()
    shutil.copy(PHOTOS / "canon-ixus.jpg", folder / "a.jpg")
    (folder / "a.json").write_text('{"url": "https://example.org/a.jpg", "status": "success"}')
    shutil.copy(PHOTOS / "nikon-e950.jpg", folder / "b.jpg")
    (folder / "b.json").write_text('{"url": "https://example.org/b.jpg", "status": "success"}')
    shutil.copy(FIXTURES / "provenance" / "cloud.jpg", folder / "cloud.jpg")
    shard = tmp_path / "shard.tar"
    with tarfile.open(FIXTURES / "shards" / "00000.tar") as src, tarfile.open(shard, "w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")

    def scan(dataset: Path, as_of: date | None = None) -> tuple[dict[str, dict[str, Any]], int]:
        ticks: list[Progress] = []
        req = AuditRequest(dataset=dataset, jobs=1, as_of=as_of or date(2026, 11, 26))
        report = run_audit(req, store, ticks.append)
        return {f["path"]: f for f in _findings(report)}, max(t.cached for t in ticks)  # the plan's tick

    def c2pa(found: dict[str, Any]) -> list[str]:
        return [s["value"] for s in found["signals"] if s["protocol"] == "c2pa-manifest"]

    before, _ = scan(folder)
    assert before["a.jpg"]["verdict"] == before["b.jpg"]["verdict"] == Verdict.UNCONSENTED.value
    assert c2pa(before["cloud.jpg"]) == ["remote-only"]
    (folder / "a.json").write_text('{"url": "https://example.org/a.jpg", "status": "success", "X-Robots-Tag": "noai"}')
    shutil.copy(FIXTURES / "provenance" / "cloud_manifest.c2pa", folder / "cloud_manifest.c2pa")
    after, cached = scan(folder)
    assert after["a.jpg"]["verdict"] == Verdict.OPTED_OUT.value  # the cached signals were from before the header
    assert c2pa(after["cloud.jpg"]) == ["present"]  # the sidecar is read now
    assert after["b.jpg"]["verdict"] == Verdict.UNCONSENTED.value and cached == 1  # b alone unchanged
    again, cached = scan(folder, date(2026, 12, 1))
    assert cached == 3 and {p: f["verdict"] for p, f in again.items()} == {p: f["verdict"] for p, f in after.items()}

    first, _ = scan(shard)
    key = "shard.tar/000000000.jpg"
    assert first[key]["verdict"] != Verdict.OPTED_OUT.value
    with tarfile.open(FIXTURES / "shards" / "00000.tar") as src, tarfile.open(shard, "w") as dst:
        for m in src.getmembers():  # the same members, one crawl record with an opt-out header added
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "000000000.json":
                record = json.loads(data)
                data = json.dumps({**record, "X-Robots-Tag": "noai"}).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    redone, cached = scan(shard)
    assert redone[key]["verdict"] == Verdict.OPTED_OUT.value
    assert cached == len(first) - 1  # every other member, its image and record unchanged, from the cache


def test_archive_members_with_no_time_of_their_own_are_cached_and_a_changed_one_is_read_again(tmp_path: Path) -> None:
    """Tar members written without a time (mtime 0: Python's tarfile, reproducible builds) were never put in the
    fingerprint cache, so a re-judge of such a shard (only --as-of changed) read and decoded every image again.
    They take the shard file's own time now: a re-judge takes them all from the cache, and a shard rewritten
    with one member replaced by another image of the same size is read again. A zip member keeps its date
    (reproducible zips all say 1980-01-01) and its CRC-32 is compared too, so a same-size replacement there is
    read again as well, not reported with the bytes it had before."""
    import tarfile
    import zipfile

    photos = sorted(p for p in PHOTOS.glob("*.jpg") if "broken" not in p.name)[:3]
    first = [p.read_bytes() for p in photos]
    changed = bytearray(first[1])
    changed[len(changed) // 2] ^= 0x01  # another image of the same size (one bit of its entropy-coded data)
    second = [first[0], bytes(changed), first[2]]
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")

    def write(dataset: Path, members: list[bytes]) -> None:
        if dataset.name == "tar":
            with tarfile.open(dataset / "00000.tar", "w") as tf:
                for i, data in enumerate(members):
                    info = tarfile.TarInfo(f"{i:09d}.jpg")  # mtime 0, as TarInfo makes it
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        else:
            with zipfile.ZipFile(dataset / "00000.zip", "w") as zf:
                for i, data in enumerate(members):
                    zf.writestr(zipfile.ZipInfo(f"{i:09d}.jpg", (1980, 1, 1, 0, 0, 0)), data)

    def scan(dataset: Path, as_of: date) -> tuple[dict[str, str], int]:
        ticks: list[Progress] = []
        report = run_audit(AuditRequest(dataset=dataset, jobs=1, as_of=as_of), store, ticks.append)
        return {f.path: f.sha256 for f in report.findings}, max(t.cached for t in ticks)

    for kind in ("tar", "zip"):
        dataset = tmp_path / kind
        dataset.mkdir()
        write(dataset, first)
        shard = next(dataset.iterdir()).name
        sha, cached = scan(dataset, date(2026, 11, 1))
        assert cached == 0 and [sha[f"{shard}/{i:09d}.jpg"] for i in range(3)] == [sha256_hex(d) for d in first]
        _, cached = scan(dataset, date(2026, 11, 2))  # a re-judge: nothing read
        assert cached == 3
        time.sleep(0.01)  # the shard rewritten is a newer file
        write(dataset, second)
        sha, cached = scan(dataset, date(2026, 11, 3))
        assert [sha[f"{shard}/{i:09d}.jpg"] for i in range(3)] == [sha256_hex(d) for d in second], kind


def test_a_resumed_scan_reads_again_what_changed_since_the_interruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted scan resumes from what it landed — unless the file changed before the resume (another
    photo under the same name) or its crawl record did: those are read again. Before, the resumed report
    gave the landed sha256 of bytes the dataset no longer had, bound into its digest, and the old signals."""
    import consentaudit.scanner as scanner

    folder = tmp_path / "set"
    folder.mkdir()
    names = ["canon-ixus", "fujifilm-dx10", "kodak-dc210", "nikon-e950", "olympus-c960", "sony-d700"]
    for name in names:
        shutil.copy(PHOTOS / f"{name}.jpg", folder / f"{name}.jpg")
    db = f"sqlite:///{tmp_path / 'db'}"
    req = AuditRequest(dataset=folder, jobs=1, batch_size=2, fail_on=())

    def stop(p: Progress) -> None:
        if p.done >= 4 and p.path is not None:  # two units landed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_audit(req, ScanStore(db), stop)
    with sqlite3.connect(tmp_path / "db") as con:
        landed = sorted(p for (p,) in con.execute("select path from image"))
    assert landed == sorted(f"{n}.jpg" for n in names)[:4]
    shutil.copy(PHOTOS / "sanyo-vpcg250.jpg", folder / landed[0])  # another photo under a landed name
    (folder / landed[1].replace(".jpg", ".json")).write_text(
        '{"url": "https://example.org/x.jpg", "tdm-reservation": "1"}'
    )
    read: list[str] = []
    real_read = scanner.read_item
    monkeypatch.setattr(scanner, "read_item", lambda item, **k: read.append(item.path) or real_read(item, **k))
    report = run_audit(req, ScanStore(db))
    assert sorted(read) == sorted([landed[0], landed[1], *(f"{n}.jpg" for n in names if f"{n}.jpg" not in landed)])
    found = {f["path"]: f for f in _findings(report)}
    for path, f in found.items():
        assert f["sha256"] == hashlib.sha256((folder / path).read_bytes()).hexdigest(), path
    assert found[landed[1]]["verdict"] == Verdict.OPTED_OUT.value
    with sqlite3.connect(tmp_path / "db") as con:
        assert con.execute("select status from scan").fetchall() == [("complete",)]  # resumed, not restarted
