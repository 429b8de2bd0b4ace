"""False matches at scale: real photos queried against a 1M-entry reference set.

    python bench/false_matches.py --queries DIR ... --fillers-from DIR ... [--references 1000000]
                                  [--limit 1000] [--tiles 2] [--jobs 2]

The reference set is what a known-scraped collection looks like to ReferenceIndex:
- real codes: every query photo's edited copies (bench/transforms.py: resize, re-encode, crops, mirror,
  brightness, watermark, rotation, border, screenshot), fingerprinted as a reference build would;
- realistic fillers: random crops (35-90% of each side, random position, half of them mirrored) of the
  photos and figures under --fillers-from, a pool disjoint from the queries, until the set holds
  --references entries. Each filler is a piece of a real image, so its codes are distributed as real
  photos' codes are (random 64-bit fillers are far easier: they almost never come near a real pHash).

Queries are the photos under --queries (downscaled to <= 1024 px), then, to reach --limit, the
non-overlapping tiles of the larger ones (--tiles 2: 2 x 2 quadrants, each a real photo region). Tiles
of one photo are never both query and reference of each other: a tile's own copies are not in the set.
Every query is fingerprinted like a dataset image. A first pass lists every candidate within
CANDIDATE_RADIUS with its 256-bit distance (the raw tables, and `--dump`) and finds the grey-zone
candidates, which the keypoint check consults; the edited copies carry keypoints as a build stores them,
and the fillers among grey-zone candidates get theirs (their crop regenerated): no other entry's are ever
read, so the result is the one a set with keypoints on every entry gives. The second pass looks every
query up with the production matcher (ReferenceIndex.perceptual_hits, its 256-bit pHash and keypoints
computed on demand); a hit on one of its own edited copies is a true match, any other hit is a false
match. Printed: candidates per query at each 64-bit radius, confirmed false matches under the production
rule, the inliers of true and false grey-zone candidates, the smallest 256-bit distance of any false
candidate, and the 256-bit distances of true candidates, so the radii and MIN_INLIERS can be chosen.

Fillers are cached in --cache (default /tmp/consentaudit-bench) keyed by their parameters.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from consentaudit.fingerprint import VIEWS, fingerprint_bytes, hash_gray, keypoints_of
from consentaudit.matching.hamming import HammingIndex, parse_hex64
from consentaudit.matching.keypoints import STORED, Keypoints, inliers
from consentaudit.matching.perceptual import CANDIDATE_RADIUS, MIN_DETAIL, hamming256, matchable, radius256
from consentaudit.matching.reference_index import KEYPOINT_ZONE, MIN_INLIERS, SURE_SLACK, VIEW_MARGIN, ReferenceIndex
from consentaudit.models import ReferenceEntry
from consentaudit.probe import ImageProbe
from transforms import TRANSFORMS

EXTS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
SAME_SCENE = ("orientation", "hdr", "Canon_40D", "/A.jpg", "/CA.jpg")
MAX_SIDE = 1024
FILLER_SIDE = 512
TILE_MIN = 320


def load(path: Path, max_side: int) -> Image.Image | None:
    try:
        im = Image.open(path)
        im.load()
    except Exception:
        return None
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        bg.alpha_composite(im)
        im = bg
    im = im.convert("RGB")
    im.thumbnail((max_side, max_side))
    return im if min(im.size) >= 64 else None


def files(folders: list[Path]) -> list[Path]:
    out = []
    for f in folders:
        for p in sorted(f.rglob("*")):
            if p.suffix.lower() in EXTS and not any(s in str(p) for s in SAME_SCENE):
                out.append(p)
    return out


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def query_images(folders: list[Path], limit: int, tiles: int) -> list[tuple[str, int, Image.Image]]:
    """(name, source photo number, image): whole photos first, then non-overlapping tiles (n x n, n <=
    `tiles`, each at least TILE_MIN px a side, downscaled to <= MAX_SIDE), round-robin over photos."""
    seen: set[str] = set()
    whole: list[tuple[str, Image.Image]] = []
    for p in files(folders):
        im = load(p, MAX_SIDE * tiles)
        if im is None:
            continue
        key = hashlib.sha256(im.tobytes()).hexdigest()
        if key not in seen:
            seen.add(key)
            whole.append((p.name, im))
    out = []
    for k, (name, im) in enumerate(whole):
        small = im.copy()
        small.thumbnail((MAX_SIDE, MAX_SIDE))
        out.append((name, k, small))
    cut: list[list[tuple[str, int, Image.Image]]] = []
    for k, (name, im) in enumerate(whole):
        w, h = im.size
        n = min(tiles, min(w, h) // TILE_MIN)
        if n < 2:
            continue
        parts = []
        for ty in range(n):
            for tx in range(n):
                tile = im.crop((tx * w // n, ty * h // n, (tx + 1) * w // n, (ty + 1) * h // n))
                tile.thumbnail((MAX_SIDE, MAX_SIDE))
                parts.append((f"{name}#tile{ty}{tx}", k, tile))
        cut.append(parts)
    for j in range(tiles * tiles):
        out.extend(parts[j] for parts in cut if j < len(parts))
    return out[:limit]


Views = tuple[tuple[str, str, str], ...]


def edited_entries(job: tuple[int, Image.Image]) -> list[tuple[int, str, str, str, str, int, Views, str | None]]:
    """(query, edit, phash, dhash, phash256, detail, views, keypoints) of every edited copy of one query."""
    q, im = job
    out = []
    for name, fn in TRANSFORMS.items():
        edited = fn(im)
        fp = hash_gray(edited.convert("L"), "-", edited.width, edited.height, None, with256=True)
        assert fp.phash and fp.dhash and fp.phash256 and fp.detail is not None
        out.append((q, name, fp.phash, fp.dhash, fp.phash256, fp.detail, fp.views, fp.keypoints))
    return out


def crops(paths: list[str], count: int, seed: int, wanted: set[int] | None = None) -> Iterator[tuple[int, Image.Image]]:
    """(k, image) of the `count` random crops of the given images (only the k in `wanted`, if given)."""
    rng = random.Random(seed)
    grays = [im.convert("L") for im in (load(Path(p), FILLER_SIDE) for p in paths) if im is not None]
    for k in range(count):
        g = grays[k % len(grays)]
        w, h = g.size
        fw, fh = rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.9)
        cw, ch = max(16, round(w * fw)), max(16, round(h * fh))
        x, y = rng.randrange(0, w - cw + 1), rng.randrange(0, h - ch + 1)
        flip = rng.random() < 0.5
        if wanted is not None and k not in wanted:
            continue
        crop = g.crop((x, y, x + cw, y + ch))
        yield k, crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else crop


def filler_codes(job: tuple[list[str], int, int]) -> list[tuple[str, ...]]:
    """`count` random crops of the given images: (phash, dhash, phash256, detail, then pHash and 256-bit
    pHash of each centre-crop view) each."""
    out = []
    for _, crop in crops(*job):
        fp = hash_gray(crop, "-", crop.width, crop.height, None, with256=True)
        assert fp.phash and fp.dhash and fp.phash256
        views = [code for _, ph, p256 in fp.views for code in (ph, p256)]
        out.append((fp.phash, fp.dhash, fp.phash256, str(fp.detail), *views, *[""] * (2 * len(VIEWS) - len(views))))
    return out


def filler_plan(sources: list[Path], n: int, seed: int) -> list[tuple[list[str], int, int]]:
    """The (paths, count, seed) jobs whose crops, in order, are the fillers."""
    rng = random.Random(seed)
    paths = [str(p) for p in sources]
    rng.shuffle(paths)
    chunks = [paths[i : i + 50] for i in range(0, len(paths), 50)]
    per = -(-n // len(chunks))
    return [(c, per, seed * 100_000 + i) for i, c in enumerate(chunks)]


def filler_keypoints(job: tuple[list[str], int, int, list[int]]) -> list[tuple[int, str]]:
    """(k, encoded ORB keypoints) of the job's crops numbered k in the list, as a reference build stores."""
    paths, count, seed, ks = job
    return [(k, keypoints_of(crop, STORED).encode()) for k, crop in crops(paths, count, seed, set(ks))]


