"""Perceptual hashes of the measures' grey copy: imagehash's pHash and dHash, bit for bit, in NumPy.

Grouping's thresholds were set on imagehash's bits, so these must stay its bits. imagehash shrinks
the image with Pillow's Lanczos filter (32×32 for pHash, 9×8 for dHash), then takes SciPy's DCT or
neighbour differences. Here both shrinks are Pillow's own integer arithmetic done as matrix
products: Pillow resamples with fixed-point weights (22 fraction bits, rounded to 8 bits after each
pass), and every such sum is an integer far below 2**53, so float64 matrix products give exactly
Pillow's numbers, and the two shrinks share their first pass. The measures of a 12 MP photo's
preview took 2.1–2.4 instead of 3.0–3.1 CPU ms (the same hashes on the scan benchmark's 720
photos). The DCT is two small products too, so decoding processes never import SciPy (about
25 MB each). tests/test_scan.py checks the bits against imagehash.
"""

from __future__ import annotations

import functools
import math

import numpy as np

PHASH_SIDE = 32  # imagehash.phash's defaults: an 8×8 hash from the low frequencies of a 32×32 grey copy
DHASH_SIZE = (9, 8)  # imagehash.dhash's: 8×8 bits from neighbours of a 9×8 grey copy (width, height)
_PRECISION_BITS = 22  # Pillow's Resample.c for 8-bit images: 32 - 8 - 2
_LANCZOS_SUPPORT = 3.0


def _dct_rows(n: int, rows: int) -> np.ndarray:
    """The first ``rows`` rows of the unnormalised type-II DCT matrix scipy.fftpack.dct applies:
    y[k] = 2 Σ x[i] cos(π k (2i + 1) / 2n)."""
    k, i = np.arange(rows)[:, None], np.arange(n)[None, :]
    result: np.ndarray = 2.0 * np.cos(np.pi * k * (2 * i + 1) / (2 * n))
    return result


_DCT = _dct_rows(PHASH_SIDE, 8)


def _lanczos(x: float) -> float:
    """Pillow's Lanczos kernel (a = 3), with the same libm calls as its C code."""

    def sinc(v: float) -> float:
        return 1.0 if v == 0.0 else math.sin(v * math.pi) / (v * math.pi)

    return sinc(x) * sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


@functools.lru_cache(maxsize=16)
def _weights(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's fixed-point Lanczos weights shrinking ``in_size`` pixels to ``out_size``, as an
    [out_size, in_size] matrix of integers (``precompute_coeffs`` and ``normalize_coeffs_8bpc``)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ss = 1.0 / filterscale
    out = np.zeros((out_size, in_size))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        k = [_lanczos((x + xmin - center + 0.5) * ss) for x in range(xmax - xmin)]
        total = sum(k)
        for x, raw in enumerate(k):
            w = raw / total if total != 0.0 else raw
            fixed = w * (1 << _PRECISION_BITS)
            out[xx, xmin + x] = math.trunc(fixed - 0.5 if w < 0 else fixed + 0.5)
    return out


def _to_8bit(sums: np.ndarray) -> np.ndarray:
    """Pillow's rounding of a pass's fixed-point sums back to 0..255 (``clip8``)."""
    half = 1 << (_PRECISION_BITS - 1)
    result: np.ndarray = np.clip(np.floor((sums + half) / (1 << _PRECISION_BITS)), 0, 255)
    return result


def hash_bits(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pHash bits [8, 8], dHash bits [8, 8]) of an 8-bit grey image [h, w]: imagehash's
    ``phash`` and ``dhash`` of the same image."""
    h, w = grey.shape
    horizontal = np.concatenate([_weights(w, PHASH_SIDE), _weights(w, DHASH_SIZE[0])]).T
    rows = _to_8bit(grey.astype(np.float64) @ horizontal)  # Pillow's first pass, both shrinks at once
    phash_small = _to_8bit(_weights(h, PHASH_SIDE) @ rows[:, :PHASH_SIDE])
    dhash_small = _to_8bit(_weights(h, DHASH_SIZE[1]) @ rows[:, PHASH_SIDE:])
    low = _DCT @ phash_small @ _DCT.T
    return low > np.median(low), dhash_small[:, 1:] > dhash_small[:, :-1]


def bits_int(bits: np.ndarray) -> int:
    """Hash bits, first row first, as one integer."""
    return int.from_bytes(np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes(), "big")
