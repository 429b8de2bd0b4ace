"""Which store a command uses, and messages that name it; reports rendered from a received file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, scan_args
from consentaudit.cli.app import app
from consentaudit.store import ScanStore, StoreLocation, locate
from consentaudit.store.location import sqlite_url

R = CliRunner()


def test_db_then_environment_then_project_store_walking_up_then_user_store(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    env = {"HOME": str(tmp_path / "home")}
    assert locate(None, deep, env).url == f"sqlite:///{tmp_path / 'home' / '.local/share/consentaudit/scans.db'}"
    assert locate(None, deep, {**env, "XDG_DATA_HOME": str(tmp_path / "xdg")}).how == "user store"
    (project / ".consentaudit").mkdir()
    found = locate(None, deep, env)
    assert found.url == f"sqlite:///{project / '.consentaudit' / 'scans.db'}" and str(project) in found.how
    assert locate(None, deep, {**env, "CONSENTAUDIT_DB": "sqlite:///e.db"}).url == "sqlite:///e.db"
    assert locate("sqlite:///d.db", deep, {**env, "CONSENTAUDIT_DB": "sqlite:///e.db"}).url == "sqlite:///d.db"
    # a plain path is a SQLite file, relative to the folder the command runs in
    assert locate("scans.db", deep, env).url == f"sqlite:///{deep / 'scans.db'}"
    assert locate(None, deep, {**env, "CONSENTAUDIT_DB": "../team.db"}).url == f"sqlite:///{project / 'a' / 'team.db'}"


def test_a_plain_db_path_is_a_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert R.invoke(app, [*scan_args(DATASET, "scans.db"), "--fail-on", "none"]).exit_code == 0
    assert (tmp_path / "scans.db").is_file()
    listing = R.invoke(app, ["scans", "--db", str(tmp_path / "scans.db")])
    assert listing.exit_code == 0 and "complete" in listing.output


def test_a_scan_from_a_subfolder_finds_the_project_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    monkeypatch.chdir(project)
    assert R.invoke(app, ["store", "init"]).exit_code == 0
    args = [a for a in scan_args(DATASET, "x") if a not in ("--db", "x")]
    assert R.invoke(app, [*args, "--fail-on", "none"]).exit_code == 0
    monkeypatch.chdir(project / "sub")
    listing = R.invoke(app, ["scans"])
    assert listing.exit_code == 0 and "complete" in listing.output
    assert "project store in" in R.invoke(app, ["store", "where"]).output


def test_not_found_names_the_store_and_how_to_point_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONSENTAUDIT_DB", f"sqlite:///{tmp_path / 'team.db'}")
    result = R.invoke(app, ["export", "7", "--as", "cyclonedx"])
    assert result.exit_code == 2
    assert "no scan with id 7 in sqlite:///" in result.output and "CONSENTAUDIT_DB" in result.output
    result = R.invoke(app, ["scan", str(DATASET), "-q", "-r", "laion-sample"])
    assert result.exit_code == 2
    assert "nor a set stored in sqlite:///" in result.output and "--db" in result.output


def test_report_and_export_accept_a_received_report(tmp_path: Path) -> None:
    received = tmp_path / "audit.json"
    code = R.invoke(app, scan_args(DATASET, f"sqlite:///{tmp_path / 'vendor.db'}", "--report", str(received)))
    assert code.exit_code == 1
    html, md = tmp_path / "x.html", tmp_path / "x.md"
    # the regulator's machine: another store, no scan in it
    other = f"sqlite:///{tmp_path / 'regulator.db'}"
    result = R.invoke(app, ["report", str(received), "--report", str(html), "--report", str(md), "--db", other])
    assert result.exit_code == 0, result.output
    doc = json.loads(received.read_text())
    page = html.read_text()
    assert all(f["path"] in page for f in doc["findings"][:5])
    assert "| unconsented |" in md.read_text()
    out = tmp_path / "c.json"
    assert R.invoke(app, ["export", str(received), "--as", "cyclonedx", "-o", str(out), "--db", other]).exit_code == 0
    assert json.loads(out.read_text())["bomFormat"] == "CycloneDX"
    broken = tmp_path / "broken.json"
    broken.write_text(received.read_text().replace('"header": {', '"header": {"x": 1, "x": 2, ', 1))
    result = R.invoke(app, ["report", str(broken), "--report", str(md)])
    assert result.exit_code == 2 and "duplicate key" in result.output


def test_a_store_known_to_hold_nothing_without_opening_it(tmp_path: Path) -> None:
    """A SQLite file that does not exist (or is empty) holds nothing: a scan may start hashing before it
    opens. Anything not known without opening it (a server, options, memory, a file with content) is not."""
    db = tmp_path / "scans.db"
    assert StoreLocation(sqlite_url(db), "--db").holds_nothing()
    db.write_bytes(b"")
    assert StoreLocation(sqlite_url(db), "--db").holds_nothing()
    (tmp_path / "scans.db-wal").write_bytes(b"\0" * 32)  # a process wrote to it and has not checkpointed
    assert not StoreLocation(sqlite_url(db), "--db").holds_nothing()
    ScanStore(sqlite_url(tmp_path / "made.db"))  # the schema written: no longer empty
    assert not StoreLocation(sqlite_url(tmp_path / "made.db"), "--db").holds_nothing()
    for url in (
        "postgresql+psycopg://u@localhost/db",
        "sqlite:///:memory:",
        f"sqlite:///{tmp_path / 'new.db'}?mode=ro",
        "sqlite://",
    ):
        assert not StoreLocation(url, "--db").holds_nothing(), url
    (tmp_path / "folder.db").mkdir()
    assert not StoreLocation(sqlite_url(tmp_path / "folder.db"), "--db").holds_nothing()
