"""The audit run's cache and resume: unchanged files are not decoded again, an interrupted scan resumes."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path
from unittest import mock

import pytest

from conftest import DATASET, EXPECTED, FIXTURES, MANIFESTS, PHOTOS
from consentaudit import scanner
from consentaudit.audit import run_audit
from consentaudit.models import Report
from consentaudit.request import AuditRequest
from consentaudit.store import ScanStore


def test_unchanged_files_are_not_decoded_again_and_changed_ones_are(
    tmp_path: Path, dataset_copy: Path, monkeypatch: object
) -> None:
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    req = AuditRequest(dataset=dataset_copy, jobs=1)
    run_audit(req, store)
    decoded: list[str] = []
    real = scanner.scan_item

    def counting(item: object, *a: object) -> object:
        decoded.append(item.path)  # type: ignore[attr-defined]
        return real(item, *a)  # type: ignore[arg-type]

    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(scanner, "scan_item", counting)
    try:
        ticks = []
        report = run_audit(req, store, ticks.append)
        assert decoded == []
        assert ticks[-1].cached == len(EXPECTED["verdicts"])
        assert report.summary.images == len(EXPECTED["verdicts"])
        changed = dataset_copy / "unconsented" / "sanyo-vpcsx550.jpg"
        changed.write_bytes((PHOTOS / "kodak-dc240.jpg").read_bytes())
        report = run_audit(req, store)
        assert decoded == ["unconsented/sanyo-vpcsx550.jpg"]
    finally:
        mp.undo()


def test_interrupted_scan_resumes_without_losing_or_doubling_work(tmp_path: Path, dataset_copy: Path) -> None:
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    req = AuditRequest(dataset=dataset_copy, batch_size=5, jobs=1)
    calls = {"n": 0}

    def interrupt_after_two(t: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the initial tick, then two stored batches
            raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        run_audit(req, store, interrupt_after_two)
    (row,) = store.list_scans()
    assert row.status == "running"
    done_before = len(store.scan_images(row.id or 0))
    assert done_before == 10
    report = run_audit(req, store)
    assert report.header.scan_id == row.id  # the same scan was resumed, not a new one started
    assert [r.status for r in store.list_scans()] == ["complete"]
    paths = [f.path for f in report.findings]
    assert len(paths) == len(set(paths)) == len(EXPECTED["verdicts"])


def _image_opens() -> contextlib.AbstractContextManager[mock.MagicMock]:
    """Pillow's `Image.open` as the fingerprinting calls it, counted (`.call_count`) within the `with`."""
    from consentaudit import fingerprint

    return mock.patch.object(fingerprint.Image, "open", wraps=fingerprint.Image.open)


