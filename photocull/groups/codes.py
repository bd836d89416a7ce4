"""CNN embeddings held as int8 codes: 1280 bytes a photo, so a million photos fit in 1.3 GB.

Grouping only needs each pair's cosine similarity against a threshold (0.9); an int8 code per
component changes a similarity by about 1e-4 (scripts/bench_grouping.py measures it), far below
the spread the threshold was chosen with. A row of zeros stands for a photo that was never scored.
"""

from __future__ import annotations

import numpy as np

from photocull.base.heads import EMBEDDING_DIM

CHUNK = 16384  # rows converted at once: bounds the float32 copies


def quantise(embeddings: np.ndarray) -> np.ndarray:
    """int8 codes of float rows (any scale; NaN rows are unscored photos → zero rows)."""
    out = np.zeros(embeddings.shape, dtype=np.int8)
    for s in range(0, len(embeddings), CHUNK):
        out[s : s + CHUNK] = _code(np.asarray(embeddings[s : s + CHUNK], dtype=np.float32))
    return out


def _code(rows: np.ndarray) -> np.ndarray:
    peak = np.abs(rows).max(axis=1, keepdims=True)
    ok = np.isfinite(peak) & (peak > 0)
    scaled = np.where(ok, rows / np.where(ok, peak, 1.0) * 127.0, 0.0)
    return np.rint(scaled).astype(np.int8)


def encode_rows(blobs: list[bytes | None]) -> np.ndarray:
    """Codes of stored float16 embedding blobs (None: not scored)."""
    missing = np.full(EMBEDDING_DIM, np.nan, dtype=np.float16)
    rows = [np.frombuffer(b, dtype=np.float16) if b else missing for b in blobs]
    return _code(np.stack(rows).astype(np.float32))


def norms(codes: np.ndarray) -> np.ndarray:
    """Euclidean norm of each code (0 for unscored rows), for cosine similarities."""
    out = np.empty(len(codes), dtype=np.float32)
    for s in range(0, len(codes), CHUNK):
        c = codes[s : s + CHUNK].astype(np.float32)
        out[s : s + CHUNK] = np.sqrt(np.einsum("ij,ij->i", c, c))
    return out
