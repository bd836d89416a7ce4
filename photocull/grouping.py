"""Near-duplicate groups from perceptual hashes, capture time and (when scored) CNN embeddings.

Pairs are found by all-pairs pHash Hamming search (chunked numpy XOR + popcount), judged with a
threshold that capture time makes looser (frames seconds apart) or stricter (days apart), confirmed
by dHash, and clustered with complete linkage so that A~B and B~C never drag in a C far from A.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .measure import to_unsigned64

FAR = 2.0  # effective distance of a pair that is not a near-duplicate


@dataclass
class GroupingOptions:
    """Thresholds in bits of 64-bit hash distance; defaults measured on the test fixtures (README)."""

    phash_threshold: int = 10
    dhash_threshold: int = 14
    burst_seconds: float = 10.0
    burst_phash_threshold: int = 14
    burst_dhash_threshold: int = 18
    far_seconds: float = 6 * 3600.0
    far_phash_threshold: int = 6
    far_dhash_threshold: int = 10
    # Pairs whose CNN embeddings are both known: thresholds loosened by this many bits, but the
    # embeddings' cosine similarity must reach min_embedding_similarity (scripts/measure_grouping.py).
    embedding_bonus_bits: int = 12
    min_embedding_similarity: float = 0.9

    def as_dict(self) -> dict:
        return asdict(self)


def hamming_pairs(hashes: np.ndarray, radius: int, block_elements: int = 4_000_000) -> tuple[np.ndarray, ...]:
    """All pairs (i < j) of 64-bit hashes within ``radius`` bits: returns (i, j, distance).

    Rows are processed in chunks sized to ``block_elements`` comparisons (bounded memory), on two
    threads: numpy's ufuncs release the GIL.
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty.astype(np.uint8)
    rows = max(1, block_elements // n)

    def work(start: int) -> tuple[np.ndarray, ...]:
        stop = min(start + rows, n)
        dist = np.bitwise_count(h[start:stop, None] ^ h[None, start:])
        ii, jj = np.nonzero(dist <= radius)
        jj_abs = jj + start
        ii_abs = ii + start
        keep = jj_abs > ii_abs
        return ii_abs[keep], jj_abs[keep], dist[ii[keep], jj[keep]]

    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(work, range(0, n, rows)))
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def pair_distances(
    i: np.ndarray,
    j: np.ndarray,
    dp: np.ndarray,
    dhash: np.ndarray,
    times: np.ndarray,
    options: GroupingOptions,
    embeddings: np.ndarray | None = None,
) -> np.ndarray:
    """Effective distance per candidate pair: ≤ 1 means near-duplicate.

    Each hash distance is divided by the threshold that applies to that pair's time gap, and the
    larger of the two counts, so pHash and dHash must both agree. Where both photos have embeddings,
    the thresholds are looser and the embeddings must agree instead.
    """
    dd = np.bitwise_count(dhash[i] ^ dhash[j]).astype(np.float64)
    gap = np.abs(times[i] - times[j])  # NaN when either capture time is unknown
    tp = np.full(len(i), float(options.phash_threshold))
    td = np.full(len(i), float(options.dhash_threshold))
    burst = gap <= options.burst_seconds
    far = gap > options.far_seconds
    tp[burst], td[burst] = options.burst_phash_threshold, options.burst_dhash_threshold
    tp[far], td[far] = options.far_phash_threshold, options.far_dhash_threshold
    if embeddings is not None and len(i):
        sim = np.einsum("ij,ij->i", embeddings[i], embeddings[j])
        known = ~np.isnan(sim)
        tp[known] += options.embedding_bonus_bits
        td[known] += options.embedding_bonus_bits
    eff = np.maximum(dp / np.maximum(tp, 0.5), dd / np.maximum(td, 0.5))
    if embeddings is not None and len(i):
        eff[known & (sim < options.min_embedding_similarity)] = FAR
    return eff


def _components(n: int, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(x) for x in range(n)])
    order = np.argsort(roots, kind="stable")
    splits = np.flatnonzero(np.diff(roots[order])) + 1
    return [c for c in np.split(order, splits) if len(c) > 1]


def _complete_linkage(members: np.ndarray, pairs: dict[tuple[int, int], float]) -> list[np.ndarray]:
    k = len(members)
    if k == 2:
        return [members]
    dist = np.full((k, k), FAR)
    np.fill_diagonal(dist, 0.0)
    index = {int(m): n for n, m in enumerate(members)}
    for a in members.tolist():
        for b in members.tolist():
            if a < b and (a, b) in pairs:
                dist[index[a], index[b]] = dist[index[b], index[a]] = pairs[(a, b)]
    labels = fcluster(linkage(squareform(dist, checks=False), method="complete"), t=1.0, criterion="distance")
    return [members[labels == label] for label in np.unique(labels) if (labels == label).sum() > 1]


def group(
    phash: np.ndarray,
    dhash: np.ndarray,
    times: np.ndarray,
    options: GroupingOptions | None = None,
    embeddings: np.ndarray | None = None,
) -> list[list[int]]:
    """Group photos by index. ``times`` holds EXIF capture seconds, NaN where unknown.

    ``embeddings`` are unit-normalised rows, NaN rows for photos that were not scored.
    """
    options = options or GroupingOptions()
    ph = np.array([to_unsigned64(int(v)) for v in phash], dtype=np.uint64)
    dh = np.array([to_unsigned64(int(v)) for v in dhash], dtype=np.uint64)
    times = np.asarray(times, dtype=np.float64)
    radius = max(options.phash_threshold, options.burst_phash_threshold, options.far_phash_threshold)
    if embeddings is not None:
        radius += options.embedding_bonus_bits
    i, j, dp = hamming_pairs(ph, radius)
    eff = pair_distances(i, j, dp.astype(np.float64), dh, times, options, embeddings)
    ok = eff <= 1.0
    i, j, eff = i[ok], j[ok], eff[ok]
    pairs = {(int(a), int(b)): float(e) for a, b, e in zip(i, j, eff)}
    groups: list[list[int]] = []
    for members in _components(len(ph), i, j):
        groups.extend(sorted(g.tolist()) for g in _complete_linkage(members, pairs))
    return sorted(groups, key=lambda g: g[0])
