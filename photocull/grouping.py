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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .measure import to_unsigned64

FAR = 2.0  # effective distance of a pair that is not a near-duplicate
MAX_LINKAGE = 3000  # larger components use greedy cliques: linkage needs O(n²) memory


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
        empty = np.empty(0, dtype=np.int32)
        return empty, empty, empty.astype(np.uint8)
    rows = max(1, block_elements // n)

    def work(start: int) -> tuple[np.ndarray, ...]:
        stop = min(start + rows, n)
        dist = np.bitwise_count(h[start:stop, None] ^ h[None, start:])
        ii, jj = np.nonzero(dist <= radius)
        keep = jj + start > ii + start
        ii, jj = ii[keep], jj[keep]
        return (ii + start).astype(np.int32), (jj + start).astype(np.int32), dist[ii, jj]

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
    """Connected components with more than one member (vectorised: pair counts can be huge)."""
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    splits = np.flatnonzero(np.diff(labels[order])) + 1
    return [c for c in np.split(order, splits) if len(c) > 1]


class _Pairs:
    """Effective distances between any photos, computed from hashes, times and embeddings."""

    def __init__(self, ph, dh, times, options, embeddings):
        self.ph, self.dh, self.times, self.options, self.embeddings = ph, dh, times, options, embeddings

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        dp = np.bitwise_count(self.ph[a] ^ self.ph[b]).astype(np.float64)
        return pair_distances(a, b, dp, self.dh, self.times, self.options, self.embeddings)


def _complete_linkage(members: np.ndarray, dist: _Pairs) -> list[np.ndarray]:
    """Split a component into groups whose every pair is a near-duplicate (diameter ≤ 1)."""
    if len(members) == 2:
        return [members]
    if len(members) > MAX_LINKAGE:
        return _greedy_cliques(members, dist)
    ii, jj = np.triu_indices(len(members), 1)  # the condensed order scipy expects
    condensed = np.minimum(dist(members[ii], members[jj]), FAR)
    labels = fcluster(linkage(condensed, method="complete"), t=1.0, criterion="distance")
    return [members[labels == label] for label in np.unique(labels) if (labels == label).sum() > 1]


def _greedy_cliques(members: np.ndarray, dist: _Pairs) -> list[np.ndarray]:
    """For very large components (thousands of near-identical frames): each photo joins the first
    group it is a near-duplicate of every member of. Same guarantee as complete linkage, linear memory."""
    cliques: list[list[int]] = []
    for x in members.tolist():
        for clique in cliques:
            if (dist(np.full(len(clique), x), np.array(clique)) <= 1.0).all():
                clique.append(x)
                break
        else:
            cliques.append([x])
    return [np.array(c) for c in cliques if len(c) > 1]


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
    dist = _Pairs(ph, dh, times, options, embeddings)
    groups: list[list[int]] = []
    for members in _components(len(ph), i[ok], j[ok]):
        groups.extend(sorted(g.tolist()) for g in _complete_linkage(members, dist))
    return sorted(groups, key=lambda g: g[0])
