"""Rebuild the near-duplicate groups of every present photo in the database."""

from __future__ import annotations

import numpy as np
import sqlite_utils

from photocull.base.heads import EMBEDDING_DIM
from photocull.groups.cluster import GroupingOptions, group
from photocull.store.groups import grouping_inputs, save_groups


def load_embeddings(blobs: list[bytes | None]) -> np.ndarray:
    """Unit-normalised float32 rows; NaN rows for photos that were never scored."""
    out = np.full((len(blobs), EMBEDDING_DIM), np.nan, dtype=np.float32)
    for k, blob in enumerate(blobs):
        if blob:
            vec = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
            out[k] = vec / max(float(np.linalg.norm(vec)), 1e-12)
    return out


def regroup(db: sqlite_utils.Database, options: GroupingOptions | None = None) -> dict[int, list[int]]:
    """Group all present photos; returns {group id: photo ids}."""
    options = options or GroupingOptions()
    rows, use_embeddings = grouping_inputs(db)
    ids = np.array([r["id"] for r in rows], dtype=np.int64)
    times = np.array(
        [r["captured_ts"] if r["time_source"] == "exif" and r["captured_ts"] is not None else np.nan for r in rows],
        dtype=np.float64,
    )
    embeddings = load_embeddings([r["embedding"] for r in rows]) if use_embeddings else None
    groups = group(
        np.array([r["phash"] for r in rows], dtype=np.int64),
        np.array([r["dhash"] for r in rows], dtype=np.int64),
        times,
        options,
        embeddings,
    )
    return save_groups(db, [ids[g].tolist() for g in groups])
