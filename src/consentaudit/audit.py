"""Run an audit: plan -> map -> merge.

- plan: list the dataset, split it into what the store already holds (unchanged files, a resumed scan)
  and work units of fresh files;
- map: an executor runs `UnitMapper` over the units (fingerprint, signals, judge), the driver stores each
  unit as it lands (the resume point);
- merge: judge the images taken from the store, settle duplicate groups, summarise, finish the scan.

This module plans and decides (cache, resume, an unchanged re-scan, a cold scan's head start); storing the
landed results and the merge are `landing.py`'s.

The library entry point the CLI calls. It does I/O through sources and the store, never prints, and
reports progress through a callback.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from consentaudit import __version__
from consentaudit.codec import header_to_dict, summary_to_dict
from consentaudit.digest import sha256_file
from consentaudit.errors import InputError
from consentaudit.executors import Executor, LocalExecutor, Started, units_of
from consentaudit.findings_out import FindingsOut
from consentaudit.fingerprint import algorithm, thumbnail_data_uri
from consentaudit.inputs import Inputs, load_inputs, needs_store
from consentaudit.landing import Landed, Landing, merge_scan, store_landing
from consentaudit.mapper import UnitMapper, UnitResult
from consentaudit.matching.reference_index import MATCHER
from consentaudit.merge import SummaryBuilder
from consentaudit.models import (
    CacheState,
    ManifestInfo,
    ReferenceInfo,
    Report,
    ReportHeader,
    ScanOptions,
)
from consentaudit.progress import Progress, ProgressCallback
from consentaudit.reference_cache import cache_root, cached_index
from consentaudit.request import AuditRequest
from consentaudit.scanner import ScanSettings
from consentaudit.signals import c2pa_verify
from consentaudit.sources import ArchiveSource, open_source, read_item
from consentaudit.sources.archive_reader import ArchiveReader, is_compressed_tar
from consentaudit.sources.directory import DataFile, DirectorySource
from consentaudit.sources.item import LOOSE_SHARD, Item
from consentaudit.sources.listing_cache import ListingCache
from consentaudit.timestamps import now_utc
from consentaudit.vocab import Verdict

if TYPE_CHECKING:  # the store (SQLAlchemy) loads when the audit opens it
    from consentaudit.store import ScanStore


class StoreToOpen:
    """A store the audit opens when it first needs it (SQLAlchemy loads then). When it is known to hold
    nothing (`empty`: a SQLite file not made yet), every image of the scan is fresh, and a local pool starts
    hashing before the store opens: the plan made once the store is open confirms what was started, or the
    head start is dropped."""

    def __init__(self, open_store: Callable[[], ScanStore], empty: bool) -> None:
        self._open = open_store
        self.empty = empty
        self._store: ScanStore | None = None

    def get(self) -> ScanStore:
        if self._store is None:
            self._store = self._open()
        return self._store


def _opened(store: ScanStore | StoreToOpen) -> ScanStore:
    return store.get() if isinstance(store, StoreToOpen) else store


def shard_units(items: Sequence[Item], batch_size: int, jobs: int) -> Iterator[Sequence[Item]]:
    """One unit per shard (archive) — a task reads its shard in one pass — and loose files as `units_of`."""
    loose = [i for i in items if i.shard == LOOSE_SHARD]
    by_shard: dict[str, list[Item]] = {}
    for i in items:
        if i.shard != LOOSE_SHARD:
            by_shard.setdefault(i.shard, []).append(i)
    yield from by_shard.values()
    yield from units_of(loose, batch_size, jobs)


def stream_units(items: Sequence[Item], batch_size: int, jobs: int) -> Iterator[Sequence[Item]]:
    """Units as `units_of` makes them, except the members of a compressed tar: a unit reads them in one
    forward pass over the decompressed stream, up to its last member, so each unit costs a pass over the
    stream up to where it ends. They are cut into few contiguous units a shard — as many as keep the jobs
    busy (2 x jobs over all compressed shards, at least one a shard, at most one a batch) — so the stream is
    decompressed a few times at most, not once a batch (a 1,000-member .tar.gz on two jobs: 4 units of 250,
    2.5 passes over the stream). Those units, the largest, go first."""
    streamed: dict[str, list[Item]] = {}
    rest: list[Item] = []
    for i in items:
        if i.member is not None and is_compressed_tar(i.location):
            streamed.setdefault(i.location, []).append(i)
        else:
            rest.append(i)
    for members in streamed.values():
        parts = max(1, min(-(-len(members) // batch_size), -(-2 * jobs // len(streamed))))
        size = -(-len(members) // parts)
        for k in range(0, len(members), size):
            yield members[k : k + size]
    yield from units_of(rest, batch_size, jobs)


def _whole_shards(items: dict[str, Item], fresh: Sequence[Item]) -> dict[str, int]:
    """Shards all of whose images are mapped in this run (with their image counts): their findings Parquet
    can be written as soon as they land (the others are written after the merge)."""
    total: dict[str, int] = {}
    for i in items.values():
        total[i.shard] = total.get(i.shard, 0) + 1
    mapped: dict[str, int] = {}
    for i in fresh:
        mapped[i.shard] = mapped.get(i.shard, 0) + 1
    return {s: n for s, n in mapped.items() if total[s] == n}


def _run_key(
    req: AuditRequest,
    dataset: str,
    manifests: Sequence[ManifestInfo],
    references: Sequence[ReferenceInfo],
    ref_digests: Sequence[str],
) -> str:
    key = {
        "dataset": dataset,
        "purposes": list(req.purposes),
        "as_of": str(req.as_of),
        "threshold": req.phash_threshold,
        "max_pixels": req.max_image_pixels,
        "sensitive": req.keep_sensitive_metadata,
        "verify_c2pa": req.verify_c2pa,
        "trust_anchors": str(req.trust_anchors) if req.trust_anchors else None,
        "rules": [sorted(req.deny_domains), sorted(req.allow_domains), req.ai_generated, sorted(req.honour_crawl)],
        "manifests": [m.sha256 for m in manifests],
        "references": list(ref_digests),
        "reference_names": [r.name for r in references],
    }
    if req.rehash:  # never resumes (nor repeats) a scan that took fingerprints from the cache
        key["rehash"] = True
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _reference_digest(inputs: Inputs) -> str:
    return hashlib.sha256(f"{MATCHER}\n{inputs.entries.content_key()}".encode()).hexdigest()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the inputs are built: they are many small objects, none in a
    reference cycle, and each collection would walk all of them again (half the time of loading 100,000
    records). Collection resumes, as it was, afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_audit(
    req: AuditRequest,
    store: ScanStore | StoreToOpen,
    progress: ProgressCallback | None = None,
    executor: Executor | None = None,
    out: str | None = None,
) -> Report:
    """Scan, judge, summarise and store one audit; resumes the unfinished scan of the same command.

    Map: unchanged files (path, size, mtime) are taken from the cache inside the database; the others run
    as work units on the executor (default: the local pool with `req.jobs` processes), each stored when it
    is done. Merge: images are judged in path order, a batch at a time, and the findings stored; only the
    light (path, hashes) rows of the whole dataset are held in memory. A `StoreToOpen` known to hold
    nothing opens while local workers already hash every image (a cold scan's head start).
    """
    started = now_utc()
    run = executor or LocalExecutor(req.jobs)
    settings = req.settings()
    pool = _head_start_pool(req, store, run)
    with _gc_paused():  # a million manifest records are a million acyclic objects: no collection finds any
        inputs = load_inputs(req, settings, None if pool else _opened(store))
    source = open_source(req.dataset, None if req.rehash else _listings())
    items = {i.path: i for i in source.items()}
    if not items:
        others = f" ({len(source.files)} other files)" if source.files else ""
        raise InputError(f"no images in {req.dataset}{others}: nothing to audit")
    scan = _Prepared(started, settings, algorithm(settings.fast), inputs, source, items)
    if pool is not None:  # every image: a store made now holds nothing
        scan.mapper = _mapper(req, settings, inputs)
        scan.head = pool.start(_units(list(items.values()), req, out), scan.mapper)
    try:
        return _audit(req, _opened(store), progress, run, out, scan)  # SQLAlchemy loads while the workers hash
    finally:
        if scan.head is not None:
            scan.head.close()


@dataclass
class _Prepared:
    """What a scan knows before its store opens: its inputs and the dataset's listing, and on a store that
    holds nothing the mapper and every image's units already started on the pool (`head`)."""

    started: str
    settings: ScanSettings
    algo: str  # the fingerprint algorithm, as the report names it
    inputs: Inputs
    source: ArchiveSource | DirectorySource
    items: dict[str, Item]
    mapper: UnitMapper | None = None
    head: Started[UnitResult] | None = None

    @property
    def cached_as(self) -> str:
        """The fingerprint cache's key: the algorithm and the settings that shape an image."""
        return self.settings.cache_key(self.algo)


def _head_start_pool(req: AuditRequest, store: ScanStore | StoreToOpen, run: Executor) -> LocalExecutor | None:
    """The pool that starts hashing before the store opens: a store known to hold nothing, inputs that do
    not use it, and worker processes to overlap with (one job maps in-line, Ray has its own start)."""
    if not (isinstance(store, StoreToOpen) and store.empty) or needs_store(req):
        return None
    return run if isinstance(run, LocalExecutor) and run.jobs > 1 else None


def _mapper(req: AuditRequest, settings: ScanSettings, inputs: Inputs) -> UnitMapper:
    with _gc_paused():
        return UnitMapper(
            settings,
            req.rules(),
            inputs.records,
            inputs.entries,
            req.phash_threshold,
            inputs.keypoints_of,
            cached_index,  # a large reference set's radius index is memory-mapped from the reference cache
        )


def _units(fresh: Sequence[Item], req: AuditRequest, out: str | None) -> Iterator[Sequence[Item]]:
    return (shard_units if out else stream_units)(fresh, req.batch_size, req.jobs)


def _audit(
    req: AuditRequest,
    store: ScanStore,
    progress: ProgressCallback | None,
    run: Executor,
    out: str | None,
    scan: _Prepared,
) -> Report:
    """The audit once the store is open. `scan.head`, units started before it opened, is taken if the plan
    maps every image (in order), else closed unused."""
    inputs, source, items, cached_as, head = scan.inputs, scan.source, scan.items, scan.cached_as, scan.head
    dataset_key = str(source.root)
    run_key = _run_key(req, dataset_key, inputs.manifests, inputs.references, [_reference_digest(inputs), cached_as])
    writer = FindingsOut(out, run_key) if out else None  # --out: findings Parquet per shard
    with store.scan_lock(run_key):  # one writer per scan: the same scan started twice waits here
        scan_id, done = store.begin_scan(dataset_key, run_key, scan.started)

        file_states = {f.path: (f.size, f.mtime_ns) for f in source.files}
        previous = store.last_complete(run_key) if not done and not req.rehash else None
        if (
            previous is not None
            and _unchanged(store.image_states(previous), items)
            and store.file_states(previous) == file_states
        ):
            # same inputs, same files: the previous audit's findings, digest, groups and counts hold
            if head is not None:
                head.close()
            store.clone_scan(previous, scan_id)
            if progress:
                progress(Progress(len(items), len(items), len(items)))
            before = store.load_report(previous)
            digest, groups = before.header.dataset_digest, [list(g) for g in before.duplicates]
            failing = sum(before.summary.verdicts.get(v.value, 0) for v in req.fail_on)  # --fail-on may differ
            summary = replace(before.summary, failing=failing)
        else:
            stale = sorted(done - items.keys())
            changed = _changed_since(store.image_states(scan_id), items, done) if done else []
            if stale or changed:  # gone, or changed since the interrupted run landed them: forgotten, read again
                store.prune(scan_id, stale + changed)
                done = done - set(changed)
            mapper = scan.mapper if scan.mapper is not None else _mapper(req, scan.settings, inputs)
            files = _bind_files(store, scan_id, dataset_key, source.files, req.rehash)
            fresh, finished = _plan(store, scan_id, dataset_key, cached_as, items, done, progress, req.rehash)
            landing: Landing
            if head is not None and [i.path for i in fresh] == list(items):
                landing = head
            else:
                if head is not None:
                    head.close()  # the store held something after all: map only what the plan says
                landing = run.map(_units(fresh, req, out), mapper)
            whole = _whole_shards(items, fresh) if writer else {}
            # the summary counted as findings come to hand; a resumed scan's earlier findings are only in the store
            landed = Landed(SummaryBuilder(req.fail_on, req.purposes) if not done else None)
            counts = (finished, len(items))
            store_landing(store, scan_id, dataset_key, cached_as, landing, counts, progress, landed, writer, whole)
            digest, groups, summary = merge_scan(
                req, store, scan_id, dataset_key, cached_as, items, files, mapper, landed
            )
        summary = replace(summary, crawl_refusals=dict(sorted(source.refusals.items())))
        errors = [*source.warnings, *inputs.warnings]
        if source.skipped:
            errors.append(f"{source.skipped} non-image file{'s' if source.skipped != 1 else ''} skipped")
        if req.policy_file:
            errors.append(f"policy file: {req.policy_file}")
        if req.verify_c2pa and not c2pa_verify.available():
            errors.append("C2PA manifests read without validation (install consentaudit[c2pa] to validate)")
        header = ReportHeader(
            tool="consentaudit",
            tool_version=__version__,
            fingerprint_algorithm=scan.algo,
            dataset=str(req.dataset),
            options=ScanOptions(
                purposes=tuple(req.purposes),
                as_of=req.as_of,
                phash_threshold=req.phash_threshold,
                fail_on=tuple(req.fail_on),
                max_image_pixels=req.max_image_pixels,
            ),
            manifests=tuple(inputs.manifests),
            references=tuple(inputs.references),
            started_at=scan.started,
            finished_at=now_utc(),
            scan_id=scan_id,
            errors=tuple(errors),
            dataset_digest=digest,
            executor=run.describe(),
        )
        store.finish_scan(
            scan_id, header_to_dict(header), summary_to_dict(summary), [list(g) for g in groups], header.finished_at
        )
        report = store.load_report(scan_id)
    if writer is not None:
        writer.reconcile(report, {p: i.shard for p, i in items.items()})
    return with_thumbnails(report, req.max_image_pixels) if req.thumbnails else report


def _unchanged(previous: dict[str, CacheState], items: dict[str, Item]) -> bool:
    return len(previous) == len(items) and all(
        item.problem is None and previous.get(path) == item.cache_state for path, item in items.items()
    )


def _changed_since(landed: dict[str, CacheState], items: dict[str, Item], done: set[str]) -> list[str]:
    """The images an interrupted scan landed that are no longer what it read — the file, its crawl record or
    its C2PA sidecar changed before the resume (or it could not be read): their rows would report bytes and
    signals the dataset no longer has, and bind them into its digest."""
    return sorted(
        p for p in done if p in items and (items[p].problem is not None or landed.get(p) != items[p].cache_state)
    )


def _bind_files(
    store: ScanStore, scan_id: int, dataset_key: str, files: Sequence[DataFile], rehash: bool = False
) -> list[tuple[str, str | None]]:
    """Hash the dataset's data files (sidecars, shards, parquet, anything not audited as an image) into the
    scan, reusing the last scan's hash of a file whose size and mtime are unchanged (unless `rehash`):
    (path, sha256) rows."""
    known = {} if rehash else store.known_files(dataset_key)
    rows: list[tuple[str, int, int, str | None]] = []
    for f in files:
        before = known.get(f.path)
        if before is not None and before[:2] == (f.size, f.mtime_ns):
            sha = before[2]
        else:
            try:
                sha = sha256_file(Path(f.location))
            except OSError:
                sha = None
        rows.append((f.path, f.size, f.mtime_ns, sha))
    store.set_files(scan_id, rows)
    return [(p, sha) for p, _, _, sha in rows]


def _plan(
    store: ScanStore,
    scan_id: int,
    dataset_key: str,
    algo: str,
    items: dict[str, Item],
    done: set[str],
    progress: ProgressCallback | None,
    rehash: bool = False,
) -> tuple[list[Item], int]:
    """Copy what the cache holds for unchanged files into the scan (nothing when `rehash`); (the rest, to map;
    how many are done)."""
    cache = {} if rehash else store.cache_states(dataset_key, algo)
    unchanged: list[str] = []
    fresh: list[Item] = []
    for path, item in items.items():
        if path in done:
            continue
        if item.problem is None and cache.get(path) == item.cache_state:
            unchanged.append(path)
        else:
            fresh.append(item)
    del cache
    store.copy_cached(scan_id, dataset_key, algo, unchanged)
    finished = len(done) + len(unchanged)
    if progress:
        progress(Progress(finished, len(items), len(unchanged)))
    return fresh, finished


def _listings() -> ListingCache:
    """Where compressed shards' listings are kept between scans (beside the reference cache)."""
    return ListingCache(cache_root() / "listings")


def with_thumbnails(report: Report, max_pixels: int) -> Report:
    """The report with a thumbnail for each readable image, read from the dataset the header names as it
    is now (a file that is gone or changed size gets none). The audit's own pass, so report writers never
    open the dataset; a compressed shard's listing comes from the listing cache when the scan kept it."""
    try:
        items = {i.path: i for i in open_source(Path(report.header.dataset), _listings()).items()}
    except (InputError, OSError):  # the dataset is gone or unreadable: a report without thumbnails
        return report
    thumbs: dict[str, str] = {}
    with ArchiveReader() as archives:  # an archive opened once for its members (in path order, together)
        for f in report.findings:
            item = items.get(f.path)
            if f.verdict == Verdict.UNREADABLE or item is None or item.problem is not None or item.size != f.size:
                continue
            try:
                uri = thumbnail_data_uri(read_item(item, 64 << 20, archives), max_pixels=max_pixels)
            except OSError:
                continue
            if uri:
                thumbs[f.path] = uri
    return replace(report, thumbnails=thumbs)
