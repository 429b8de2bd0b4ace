"""Persistence of scans and reference sets: SQLite (the default) or PostgreSQL. The one home of
SQLAlchemy."""

from consentaudit.store.db import ScanStore
from consentaudit.store.location import StoreLocation, init_project_store, locate
from consentaudit.store.refsets import ReferenceSets, StoredKeypoints

__all__ = ["ReferenceSets", "ScanStore", "StoreLocation", "StoredKeypoints", "init_project_store", "locate"]
