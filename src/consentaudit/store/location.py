"""Which store a command uses: `--db`, else `CONSENTAUDIT_DB`, else a project store found by walking up
from the current folder (a `.consentaudit/` folder, as git finds `.git`), else the user's data folder.
Every "not found" names the store in use and how it was chosen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_FOLDER = ".consentaudit"
STORE_FILE = "scans.db"
ENV = "CONSENTAUDIT_DB"
SQLITE = "sqlite:///"  # a SQLite store's URL: this, then the file's path


@dataclass(frozen=True)
class StoreLocation:
    url: str
    how: str  # how it was chosen, for messages

    def describe(self) -> str:
        return f"{self.url} ({self.how}; choose another with --db or {ENV})"

    def holds_nothing(self) -> bool:
        """Known without opening it: the store is a SQLite file that does not exist yet (or is empty, with no
        write-ahead log beside it), so it holds no scan to resume and no cached fingerprint. False for
        anything else (a server, a URL with options, an in-memory database): unknown until opened."""
        path = self.url.removeprefix(SQLITE) if self.url.startswith(SQLITE) else ""
        if not path or "?" in path or path.startswith(":memory:") or Path(path + "-wal").exists():
            return False
        try:
            return Path(path).stat().st_size == 0
        except FileNotFoundError:
            return True
        except OSError:
            return False


def user_data_folder(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", str(Path.home()))) / ".local" / "share")
    return Path(base) / "consentaudit"


def sqlite_url(path: Path) -> str:
    return f"{SQLITE}{path}"


def _url(value: str, cwd: Path) -> str:
    """A store URL as given, or a plain file path (no `scheme://`) as the SQLite store in that file."""
    return value if "://" in value else sqlite_url((cwd / Path(value).expanduser()).resolve())


def locate(db: str | None, cwd: Path, environ: Mapping[str, str] = os.environ) -> StoreLocation:
    if db:
        return StoreLocation(_url(db, cwd), "--db")
    if environ.get(ENV):
        return StoreLocation(_url(environ[ENV], cwd), ENV)
    for folder in (cwd, *cwd.parents):
        if (folder / PROJECT_FOLDER).is_dir():
            return StoreLocation(sqlite_url(folder / PROJECT_FOLDER / STORE_FILE), f"project store in {folder}")
    data = user_data_folder(environ)
    data.mkdir(parents=True, exist_ok=True)
    return StoreLocation(sqlite_url(data / STORE_FILE), "user store")


def init_project_store(folder: Path) -> StoreLocation:
    """Make `folder` the root of a project store (commands run anywhere below it find it)."""
    (folder / PROJECT_FOLDER).mkdir(parents=True, exist_ok=True)
    return StoreLocation(sqlite_url(folder.resolve() / PROJECT_FOLDER / STORE_FILE), f"project store in {folder}")
