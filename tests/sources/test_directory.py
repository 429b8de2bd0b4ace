"""Folder sources: symlinks, permissions, relative POSIX paths."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, PHOTOS, scan_args
from consentaudit import scanner
from consentaudit.cli.app import app
from consentaudit.sources.directory import DirectorySource
from consentaudit.sources.item import MAX_PATH_BYTES


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
    # hidden images are audited like any other (a training loader reads them too)
    assert set(items) == {".hidden.jpg", "dangling.jpg", "escape.jpg", "inside.jpg", "loop.jpg", "sub/a.jpg"}
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


def test_report_paths_are_relative_posix(runner: CliRunner, db: str, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    runner.invoke(app, scan_args(DATASET, db, "--report", str(out)))
    for f in json.loads(out.read_text())["findings"]:
        assert not f["path"].startswith("/") and "\\" not in f["path"]


def test_a_file_is_read_whole_up_to_the_limit_and_refused_past_it(tmp_path: Path) -> None:
    """The read is sized to the file: the bytes are the file's up to the limit and refused past it, also for a
    file that is larger now than when it was listed (no identity recorded: read as it is now)."""

    from consentaudit.sources import read_item
    from consentaudit.sources.item import Item

    photo = (PHOTOS / sorted(os.listdir(PHOTOS))[0]).read_bytes()
    path = tmp_path / "a.jpg"
    path.write_bytes(photo)
    item = Item("a.jpg", str(path), len(photo), path.stat().st_mtime_ns)
    assert read_item(item) == photo
    assert read_item(item, max_bytes=len(photo)) == photo
    with pytest.raises(OSError, match="larger than"):
        read_item(item, max_bytes=len(photo) - 1)
    listed_small = Item("a.jpg", str(path), 10, 0)  # listed at 10 bytes; the file is larger now
    assert read_item(listed_small) == photo
    with pytest.raises(OSError, match="larger than"):
        read_item(listed_small, max_bytes=len(photo) - 1)


def test_a_dataset_nested_deeper_than_the_recursion_limit_is_listed_in_order(tmp_path: Path) -> None:
    """A tree deeper than Python's recursion limit (lowered here to 250 so that the path stays within
    MAX_PATH_BYTES; a real one is 1,000 and Linux paths reach 4,096 bytes): every image is listed, depth
    first in sorted order — each folder's sub-folder where its name sorts, before the entries after it."""
    depth = 400
    assert len("d/" * depth + "x.jpg") <= MAX_PATH_BYTES
    root = tmp_path / "deep"
    folders = [str(root)]
    for _ in range(depth):
        folders.append(os.path.join(folders[-1], "d"))
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    for folder in folders:
        os.mkdir(folder)
    shutil.copy(photo, os.path.join(folders[-1], "x.jpg"))
    for name in ("a.jpg", "z.jpg"):  # before and after the sub-folder "d"
        shutil.copy(photo, root / name)
    shutil.copy(photo, root / "d" / "e.jpg")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        items = list(DirectorySource(root).items())
    finally:
        sys.setrecursionlimit(limit)
    assert [i.path for i in items] == ["a.jpg", "d/" * depth + "x.jpg", "d/e.jpg", "z.jpg"]
    assert all(i.problem is None for i in items)


def test_a_samples_record_caption_and_c2pa_sidecar_are_not_counted_as_skipped(tmp_path: Path) -> None:
    """Beside `a.jpg`, its crawl record `a.json`, its caption `a.txt`, its C2PA and XMP sidecars are part of the
    sample, as in a tar shard, where no member is counted; a shard's parquet is read for its crawl rows. Every
    other file is passed over and counted: a record with no image, a PDF, a parquet with no shard beside it."""
    root = tmp_path / "ds"
    (root / "00000").mkdir(parents=True)
    shutil.copy(PHOTOS / "canon-ixus.jpg", root / "00000" / "a.jpg")
    (root / "00000" / "a.json").write_text(json.dumps({"url": "https://example.org/a.jpg", "status": "success"}))
    (root / "00000" / "a.txt").write_text("a caption")
    (root / "00000" / "a_manifest.c2pa").write_bytes(b"\0" * 16)
    (root / "00000" / "a.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (root / "00000" / "b.json").write_text("{}")
    (root / "00000.parquet").write_bytes(b"PAR1")
    (root / "notes.pdf").write_bytes(b"%PDF-1.4")
    (root / "other.parquet").write_bytes(b"PAR1")
    source = DirectorySource(root)
    items = [i for i in source.items() if i.problem is None]
    assert [i.path for i in items] == ["00000/a.jpg"]
    assert items[0].crawl_json is not None and items[0].c2pa_sidecar is not None  # the sidecars were used
    assert items[0].xmp_sidecar is not None
    assert source.skipped == 3  # b.json, notes.pdf, other.parquet


def test_a_tfrecord_shard_is_a_finding_not_a_skipped_file(tmp_path: Path) -> None:
    """A TFRecord shard holds images the audit cannot read: an unreadable finding (the default gate fails on it)
    beside the images that are audited, never one of the non-image files skipped; given as the dataset, the
    scan stops and says why."""
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTOS / "canon-ixus.jpg", root / "a.jpg")
    record = b"\x08\x00\x00\x00\x00\x00\x00\x00" + bytes(4) + b"\x0a\x06\x0a\x04\x0a\x02jp" + bytes(4)
    (root / "train-00000-of-00004.tfrecord").write_bytes(record)
    source = DirectorySource(root)
    items = {i.path: i for i in source.items()}
    assert source.skipped == 0 and items["a.jpg"].problem is None
    assert "TFRecord shard" in (items["train-00000-of-00004.tfrecord"].problem or "")
    result = CliRunner().invoke(app, ["scan", str(root / "train-00000-of-00004.tfrecord"), "--db", "sqlite://"])
    assert result.exit_code == 2 and "TFRecord shard" in result.output
