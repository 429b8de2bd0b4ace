"""Pillow's LANCZOS resize of an 8-bit grayscale picture, bit for bit, as two matrix products.

`Image.resize(size, LANCZOS)` on an "L" image (Pillow's Resample.c) filters the rows, rounds to 8 bits,
then filters the columns, with 22-bit fixed-point weights. The same integer sums, done as float64 matrix
products, are exact (every product and sum is an integer below 2**53), so the result is Pillow's to the
bit; and one product serves several output sizes at once: pHash's 32x32 and dHash's 9x8 share the row
pass. About 2x faster than two Pillow resizes on the benchmark's draft-decoded photos (docs/performance.md).
fingerprint.py checks it against the installed Pillow once per process before trusting it (`lanczos_order`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PRECISION_BITS = 22  # Resample.c: 32 - 8 - 2 bits of the weights
_HALF = float(1 << (PRECISION_BITS - 1))
_SCALE = 1.0 / (1 << PRECISION_BITS)
CHUNK_PIXELS = 1 << 19  # rows are filtered in blocks of about this many pixels (4 MB of float64)
CACHE_BYTES = 32 << 20  # weight matrices kept per process, at most this many bytes (one per in/out length)

_weights: dict[tuple[int, int], np.ndarray] = {}


def _rows(pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """For each (in_size, out_size), the (out_size, in_size) matrix of Resample.c's fixed-point weights:
    precompute_coeffs, then normalize_coeffs_8bpc (round half away from zero to PRECISION_BITS). All rows of
    all pairs at once, with NumPy's sin (a new picture size needs four matrices: one pass of array operations,
    not four); a weight within ROUNDING_GUARD of a rounding boundary, where a last-bit difference between
    NumPy's sin and the C library's could move it, has its row computed again as C does (`_row_as_c`)."""
    ins = np.array([i for i, _ in pairs], dtype=np.int64)
    outs = np.array([o for _, o in pairs], dtype=np.int64)
    scale = ins / outs
    filterscale = np.maximum(scale, 1.0)
    support = 3.0 * filterscale
    ss = 1.0 / filterscale
    pair = np.repeat(np.arange(len(pairs)), outs)  # the pair of each row
    xx = np.arange(len(pair)) - np.repeat(np.cumsum(outs) - outs, outs)  # each row's index in its matrix
    center = (xx + 0.5) * scale[pair]
    xmin = np.maximum((center - support[pair] + 0.5).astype(np.int64), 0)  # C's (int): toward zero
    xmax = np.minimum((center + support[pair] + 0.5).astype(np.int64), ins[pair]) - xmin
    taps = np.arange(max(int(xmax.max()), 1))
    cols = taps + xmin[:, None]
    arg = (cols - center[:, None] + 0.5) * ss[pair][:, None]  # C: (x + xmin - center + 0.5) * ss
    live = taps < xmax[:, None]
    inside = live & (arg >= -3.0) & (arg < 3.0)
    zero = arg == 0.0
    y, y3 = arg * math.pi, (arg / 3) * math.pi  # sinc(x) and sinc(x / 3), as sinc_filter computes them
    y[zero] = y3[zero] = 1.0
    w = np.sin(y) / y * (np.sin(y3) / y3)
    w[zero] = 1.0
    w[~inside] = 0.0
    total = np.add.accumulate(w, axis=1)[:, -1]  # summed left to right, as C does
    total[total == 0.0] = 1.0
    k = w / total[:, None]
    fixed = k * (1 << PRECISION_BITS)
    fixed += np.where(k < 0, -0.5, 0.5)
    near = (np.abs(fixed - np.rint(fixed)) < ROUNDING_GUARD) & live
    weights = np.trunc(fixed)
    out: list[np.ndarray] = []
    first = 0
    for (in_size, out_size), sc, sup, s in zip(pairs, scale, support, ss, strict=True):
        rows = slice(first, first + out_size)
        m = np.zeros((out_size, in_size))
        on = live[rows]
        m[np.nonzero(on)[0], cols[rows][on]] = weights[rows][on]
        for r in np.flatnonzero(near[rows].any(axis=1)):
            m[r] = _row_as_c(in_size, int(r), float(sc), float(sup), float(s))
        out.append(m)
        first += out_size
    return out


ROUNDING_GUARD = 1e-6  # NumPy's sin and libm's differ by a few units in the last place at most: ~1e-9 here


def _row_as_c(in_size: int, xx: int, scale: float, support: float, ss: float) -> np.ndarray:
    """One row of `_rows` the way Resample.c computes it, with the C library's sin (math.sin)."""
    center = (xx + 0.5) * scale
    xmin = max(int(center - support + 0.5), 0)
    xmax = min(int(center + support + 0.5), in_size) - xmin
    ws = [_lanczos_c((x + xmin - center + 0.5) * ss) for x in range(xmax)]
    total = 0.0
    for w in ws:
        total += w
    row = np.zeros(in_size)
    for x, w in enumerate(ws):
        k = w / total if total != 0.0 else w
        row[xmin + x] = int(-0.5 + k * (1 << PRECISION_BITS)) if k < 0 else int(0.5 + k * (1 << PRECISION_BITS))
    return row


