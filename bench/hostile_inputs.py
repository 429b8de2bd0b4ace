"""Hostile shards, and a legitimate one, scanned as users run the CLI: wall time and peak RSS of each.

    python bench/hostile_inputs.py [--work DIR] [--repeat N] [--mb MB] [--only TEXT]

Each shard is written to a folder of its own and scanned cold (fresh --db, --jobs 1) by whole processes run
from the launcher (launcher.py), so that each peak RSS is the scan's own. The hostile ones are a few hundred
kilobytes on disk and decode to gigabytes, because pyarrow copies a dictionary's value into every row or list
element that points to it:
- `dictionary`: 2,001 rows of one image column, each row after the first pointing to one value of --mb MB (a
  real JPEG followed by zeros), written without the Arrow schema, so that pyarrow reads it as plain bytes;
- `dictionary, Arrow type kept`: the same with 501 rows and the schema stored (pyarrow reads a dictionary);
- `caption`: 501 rows of distinct small images whose `caption` column points to one --mb/3 MB value;
- `list elements`: 20 rows, each a list of 1,000 references to one 1 MB caption, beside a small image.
- `quoted-overlap zip`: 300 members whose deflate streams quote the headers of the members after them and end
  in one shared kernel (David Fifield's construction), so that each inflates to a --mb/3 MB photo-and-zeros.
- `.tar.bz2 of zeros`: a photo, eight 1 GB members of zeros, a photo (bzip2 has no ceiling on how far it
  inflates: about 100 KB on disk).
- `zip of bzip2 zeros`: a photo, eight members named `.jpg` of 1 GB of zeros each compressed with bzip2, a photo.
The legitimate one is what pyarrow's writer makes of 3,000 distinct JPEGs by default: one row group, its first
1,024 images in one dictionary page, the rest plain pages. A scan should take seconds and a few hundred MB on
each: the Parquet ones are cut at the decoded-bytes bound (an `unreadable` finding naming the rows not read),
the zip's overlapping members are `unreadable` findings, never opened, and the bzip2 archives are inflated
no further than 1024 times their size or 1 GB (`sources/inflation.py`).
"""

from __future__ import annotations

import argparse
import bz2
import platform
import shutil
import statistics
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from hostile_files import quoted_overlap_zip  # noqa: E402  (the tests' own builder)
from launcher import launcher  # noqa: E402

CLI = [sys.executable, "-m", "consentaudit.cli.app"]
PHOTOS = ROOT / "fixtures" / "photos"


def dictionary_shard(path: Path, jpeg: bytes, rows: int, mb: int, keep_type: bool) -> None:
    values = pa.array([jpeg, jpeg + bytes(mb << 20)], pa.binary())
    column = pa.DictionaryArray.from_arrays(pa.array([0] + [1] * rows, pa.int32()), values)
    table = pa.table({"key": [f"{i:09d}" for i in range(rows + 1)], "jpg": column})
    pq.write_table(table, path, compression="zstd", row_group_size=rows + 1, store_schema=keep_type)


def caption_shard(path: Path, jpegs: list[bytes], rows: int, mb: int) -> None:
    caption = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["x" * (mb << 20)]))
    table = pa.table(
        {
            "key": [f"{i:09d}" for i in range(rows)],
            "url": [f"https://example.org/{i}.jpg" for i in range(rows)],
            "caption": caption,
            "jpg": [jpegs[i % len(jpegs)] + i.to_bytes(4, "little") for i in range(rows)],
        }
    )
    pq.write_table(table, path, compression="zstd", store_schema=False)


def list_shard(path: Path, jpeg: bytes, rows: int, per: int) -> None:
    values = pa.DictionaryArray.from_arrays(pa.array([0] * (rows * per), pa.int32()), pa.array(["x" * (1 << 20)]))
    tags = pa.ListArray.from_arrays(pa.array([i * per for i in range(rows + 1)], pa.int32()), values)
    table = pa.table({"key": [f"{i:09d}" for i in range(rows)], "tags": tags, "jpg": [jpeg] * rows})
    pq.write_table(table, path, compression="zstd", store_schema=False)


GB = 1 << 30
_CHUNK = 16 << 20


