"""Lists a training pipeline applies: keep.txt and drop.txt (dataset paths, `shard.tar/member` inside
shards), a filter table as JSONL and Parquet (path, shard, key, sha256, pHash, verdict, keep), and a
takedown list for users of an already-released dataset (sha256 and pHash of every revoked or opted-out
image, so a copy is found even renamed or re-encoded)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from consentaudit.errors import OutputError
from consentaudit.models import Report
from consentaudit.sources.item import SHARD_SUFFIXES, sample_key, shown_as_named
from consentaudit.vocab import Verdict

TAKEDOWN = (Verdict.REVOKED, Verdict.OPTED_OUT)


@dataclass(frozen=True)
class ListsWritten:
    keep: int
    drop: int
    takedown: int
    files: tuple[Path, ...]
    unlistable: tuple[str, ...] = ()  # paths in neither keep.txt nor drop.txt (see `cannot_list`)


def breaks_lines(path: str) -> bool:
    """Whether a path holds a character that a line reader splits at (LF, CR, and the others
    str.splitlines honours)."""
    return path.splitlines() != [path]


def cannot_list(path: str) -> bool:
    """Whether a path cannot be one line of keep.txt or drop.txt that names its file: it would be split into
    lines, or the report shows it other than the file is named (a byte that is not UTF-8 escaped, a
    backslash doubled, a long path's key, an earlier copy of a repeated archive member)."""
    return breaks_lines(path) or not shown_as_named(path)


def shard_and_key(path: str) -> tuple[str | None, str]:
    """('00012.tar', '000120034') for '00012.tar/000120034.jpg' — a member's key is the one a WebDataset
    loader gives its sample (`x` for `x.seg.png`: a pipeline filters samples); (None, stem) for a loose file."""
    parts = PurePosixPath(path).parts
    for i, part in enumerate(parts[:-1]):
        if part.lower().endswith(SHARD_SUFFIXES):
            return "/".join(parts[: i + 1]), sample_key("/".join(parts[i + 1 :]))
    return None, str(PurePosixPath(path).with_suffix(""))


def filter_rows(report: Report, keep: Sequence[Verdict]) -> list[dict[str, Any]]:
    rows = []
    for f in report.findings:
        shard, key = shard_and_key(f.path)
        rows.append(
            {
                "path": f.path,
                "shard": shard,
                "key": key,
                "sha256": f.sha256,
                "phash": f.phash,
                "verdict": f.verdict.value,
                "keep": f.verdict in keep,
            }
        )
    return rows


def write_lists(report: Report, folder: Path, keep: Sequence[Verdict] = (Verdict.CONSENTED,)) -> ListsWritten:
    rows = filter_rows(report, keep)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A path with a line break would be two lines, each naming something else, and one the report shows
        # escaped or shortened names no file: it is left out of both line lists (an allow list then never
        # keeps it), and the caller is told; the tables carry it as the report does, with its sha256.
        lines: dict[bool, list[str]] = {True: [], False: []}
        unlisted: list[str] = []
        for r in rows:
            (unlisted if cannot_list(r["path"]) else lines[r["keep"]]).append(r["path"])
        kept, dropped, unlistable = lines[True], lines[False], tuple(unlisted)
        (folder / "keep.txt").write_text("".join(p + "\n" for p in kept), encoding="utf-8")
        (folder / "drop.txt").write_text("".join(p + "\n" for p in dropped), encoding="utf-8")
        with (folder / "filter.jsonl").open("w", encoding="utf-8") as out:
            for r in rows:
                out.write(json.dumps(r, sort_keys=True) + "\n")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), folder / "filter.parquet")
        takedown = [
            {"sha256": r["sha256"], "phash": r["phash"], "verdict": r["verdict"]}
            for r in rows
            if r["verdict"] in {v.value for v in TAKEDOWN} and r["sha256"]
        ]
        with (folder / "takedown.jsonl").open("w", encoding="utf-8") as out:
            for t in takedown:
                out.write(json.dumps(t, sort_keys=True) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write lists to {folder}: {exc.strerror or exc}") from None
    names = ("keep.txt", "drop.txt", "filter.jsonl", "filter.parquet", "takedown.jsonl")
    return ListsWritten(len(kept), len(dropped), len(takedown), tuple(folder / n for n in names), unlistable)
