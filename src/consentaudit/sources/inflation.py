"""How far a compressed archive may be inflated before it is taken for a decompression bomb.

Deflate cannot pass 1032:1, so a gzip shard or a deflated zip costs at most ~1,000 times its size to read.
bzip2 and xz have no such ceiling: 100 MB of zeros bzip2 to 113 bytes, and a 260 KB `.tar.bz2` holding eight
1 GB members of zeros took 41 s to list, a 260 KB zip of bzip2 members 24 s and 2.1 GB. A real archive of
images inflates to about its own size (JPEG, PNG and WebP do not compress again); uncompressed BMP or TIFF
scans to some tens of times it. So an archive's members may inflate to `INFLATED_RATIO` times the archive's
size, or `INFLATED_FLOOR` bytes (one member at the member limit), whichever is more: the cost of reading any
archive stays within deflate's own bound, and only an archive built to inflate (a bomb) meets the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentaudit.sources.item import DEFAULT_MAX_FILE_BYTES

INFLATED_RATIO = 1024  # an archive's members may inflate to this many times its size ...
INFLATED_FLOOR = DEFAULT_MAX_FILE_BYTES  # ... or to this many bytes, whichever is more


def inflation_limit(archive_bytes: int) -> int:
    """The bytes an archive of `archive_bytes` may inflate to: its tar stream, or its zip members together."""
    return max(INFLATED_FLOOR, INFLATED_RATIO * archive_bytes)


def past_limit(limit: int, archive_bytes: int) -> str:
    """The words that say an archive's inflation stopped at its limit."""
    return (
        f"more than the {limit} bytes an archive of {archive_bytes} bytes may inflate to "
        f"({INFLATED_RATIO}x its size, at least {INFLATED_FLOOR}; a decompression bomb?)"
    )


@dataclass
class InflationBudget:
    """The bytes one archive's members may still inflate to, spent member by member (a zip's: each is read on
    its own, so a member that does not fit is passed over and a later, smaller one may still fit)."""

    archive_bytes: int
    limit: int
    used: int = 0

    @classmethod
    def of(cls, archive_bytes: int) -> InflationBudget:
        return cls(archive_bytes, inflation_limit(archive_bytes))

    def take(self, size: int) -> bool:
        """Whether a member inflating to `size` bytes fits in what is left (then counted spent)."""
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def refusal(self, size: int) -> str:
        """Why a member of `size` bytes is not read."""
        return (
            f"it inflates to {size} bytes, which would take the archive's members to "
            f"{past_limit(self.limit, self.archive_bytes)}: not read"
        )
