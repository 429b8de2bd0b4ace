"""Walking a dataset safely, caching fingerprints, and resuming an interrupted scan."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from typer.testing import CliRunner

from conftest import DATASET, EXPECTED, PHOTOS, scan_args
from consentaudit import scanner
from consentaudit.audit import run_audit
from consentaudit.cli.app import app
from consentaudit.request import AuditRequest
from consentaudit.sources import DirectorySource
from consentaudit.store import ScanStore


def test_symlinks_that_loop_leave_the_root_or_dangle_are_findings(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    shutil.copy(PHOTOS / "canon-ixus.jpg", root / "sub" / "a.jpg")
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    (root / "escape.jpg").symlink_to(PHOTOS / "kodak-dc210.jpg")
    (root / "dangling.jpg").symlink_to(root / "nothing.jpg")
    (root / "subdir-link").symlink_to(root / "sub")
    (root / "inside.jpg").symlink_to(root / "sub" / "a.jpg")
    (root / "readme.txt").write_text("not an image")
    (root / ".hidden.jpg").write_bytes(b"x")
    items = {i.path: i for i in DirectorySource(root).items()}
    assert set(items) == {"dangling.jpg", "escape.jpg", "inside.jpg", "loop.jpg", "sub/a.jpg"}
    assert "loop" in (items["loop.jpg"].problem or "")
    assert "leaves the dataset root" in (items["escape.jpg"].problem or "")
    assert "dangling" in (items["dangling.jpg"].problem or "")
    assert items["inside.jpg"].problem is None
    result = CliRunner().invoke(
        app,
        ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(tmp_path / "r.json")],
    )
    assert result.exit_code == 1
    verdicts = {f["path"]: f["verdict"] for f in json.loads((tmp_path / "r.json").read_text())["findings"]}
    assert verdicts["loop.jpg"] == verdicts["escape.jpg"] == "unreadable"
    assert verdicts["sub/a.jpg"] == "unconsented"


def test_unreadable_file_permission(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    p = root / "locked.jpg"
    shutil.copy(PHOTOS / "canon-ixus.jpg", p)
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):  # running as root: permissions do not stop reads
            return
        (img,) = scanner.scan_unit(list(DirectorySource(root).items()))
        assert img.error and "cannot read file" in img.error
    finally:
        p.chmod(0o644)


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


def test_report_paths_are_relative_posix(runner: CliRunner, db: str, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    runner.invoke(app, scan_args(DATASET, db, "--report", str(out)))
    for f in json.loads(out.read_text())["findings"]:
        assert not f["path"].startswith("/") and "\\" not in f["path"]
