"""Pillow's LANCZOS resize of an 8-bit grayscale picture, bit for bit, as two matrix products.

`Image.resize(size, LANCZOS)` on an "L" image (Pillow's Resample.c) filters the rows, rounds to 8 bits,
then filters the columns, with 22-bit fixed-point weights. The same integer sums, done as float64 matrix
products, are exact (every product and sum is an integer below 2**53), so the result is Pillow's to the
bit; and one product serves several output sizes at once: pHash's 32x32 and dHash's 9x8 share the row
pass. About 2.5x faster than two Pillow resizes at every size measured (docs/performance.md).
fingerprint.py checks it against Pillow once per process before trusting it (`agrees`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PRECISION_BITS = 22  # Resample.c: 32 - 8 - 2 bits of the weights
_HALF = float(1 << (PRECISION_BITS - 1))
_SCALE = 1.0 / (1 << PRECISION_BITS)
CHUNK_PIXELS = 1 << 19  # rows are filtered in blocks of about this many pixels (4 MB of float64)
_CACHE_LIMIT = 512  # weight matrices kept per process (one per input length and set of output lengths)

_weights: dict[tuple[int, int], np.ndarray] = {}


def _rows(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) matrix of Resample.c's fixed-point weights: precompute_coeffs, then
    normalize_coeffs_8bpc (round half away from zero to PRECISION_BITS). Computed for all rows at once with
    NumPy's sin; a weight within ROUNDING_GUARD of a rounding boundary, where a last-bit difference between
    NumPy's sin and the C library's could move it, has its row computed again as C does (`_row_as_c`)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    ss = 1.0 / filterscale
    center = (np.arange(out_size) + 0.5) * scale
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)  # C's (int): toward zero
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(max(int(xmax.max()), 1))
    inside = taps[None, :] < xmax[:, None]
    arg = ((taps[None, :] + xmin[:, None]) - center[:, None] + 0.5) * ss
    w = np.where(inside & (arg >= -3.0) & (arg < 3.0), _sinc(arg) * _sinc(arg / 3), 0.0)
    total = np.add.accumulate(w, axis=1)[:, -1]  # summed left to right, as C does
    k = w / np.where(total != 0.0, total, 1.0)[:, None]
    fixed = k * (1 << PRECISION_BITS) + np.where(k < 0, -0.5, 0.5)
    near = np.abs(fixed - np.rint(fixed)) < ROUNDING_GUARD
    out = np.zeros((out_size, in_size))
    cols = taps[None, :] + xmin[:, None]
    rows = np.broadcast_to(np.arange(out_size)[:, None], cols.shape)
    out[rows[inside], cols[inside]] = np.trunc(fixed)[inside]
    for xx in np.flatnonzero((near & inside).any(axis=1)):
        out[xx] = _row_as_c(in_size, int(xx), scale, support, ss)
    return out


ROUNDING_GUARD = 1e-6  # NumPy's sin and libm's differ by a few units in the last place at most: ~1e-9 here


def _sinc(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        y = x * math.pi
        return np.where(x == 0.0, 1.0, np.sin(y) / y)


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


def weights(in_size: int, out_size: int) -> np.ndarray:
    """`_rows(in_size, out_size)`, cached (the sizes of a dataset's pictures repeat)."""
    key = (in_size, out_size)
    w = _weights.get(key)
    if w is None:
        if len(_weights) >= _CACHE_LIMIT:
            _weights.clear()
        w = _weights[key] = _rows(in_size, out_size)
    return w


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
        across = np.concatenate([weights(w, sw) for sw, _ in part]).T  # (w, sum of widths)
        down = np.concatenate([weights(h, sh) for _, sh in part])  # (sum of heights, h)
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
