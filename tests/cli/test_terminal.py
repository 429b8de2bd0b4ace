"""Text that comes from data — a file name, a manifest field, a stored set's name — reaches the terminal with
its control and bidi characters escaped (`\\x1b`, `\\u202e`), in error messages and in listings, so a dataset
cannot drive the terminal of whoever audits it; and a reference set cannot be stored under a name that
would need escaping, a blank one, or one too long to type."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import PHOTOS
from consentaudit.cli.app import app

R = CliRunner()
ESC = "\x1b]0;owned\x07\x1b[2J"  # set the window title, clear the screen
PHOTO = sorted(PHOTOS.glob("*.jpg"))[0]


def test_a_file_name_in_verify_dataset_output_is_escaped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    shutil.copy(PHOTO, root / "a.jpg")
    db = f"sqlite:///{tmp_path / 'db'}"
    out = tmp_path / "audit.json"
    assert (
        R.invoke(app, ["scan", str(root), "--db", db, "-q", "--fail-on", "none", "--report", str(out)]).exit_code == 0
    )
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert R.invoke(app, ["sign", str(out), "--key", str(key)]).exit_code == 0
    shutil.copy(PHOTO, root / f"b{ESC}.jpg")  # added after the report
    result = R.invoke(app, ["verify", str(out), "--public-key", f"{key}.pub", "--dataset", str(root)])
    assert result.exit_code == 5
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "added: b\\x1b]0;owned\\x07\\x1b[2J.jpg" in result.output


def test_a_path_quoted_in_an_error_is_escaped(tmp_path: Path) -> None:
    missing = tmp_path / f"gone{ESC}"
    result = R.invoke(app, ["scan", str(missing), "--db", f"sqlite:///{tmp_path / 'db'}", "-q"])
    assert result.exit_code == 2 and "dataset not found" in result.output
    assert "\x1b" not in result.output and "gone\\x1b]0;owned" in result.output


def test_a_path_that_is_not_utf8_is_quoted_as_reports_show_it(tmp_path: Path) -> None:
    """A command-line path holding the byte 0xff (a lone surrogate in Python) is quoted in an error as
    `\\xff`, the way reports show such names, not as `\\udcff`."""
    missing = str(tmp_path) + "/gone" + b"\xff".decode("utf-8", "surrogateescape")
    result = R.invoke(app, ["scan", missing, "--db", f"sqlite:///{tmp_path / 'db'}", "-q"])
    assert result.exit_code == 2
    assert "gone\\xff" in result.output and "udcff" not in result.output


def test_a_dataset_folder_name_in_the_scan_listing_is_escaped(tmp_path: Path) -> None:
    root = tmp_path / f"set{ESC}"
    root.mkdir()
    shutil.copy(PHOTO, root / "a.jpg")
    db = f"sqlite:///{tmp_path / 'db'}"
    assert R.invoke(app, ["scan", str(root), "--db", db, "-q", "--fail-on", "none"]).exit_code == 0
    result = R.invoke(app, ["scans", "--db", db])
    assert result.exit_code == 0 and "set\\x1b]0;owned" in result.output and "\x1b" not in result.output


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "not blank"),
        ("   ", "not blank"),
        ("x" * 201, "201 characters: at most 200"),
        ("a\nb", "'a\\x0ab': control and bidi"),
        ("scraped\u202egpj.exe", "'scraped\\u202egpj.exe': control and bidi"),
    ],
)
def test_a_reference_set_name_that_would_mislead_is_refused(tmp_path: Path, name: str, why: str) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    result = R.invoke(app, ["reference", "build", name, str(PHOTOS), "--db", db])
    assert result.exit_code == 2 and why in result.output
    assert "no reference sets" in R.invoke(app, ["reference", "list", "--db", db]).output


def test_a_set_named_in_a_fingerprint_file_is_checked_and_listed_escaped(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    prints = tmp_path / "p.jsonl"
    assert R.invoke(app, ["fingerprint", str(PHOTOS), "-o", str(prints), "--name", "ok"]).exit_code == 0
    lines = prints.read_text().splitlines()
    header = json.loads(lines[0])
    header.update(name=f"bad{ESC}", description=f"described{ESC}")
    prints.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    refused = R.invoke(app, ["reference", "import", str(prints), "--db", db])
    assert refused.exit_code == 2 and "control and bidi" in refused.output
    assert R.invoke(app, ["reference", "import", str(prints), "--name", "名前", "--db", db]).exit_code == 0
    listed = R.invoke(app, ["reference", "list", "--db", db]).output
    assert listed.startswith("名前\t") and "described\\x1b]0;owned" in listed and "\x1b" not in listed
