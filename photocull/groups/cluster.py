"""Near-duplicate groups from perceptual hashes, capture time and (when scored) CNN embeddings.

Pairs are found by a blocked all-pairs pHash Hamming search (numpy XOR + popcount), judged with a
threshold that capture time makes looser (frames seconds apart) or stricter (days apart), confirmed
by dHash and, where both photos were scored, by their embeddings; then clustered with complete
linkage so that A~B and B~C never drag in a C far from A.

Memory is bounded whatever the library holds, a folder of ten thousand identical frames included:
each block of the search keeps only the pairs that are near-duplicates, those are folded into
components as they accumulate, embedding similarities are computed block by block, and a
component too large for scipy's linkage is split into cliques over a bit-packed adjacency matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

FAR = 2.0  # effective distance of a pair that is not a near-duplicate
MAX_LINKAGE = 3000  # larger components use greedy cliques: linkage needs O(n²) memory
MAX_CLIQUE_BLOCK = 24_000  # members per bit-packed adjacency matrix (72 MB); larger components are cut
FOLD_EDGES = 2_000_000  # near-duplicate pairs held before they are folded into components
BLOCK_ELEMENTS = 4_000_000  # hash comparisons per block of the search


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

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _blocks(n: int, block_elements: int) -> Iterator[tuple[int, int]]:
    rows = max(1, block_elements // max(n, 1))
    for start in range(0, n, rows):
        yield start, min(start + rows, n)


def _block_distances(h: np.ndarray, start: int, stop: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Hamming distances of rows start:stop to rows start:, and the flat indices of those within radius.

    A flat nonzero is far faster than a 2-D one on a sparse block.
    """
    dist = np.bitwise_count(h[start:stop, None] ^ h[None, start:])
    return dist, np.flatnonzero(dist <= radius)


