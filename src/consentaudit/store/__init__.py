"""Persistence of scans (sqlmodel over SQLite by default). The one home of sqlmodel."""

from consentaudit.store.db import ScanStore, default_url

__all__ = ["ScanStore", "default_url"]