def _zeros_bz2(size: int) -> bytes:
    """`size` zero bytes as one bzip2 stream (compressed once: ~7 s for 1 GB)."""
    c = bz2.BZ2Compressor(9)
    zeros = bytes(_CHUNK)
    out = [c.compress(zeros) for _ in range(size // _CHUNK)]
    return b"".join([*out, c.compress(bytes(size % _CHUNK)), c.flush()])


def bzip2_tar(path: Path, jpegs: list[bytes], members: int) -> None:
    """A `.tar.bz2`: a photo, `members` members of 1 GB of zeros, a photo; bzip2 streams one after another (a
    bzip2 reader reads them as one), so the zeros are compressed once."""
    zeros = _zeros_bz2(GB)

    def header(name: str, size: int) -> bytes:
        info = tarfile.TarInfo(name)
        info.size = size
        return info.tobuf(tarfile.USTAR_FORMAT)

    def member(name: str, data: bytes) -> bytes:
        return bz2.compress(header(name, len(data)) + data + bytes(-len(data) % 512))

    with path.with_suffix(".tar.bz2").open("wb") as f:
        f.write(member("00000.jpg", jpegs[0]))
        for k in range(members):
            f.write(bz2.compress(header(f"{k:05d}.bin", GB)) + zeros)
        f.write(member("00001.jpg", jpegs[1]))
        f.write(bz2.compress(bytes(1024)))  # the end-of-archive blocks


def bzip2_zip(path: Path, jpegs: list[bytes], members: int) -> None:
    """A zip: a photo, `members` members named `.jpg` of 1 GB of zeros compressed with bzip2 (method 12),
    a photo; the zeros are compressed once and written as each member's data."""
    zeros, crc = _zeros_bz2(GB), 0
    for _ in range(GB // _CHUNK):
        crc = zlib.crc32(bytes(_CHUNK), crc)
    entries = [("00000.jpg", bz2.compress(jpegs[0]), len(jpegs[0]), zlib.crc32(jpegs[0]))]
    entries += [(f"{k:05d}.z.jpg", zeros, GB, crc) for k in range(members)]
    entries.append(("00001.jpg", bz2.compress(jpegs[1]), len(jpegs[1]), zlib.crc32(jpegs[1])))
    central, offset = [], 0
    with path.with_suffix(".zip").open("wb") as f:
        for name, data, size, crc32 in entries:
            raw = name.encode()
            head = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 46, 0, 12, 0, 0x21, crc32, len(data), size, len(raw), 0)
            f.write(head + raw + data)
            central.append(
                struct.pack(
                    "<4sHHHHHHIIIHHHHHII",
                    b"PK\x01\x02",
                    46,
                    46,
                    0,
                    12,
                    0,
                    0x21,
                    crc32,
                    len(data),
                    size,
                    len(raw),
                    0,
                    0,
                    0,
                    0,
                    0,
                    offset,
                )
                + raw
            )
            offset += len(head) + len(raw) + len(data)
        directory = b"".join(central)
        f.write(directory)
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), offset, 0))


def legitimate_shard(path: Path, jpegs: list[bytes], rows: int) -> None:
    table = pa.table(
        {
            "key": [f"{i:09d}" for i in range(rows)],
            "url": [f"https://example.org/{i}.jpg" for i in range(rows)],
            "jpg": [jpegs[i % len(jpegs)] + i.to_bytes(8, "little") for i in range(rows)],
        }
    )
    pq.write_table(table, path)  # pyarrow's defaults


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/consentaudit-hostile-inputs"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mb", type=int, default=60, help="size of the repeated value of the first shard (MB)")
    ap.add_argument("--only", default="", help="only the shards whose name holds this text")
    args = ap.parse_args()
    run = launcher()  # started while this process is small
    jpegs = [p.read_bytes() for p in sorted(PHOTOS.glob("*.jpg"))]
    shards = {
        "dictionary (2,001 rows, one value)": lambda p: dictionary_shard(p, jpegs[0], 2000, args.mb, False),
        "dictionary, Arrow type kept (501 rows)": lambda p: dictionary_shard(p, jpegs[0], 500, args.mb // 3, True),
        "caption (501 rows, one caption)": lambda p: caption_shard(p, jpegs, 501, max(1, args.mb // 3)),
        "list elements (20 rows x 1,000 refs)": lambda p: list_shard(p, jpegs[0], 20, 1000),
        "quoted-overlap zip (300 members)": lambda p: quoted_overlap_zip(
            p.with_suffix(".zip"), jpegs[0] + bytes(max(1, args.mb // 3) << 20), 300
        ),
        ".tar.bz2 of zeros (8 x 1 GB members)": lambda p: bzip2_tar(p, jpegs, 8),
        "zip of bzip2 zeros (8 x 1 GB members)": lambda p: bzip2_zip(p, jpegs, 8),
        "legitimate: 3,000 JPEGs, one row group": lambda p: legitimate_shard(p, jpegs, 3000),
    }
    print(f"# Hostile shards, scanned cold with --jobs 1 — {platform.machine()}, Python {platform.python_version()}")
    print(f"{args.repeat} runs each; wall seconds and peak RSS of whole processes\n")
    print("| shard | file KB | min s | median s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for k, (name, write) in enumerate(shards.items()):
        if args.only not in name:
            continue
        folder = args.work / f"shard-{k}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        write(folder / "00000.parquet")
        walls, peaks = [], []
        for r in range(args.repeat):
            db = args.work / f"shard-{k}-{r}.db"
            db.unlink(missing_ok=True)
            cmd = [*CLI, "scan", str(folder), "--db", f"sqlite:///{db}", "-q", "--fail-on", "none", "--jobs", "1"]
            wall, code, rss = run.run(cmd)
            if code not in (0, 1):
                raise SystemExit(f"scan of {name} failed: {code}")
            walls.append(wall)
            peaks.append(rss)
        size = sum(f.stat().st_size for f in folder.iterdir()) >> 10
        print(f"| {name} | {size} | {min(walls):.2f} | {statistics.median(walls):.2f} | {max(peaks)} |")


if __name__ == "__main__":
    main()