def _upper(flat: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Block-local (row, column) of flat indices, keeping each pair once (column > row)."""
    ii, jj = np.divmod(flat, width)
    keep = jj > ii
    return ii[keep], jj[keep]


def hamming_pairs(hashes: np.ndarray, radius: int, block_elements: int = BLOCK_ELEMENTS) -> tuple[np.ndarray, ...]:
    """All pairs (i < j) of 64-bit hashes within ``radius`` bits: returns (i, j, distance).

    The same blocked search as grouping's candidate step, kept whole for checking it by brute force.
    """
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    parts = []
    for start, stop in _blocks(len(h), block_elements):
        dist, flat = _block_distances(h, start, stop, radius)
        ii, jj = _upper(flat, dist.shape[1])
        parts.append(((ii + start).astype(np.int32), (jj + start).astype(np.int32), dist[ii, jj]))
    if not parts:
        empty = np.empty(0, dtype=np.int32)
        return empty, empty, empty.astype(np.uint8)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))


def effective_distance(
    dp: np.ndarray, dd: np.ndarray, gap: np.ndarray, sim: np.ndarray | None, options: GroupingOptions
) -> np.ndarray:
    """Effective distance of pairs (any array shape, broadcast): ≤ 1 means near-duplicate.

    Each hash distance is divided by the threshold that applies to that pair's time gap (NaN when a
    capture time is unknown), and the larger of the two counts, so pHash and dHash must both agree.
    Where both photos have embeddings (``sim`` not NaN), the thresholds are looser and the
    embeddings must agree instead.
    """
    burst = gap <= options.burst_seconds
    far = gap > options.far_seconds
    tp = np.where(
        burst, options.burst_phash_threshold, np.where(far, options.far_phash_threshold, options.phash_threshold)
    )
    td = np.where(
        burst, options.burst_dhash_threshold, np.where(far, options.far_dhash_threshold, options.dhash_threshold)
    )
    tp = tp.astype(np.float32)
    td = td.astype(np.float32)
    if sim is not None:
        known = ~np.isnan(sim)
        tp = tp + known * np.float32(options.embedding_bonus_bits)
        td = td + known * np.float32(options.embedding_bonus_bits)
    eff = np.maximum(dp / np.maximum(tp, 0.5), dd / np.maximum(td, 0.5)).astype(np.float32)
    if sim is not None:
        eff[known & (sim < options.min_embedding_similarity)] = FAR
    return eff


class _Library:
    """Hashes, times and embeddings of every photo, with distances computed in bounded blocks."""

    def __init__(
        self,
        ph: np.ndarray,
        dh: np.ndarray,
        times: np.ndarray,
        options: GroupingOptions,
        embeddings: np.ndarray | None,
        loose: np.ndarray | None = None,
    ) -> None:
        self.ph, self.dh, self.times, self.options = ph, dh, times, options
        self.embeddings = None if embeddings is None else np.ascontiguousarray(embeddings, dtype=np.float32)
        # Rows standing for several photos taken at different times: judged by the loosest (burst)
        # thresholds, so that a search over them finds a superset of the true pairs.
        self.loose = loose

    def _gap(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        gap: np.ndarray = np.abs(self.times[a] - self.times[b])
        if self.loose is not None:
            gap = np.where(self.loose[a] | self.loose[b], 0.0, gap)
        return gap

    def pairs(self, i: np.ndarray, j: np.ndarray, dp: np.ndarray | None = None, chunk: int = 16384) -> np.ndarray:
        """Effective distances of the pairs (i[k], j[k])."""
        if dp is None:
            dp = np.bitwise_count(self.ph[i] ^ self.ph[j])
        dd = np.bitwise_count(self.dh[i] ^ self.dh[j])
        gap = self._gap(i, j)
        sim = None
        if self.embeddings is not None:
            sim = np.empty(len(i), dtype=np.float32)
            for s in range(0, len(i), chunk):  # gathered in chunks: 1280 floats per row add up fast
                e = slice(s, s + chunk)
                sim[e] = np.einsum("ij,ij->i", self.embeddings[i[e]], self.embeddings[j[e]])
        return effective_distance(dp.astype(np.float32), dd.astype(np.float32), gap, sim, self.options)

    def matrix(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Effective distances of every (row, col) pair as a 2-D array (embeddings by matrix product)."""
        dp = np.bitwise_count(self.ph[rows][:, None] ^ self.ph[cols][None, :]).astype(np.float32)
        dd = np.bitwise_count(self.dh[rows][:, None] ^ self.dh[cols][None, :]).astype(np.float32)
        gap = self._gap(rows[:, None], cols[None, :])
        sim = None if self.embeddings is None else self.embeddings[rows] @ self.embeddings[cols].T
        return effective_distance(dp, dd, gap, sim, self.options)

    def near(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether each (row, col) pair is a near-duplicate: ``matrix(rows, cols) <= 1``, in byte-sized steps.

        For whole integer hash distances, d / max(t, 0.5) ≤ 1 is d ≤ t, so no division is needed.
        """
        o = self.options
        dp = np.bitwise_count(self.ph[rows][:, None] ^ self.ph[cols][None, :]).astype(np.int16)
        dd = np.bitwise_count(self.dh[rows][:, None] ^ self.dh[cols][None, :]).astype(np.int16)
        veto = None
        if self.embeddings is not None:
            sim = self.embeddings[rows] @ self.embeddings[cols].T
            known = ~np.isnan(sim)
            bonus = (known * o.embedding_bonus_bits).astype(np.int16)
            dp -= bonus
            dd -= bonus
            veto = known & (sim < o.min_embedding_similarity)
        gap = self._gap(rows[:, None], cols[None, :])
        ok = np.where(
            gap <= o.burst_seconds,
            (dp <= o.burst_phash_threshold) & (dd <= o.burst_dhash_threshold),
            np.where(
                gap > o.far_seconds,
                (dp <= o.far_phash_threshold) & (dd <= o.far_dhash_threshold),
                (dp <= o.phash_threshold) & (dd <= o.dhash_threshold),
            ),
        )
        near: np.ndarray = ok if veto is None else ok & ~veto
        return near

    def near_pairs(self, start: int, stop: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Near-duplicate pairs (i < j) with i in rows start:stop."""
        dist, flat = _block_distances(self.ph, start, stop, radius)
        if len(flat) * 8 > dist.size:
            # nearly every pair is a candidate (a flood of similar frames): judge the block as a whole
            near = self.near(np.arange(start, stop), np.arange(start, len(self.ph)))
            ii, jj = _upper(np.flatnonzero(near), dist.shape[1])
            return (ii + start).astype(np.int32), (jj + start).astype(np.int32)
        ii, jj = _upper(flat, dist.shape[1])
        i, j = (ii + start).astype(np.int32), (jj + start).astype(np.int32)
        if not len(i):
            return i, j
        ok = self.pairs(i, j, dist[ii, jj]) <= 1.0
        return i[ok], j[ok]


def _fold(n: int, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same components with at most n - 1 edges: each member linked to its component's first."""
    _, labels = connected_components(coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)), directed=False)
    first = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    roots = first[labels]
    linked = roots != np.arange(n)
    return roots[linked].astype(np.int32), np.flatnonzero(linked).astype(np.int32)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    """Connected components with more than one member (vectorised: pair counts can be huge)."""
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    order = np.argsort(labels, kind="stable")
    splits = np.flatnonzero(np.diff(labels[order])) + 1
    return [c for c in np.split(order, splits) if len(c) > 1]


