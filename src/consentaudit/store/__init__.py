"""Persistence of scans (sqlmodel over SQLite by default). The one home of sqlmodel."""

from consentaudit.store.db import ReferenceSets, ScanStore, StoredKeypoints, default_url

__all__ = ["ReferenceSets", "ScanStore", "StoredKeypoints", "default_url"]
