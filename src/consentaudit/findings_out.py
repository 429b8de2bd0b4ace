"""`scan --out DIR`: the findings as one Parquet file per shard, each followed by a done marker, plus
`summary.json` — the report of a dataset too large for one JSON file, and what DuckDB queries.

Written by the driver only. A shard's Parquet is written as soon as its results are in the store (so a
killed driver loses no finished shard), then the marker `<shard>.parquet.done` (JSON: the run's key, the
image count and a digest of the findings; written aside and moved into place, so it is never seen half
written). A rerun of the same command skips every shard whose marker
names this run and whose findings are unchanged; after the merge, a shard whose final findings differ from
what was written (a revocation that spread from a near-duplicate in another unit) is written again.

DIR may be a local path or a URL pyarrow's filesystems open (s3://, gs://, hdfs://; credentials from the
environment). Columns: path, shard, key, sha256, phash, dhash, size, verdict, reasons, record_id,
match_kind, match_distance, reference, reference_kind, error, url, domain, finding (the report's JSON of
the finding, for `report DIR`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from consentaudit.codec import finding_from_dict, finding_to_dict, header_to_dict, summary_to_dict
from consentaudit.errors import ConsentAuditError, InputError, OutputError
from consentaudit.models import Finding, Report
from consentaudit.report_shape import ONE_FINDING, OUT_SUMMARY, shape_problem
from consentaudit.sources.item import LOOSE_SHARD, sample_key
from consentaudit.vocab import Verdict

SUMMARY = "summary.json"
MARKER = ".done"
FORMAT = "consentaudit-findings/1"


def _filesystem(url: str) -> tuple[Any, str]:
    """A pyarrow filesystem and the path in it: local paths, the URLs pyarrow opens itself (s3://, gs://,
    hdfs://), and any other fsspec URL when fsspec and its driver are installed (memory://, az://, …)."""
    import pyarrow.fs as pafs

    if "://" not in url or url.startswith("file://"):
        return pafs.LocalFileSystem(), os.path.abspath(url.removeprefix("file://"))
    try:
        fs, path = pafs.FileSystem.from_uri(url)
        return fs, str(path)
    except Exception as native:  # pyarrow raises its own types for an unknown scheme or bad credentials
        try:
            import fsspec  # type: ignore[import-untyped]

            spec_fs, spec_path = fsspec.core.url_to_fs(url)
        except Exception:
            raise InputError(f"--out {url}: cannot open ({type(native).__name__}: {native})") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(spec_fs)), str(spec_path)


def _row(f: Finding, shard: str) -> dict[str, Any]:
    doc = finding_to_dict(f)
    doc.pop("duplicate_group", None)  # the report's group numbers are global; a shard's file stands alone
    meta = dict(f.metadata)
    return {
        "path": f.path,
        "shard": shard,
        "key": sample_key(f.path[len(shard) + 1 :]) if f.path.startswith(shard + "/") else None,  # as lists
        "sha256": f.sha256,
        "phash": f.phash,
        "dhash": f.dhash,
        "size": f.size,
        "verdict": f.verdict.value,
        "reasons": [f"{r.verdict.value}: {r.detail}" for r in f.reasons],
        "record_id": f.match.record_id if f.match else None,
        "match_kind": f.match.kind.value if f.match else None,
        "match_distance": f.match.distance if f.match else None,
        "reference": f.reference.record_id if f.reference else None,
        "reference_kind": f.reference.kind.value if f.reference else None,
        "error": f.reasons[0].detail if f.verdict == Verdict.UNREADABLE and f.reasons else None,
        "url": meta.get("crawl.url"),
        "domain": meta.get("crawl.domain"),
        "finding": json.dumps(doc, sort_keys=True, ensure_ascii=False),
    }


def _schema() -> Any:
    import pyarrow as pa

    s, i64 = pa.string(), pa.int64()
    return pa.schema(
        [
            ("path", s), ("shard", s), ("key", s), ("sha256", s), ("phash", s), ("dhash", s), ("size", i64),
            ("verdict", s), ("reasons", pa.list_(s)), ("record_id", s), ("match_kind", s),
            ("match_distance", pa.int32()), ("reference", s), ("reference_kind", s), ("error", s), ("url", s),
            ("domain", s), ("finding", s),
        ]
    )  # fmt: skip


