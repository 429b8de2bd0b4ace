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


def _validate(*paths: Path | str) -> tuple[int, str]:
    result = R.invoke(app, ["manifest", "validate", *map(str, paths)])
    return result.exit_code, result.output


def test_manifests_that_used_to_crash_are_precise_input_errors(tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"manifest_version": "1", "records": [' + "[" * 100_000 + "]" * 100_000 + "]}")
    digits = tmp_path / "digits.jsonl"
    digits.write_text('{"record_id": "r1", "sha256": ' + "9" * 5000 + "}\n")
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"record_id": NaN, "path": "a.jpg", "status": "granted", "purposes": ["ai-training"]}\n')
    dupe = tmp_path / "dupe.jsonl"
    dupe.write_text('{"record_id": "r1", "record_id": "r2", "path": "a.jpg", "status": "granted"}\n')
    for path, expected in (
        (deep, "nested too deeply"),
        (deep_json, "nested too deeply"),
        (digits, "invalid JSON"),
        (nan, "NaN is not a JSON number"),
        (dupe, "duplicate key 'record_id'"),
        (tmp_path, "is a folder"),
        (Path("/dev/zero"), "not a regular file"),
    ):
        code, output = _validate(path)
        assert code == 2, (path, output)
        assert expected in output, (path, output)
        assert "Traceback" not in output


def test_huge_manifests_are_bounded(tmp_path: Path) -> None:
    big_field = tmp_path / "field.csv"
    with big_field.open("w") as f:
        f.write("record_id,path,status,purposes,evidence\n")
        f.write("r1,a.jpg,granted,ai-training," + "x" * 100_000 + "\n")
        f.write("r2,b.jpg,granted,ai-training,ok\n")
    code, output = _validate(big_field)
    assert code == 2 and "field.csv:2: evidence: value longer than" in output, output
    one_line = tmp_path / "line.jsonl"
    with one_line.open("w") as f:
        f.write('{"record_id": "' + "x" * (3 << 20) + '"}\n')
        f.write('{"record_id": "r2", "path": "b.jpg", "status": "granted", "purposes": ["ai-training"]}\n')
    code, output = _validate(one_line)
    assert code == 2 and "line.jsonl:1: -: line longer than" in output, output
    assert "line.jsonl:2" not in output  # the line after it is read as usual
    many = tmp_path / "many.csv"
    with many.open("w") as f:
        f.write("record_id,path,status,purposes,colour\n")
        for n in range(5000):
            f.write(f"r{n},p{n}.jpg,granted,ai-training,red\n")
    code, output = _validate(many)
    assert code == 2
    assert output.count("colour") == 1  # the misspelt column, once


def test_a_large_csv_streams(tmp_path: Path) -> None:
    """Not a timing: a 10 MB manifest whose rows are all invalid keeps no records and at most MAX_PROBLEMS
    problems, so the parse's peak memory stays far below the file's size (tracemalloc) -- it never holds the
    text."""
    import tracemalloc

    from consentaudit.inputs import read_manifest

    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("record_id,sha256,status,purposes,x-note\n")
        for n in range(20_000):
            f.write(f"r{n:07d},{n:064x},maybe,ai-training,{'n' * 400}\n")
    tracemalloc.start()
    parsed = read_manifest(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert parsed.records == () and len(parsed.problems) == 1001  # 1000 listed, then "... and N more"
    assert "19000 more problem(s)" in str(parsed.problems[-1])
    size = path.stat().st_size
    assert peak < size / 2, f"peak {peak} bytes while parsing a {size}-byte file"  # ids kept, text not
