"""Rebuild the near-duplicate groups of every present photo in the database."""

from __future__ import annotations

import numpy as np
import sqlite_utils

from photocull.base.heads import EMBEDDING_DIM
from photocull.groups.cluster import group
from photocull.groups.codes import CHUNK, encode_rows
from photocull.groups.rule import GroupingOptions
from photocull.store.groups import grouping_inputs, save_groups


def regroup(db: sqlite_utils.Database, options: GroupingOptions | None = None) -> dict[int, list[int]]:
    """Group all present photos; returns {group id: photo ids}.

    Rows are streamed into preallocated arrays; embeddings go straight to int8 codes.
    """
    options = options or GroupingOptions()
    count, rows, use_embeddings = grouping_inputs(db)
    ids = np.empty(count, dtype=np.int64)
    ph = np.empty(count, dtype=np.int64)
    dh = np.empty(count, dtype=np.int64)
    times = np.full(count, np.nan)
    codes = np.zeros((count, EMBEDDING_DIM), dtype=np.int8) if use_embeddings else None
    pending: list[bytes | None] = []
    k = -1
    for k, r in enumerate(rows):
        if k >= count:  # a photo added since the count (another process): next regroup takes it
            break
        ids[k], ph[k], dh[k] = r["id"], r["phash"], r["dhash"]
        if r["time_source"] == "exif" and r["captured_ts"] is not None:
            times[k] = r["captured_ts"]
        if codes is not None:
            pending.append(r["embedding"])
            if len(pending) == CHUNK:
                codes[k + 1 - CHUNK : k + 1] = encode_rows(pending)
                pending = []
    if codes is not None and pending:
        codes[k + 1 - len(pending) : k + 1] = encode_rows(pending)
    n = min(k + 1, count)
    groups = group(ph[:n], dh[:n], times[:n], options, None if codes is None else codes[:n])
    return save_groups(db, [ids[g].tolist() for g in groups])