def _lanczos_c(x: float) -> float:
    """Resample.c's lanczos_filter: sinc(x) sinc(x/3) on [-3, 3)."""
    if not -3.0 <= x < 3.0:
        return 0.0
    return _sinc_c(x) * _sinc_c(x / 3)


def _sinc_c(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def weights(pairs: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """`_rows` of each (in_size, out_size), cached (the sizes of a dataset's pictures repeat); the cache
    starts over when it would pass CACHE_BYTES (a dataset of ever new sizes: memory stays bounded)."""
    wanted = list(dict.fromkeys(pairs))
    missing = [p for p in wanted if p not in _weights]
    if missing:
        if sum(m.nbytes for m in _weights.values()) + 8 * sum(i * o for i, o in missing) > CACHE_BYTES:
            _weights.clear()
            missing = wanted
        by_taps: dict[int, list[tuple[int, int]]] = {}  # rows of like length (within 2x) in one batch
        for p in missing:
            by_taps.setdefault(int(math.log2(max(p[0] / p[1], 1.0))), []).append(p)
        for group in by_taps.values():
            _weights.update(zip(group, _rows(group), strict=True))
    return [_weights[p] for p in pairs]


def _clip8(sums: np.ndarray) -> np.ndarray:
    """Resample.c's clip8 of the fixed-point sums (with the rounding half added), in place."""
    sums += _HALF
    sums *= _SCALE
    np.floor(sums, out=sums)
    np.clip(sums, 0, 255, out=sums)
    return sums


HORIZONTAL_FIRST = "horizontal-first"  # Pillow up to 12: the row pass, then the column pass
PILLOW_13 = "pillow-13"  # Pillow 13: the column pass first when it removes more than twice as many pixels
ORDERS = (PILLOW_13, HORIZONTAL_FIRST)


def vertical_first(order: str, w: int, h: int, out_w: int, out_h: int) -> bool:
    """Whether Pillow's resize (w, h) -> (out_w, out_h) runs its column pass first, under `order`."""
    return order == PILLOW_13 and h - out_h > 0 and h - out_h > (w - out_w) * 2


def resize(px: np.ndarray, sizes: Sequence[tuple[int, int]], order: str = PILLOW_13) -> list[np.ndarray]:
    """`Image.fromarray(px).resize(size, Image.Resampling.LANCZOS)` for each (width, height) in `sizes`, as
    uint8 arrays, passes in the `order` of the Pillow to reproduce. Sizes whose passes run in the same order
    share each pass's product (in blocks, so memory stays ~CHUNK_PIXELS float64 whatever the picture)."""
    h, w = px.shape
    out: list[np.ndarray | None] = [None] * len(sizes)
    groups: dict[bool, list[int]] = {}
    for i, (sw, sh) in enumerate(sizes):
        groups.setdefault(vertical_first(order, w, h, sw, sh), []).append(i)
    for columns_first, idx in groups.items():
        part = [sizes[i] for i in idx]
        ws = weights([(w, sw) for sw, _ in part] + [(h, sh) for _, sh in part])
        across = np.concatenate(ws[: len(part)]).T  # (w, sum of widths)
        down = np.concatenate(ws[len(part) :])  # (sum of heights, h)
        if columns_first:
            step = max(1, CHUNK_PIXELS // max(h, 1))
            passed = np.empty((down.shape[0], w))
            for c in range(0, w, step):
                passed[:, c : c + step] = down @ px[:, c : c + step].astype(np.float64)
            both = _clip8(_clip8(passed) @ across)
        else:
            step = max(1, CHUNK_PIXELS // max(w, 1))
            passed = np.empty((h, across.shape[1]))
            for r in range(0, h, step):
                passed[r : r + step] = px[r : r + step].astype(np.float64) @ across
            both = _clip8(down @ _clip8(passed))
        row = col = 0
        for i, (sw, sh) in zip(idx, part, strict=True):  # each size is a diagonal block
            out[i] = both[row : row + sh, col : col + sw].astype(np.uint8)
            row, col = row + sh, col + sw
    return [o for o in out if o is not None]
