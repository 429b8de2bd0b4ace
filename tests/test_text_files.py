"""A text input that is not UTF-8 — a manifest, a fingerprint file, a URL list — is an input error naming the
line and column of the first byte that is not, wherever in the file it is (a streaming decoder's error
names only a position inside its current block)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, MANIFESTS
from consentaudit import text_files
from consentaudit.cli.app import app
from consentaudit.text_files import not_utf8_at


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 1 << 16])
def test_the_place_is_the_same_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Characters of two, three and four bytes cut by every block boundary; a byte-order mark skipped."""
    monkeypatch.setattr(text_files, "BLOCK", block)
    p = tmp_path / "m.csv"
    p.write_bytes("\ufeffrecord_id,path\nr-1,é/日本/𝄞.jpg\nr-2,ok\n".encode() + b"r-3,\xe6\x97x\n")
    assert not_utf8_at(p) == "line 4, column 5 (byte 0xe6)"  # a three-byte character cut after two bytes
    p.write_bytes("ab\nçd".encode() + b"\xc3")
    assert not_utf8_at(p) == "line 2, column 3 (a character cut short at the end of the file)"
    p.write_bytes("\ufeff".encode() + b"\xff")
    assert not_utf8_at(p) == "line 1, column 1 (byte 0xff)"
    p.write_bytes("all 日本 fine\n".encode())
    assert not_utf8_at(p) == "an unknown place"


def _with_bad_byte(src: Path, dst: Path, line: int, column: int) -> Path:
    """`src` with byte 0xff put before the `column`-th byte of its `line`-th line (ASCII lines)."""
    lines = src.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1][: column - 1] + b"\xff" + lines[line - 1][column - 1 :]
    dst.write_bytes(b"\n".join(lines))
    return dst


def test_a_manifest_validated_or_scanned_names_the_line(tmp_path: Path, runner: CliRunner) -> None:
    csv = _with_bad_byte(MANIFESTS / "fixtures.csv", tmp_path / "consents.csv", 5, 9)
    jsonl = _with_bad_byte(MANIFESTS / "fixtures-extra.jsonl", tmp_path / "more.jsonl", 2, 3)
    for manifest, where in ((csv, "line 5, column 9"), (jsonl, "line 2, column 3")):
        done = runner.invoke(app, ["manifest", "validate", str(manifest)])
        assert done.exit_code == 2
        assert f"{manifest}: not UTF-8 text at {where} (byte 0xff)" in done.output
    db = f"sqlite:///{tmp_path / 'db'}"
    done = runner.invoke(app, ["scan", str(DATASET / "consented"), "-m", str(csv), "--db", db, "-q"])
    assert done.exit_code == 2 and "line 5, column 9 (byte 0xff)" in done.output


def test_a_fingerprint_file_and_a_url_list_name_the_line(tmp_path: Path, runner: CliRunner) -> None:
    prints = tmp_path / "scraped.jsonl"
    assert runner.invoke(app, ["fingerprint", str(DATASET / "consented"), "-o", str(prints)]).exit_code == 0
    bad = _with_bad_byte(prints, tmp_path / "bad.jsonl", 3, 20)
    urls = tmp_path / "urls.txt"
    urls.write_bytes(b"# scraped\nhttps://a.example/1.jpg\nhttps://b.example/\xff.jpg\n")
    for ref, where in ((bad, "line 3, column 20"), (urls, "line 3, column 19")):
        db = f"sqlite:///{tmp_path / f'{ref.stem}.db'}"
        done = runner.invoke(app, ["scan", str(DATASET / "consented"), "-r", str(ref), "--db", db, "-q"])
        assert done.exit_code == 2, done.output
        assert f"not UTF-8 text at {where} (byte 0xff)" in done.output
