"""Scale-out: `--out` (findings Parquet per shard, done markers, resume), DuckDB queries over it, and the
same scan on a real local Ray (`ray.init(num_cpus=2)` through `--executor ray --jobs 2`)."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import MANIFESTS, PHOTOS
from consentaudit.cli.app import app

R = CliRunner()
MANIFEST = MANIFESTS / "fixtures.csv"


def make_shards(folder: Path, shards: int, per_shard: int, side: int = 480) -> Path:
    """img2dataset-style tar shards (<key>.jpg + <key>.json) of crops of the real fixture photos, some of
    them the photos the fixture manifest names (so some images are consented)."""
    photos = sorted(PHOTOS.glob("*.jpg"))
    rng = random.Random(5)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with tarfile.open(folder / f"{s:05d}.tar", "w", format=tarfile.USTAR_FORMAT) as tf:
            for k in range(per_shard):
                with Image.open(photos[(s * per_shard + k) % len(photos)]) as im:
                    im = im.convert("RGB")
                c = rng.uniform(0.85, 1.0)
                im = im.crop((0, 0, int(im.width * c), int(im.height * c)))
                im.thumbnail((side, side))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=rng.randint(70, 92))
                key = f"{s:05d}{k:04d}"
                meta = json.dumps({"url": f"https://cdn{s}.example.org/{k}.jpg", "key": key, "status": "success"})
                for name, data in ((f"{key}.jpg", buf.getvalue()), (f"{key}.json", meta.encode())):
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = len(data), 1764000000
                    tf.addfile(info, io.BytesIO(data))
    return folder


def _scan(shards: Path, tmp: Path, name: str, *extra: str) -> dict[str, object]:
    report = tmp / f"{name}.json"
    args = ["scan", str(shards), "-m", str(MANIFEST), "--as-of", "2026-11-26", "--db", f"sqlite:///{tmp / name}.db"]
    result = R.invoke(app, [*args, "--report", str(report), "--quiet", "--fail-on", "none", *extra])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(report.read_text())
    return doc


def _verdicts(doc: dict[str, object]) -> list[tuple[str, str, str, str]]:
    return [(f["path"], f["sha256"], f["verdict"], f["reasons"][0]["detail"]) for f in doc["findings"]]  # type: ignore[attr-defined, index]


def _parquet(out: Path) -> dict[str, list[dict[str, object]]]:
    import pyarrow.parquet as pq

    return {p.name: pq.read_table(p).to_pylist() for p in sorted(out.glob("*.parquet"))}


def test_out_writes_one_parquet_per_shard_and_a_rerun_skips_them(tmp_path: Path) -> None:
    shards = make_shards(tmp_path / "shards", 4, 6)
    out = tmp_path / "out"
    doc = _scan(shards, tmp_path, "a", "--out", str(out), "--jobs", "2")
    parts = _parquet(out)
    assert sorted(parts) == [f"{s:05d}.tar.parquet" for s in range(4)]
    rows = [r for rs in parts.values() for r in rs]
    # every image of the report, with the report's verdict, record and reasons, in its own shard's file
    by_path = {f["path"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    assert sorted(r["path"] for r in rows) == sorted(by_path)
    for name, rs in parts.items():
        assert {r["shard"] for r in rs} == {name.removesuffix(".parquet")}
    for r in rows:
        f = by_path[r["path"]]
        assert (r["sha256"], r["phash"], r["verdict"]) == (f["sha256"], f["phash"], f["verdict"])
        assert r["record_id"] == (f["match"]["record_id"] if f["match"] else None)
        assert r["reasons"][0] == f"{f['reasons'][0]['verdict']}: {f['reasons'][0]['detail']}"
        assert r["url"] == f["metadata"]["crawl.url"]
    assert {"consented", "unconsented"} <= {r["verdict"] for r in rows}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["images"] == len(rows) and len(summary["shards"]) == 4
    # the same command again: every marker holds, no file is written again
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    time.sleep(0.01)
    _scan(shards, tmp_path, "a", "--out", str(out))
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {n: t for n, t in after.items() if n != "summary.json"} == {
        n: t for n, t in before.items() if n != "summary.json"
    }
    # `report DIR` renders the summary and the findings from the Parquet set
    md = tmp_path / "r.md"
    assert R.invoke(app, ["report", str(out), "--report", str(md)]).exit_code == 0
    assert f"| consented | {doc['summary']['verdicts']['consented']} |" in md.read_text()  # type: ignore[index]


def test_resume_after_a_killed_driver_skips_the_done_shards(tmp_path: Path) -> None:
    shards = make_shards(tmp_path / "shards", 4, 40, side=900)
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'k.db'}"
    cmd = [sys.executable, "-m", "consentaudit.cli.app", "scan", str(shards), "-m", str(MANIFEST), "--as-of"]
    cmd += ["2026-11-26", "--db", db, "--out", str(out), "--jobs", "1", "--quiet", "--fail-on", "none"]
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 120
    while not list(out.glob("*.done")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)  # kill -9: nothing is cleaned up
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet") if p.with_name(p.name + ".done").exists()}
    assert 1 <= len(list(out.glob("*.done"))) < 4, "the driver should have been killed between shards"

    def digest(name: str) -> str:
        return str(json.loads((out / (name + ".done")).read_text())["digest"])

    before = {n: digest(n) for n in done}
    time.sleep(0.01)
    assert subprocess.run(cmd).returncode == 0
    parts = _parquet(out)
    assert len(parts) == 4 and all(len(rs) == 40 for rs in parts.values())
    # a finished shard is not redone: its file is untouched unless its final findings changed after the merge
    # (a revocation that spread to it from a near-duplicate in a shard mapped after the kill: written again)
    for n, mtime in done.items():
        assert (out / n).stat().st_mtime_ns == mtime or digest(n) != before[n], n
    assert not list(out.glob("*.partial"))  # markers are moved into place whole
    clean = _scan(shards, tmp_path, "clean", "--out", str(tmp_path / "clean-out"))
    resumed = {r["path"]: r["verdict"] for rs in parts.values() for r in rs}
    assert resumed == {f["path"]: f["verdict"] for f in clean["findings"]}  # type: ignore[attr-defined]


def test_query_joins_manifests_urls_and_cross_shard_duplicates(tmp_path: Path) -> None:
    pytest.importorskip("duckdb", reason="duckdb (the [scale] extra) not installed")
    shards = make_shards(tmp_path / "shards", 3, 5)
    (shards / "00003.tar").write_bytes((shards / "00000.tar").read_bytes())  # a shard copied whole
    out = tmp_path / "out"
    doc = _scan(shards, tmp_path, "q", "--out", str(out))
    findings = doc["findings"]  # type: ignore[assignment]
    # a manifest naming two images by sha256 (one record in JSONL, one in CSV)
    one, two = findings[1], findings[7]  # type: ignore[index]
    (tmp_path / "m.jsonl").write_text(json.dumps({"record_id": "x1", "sha256": one["sha256"], "status": "granted"}))
    (tmp_path / "m.csv").write_text(f"record_id,sha256,status\nx2,{two['sha256']},revoked\n")
    (tmp_path / "urls.txt").write_text("# listed\ncdn2.example.org\nhttps://cdn1.example.org/3.jpg\n")
    out_csv = tmp_path / "rows.csv"
    args = ["query", str(out), "-m", str(tmp_path / "m.jsonl"), "-m", str(tmp_path / "m.csv")]
    result = R.invoke(app, [*args, "--urls", str(tmp_path / "urls.txt"), "--duplicates", "-o", str(out_csv)])
    assert result.exit_code == 1, result.output
    import csv

    rows = list(csv.DictReader(out_csv.open()))
    manifest = {r["path"]: r["detail"] for r in rows if r["kind"] == "manifest"}
    copies = 1 + one["path"].startswith("00000.tar/")  # the copied shard holds the same bytes again
    assert one["path"] in manifest and manifest[one["path"]].startswith("x1 (granted")
    assert sum(r["kind"] == "manifest" for r in rows) == copies + 1 + two["path"].startswith("00000.tar/")
    assert {r["path"] for r in rows if r["kind"] == "url"} == {"00001.tar/000010003.jpg"}
    assert {r["path"].split("/")[0] for r in rows if r["kind"] == "domain"} == {"00002.tar"}
    dupes = [r for r in rows if r["kind"] == "duplicate"]
    assert len(dupes) == 10 and {r["shard"] for r in dupes} == {"00000.tar", "00003.tar"}
    assert R.invoke(app, ["query", str(out)]).exit_code == 2  # nothing asked
    assert R.invoke(app, ["query", str(tmp_path), "--duplicates"]).exit_code == 2  # not an --out folder


def test_a_damaged_out_folder_is_an_input_error_for_query_and_report(tmp_path: Path) -> None:
    """A findings Parquet cut short, a summary.json of another shape, a finding that is not one: `query DIR`
    and `report DIR` name the folder and what is wrong (exit 2); they were internal errors."""
    pytest.importorskip("duckdb", reason="duckdb (the [scale] extra) not installed")
    out = tmp_path / "out"
    _scan(make_shards(tmp_path / "shards", 2, 3), tmp_path, "d", "--out", str(out))
    assert R.invoke(app, ["report", str(out), "-o", str(tmp_path / "ok.md")]).exit_code == 0
    part = out / "00001.tar.parquet"
    whole = part.read_bytes()
    part.write_bytes(whole[: len(whole) // 2])
    for args in (["query", str(out), "--duplicates"], ["report", str(out), "-o", str(tmp_path / "r.md")]):
        result = R.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "cannot read its findings Parquet" in result.output and "00001.tar.parquet" in result.output
    part.write_bytes(whole)
    summary = json.loads((out / "summary.json").read_text())
    summary["summary"]["verdicts"] = ["consented"]
    (out / "summary.json").write_text(json.dumps(summary))
    result = R.invoke(app, ["report", str(out), "-o", str(tmp_path / "r.md")])
    assert result.exit_code == 2 and "summary.verdicts: expected an object, got a list" in result.output


@pytest.fixture(scope="module")
def ray_available() -> None:
    pytest.importorskip("ray", reason="Ray (the [ray] extra) not installed; .ci/run installs it")


def test_ray_gives_the_local_verdicts_and_a_complete_parquet_set(tmp_path: Path, ray_available: None) -> None:
    shards = make_shards(tmp_path / "shards", 4, 6)
    local = _scan(shards, tmp_path, "local", "--out", str(tmp_path / "out-local"), "--jobs", "2")
    ray = _scan(shards, tmp_path, "ray", "--executor", "ray", "--jobs", "2", "--out", str(tmp_path / "out-ray"))
    assert _verdicts(ray) == _verdicts(local)
    assert ray["header"]["executor"] == "ray (local Ray, 2 CPUs)"  # type: ignore[index]
    assert local["header"]["executor"] == "local (2 processes)"  # type: ignore[index]
    assert _parquet(tmp_path / "out-ray") == _parquet(tmp_path / "out-local")
    assert sum(len(rs) for rs in _parquet(tmp_path / "out-ray").values()) == 24


class _FailsOnShard:
    """Work that raises on one shard's unit (every retry too): the executor must turn it into findings."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def __call__(self, unit: list[object]) -> list[str]:
        paths = [i.path for i in unit]  # type: ignore[attr-defined]
        if any(p.startswith(self.bad) for p in paths):
            raise RuntimeError("decoder crashed")
        return paths

    def failed(self, unit: list[object], why: str) -> list[str]:
        return [f"FAILED {i.path}: {why}" for i in unit]  # type: ignore[attr-defined]


