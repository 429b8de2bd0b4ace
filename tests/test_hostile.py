"""The hostile corpus: each reproducer of the hardening issue, generated here, and what must hold.

Every test names the promise it keeps: nothing crashes (a precise error or a finding instead of exit 3),
nothing escapes the dataset root, nothing is read two ways.
"""

from __future__ import annotations

import hashlib
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


def test_a_name_that_reads_as_an_escaped_byte_hides_no_image(tmp_path: Path) -> None:
    """A file typed `a\\xff.jpg` and a file whose name holds the byte 0xff were both shown `a\\xff.jpg`: one
    hid the other (one finding for two images a loader reads). Now each has its own path, both are audited,
    and the digest is the one `verify --dataset` derives."""
    from consentaudit.attest import compare_dataset

    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTO, (os.fsencode(str(root)) + b"/a\xff.jpg").decode("utf-8", "surrogateescape"))
    shutil.copy(PHOTOS / "kodak-dc210.jpg", root / "a\\xff.jpg")  # typed: backslash, x, f, f
    shutil.copy(PHOTOS / "kodak-dc210.jpg", root / "b\\q.jpg")  # a backslash that reads as no escape
    code, output, doc = scan(root, tmp_path)
    assert code == 1, output
    found = {f["path"]: f["sha256"] for f in doc["findings"]}  # type: ignore[index]
    assert found == {
        "a\\xff.jpg": hashlib.sha256(PHOTO.read_bytes()).hexdigest(),
        "a\\\\xff.jpg": hashlib.sha256((PHOTOS / "kodak-dc210.jpg").read_bytes()).hexdigest(),
        "b\\q.jpg": hashlib.sha256((PHOTOS / "kodak-dc210.jpg").read_bytes()).hexdigest(),
    }
    assert compare_dataset(doc, root).matches  # type: ignore[arg-type]


def test_no_two_names_show_alike() -> None:
    """`display_name` is one-to-one over every name of up to five characters drawn from the characters that
    make an escape (a backslash, x, hex digits, bytes that are not UTF-8) and a plain letter."""
    import itertools

    from consentaudit.sources.item import display_name

    alphabet = ["\\", "x", "f", "0", "a", "\udcff", "\udc80"]
    names = ["".join(t) for n in range(6) for t in itertools.product(alphabet, repeat=n)]
    shown = {display_name(n) for n in names}
    assert len(shown) == len(names)
    assert all(display_name(n) == n for n in ("plain.jpg", "a\\b.jpg", "é.jpg", "\\xFF.jpg"))  # shown as typed


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


def _as(fmt: str, **save: object) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    with Image.open(PHOTO) as im:
        im.convert("RGBA" if fmt == "BMP" and save.pop("alpha", False) else "RGB").save(out, fmt, **save)
    return out.getvalue()


def test_only_an_image_signature_makes_a_file_named_otherwise_an_image() -> None:
    """Real files in each format, by their first bytes, against the text that starts like one: a BMP's "BM"
    is how a caption beginning "BMW" starts, so a BMP needs its info header too."""
    from consentaudit.sources.item import HEAD_BYTES, looks_like_image

    images = [_as("JPEG"), _as("PNG"), _as("GIF"), _as("WEBP"), _as("TIFF"), _as("BMP"), _as("BMP", alpha=True)]
    assert all(looks_like_image(b[:HEAD_BYTES]) for b in images)
    texts = [b"BMW 3 series parked on a street at night", b"BM", b"GIF8 is not a GIF", b"II", b'{"url": "x"}']
    assert not any(looks_like_image(t[:HEAD_BYTES]) for t in texts)


