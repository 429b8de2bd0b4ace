"""The whole command on a dataset of damaged files: copies of the real fixture photos and provenance files
mutated at random (seeded) — bits flipped, cut short, runs repeated, forged APP1/EXIF/XMP/JUMBF headers,
random bytes — loose and in tar shards, one of them cut short. `consentaudit scan --jobs 2`, in a process of
its own, with a manifest, a reference folder and JSON and HTML reports, must finish with no traceback and
give every image a finding, each unreadable one with its reason."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import FIXTURES, MANIFESTS, PHOTOS, SCRAPED

SEEDS = sorted(
    [*PHOTOS.glob("*.jpg"), *(FIXTURES / "provenance").glob("*.jpg"), *(FIXTURES / "provenance").glob("*.png")]
)
INSERTS = (
    b"<x:xmpmeta>" + b"<a>" * 5000,
    b"II*\x00\x08\x00\x00\x00\xff\xff",
    b"jumb" * 100,
    b"\xff\xe1\xff\xffExif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff",
)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.35 and b:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op < 0.5:
            del b[rng.randrange(len(b) + 1) :]
        elif op < 0.65 and b:
            i = rng.randrange(len(b))
            b[i:i] = b[i : i + rng.randint(1, 4096)] * rng.randint(1, 3)
        elif op < 0.8 and b:
            i = rng.randrange(min(len(b), 4096))
            b[i : i + 2] = rng.choice([b"\xff\xff", b"\x00\x00", b"\xff\xe1", b"\xff\xd8", b"\xff\xd9"])
        else:
            i = rng.randrange(min(len(b), 2048) + 1)
            b[i:i] = rng.choice([*INSERTS, rng.randbytes(rng.randint(1, 300))])
    return bytes(b)


def _shard(path: Path, rng: random.Random, count: int) -> list[str]:
    with tarfile.open(path, "w") as tf:
        for k in range(count):
            data = _mutate(rng.choice(SEEDS).read_bytes(), rng)
            info = tarfile.TarInfo(f"{k:09d}.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return [f"{path.name}/{k:09d}.jpg" for k in range(count)]


def test_a_scan_of_damaged_files_finishes_and_reports_every_one(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    dataset = tmp_path / "mutated"
    dataset.mkdir()
    expected: set[str] = set()
    for k in range(40):
        seed = rng.choice(SEEDS)
        name = f"m{k:03d}{seed.suffix}"
        (dataset / name).write_bytes(_mutate(seed.read_bytes(), rng))
        expected.add(name)
    expected.update(_shard(dataset / "00000.tar", rng, 12))
    cut = _shard(dataset / "00001.tar", rng, 12)
    whole = (dataset / "00001.tar").read_bytes()
    (dataset / "00001.tar").write_bytes(whole[: len(whole) // 2])  # an interrupted download
    report, html = tmp_path / "audit.json", tmp_path / "audit.html"
    args = ["scan", str(dataset), "-m", str(MANIFESTS / "fixtures.csv"), "-r", str(SCRAPED), "--jobs", "2"]
    args += ["--db", f"sqlite:///{tmp_path / 'db'}", "--fail-on", "none", "-q", "--report", str(report)]
    args += ["--report", str(html)]
    code = f"import sys; from consentaudit.cli.app import main; sys.argv = ['consentaudit', *{args!r}]; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    findings = {f["path"]: f for f in json.loads(report.read_text())["findings"]}
    assert expected <= findings.keys()
    listed_of_cut = [p for p in findings if p.startswith("00001.tar/")]
    assert 0 < len(listed_of_cut) < len(cut)  # the members before the cut, not all and not none
    assert findings["00001.tar"]["verdict"] == "unreadable"
    unreadable = [f for f in findings.values() if f["verdict"] == "unreadable"]
    assert len(unreadable) >= 10  # the mutations do break files
    assert all(f["reasons"] and f["reasons"][0]["detail"] for f in unreadable)
    assert html.read_text().count("</html>") == 1
