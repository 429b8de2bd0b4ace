"""imagehash's pHash bits from a reduced grayscale picture: the 2-D DCT-II as two small matrix products
instead of scipy's full transforms, bit-identical to imagehash (tests/test_fingerprint.py checks it over real
photos and every flat grey level). Pure NumPy on arrays; decoding and resizing stay in fingerprint.py."""

from __future__ import annotations

import numpy as np


def hex_bits(bits: np.ndarray) -> str:
    """imagehash's hex form: the bits row-major, most significant first (`str(ImageHash)`)."""
    return np.packbits(bits.ravel()).tobytes().hex()


def dct_rows(n: int, k: int) -> np.ndarray:
    """The first `k` rows of the unnormalised DCT-II matrix of size n (scipy.fftpack.dct's type 2, norm=None):
    C[u, x] = 2 cos(pi u (2x + 1) / 2n)."""
    u = np.arange(k, dtype=np.float64)[:, None]
    x = np.arange(n, dtype=np.float64)[None, :]
    rows: np.ndarray = 2.0 * np.cos(np.pi * u * (2.0 * x + 1.0) / (2.0 * n))
    return rows


DCT = {32: dct_rows(32, 8), 64: dct_rows(64, 16)}  # pHash (64 bits) and the 256-bit pHash
# Coefficients this close to the median are a float-noise tie: imagehash's bit there is whatever scipy's FFT
# rounding gives, so the same FFT is asked (scipy, imported only then).
DCT_TIE = 1e-6


def dct_low_bits(pixels: np.ndarray) -> np.ndarray:
    """imagehash.phash's bits for a square grayscale array (32x32: 64 bits, 64x64: 256 bits): the low
    frequencies of the 2-D DCT-II above their median.

    A flat picture (one grey level: blank and placeholder images, common in scraped sets) is answered
    without the transform: scipy gives exactly 0 for every AC coefficient there, so only the DC bit can be
    above the median, and only when the level is above 0 (a test checks all 256 levels at both sizes)."""
    c = DCT[pixels.shape[0]]
    k = c.shape[0]
    level = pixels.flat[0]
    if pixels.min() == level and pixels.max() == level:
        bits = np.zeros((k, k), dtype=bool)
        bits[0, 0] = level > 0
        return bits
    low = c @ pixels.astype(np.float64) @ c.T
    ranked = np.sort(low, axis=None)
    below, above = ranked[k * k // 2 - 1], ranked[k * k // 2]
    median = (below + above) / 2  # np.median's value for an even count, without its overhead
    if (above - below) / 2 < DCT_TIE:  # the two middle coefficients are the ones nearest the median
        import scipy.fftpack

        low = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:k, :k]
        median = np.median(low)
    result: np.ndarray = low > median
    return result
