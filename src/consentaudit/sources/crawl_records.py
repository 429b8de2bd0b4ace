"""img2dataset's crawl records beside the images: a shard's `<shard>.parquet` (one row per URL, the refused and
failed downloads included) read as key -> record, and the downloads the crawler refused because the server
reserved the image (X-Robots-Tag), counted by protocol as opt-outs honoured at crawl time (`ListingLog`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentaudit.sources.item import ARCHIVE_SUFFIXES, MAX_SIDECAR_BYTES

# img2dataset's error_message for a sample it did not download because the server reserved it
# (`--disallowed_header_directives`): "Use of image disallowed by X-Robots-Tag directive".
REFUSAL = re.compile(r"disallowed by (x-robots-tag)", re.IGNORECASE)


@dataclass
class ListingLog:
    """What listing noticed beside the images: warnings (a crawl parquet that cannot be read) and crawl-time
    refusals by protocol (img2dataset rows with no image because a header reserved it)."""

    warnings: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def add(self, other: ListingLog) -> None:
        """Take in what another log noticed (one archive's listing, listed apart or kept)."""
        self.warnings.extend(other.warnings)
        self.refusals.update(other.refusals)


def refusal_protocol(row: dict[str, Any]) -> str | None:
    """The protocol that made the crawler refuse this row's download, if its error says so."""
    err = row.get("error_message")
    if row.get("status") == "success" or not isinstance(err, str):
        return None
    m = REFUSAL.search(err)
    return m.group(1).lower() if m else None


def count_refusals(rows: dict[str, str], present: set[str], log: ListingLog) -> None:
    """Count the crawl-time refusals among the rows whose sample has no image (`present`: the keys that do)."""
    for key, text in rows.items():
        if key not in present:
            proto = refusal_protocol(json.loads(text))
            if proto:
                log.refusals[proto] += 1


def shard_name(name: str) -> str:
    """A shard's name without its archive suffix (`00000.tar` -> `00000`; a folder's name is its own): its
    crawl records are `<shard name>.parquet` beside it."""
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def oversized_records(where: str, names: list[str]) -> str:
    """The report's note on `<key>.json` crawl records past MAX_SIDECAR_BYTES, not read: a reservation recorded
    at crawl time (X-Robots-Tag) may be in them."""
    return (
        f"{where}: {len(names)} crawl record(s) over {MAX_SIDECAR_BYTES} bytes not read (the first: {names[0]}); "
        "a reservation recorded at crawl time in them is not seen"
    )


def parquet_rows(shard: Path, warn: Callable[[str], None]) -> dict[str, str]:
    """key -> crawl record (as JSON text) from img2dataset's `<shard>.parquet` beside the shard (a tar, or the
    folder of its `files` layout). A parquet that cannot be read is a warning in the report, never silently
    ignored (opt-outs may be in it)."""
    pq_path = shard.with_name(shard_name(shard.name) + ".parquet")
    if not pq_path.exists():
        return {}
    try:
        from consentaudit.sources.parquet_batches import record_rows

        rows: dict[str, str] = {}
        oversized = 0
        for row in record_rows(pq_path, None, MAX_SIDECAR_BYTES):
            if row is None:
                oversized += 1
            elif (key := row.get("key")) is not None:
                rows[str(key)] = json.dumps(crawl_fields(row), sort_keys=True)
    except Exception as exc:  # pyarrow's errors for damage, a bomb (ParquetBomb)
        warn(f"crawl records in {pq_path.name} not read ({type(exc).__name__}: {str(exc)[:200]})")
        return {}
    if oversized:
        warn(f"crawl records in {pq_path.name}: {oversized} row(s) over {MAX_SIDECAR_BYTES} bytes not read")
    return rows


def crawl_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A crawl record's fields that JSON can hold (a Parquet row's binary columns are left out)."""
    return {k: v for k, v in row.items() if v is None or isinstance(v, str | int | float | bool | dict | list)}