def test_a_re_judge_opens_no_image(tmp_path: Path) -> None:
    """Only the date changes: every fingerprint, exact re-hash and probed 256-bit code comes from the store,
    and the verdicts follow the new date."""
    from consentaudit.reference_sets import fingerprint_to_file

    refs = tmp_path / "refs.jsonl"
    fingerprint_to_file(FIXTURES / "scraped", refs)
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    manifests = [MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl"]
    first = run_audit(
        AuditRequest(dataset=DATASET, manifests=manifests, references=[refs], as_of=date(2026, 11, 26), jobs=1),
        store,
    )
    with _image_opens() as opened:
        later = run_audit(
            AuditRequest(dataset=DATASET, manifests=manifests, references=[refs], as_of=date(2001, 1, 1), jobs=1),
            store,
        )
    assert opened.call_count == 0
    assert later.header.scan_id != first.header.scan_id
    before = {f.path: f.verdict for f in first.findings}
    after = {f.path: f.verdict for f in later.findings}
    assert before.keys() == after.keys()
    # in 2001 no consent had been granted yet: judged again, for real
    assert before["consented/canon-ixus.jpg"] == "consented" and after["consented/canon-ixus.jpg"] == "unconsented"


def test_a_cache_filled_under_another_pillow_major_is_not_reused(
    tmp_path: Path, dataset_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow 13 resizes tall pictures in another pass order than 12, so the fingerprints' algorithm names
    Pillow's major version: rows cached under another one are decoded again, not compared blindly."""
    import PIL
    import sqlalchemy as sa

    from consentaudit.fingerprint import algorithm
    from consentaudit.store.tables import CACHE

    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    req = AuditRequest(dataset=dataset_copy, jobs=1, as_of=date(2026, 11, 26))
    run_audit(req, store)
    algo = req.settings().cache_key(algorithm(True))  # the cache's key: the algorithm and the settings
    older = algo.replace(f",pillow-{PIL.__version__.split('.')[0]}:", ",pillow-12:")
    assert older != algo
    with store.engine.begin() as conn:  # the rows as a Pillow 12 install would have left them
        assert conn.execute(sa.update(CACHE).where(CACHE.c.algorithm == algo).values(algorithm=older)).rowcount > 0
    decoded: list[str] = []
    real = scanner.scan_item

    def counting(item: object, *a: object) -> object:
        decoded.append(item.path)  # type: ignore[attr-defined]
        return real(item, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner, "scan_item", counting)
    report = run_audit(AuditRequest(dataset=dataset_copy, jobs=1, as_of=date(2026, 11, 27)), store)
    assert sorted(decoded) == sorted(f.path for f in report.findings)


SHARDS = FIXTURES / "shards"  # img2dataset tar shards: crawl records with URLs and opt-out headers


@pytest.mark.parametrize(
    ("dataset", "change"),
    [
        (DATASET, {"purposes": ("ai-training", "commercial")}),
        (DATASET, {"manifests": (MANIFESTS / "fixtures.csv",)}),  # a manifest dropped: another set of records
        (DATASET, {"references": ()}),
        (DATASET, {"references": "other"}),  # another reference set, given as a fingerprint file
        (SHARDS, {"deny_domains": ("photos.example.org",), "honour_crawl": (), "ai_generated": "exclude"}),
    ],
    ids=["purposes", "manifests", "no-references", "other-references", "policy"],
)
def test_a_re_judge_after_any_input_but_the_images_changes_opens_no_image(
    dataset: Path, change: dict[str, object], tmp_path: Path
) -> None:
    """Issue #12's re-judge: purposes, manifests, references or policy changed, the images not (loose files or
    tar shard members) — no image is opened, and the verdicts are those a scan on a fresh store gives."""
    from consentaudit.reference_sets import fingerprint_to_file
    from consentaudit.vocab import AiGenerated

    refs = tmp_path / "refs.jsonl"
    fingerprint_to_file(FIXTURES / "scraped", refs)
    manifests = (MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl")
    if dataset == SHARDS:
        manifests = (MANIFESTS / "fixtures-shards.csv",)
    base = AuditRequest(dataset=dataset, manifests=manifests, references=[refs], as_of=date(2026, 11, 26), jobs=1)
    fields = dict(change)
    if fields.get("references") == "other":  # the header and every entry but the first
        other = tmp_path / "other.jsonl"
        lines = refs.read_text().splitlines()
        other.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
        fields["references"] = (other,)
    if "ai_generated" in fields:
        fields["ai_generated"] = AiGenerated(str(fields["ai_generated"]))
    changed = AuditRequest(**{**base.__dict__, **fields})  # type: ignore[arg-type]
    store = ScanStore(f"sqlite:///{tmp_path / 'db'}")
    first = run_audit(base, store)
    with _image_opens() as opened:
        rejudged = run_audit(changed, store)
    assert opened.call_count == 0
    fresh = run_audit(changed, ScanStore(f"sqlite:///{tmp_path / 'fresh.db'}"))

    def verdicts(report: Report) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
        return {f.path: (f.verdict, tuple((r.verdict, r.detail) for r in f.reasons)) for f in report.findings}

    assert verdicts(rejudged) == verdicts(fresh)
    assert verdicts(rejudged) != verdicts(first)  # the change moved some verdict: judged again, for real


def test_rehash_trusts_no_cached_fingerprint(tmp_path: Path, dataset_copy: Path) -> None:
    """The cache knows a file unchanged by its size and mtime: a file rewritten in place with both kept is
    reported from the cache, and `--rehash` reads it (and the dataset's other files) again, and refreshes the
    cache."""
    import hashlib
    import json
    import os

    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    image = dataset_copy / "consented" / "canon-ixus.jpg"
    caption = dataset_copy / "consented" / "canon-ixus.txt"
    caption.write_text("a caption\n")
    db = str(tmp_path / "db")

    def scan(*extra: str) -> dict:
        out = tmp_path / "report.json"
        r = CliRunner().invoke(
            app, ["scan", str(dataset_copy), "--db", db, "-o", str(out), "-q", "--fail-on", "none", *extra]
        )
        assert r.exit_code == 0, r.output
        return json.loads(out.read_text())

    def sha(report: dict, path: str) -> str:
        rows = [*report["findings"], *report["files"]]
        return next(f["sha256"] for f in rows if f["path"] == path)

    first = scan()
    before = {f: f.stat() for f in (image, caption)}
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the entropy-coded data, in place: same size
    image.write_bytes(bytes(data))
    caption.write_text("b caption\n")  # same size too
    for f, st in before.items():
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    image_now, caption_now = hashlib.sha256(bytes(data)).hexdigest(), hashlib.sha256(b"b caption\n").hexdigest()

    trusting = scan("--as-of", "2026-01-02")
    assert sha(trusting, "consented/canon-ixus.jpg") == sha(first, "consented/canon-ixus.jpg") != image_now
    assert sha(trusting, "consented/canon-ixus.txt") != caption_now

    rehashed = scan("--as-of", "2026-01-02", "--rehash")
    assert sha(rehashed, "consented/canon-ixus.jpg") == image_now
    assert sha(rehashed, "consented/canon-ixus.txt") == caption_now
    assert rehashed["header"]["dataset_digest"] != trusting["header"]["dataset_digest"]
    after = scan("--as-of", "2026-01-03")  # the cache now holds what --rehash read
    assert sha(after, "consented/canon-ixus.jpg") == image_now
    assert sha(after, "consented/canon-ixus.txt") == caption_now