def fillers(sources: list[Path], n: int, jobs: int, cache: Path, seed: int) -> list[tuple[str, ...]]:
    key = hashlib.sha256(f"v5|{n}|{FILLER_SIDE}|{seed}|{[str(p) for p in sources]}".encode()).hexdigest()[:16]
    path = cache / f"fillers-{n}-{key}.npy"
    if path.exists():
        arr = np.load(path)
        return [tuple(row) for row in arr.tolist()]  # type: ignore[misc]
    work = filler_plan(sources, n, seed)
    out: list[tuple[str, ...]] = []
    with ProcessPoolExecutor(jobs) as ex:
        for part in ex.map(filler_codes, work):
            out.extend(part)
    out = out[:n]
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, np.array(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=Path, nargs="+", required=True)
    ap.add_argument("--fillers-from", type=Path, nargs="+", required=True)
    ap.add_argument("--references", type=int, default=1_000_000)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--tiles", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1, help="which random crops make the fillers")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/consentaudit-bench"))
    ap.add_argument("--dump", type=Path, help="write every candidate (query, quality, d64, d256, kind) as CSV")
    args = ap.parse_args()

    t0 = time.perf_counter()
    queries = query_images(args.queries, args.limit, args.tiles)
    n_whole = sum(1 for name, _, _ in queries if "#tile" not in name)
    with ProcessPoolExecutor(args.jobs) as ex:
        real = [
            row for part in ex.map(edited_entries, [(q, im) for q, (_, _, im) in enumerate(queries)]) for row in part
        ]
    sources = [p for p in files(args.fillers_from)]
    fill = fillers(sources, args.references, args.jobs, args.cache, args.seed)[: args.references - len(real)]
    entries = [
        ReferenceEntry("copies", f"{q}:{edit}", None, ph, dh, phash256=p256, detail=det, views=views, keypoints=kp)
        for q, edit, ph, dh, p256, det, views, kp in real
    ]
    entries += [
        ReferenceEntry(
            "fillers",
            str(i),
            None,
            ph,
            dh,
            phash256=p256,
            detail=int(det),
            views=tuple((name, a, b) for (name, *_), a, b in zip(VIEWS, v[0::2], v[1::2], strict=True) if a),
        )
        for i, (ph, dh, p256, det, *v) in enumerate(fill)
    ]
    # every code of every entry (its own and its views'), without the detail gate, for the raw table
    codes = [(i, -1, e.phash, e.phash256) for i, e in enumerate(entries)]
    codes += [(i, k, ph, p256) for i, e in enumerate(entries) for k, (_, ph, p256) in enumerate(e.views)]
    everything = HammingIndex(parse_hex64(c[2]) for c in codes if c[2])
    owner = [q for q, *_ in real] + [-1] * len(fill)
    source = [src for _, src, _ in queries]
    print(
        f"{len(queries)} queries ({n_whole} whole real photos, {len(queries) - n_whole} tiles) from "
        f"{', '.join(map(str, args.queries))}"
    )
    print(
        f"{len(entries):,} reference entries: {len(real):,} edited copies of the queries + {len(fill):,} fillers "
        f"(crops of {len(sources):,} images from {', '.join(map(str, args.fillers_from))}); "
        f"setup {time.perf_counter() - t0:.0f} s"
    )

    # Pass 1, raw candidates: every entry within CANDIDATE_RADIUS of the query's pHash / mirror / trimmed
    # pHash, with the 256-bit distance of the same variant (or view).
    probes = [ImageProbe(lambda im=im: png(im)) for _, _, im in queries]
    fps = [fingerprint_bytes(png(im)) for _, _, im in queries]
    false_by_radius: Counter[int] = Counter()
    false_256: list[tuple[int, int]] = []  # (d64, d256) of false candidates
    true_256: list[tuple[int, int, str]] = []  # (d64, d256, edit) of true candidates
    zone: list[tuple[int, int, str, bool]] = []  # (query, entry, variant, true?) in reach of the keypoint check
    rows = ["query,detail,ref_detail,d64,d256,kind,ref,view"]
    t = time.perf_counter()
    for q, fp in enumerate(fps):
        for code, variant in ((fp.phash, "phash"), (fp.phash_mirror, "phash_mirror"), (fp.phash_trim, "phash_trim")):
            if not code:
                continue
            mine256 = probes[q].phash256(variant)
            assert mine256
            for pos, d in everything.within(parse_hex64(code), CANDIDATE_RADIUS):
                i, view, _, code256 = codes[pos]
                e = entries[i]
                assert code256
                d256 = hamming256(mine256, code256)
                kind = (
                    "own"
                    if owner[i] == q
                    else "filler"
                    if owner[i] < 0
                    else ("sibling" if source[owner[i]] == source[q] else "other")
                )
                rows.append(f"{q},{fp.detail},{e.detail},{d},{d256},{kind},{e.ref_id},{view}")
                slack = radius256(d) - (VIEW_MARGIN if view >= 0 else 0) - d256
                if matchable(fp) and (e.detail or 0) >= MIN_DETAIL and SURE_SLACK > slack >= -KEYPOINT_ZONE:
                    zone.append((q, i, variant, owner[i] == q))
                if owner[i] == q:
                    true_256.append((d, d256, e.ref_id.split(":")[1]))
                else:
                    false_by_radius[d] += 1
                    false_256.append((d, d256))
    raw_time = time.perf_counter() - t

    # The fillers a keypoint check may consult get their keypoints, as a reference build stores them: the
    # others' are never read, so computing them would not change a result.
    plan = filler_plan(sources, args.references, args.seed)
    per = plan[0][1]
    wanted: dict[int, list[int]] = {}
    for _, i, _, _ in zone:
        if owner[i] < 0:
            j = i - len(real)
            wanted.setdefault(j // per, []).append(j % per)
    t = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as ex:
        jobs = [(*plan[c], sorted(set(ks))) for c, ks in sorted(wanted.items())]
        for (c, _), part in zip(sorted(wanted.items()), ex.map(filler_keypoints, jobs), strict=True):
            for k, kp in part:
                i = len(real) + c * per + k
                entries[i] = replace(entries[i], keypoints=kp)
    n_kp = sum(len(set(ks)) for ks in wanted.values())
    took = time.perf_counter() - t
    print(f"{n_kp:,} fillers are in reach of the keypoint check: their keypoints computed in {took:.0f} s")

    # Inliers of every candidate in the keypoint zone, true and false (what MIN_INLIERS is chosen on).
    inl_true: Counter[int] = Counter()
    inl_false: Counter[int] = Counter()
    worst: list[tuple[int, str, str]] = []
    for q, i, variant, is_own in zone:
        stored = entries[i].keypoints
        image = probes[q].keypoints(variant)
        n = -1 if stored is None or image is None else inliers(image, Keypoints.decode(stored))
        n = -1 if n is None else n
        (inl_true if is_own else inl_false)[min(n, 40)] += 1
        if not is_own and n >= MIN_INLIERS // 2:
            worst.append((n, queries[q][0], f"{entries[i].set_name}:{entries[i].ref_id}"))

    # Pass 2, the production matcher: ReferenceIndex with keypoints on the entries.
    t = time.perf_counter()
    index = ReferenceIndex(entries)
    build = time.perf_counter() - t
    confirmed_true = found = gated = 0
    false_kinds: Counter[str] = Counter()  # confirmed false matches: fillers / other photos / sibling tiles
    missed: Counter[str] = Counter()
    hows: Counter[str] = Counter()
    t = time.perf_counter()
    lookup_time = 0.0
    for q, (name, _, _) in enumerate(queries):
        fp = fps[q]
        gated += not matchable(fp)
        t1 = time.perf_counter()
        hits = index.perceptual_hits(fp, probes[q].phash256, probes[q].keypoints)
        lookup_time += time.perf_counter() - t1
        own = {i for i, _, _ in hits if owner[i] == q}
        confirmed_true += len(own)
        found += bool(own)
        for i, _, how in hits:
            if owner[i] != q:
                kind = "filler" if owner[i] < 0 else "sibling tile" if source[owner[i]] == source[q] else "other photo"
                false_kinds[kind] += 1
                print(f"  false match ({kind}): {name} ~ {entries[i].set_name}:{entries[i].ref_id} ({how})")
            else:
                hows["keypoints" if "keypoints" in how else "phash256"] += 1
        seen_edits = {entries[i].ref_id.split(":")[1] for i in own}
        for edit in TRANSFORMS:
            if edit not in seen_edits:
                missed[edit] += 1
    elapsed = time.perf_counter() - t + raw_time
    if args.dump:
        args.dump.write_text("\n".join(rows) + "\n")
    nq = len(queries)
    print(
        f"\nlookups: {nq / lookup_time:,.0f} queries/s through ReferenceIndex (one core, incl. 256-bit and keypoint "
        f"checks); index build {build:.1f} s"
    )
    print(f"total query phase {elapsed:.0f} s\n")
    print("| 64-bit radius (pHash, mirror or trimmed) | false candidates | per query | smallest 256-bit distance |")
    print("|---:|---:|---:|---:|")
    cum = 0
    for r in range(CANDIDATE_RADIUS + 1):
        cum += false_by_radius[r]
        d256 = [b for a, b in false_256 if a <= r]
        print(f"| ≤ {r} | {cum:,} | {cum / nq:.3f} | {min(d256) if d256 else '-'} |")
    print()
    print(
        f"production rule (detail ≥ {MIN_DETAIL}, candidates ≤ {CANDIDATE_RADIUS}, 256-bit within radius256(d) "
        f"- {SURE_SLACK}, or down to {KEYPOINT_ZONE} bits beyond it with ≥ {MIN_INLIERS} keypoint inliers): "
        f"**{sum(false_kinds.values())} confirmed false matches** ({dict(false_kinds) or 'none'}); "
        f"{gated} queries have too little detail to match perceptually; {found}/{nq} queries found at least "
        f"one of their own edited copies ({confirmed_true} copies in all; confirmed by {dict(hows)})"
    )
    print(
        f"\nKeypoint zone: {len(zone):,} candidates (256-bit slack in [-{KEYPOINT_ZONE}, {SURE_SLACK}), both detailed)"
    )
    print("| inliers | false candidates | true candidates |")
    print("|---:|---:|---:|")
    for n in sorted(set(inl_true) | set(inl_false)):
        label = "too few keypoints" if n < 0 else f"≥ {n}" if n == 40 else str(n)
        print(f"| {label} | {inl_false[n]} | {inl_true[n]} |")
    for n, qname, ref in sorted(worst, reverse=True)[:20]:
        print(f"  false candidate with {n} inliers: {qname} ~ {ref}")
    hist = Counter((b // 8) * 8 for _, b in false_256)
    print(
        "\n256-bit distance of false candidates (bucket: count): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(hist.items()))
    )
    by_edit: dict[str, list[int]] = {}
    for _, b, edit in true_256:
        by_edit.setdefault(edit, []).append(b)
    print("\nTrue candidates (the original queried against its edited copy in the set; see robustness.py for the")
    print("other direction, a dataset copy against the original):")
    print("| edit | candidates | 256-bit median | p95 | max | queries not finding this copy |")
    print("|---|---:|---:|---:|---:|---:|")
    for edit in TRANSFORMS:
        v = sorted(by_edit.get(edit, []))
        if v:
            print(f"| {edit} | {len(v)} | {v[len(v) // 2]} | {v[int(len(v) * 0.95)]} | {v[-1]} | {missed[edit]} |")
        else:
            print(f"| {edit} | 0 | - | - | - | {missed[edit]} |")
    print(f"\n(radius256 at d=0..14: {[radius256(d) for d in range(CANDIDATE_RADIUS + 1)]})")


if __name__ == "__main__":
    main()
