"""Persistence of scans and reference sets: SQLite (the default) or PostgreSQL. The one home of
SQLAlchemy, which loads when ScanStore, ReferenceSets or StoredKeypoints is first used: finding the store
(`locate`) does not load it, so a scan can start hashing while it does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from consentaudit.store.location import StoreLocation, init_project_store, locate

if TYPE_CHECKING:
    from consentaudit.store.db import ScanStore
    from consentaudit.store.refsets import ReferenceSets, StoredKeypoints

__all__ = ["ReferenceSets", "ScanStore", "StoreLocation", "StoredKeypoints", "init_project_store", "locate"]


def __getattr__(name: str) -> Any:
    if name == "ScanStore":
        from consentaudit.store.db import ScanStore

        return ScanStore
    if name in ("ReferenceSets", "StoredKeypoints"):
        from consentaudit.store import refsets

        return getattr(refsets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
