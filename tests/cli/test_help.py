"""Every command's --help reads as written: real metavars, no type names in angle brackets, no bracketed
text lost to markup, and shell completion is offered."""

from __future__ import annotations

import re

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
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from consentaudit.cli.app import main\n"
        "sys.argv = ['consentaudit', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['sqlalchemy', 'sqlmodel', 'PIL', 'scipy', 'cv2', 'imagehash', 'pyarrow', 'numpy', 'c2pa']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
