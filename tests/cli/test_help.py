"""Every command's --help reads as written: real metavars, no type names in angle brackets, no bracketed
text lost to markup, and shell completion is offered."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
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


def test_a_command_line_builds_only_its_command_and_reads_the_same() -> None:
    """main() builds the one command it runs: every command's help, and its subcommands', is the same from
    that command line as from the whole one, and a scan or `--version` loads no other command's module."""
    from consentaudit.cli.app import COMMANDS, _needed, build

    full = typer.main.get_command(app)
    assert list(getattr(full, "commands", {})) == list(COMMANDS)  # help lists them in the registry's order
    for path in _commands()[1:]:
        whole = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        alone = CliRunner().invoke(build(_needed([*path, "--help"])), [*path, "--help"], env={"COLUMNS": "200"})
        assert _needed([*path, "--help"]) == [path[0]]
        assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), path
    version = CliRunner().invoke(build(_needed(["--version"])), ["--version"])
    assert version.output == CliRunner().invoke(app, ["--version"]).output
    assert _needed(["--help"]) == _needed(["sacn"]) == _needed(["--version", "scan"]) == list(COMMANDS)
    commands = sorted({f"consentaudit.cli.{m.rsplit('.', 1)[1]}" for m, _ in COMMANDS.values()})
    loaded = _loaded_at_exit(["scan", "--help"], commands).strip().splitlines()[-1]
    assert loaded == "['consentaudit.cli.scan']", loaded
    assert _loaded_at_exit(["--version"], commands).strip().splitlines()[-1] == "[]"


def test_shell_completion_sees_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from consentaudit.cli.app import COMMANDS, _needed

    monkeypatch.setenv("_CONSENTAUDIT_COMPLETE", "complete_bash")
    assert _needed(["scan"]) == list(COMMANDS)


def test_output_cut_short_by_its_reader_ends_quietly() -> None:
    """`consentaudit purposes | head -1`: the reader goes away, the command stops without a traceback, with
    the status a tool the pipe ended has (141), not an internal error (3)."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    code = "import sys; from consentaudit.cli.app import main; sys.argv = ['consentaudit', 'purposes']; main()"
    try:
        done = subprocess.run([sys.executable, "-c", code], stdout=write, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
