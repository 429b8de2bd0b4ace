"""The audit run's cache and resume: unchanged files are not decoded again, an interrupted scan resumes."""

from __future__ import annotations

import contextlib
from pathlib import Path

from conftest import EXPECTED, PHOTOS
from consentaudit import scanner
from consentaudit.audit import run_audit
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