@pytest.mark.parametrize("layout", ["folder", "tar", "zip"])
def test_a_caption_is_never_an_image_and_an_image_under_another_name_is_audited(tmp_path: Path, layout: str) -> None:
    """img2dataset's layouts put `<key>.txt` captions beside `<key>.jpg`. A caption that begins "BMW" was an
    `unreadable` image (its "BM" read as a BMP signature) and failed the gate; a JPEG stored as `.txt` was
    audited in a folder but not in a shard. Now the caption is a data file everywhere and the disguised
    image is audited everywhere, under its own name."""
    import io
    import tarfile
    import zipfile

    members = {
        "000000.jpg": PHOTO.read_bytes(),
        "000000.txt": b"BMW 3 series parked on a street at night",
        "000001.txt": (PHOTOS / "nikon-e950.jpg").read_bytes(),  # an image, named as a caption
        "000002.cls": b"GIF8",
    }
    root = tmp_path / "ds"
    root.mkdir()
    if layout == "folder":
        for name, data in members.items():
            (root / name).write_bytes(data)
        prefix = ""
    elif layout == "tar":
        with tarfile.open(root / "00000.tar", "w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        prefix = "00000.tar/"
    else:
        with zipfile.ZipFile(root / "00000.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
        prefix = "00000.zip/"
    code, output, doc = scan(root, tmp_path, "--fail-on", "unreadable")
    assert code == 0, output
    found = {f["path"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    assert sorted(found) == [prefix + "000000.jpg", prefix + "000001.txt"]
    assert found[prefix + "000001.txt"]["sha256"] == sha256_hex(members["000001.txt"])


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


@pytest.fixture
def signed_report(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTO, root / "a.jpg")
    shutil.copy(PHOTOS / "kodak-dc210.jpg", root / "b.jpg")
    scan(root, tmp_path, "--fail-on", "none")
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert R.invoke(app, ["sign", str(tmp_path / "r.json"), "--key", str(key)]).exit_code == 0
    return tmp_path / "r.json", Path(f"{key}.pub")


def test_a_report_cannot_be_read_two_ways_and_still_verify(signed_report: tuple[Path, Path]) -> None:
    report, pub = signed_report
    text = report.read_text()
    assert '"verdict": "unconsented"' in text
    # a duplicate key before the real one: a last-wins reader sees "unconsented", a first-wins one "consented"
    report.write_text(text.replace('"verdict": "unconsented"', '"verdict": "consented", "verdict": "unconsented"', 1))
    result = R.invoke(app, ["verify", str(report), "--public-key", str(pub)])
    assert result.exit_code == 2, result.output
    assert "duplicate key 'verdict'" in result.output


@pytest.mark.parametrize("value", ["123", "null", '"not base64!"', "[]"])
def test_a_malformed_signature_file_is_an_input_error(signed_report: tuple[Path, Path], value: str) -> None:
    report, pub = signed_report
    sig = Path(f"{report}.sig")
    doc = json.loads(sig.read_text())
    sig.write_text(json.dumps(doc).replace(json.dumps(doc["signature"]), value))
    result = R.invoke(app, ["verify", str(report), "--public-key", str(pub)])
    assert result.exit_code in (2, 4), result.output  # 4 only for text that is not the signature
    assert "Traceback" not in result.output and "internal error" not in result.output
    if value != '"not base64!"':
        assert result.exit_code == 2 and "malformed signature file" in result.output


@pytest.mark.parametrize("doc", ["[1, 2]", '{"header": {}}', "3", '{"a": NaN}'])
def test_sign_refuses_what_is_not_a_report(tmp_path: Path, doc: str) -> None:
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    path = tmp_path / "x.json"
    path.write_text(doc)
    result = R.invoke(app, ["sign", str(path), "--key", str(key)])
    assert result.exit_code == 2, result.output
    assert "not a" in result.output and not Path(f"{path}.sig").exists()


def _limited_cli(args: list[str], limit: int, cwd: Path) -> tuple[int, str]:
    """Run the CLI in a process whose files cannot grow past `limit` bytes: a write fails as on a full disk."""
    import resource
    import signal
    import subprocess
    import sys

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-m", "consentaudit.cli.app", *args],
        preexec_fn=cap,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_a_full_disk_is_a_precise_error_and_leaves_no_partial_file(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(PHOTOS, root)
    db = f"sqlite:///{tmp_path / 'db'}"
    code, output = _limited_cli(["scan", str(root), "--db", db, "-q"], 20_000, tmp_path)
    assert code == 2, output
    assert "store" in output and "Traceback" not in output
    code, output = _limited_cli(["scan", str(root), "--db", db, "-q", "--fail-on", "none"], 1 << 30, tmp_path)
    assert code == 0, output
    out = tmp_path / "out" / "r.html"
    # 48 KB: room for SQLite's 32 KB shared-memory file, not for the HTML page with 18 thumbnails
    code, output = _limited_cli(["report", "1", "--db", db, "--report", str(out), "--thumbnails"], 48_000, tmp_path)
    assert code == 2, output
    assert f"cannot write report {out}" in output and "Traceback" not in output
    assert list(out.parent.iterdir()) == []  # neither the report nor its temporary file


def test_outputs_are_checked_before_the_scan_and_dash_is_stdout(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTO, root / "a.jpg")
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = R.invoke(app, ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "--report", f"{blocker}/r.json"])
    assert result.exit_code == 2 and "cannot write report" in result.output
    assert not (tmp_path / "db").exists()  # nothing was scanned
    result = R.invoke(app, ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "--report", "-"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)  # stdout is the report alone
    assert [f["path"] for f in doc["findings"]] == ["a.jpg"]
    assert "no --manifest given" in result.stderr


def test_an_empty_dataset_is_an_input_error(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / "notes.txt").write_text("no images here")
    result = R.invoke(app, ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "-q"])
    assert result.exit_code == 2
    assert "no images in" in result.output and "1 other files" in result.output


def test_file_names_carry_no_live_payload_into_csv_markdown_or_the_terminal(tmp_path: Path) -> None:
    import csv as csv_module

    root = tmp_path / "ds"
    root.mkdir()
    names = ["\r=1+3.jpg", "a;b,c.jpg", "\x1b]0;TITLE\x07.jpg", "x\u202egpj.exe.jpg"]
    for name in names:
        shutil.copy(PHOTO, root / name)
    csv_path, md_path = tmp_path / "r.csv", tmp_path / "r.md"
    result = R.invoke(
        app,
        [
            "scan",
            str(root),
            "--db",
            f"sqlite:///{tmp_path / 'db'}",
            "--report",
            str(csv_path),
            "--report",
            str(md_path),
        ],
    )
    assert result.exit_code == 1, result.output
    for text in (result.output, csv_path.read_text(), md_path.read_text()):
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text
    assert "\\x1b]0;TITLE\\x07.jpg" in result.output  # shown, escaped
    raw = csv_path.read_text()
    assert '"a;b,c.jpg"' in raw  # quoted whatever the spreadsheet's delimiter
    rows = list(csv_module.reader(raw.splitlines()))
    assert all(len(r) == len(rows[0]) for r in rows) and len(rows) == 1 + len(names)
    paths = {r[0] for r in rows[1:]}
    assert "\\x0d=1+3.jpg" in paths  # the control character escaped: the cell no longer starts a formula
    assert not any(p.startswith(("=", "+", "-", "@")) for p in paths)


def test_crawl_parquet_is_read_by_the_default_install_and_a_broken_one_is_reported(tmp_path: Path) -> None:
    import importlib.metadata

    requires = importlib.metadata.requires("consentaudit") or []
    default = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("pyarrow") for r in default), default  # not behind an extra: opt-outs live there
    shards = tmp_path / "shards"
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "shards", shards)
    parquet = sorted(shards.glob("*.parquet"))[0]
    parquet.write_bytes(b"PAR1 this is not a parquet file PAR1")
    code, output, doc = scan(shards, tmp_path, "--fail-on", "none")
    assert code == 0, output
    errors = doc["header"]["errors"]  # type: ignore[index]
    assert any(parquet.name in e and "not read" in e for e in errors), errors


def test_a_misspelt_purpose_is_an_input_error_with_a_suggestion(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTO, root / "a.jpg")
    db = f"sqlite:///{tmp_path / 'db'}"
    result = R.invoke(app, ["scan", str(root), "--db", db, "-q", "--purpose", "ai-trainig"])
    assert result.exit_code == 2, result.output
    assert "unknown purpose 'ai-trainig'" in result.output and "did you mean 'ai-training'" in result.output
    assert R.invoke(app, ["scan", str(root), "--db", db, "-q", "--purpose", "x-internal-qa"]).exit_code == 1
    policy = tmp_path / "policy.toml"
    policy.write_text('declare_purposes = ["internal-qa"]\n')
    args = ["scan", str(root), "--db", db, "-q", "--purpose", "internal-qa", "--policy", str(policy)]
    assert R.invoke(app, args).exit_code == 1  # declared by the policy: a real audit, findings
    listing = R.invoke(app, ["purposes", "--policy", str(policy)]).output
    assert "ai-training\t" in listing and "internal-qa\tdeclared by" in listing


def test_a_c2pa_manifest_with_fields_of_another_shape_does_not_stop_the_scan(tmp_path: Path) -> None:
    """A JPEG whose C2PA `c2pa.actions` assertion holds a number where the specification has a list: the scan
    stopped with exit 3 (TypeError) and lost every other image's finding; the field is now left out."""
    from jumbf_builder import jpeg_with_store, store

    root = tmp_path / "ds"
    root.mkdir()
    odd = store({"c2pa.actions": {"actions": 1}, "c2pa.training-mining": {"entries": ["x"]}})
    (root / "odd-manifest.jpg").write_bytes(jpeg_with_store(PHOTO.read_bytes(), odd))
    shutil.copy(PHOTO, root / "plain.jpg")
    code, output, doc = scan(root, tmp_path, "--fail-on", "none")
    assert code == 0, output
    findings = {f["path"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    assert set(findings) == {"odd-manifest.jpg", "plain.jpg"}
    assert [s["protocol"] for s in findings["odd-manifest.jpg"]["signals"]] == ["c2pa-manifest"]


def test_a_metadata_reader_failing_on_a_file_is_a_note_on_that_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a reader of a file's own metadata did not foresee: the image keeps its fingerprint, the
    failure is a note (a reason in the report), and the other images of the unit are scanned as ever."""
    from consentaudit import scanner

    items = list(open_source(PHOTOS).items())[:3]
    plain = scan_unit(items, scanner.ScanSettings())
    calls = {"n": 0}
    real = scanner.c2pa_facts

    def fails_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise TypeError("'int' object is not iterable")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner, "c2pa_facts", fails_once)
    got = scan_unit(items, scanner.ScanSettings())
    assert [g.fingerprint for g in got] == [p.fingerprint for p in plain]
    assert got[0] == plain[0] and got[2] == plain[2]
    assert got[1].notes[-1].startswith("C2PA metadata could not be read (TypeError: 'int' object is not iterable)")
    monkeypatch.setattr(scanner, "read_metadata", lambda *a: 1 / 0)
    broken = scan_unit(items[:1], scanner.ScanSettings())[0]
    assert broken.fingerprint == plain[0].fingerprint and broken.metadata == ()
    want = "EXIF/IPTC/XMP metadata could not be read (ZeroDivisionError: division by zero); its signals are missing"
    assert broken.notes == (want,)