def test_a_ray_unit_that_keeps_failing_becomes_error_results(tmp_path: Path, ray_available: None) -> None:
    import ray
    import ray.cloudpickle

    from consentaudit.ray_executor import RayExecutor
    from consentaudit.sources import open_source

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers do not import the tests
    shards = make_shards(tmp_path / "shards", 3, 2, side=64)
    items = list(open_source(shards).items())
    units = [[i for i in items if i.shard == s] for s in ("00000.tar", "00001.tar", "00002.tar")]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = list(RayExecutor(2, retries=1).map(units, _FailsOnShard("00001.tar")))
        assert ray.is_initialized()  # a Ray session the executor did not start is left running
    finally:
        ray.shutdown()
    assert [u for u, _ in results] == units  # in input order, none lost
    assert results[0][1] == [i.path for i in units[0]]
    assert all(r.startswith("FAILED 00001.tar/") and "after 1 retries" in r for r in results[1][1])
    assert results[2][1] == [i.path for i in units[2]]


def test_prepare_warms_workers_and_close_stops_the_ray_it_started(ray_available: None) -> None:
    import os

    import ray

    from consentaudit.ray_executor import RayExecutor

    ex = RayExecutor(2)
    ex.prepare()
    try:
        assert ray.is_initialized() and ex.describe() == "ray (local Ray, 2 CPUs)"
        pids = ray.get(ex._warming)  # the warm-up ran in Ray's worker processes, not in the driver
        assert len(pids) == 2 and os.getpid() not in pids
    finally:
        ex.close()
    assert not ray.is_initialized()


def test_out_accepts_an_fsspec_url(tmp_path: Path) -> None:
    """`--out` to a URL: fsspec's in-memory filesystem stands for a bucket (same code path as s3fs/gcsfs)."""
    fsspec = pytest.importorskip("fsspec", reason="fsspec (the [scale] extra) not installed")
    shards = make_shards(tmp_path / "shards", 2, 3, side=96)
    url = f"memory://bucket/{tmp_path.name}/findings"
    doc = _scan(shards, tmp_path, "m", "--out", url)
    fs = fsspec.filesystem("memory")
    root = url.removeprefix("memory://")
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(root, detail=False))
    assert names == ["00000.tar.parquet", "00000.tar.parquet.done", "00001.tar.parquet", "00001.tar.parquet.done",
                     "summary.json"]  # fmt: skip
    md = tmp_path / "r.md"
    assert R.invoke(app, ["report", url, "--report", str(md)]).exit_code == 0
    assert f"| unconsented | {doc['summary']['verdicts']['unconsented']} |" in md.read_text()  # type: ignore[index]
