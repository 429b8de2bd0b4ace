"""Every command's --help reads as written: real metavars, no type names in angle brackets, no bracketed
text lost to markup, and shell completion is offered."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import typer.main
from typer.testing import CliRunner

from consentaudit.cli.app import app


def _commands() -> list[list[str]]:
    out: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_every_help_page_is_clean() -> None:
    commands = _commands()
    assert ["scan"] in commands and ["manifest", "validate"] in commands and ["purposes"] in commands
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        garbled = re.findall(r"<[a-z][^>\s]*(?: range)?>|\{[A-Za-z_]+\}", result.output)
        assert not garbled, (path, garbled)
    scan_help = CliRunner().invoke(app, ["scan", "--help"], env={"COLUMNS": "200"}).output
    assert "scan [OPTIONS] DATASET" in " ".join(scan_help.split())
    assert "[tool.consentaudit]" in scan_help  # bracketed text survives
    assert "--manifest FILE" in scan_help and "--fail-on VERDICTS" in scan_help


def test_shell_completion_is_offered() -> None:
    top = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--install-completion" in top and "--show-completion" in top


def test_version_and_help_load_no_heavy_library() -> None:
    """Start-up stays light: the heavy libraries load only when a command needs them (a structural check,
    not a timing: the process reports which modules it loaded)."""

    heavy = ["sqlalchemy", "sqlmodel", "PIL", "scipy", "cv2", "imagehash", "pyarrow", "numpy", "c2pa"]
    out = _loaded_at_exit(["--version"], [*heavy, "cryptography", "importlib.metadata"])
    assert out.strip().splitlines()[-1] == "[]", out


def _loaded_at_exit(args: list[str], modules: list[str]) -> str:
    """Run the console entry point with `args` in a fresh process; its output ends with which of `modules`
    were loaded when it left (printed by an exit handler: main() leaves through them)."""
    import subprocess
    import sys

    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {modules!r} if m in sys.modules)))\n"
        "from consentaudit.cli.app import main\n"
        f"sys.argv = ['consentaudit', *{args!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout


def test_a_quiet_scan_loads_no_signing_postgresql_or_terminal_code(tmp_path: Path) -> None:
    """A scan on SQLite loads neither the signing library (attestation commands only) nor PostgreSQL's
    dialect, nor scipy: the dataset holds real photos and a blank placeholder, answered without it; nor
    c2pa-python, as no file carries a C2PA manifest (the header still knows it could validate one); nor, being
    quiet, rich (progress bar and summary only)."""
    import shutil

    from PIL import Image

    from conftest import DATASET

    data = tmp_path / "data"
    shutil.copytree(DATASET / "consented", data)
    Image.new("RGB", (320, 240), (255, 255, 255)).save(data / "placeholder.jpg", quality=90)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    out = _loaded_at_exit(
        ["scan", str(data), "--db", db, "-q", "--fail-on", "none", "-o", str(tmp_path / "a.json")],
        ["cryptography", "sqlalchemy.dialects.postgresql", "scipy", "c2pa", "rich", "sqlalchemy.dialects.sqlite"],
    )
    assert out.strip().splitlines()[-1] == "['sqlalchemy.dialects.sqlite']", out
    report = json.loads((tmp_path / "a.json").read_text())
    assert not any("without validation" in e for e in report["header"]["errors"])