def digest(rows: Iterable[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: str(r["path"])):
        h.update(str(r["finding"]).encode("utf-8") + b"\n")
    return h.hexdigest()


@dataclass
class FindingsOut:
    """The --out folder of one scan run (`run_key`: the same command gives the same key)."""

    url: str
    run_key: str
    written: list[str] = field(default_factory=list)  # shards written by this run
    skipped: list[str] = field(default_factory=list)  # shards whose marker already held

    def __post_init__(self) -> None:
        self.fs, self.root = _filesystem(self.url)
        try:
            self.fs.create_dir(self.root, recursive=True)
        except OSError as exc:
            raise OutputError(f"--out {self.url}: cannot create ({exc})") from None

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def marker(self, shard: str) -> dict[str, Any] | None:
        """The shard's done marker when it was written by this run's command, else None."""
        import pyarrow.fs as pafs

        path = self._path(shard + ".parquet" + MARKER)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        try:
            with self.fs.open_input_stream(path) as f:
                doc = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) and doc.get("run") == self.run_key else None

    def write(self, shard: str, findings: Sequence[Finding]) -> None:
        """The shard's Parquet, then its marker (last: a crash in between leaves no marker)."""
        self._write_rows(shard, [_row(f, shard) for f in sorted(findings, key=lambda f: f.path)])

    def _write_rows(self, shard: str, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        name = shard + ".parquet"
        parent = self._path(name).rsplit("/", 1)[0]
        try:
            self.fs.create_dir(parent, recursive=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), self._path(name), filesystem=self.fs)
            marker = {"format": FORMAT, "run": self.run_key, "images": len(rows), "digest": digest(rows)}
            # written aside and moved into place: whoever waits for markers never sees a half-written one
            partial = self._path(name + MARKER + ".partial")
            with self.fs.open_output_stream(partial) as out:
                out.write((json.dumps(marker, sort_keys=True) + "\n").encode("utf-8"))
            self.fs.move(partial, self._path(name + MARKER))
        except OSError as exc:
            raise OutputError(f"--out {self.url}: cannot write {name} ({exc})") from None
        self.written.append(shard)

    def reconcile(self, report: Report, shard_of: dict[str, str]) -> None:
        """After the merge: write every shard whose final findings are not what its file holds. Findings
        stream in path order, so an archive's members arrive together and only one shard (plus the loose
        files) is held at a time."""
        counts: dict[str, int] = {}
        loose: list[Finding] = []
        current: tuple[str, list[Finding]] | None = None

        def settle(shard: str, findings: list[Finding]) -> None:
            counts[shard] = len(findings)
            rows = [_row(f, shard) for f in sorted(findings, key=lambda f: f.path)]  # made once: digest and file
            marker = self.marker(shard)
            if marker is not None and marker.get("digest") == digest(rows):
                if shard not in self.written:
                    self.skipped.append(shard)
                return
            self._write_rows(shard, rows)

        for f in report.findings:
            shard = shard_of.get(f.path, LOOSE_SHARD)
            if shard == LOOSE_SHARD:
                loose.append(f)
                continue
            if current is None or current[0] != shard:
                if current is not None:
                    settle(*current)
                if shard in counts:  # cannot happen: paths sort an archive's members together
                    raise ConsentAuditError(f"--out: findings of shard {shard} are not contiguous")
                current = (shard, [])
            current[1].append(f)
        if current is not None:
            settle(*current)
        if loose:
            settle(LOOSE_SHARD, loose)
        doc = {
            "format": FORMAT,
            "run": self.run_key,
            "header": header_to_dict(report.header),
            "summary": summary_to_dict(report.summary),
            "shards": [{"shard": s, "parquet": s + ".parquet", "images": n} for s, n in sorted(counts.items())],
        }
        try:
            with self.fs.open_output_stream(self._path(SUMMARY)) as out:
                out.write((json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
        except OSError as exc:
            raise OutputError(f"--out {self.url}: cannot write {SUMMARY} ({exc})") from None


def is_findings_dir(ref: str) -> bool:
    """Whether `ref` (a path or URL) is a `scan --out` folder: it holds summary.json."""
    import pyarrow.fs as pafs

    if "://" not in ref and not os.path.isdir(ref):
        return False
    try:
        fs, root = _filesystem(ref)
        return bool(fs.get_file_info(f"{root.rstrip('/')}/{SUMMARY}").type == pafs.FileType.File)
    except (InputError, OSError):
        return False


def read_findings_dir(ref: str, sample: int = 1000, seed: int = 0) -> Report:
    """A --out folder as a report: its header and summary, and a seeded uniform sample of its findings (all
    of them when there are fewer) in path order — what `report DIR` renders at 10^8 images."""
    import random

    import pyarrow as pa
    import pyarrow.dataset as ds

    from consentaudit.codec import header_from_dict, summary_from_dict

    fs, root = _filesystem(ref)
    try:
        with fs.open_input_stream(f"{root.rstrip('/')}/{SUMMARY}") as f:
            doc = json.loads(f.read().decode("utf-8"))
        problem = shape_problem(doc, OUT_SUMMARY)
        if problem:
            raise ValueError(f"{SUMMARY}: {problem}")
        header, summary = header_from_dict(doc["header"]), summary_from_dict(doc["summary"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{ref}: not a consentaudit --out folder ({type(exc).__name__}: {exc})") from None
    parts = [f"{root.rstrip('/')}/{s['parquet']}" for s in doc.get("shards", [])]
    rows: list[str] = []
    try:
        if parts:
            data = ds.dataset(parts, filesystem=fs, format="parquet")
            n = data.count_rows()
            picked = range(n) if n <= sample else sorted(random.Random(seed).sample(range(n), sample))
            rows = data.take(list(picked), columns=["finding"]).column("finding").to_pylist()
        decoded = [json.loads(r) for r in rows]
        problem = next((p for d in decoded if (p := shape_problem(d, ONE_FINDING))), None)
        if problem:
            raise ValueError(f"a finding: {problem}")
        findings = sorted((finding_from_dict(d) for d in decoded), key=lambda f: f.path)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:  # a Parquet cut or damaged
        raise InputError(f"{ref}: cannot read its findings Parquet ({type(exc).__name__}: {exc})") from None
    if len(findings) < summary.images:
        note = f"findings: a seeded sample of {len(findings)} of {summary.images} (all of them: {ref}/*.parquet)"
        header = replace(header, errors=(*header.errors, note))
    return Report(header, summary, findings)
