"""Persistence of scans (sqlmodel over SQLite by default). The one home of sqlmodel."""

from consentaudit.store.db import ScanStore, default_url
from consentaudit.store.refsets import ReferenceSets, StoredKeypoints

__all__ = ["ReferenceSets", "ScanStore", "StoredKeypoints", "default_url"]