def _identical_rows(lib: _Library) -> np.ndarray:
    """For each photo, the first photo with the very same hashes and embedding (itself if none).

    Such photos are near-duplicates of each other at any time gap; a flood of identical frames
    then costs the search one row instead of n²/2 pairs.
    """
    keys = np.stack([lib.ph, lib.dh], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    if lib.embeddings is not None:
        others = np.flatnonzero(rep != np.arange(len(rep)))
        for s in range(0, len(others), 4096):
            rows = others[s : s + 4096]
            a, b = lib.embeddings[rows], lib.embeddings[rep[rows]]
            same = (a == b).all(axis=1) | (np.isnan(a[:, 0]) & np.isnan(b[:, 0]))
            rep[rows[~same]] = rows[~same]
    return rep


def _search(lib: _Library, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs in blocks on two threads, folded into components as they pile up."""
    n = len(lib.ph)
    edges_i: list[np.ndarray] = [np.empty(0, dtype=np.int32)]
    edges_j: list[np.ndarray] = [np.empty(0, dtype=np.int32)]
    held = 0
    blocks = list(_blocks(n, BLOCK_ELEMENTS))
    with ThreadPoolExecutor(max_workers=2) as pool:  # numpy's ufuncs release the GIL
        for w in range(0, len(blocks), 2):  # two blocks at a time keeps the pairs in flight bounded
            for i, j in pool.map(lambda b: lib.near_pairs(b[0], b[1], radius), blocks[w : w + 2]):
                edges_i.append(i)
                edges_j.append(j)
                held += len(i)
            if held > FOLD_EDGES:
                fi, fj = _fold(n, np.concatenate(edges_i), np.concatenate(edges_j))
                edges_i, edges_j, held = [fi], [fj], len(fi)
    return np.concatenate(edges_i), np.concatenate(edges_j)


def _near_duplicate_components(lib: _Library, radius: int, rep: np.ndarray) -> list[np.ndarray]:
    """Components of the near-duplicate graph (a superset is fine: linkage inside is exact).

    Identical photos are searched as one row judged by burst thresholds; a pair found that way
    may be looser than the truth, which only makes a component larger, never a group wrong.
    """
    n = len(lib.ph)
    reps, counts = np.unique(rep, return_counts=True)
    if len(reps) < n:
        emb = None if lib.embeddings is None else lib.embeddings[reps]
        classes = _Library(lib.ph[reps], lib.dh[reps], lib.times[reps], lib.options, emb, loose=counts > 1)
        ci, cj = _search(classes, radius)
        twins = np.flatnonzero(rep != np.arange(n)).astype(np.int32)
        i = np.concatenate([reps[ci], rep[twins]]).astype(np.int32)
        j = np.concatenate([reps[cj], twins]).astype(np.int32)
    else:
        i, j = _search(lib, radius)
    return _components(n, i, j) if len(i) else []


def _complete_linkage(members: np.ndarray, lib: _Library, rep: np.ndarray) -> list[np.ndarray]:
    """Split a component into groups whose every pair is a near-duplicate (diameter ≤ 1)."""
    if len(members) == 2 or (rep[members] == rep[members[0]]).all():
        return [members]  # a pair found as such, or identical frames: every pair is a near-duplicate
    if len(members) > MAX_LINKAGE:
        return [
            c
            for s in range(0, len(members), MAX_CLIQUE_BLOCK)
            for c in _greedy_cliques(members[s : s + MAX_CLIQUE_BLOCK], lib.near)
        ]
    ii, jj = np.triu_indices(len(members), 1)  # the condensed order scipy expects
    condensed = np.minimum(lib.matrix(members, members)[ii, jj], FAR).astype(np.float64)
    labels = fcluster(linkage(condensed, method="complete"), t=1.0, criterion="distance")
    return [members[labels == label] for label in np.unique(labels) if (labels == label).sum() > 1]


def _greedy_cliques(
    members: np.ndarray, near: Callable[[np.ndarray, np.ndarray], np.ndarray], rows: int = 256
) -> list[np.ndarray]:
    """For very large components (thousands of near-identical frames): each photo joins the first
    group it is a near-duplicate of every member of. Same guarantee as complete linkage.

    The adjacency is a bit matrix (n²/8 bytes), and each group keeps the bits of the photos that
    are near-duplicates of all its members, so joining is one bit test and one AND.
    """
    n = len(members)
    adjacency = np.empty((n, (n + 7) // 8), dtype=np.uint8)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = near(members[start:stop], members)
        block[np.arange(stop - start), np.arange(start, stop)] = True
        adjacency[start:stop] = np.packbits(block, axis=1)
    common = np.empty_like(adjacency)  # row c: who is near every member of group c
    cliques: list[list[int]] = []
    for x in range(n):
        byte, bit = x >> 3, np.uint8(0x80 >> (x & 7))
        hits = np.flatnonzero(common[: len(cliques), byte] & bit)
        if len(hits):
            c = int(hits[0])
            cliques[c].append(x)
            common[c] &= adjacency[x]
        else:
            common[len(cliques)] = adjacency[x]
            cliques.append([x])
    return [members[np.array(c)] for c in cliques if len(c) > 1]


def group(
    phash: np.ndarray,
    dhash: np.ndarray,
    times: np.ndarray,
    options: GroupingOptions | None = None,
    embeddings: np.ndarray | None = None,
) -> list[list[int]]:
    """Group photos by index. ``times`` holds EXIF capture seconds, NaN where unknown.

    ``phash``/``dhash`` are the 64 hash bits as signed or unsigned 64-bit integers.
    ``embeddings`` are unit-normalised rows, NaN rows for photos that were not scored.
    """
    options = options or GroupingOptions()
    ph = np.ascontiguousarray(np.asarray(phash).astype(np.int64).view(np.uint64))
    dh = np.ascontiguousarray(np.asarray(dhash).astype(np.int64).view(np.uint64))
    lib = _Library(ph, dh, np.asarray(times, dtype=np.float64), options, embeddings)
    radius = max(options.phash_threshold, options.burst_phash_threshold, options.far_phash_threshold)
    if embeddings is not None:
        radius += options.embedding_bonus_bits
    rep = _identical_rows(lib)
    groups: list[list[int]] = []
    for members in _near_duplicate_components(lib, radius, rep):
        groups.extend(sorted(g.tolist()) for g in _complete_linkage(members, lib, rep))
    return sorted(groups, key=lambda g: g[0])
