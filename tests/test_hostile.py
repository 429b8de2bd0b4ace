"""The hostile corpus: each reproducer of the hardening issue, generated here, and what must hold.

Every test names the promise it keeps: nothing crashes (a precise error or a finding instead of exit 3),
nothing escapes the dataset root, nothing is read two ways.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import PHOTOS
from consentaudit.cli.app import app
from consentaudit.digest import sha256_hex
from consentaudit.scanner import scan_unit
from consentaudit.sources import open_source

R = CliRunner()
PHOTO = PHOTOS / "canon-ixus.jpg"


def scan(root: Path, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, object]]:
    out = tmp_path / "r.json"
    result = R.invoke(
        app, ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(out), *extra]
    )
    doc = json.loads(out.read_text()) if out.exists() else {}
    return result.exit_code, result.output, doc


def test_a_file_name_that_is_not_utf8_is_audited_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    raw = os.fsencode(str(root)) + b"/non-utf8\xff.jpg"
    shutil.copy(PHOTO, raw.decode("utf-8", "surrogateescape"))
    shutil.copy(PHOTO, root / "plain.jpg")
    code, output, doc = scan(root, tmp_path, "--report", str(tmp_path / "r.csv"), "--report", str(tmp_path / "r.md"))
    assert code == 1, output  # findings (unconsented), not an internal error
    paths = [f["path"] for f in doc["findings"]]  # type: ignore[index]
    assert paths == ["non-utf8\\xff.jpg", "plain.jpg"]
    assert "non-utf8\\xff.jpg" in (tmp_path / "r.csv").read_text()
    assert (
        "non-utf8\\\\xff.jpg" in (tmp_path / "r.md").read_text()
        or "non-utf8\\xff.jpg" in (tmp_path / "r.md").read_text()
    )


def test_a_file_swapped_for_a_symlink_after_listing_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    outside = tmp_path / "secret.jpg"
    shutil.copy(PHOTOS / "kodak-dc210.jpg", outside)
    target = root / "a.jpg"
    shutil.copy(PHOTO, target)
    other = root / "b.jpg"
    shutil.copy(PHOTO, other)
    items = list(open_source(root).items())
    target.unlink()
    target.symlink_to(outside)  # the listed file becomes a link out of the root
    other.unlink()
    shutil.copy(PHOTOS / "kodak-dc210.jpg", other)  # the listed file is replaced by another file
    images = {img.path: img for img in scan_unit(items)}
    secret = sha256_hex(outside.read_bytes())
    for path in ("a.jpg", "b.jpg"):
        assert images[path].fingerprint is None
        assert images[path].sha256 != secret
        assert "after it was listed" in (images[path].error or ""), images[path].error


def test_the_digest_covers_hidden_images_sidecars_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    (root / ".hidden").mkdir(parents=True)
    shutil.copy(PHOTO, root / "x.jpg")
    (root / "x.json").write_text(json.dumps({"url": "https://example.org/x.jpg", "status": "success"}))
    (root / "notes.txt").write_text("a caption a loader may read")
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    code, _, doc = scan(root, tmp_path, "--fail-on", "none")
    assert code == 0
    assert {f["path"] for f in doc["files"]} == {"notes.txt", "x.json"}  # type: ignore[index]
    report = tmp_path / "r.json"
    assert R.invoke(app, ["sign", str(report), "--key", str(key)]).exit_code == 0

    def verify() -> tuple[int, str]:
        r = R.invoke(app, ["verify", str(report), "--public-key", f"{key}.pub", "--dataset", str(root)])
        return r.exit_code, r.output

    assert verify()[0] == 0
    for change in (
        lambda: shutil.copy(PHOTO, root / ".y.jpg"),
        lambda: shutil.copy(PHOTO, root / ".hidden" / "x.jpg"),
        lambda: (root / "x.json").write_text(json.dumps({"url": "https://example.org/x.jpg", "status": "noai"})),
        lambda: (root / "notes.txt").write_text("changed"),
        lambda: (root / "new.bin").write_bytes(b"\x00" * 10),
    ):
        saved = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
        change()
        code, output = verify()
        assert code == 5, output
        for p in list(root.rglob("*")):
            if p.is_file() and p not in saved:
                p.unlink()
        for p, data in saved.items():
            p.write_bytes(data)
        assert verify()[0] == 0


@pytest.mark.parametrize("brand", [b"isom", b"mp42", b"qt  "])
def test_a_video_is_a_data_file_never_an_unreadable_image(tmp_path: Path, brand: bytes) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 100)
    (root / "clip").write_bytes(b"\x00\x00\x00\x18ftyp" + brand + b"\x00" * 100)  # no extension: sniffed
    shutil.copy(PHOTO, root / "a.jpg")
    code, output, doc = scan(root, tmp_path, "--fail-on", "unreadable")
    assert code == 0, output
    assert [f["path"] for f in doc["findings"]] == ["a.jpg"]  # type: ignore[index]
    assert {f["path"] for f in doc["files"]} == {"clip", "clip.mp4"}  # type: ignore[index]
