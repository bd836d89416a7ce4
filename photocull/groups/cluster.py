"""Near-duplicate groups from perceptual hashes, capture time and (when scored) CNN embeddings.

The pairs that groups/rule.py calls near-duplicates are found by groups/search.py (by capture time
within a session, by a multi-index over hash blocks across sessions), folded into connected
components as they arrive, and each component is clustered with complete linkage so that A~B and
B~C never drag in a C far from A.

Memory is bounded whatever the library holds: identical photos are searched as one row, pairs are
folded into components before they pile up, embeddings are int8 codes (groups/codes.py), and a
component too large for scipy's linkage is split into cliques over a bit-packed adjacency matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from photocull.groups.codes import quantise
from photocull.groups.rule import FAR, GroupingOptions, Library
from photocull.groups.search import Pairs, Task, session_pairs, strict_pairs

MAX_LINKAGE = 3000  # larger components use greedy cliques: linkage needs O(n²) memory
MAX_CLIQUE_BLOCK = 24_000  # members per bit-packed adjacency matrix (72 MB); larger components are cut
CLIQUE_CHECK_MAX = 16  # components up to this size are first checked for being whole cliques
FOLD_EDGES = 2_000_000  # near-duplicate pairs held before they are folded into components


def _roots(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """For each of ``n`` nodes, the smallest node of its connected component (edges i[k]–j[k]).

    Hooking and pointer jumping, vectorised over the edges: each pass hooks every root that an
    edge still joins to another onto the smaller one, then points every node at its root; chains
    shorten by half each jump, so a few passes do. NumPy only: SciPy's connected_components did the
    same, but importing SciPy cost every scan 0.3 s with a core idle, and most scans need no more.
    """
    root = np.arange(n, dtype=np.int32)  # int32: half the memory of intp, and four times faster on 2M pairs
    i, j = np.asarray(i, dtype=np.int32), np.asarray(j, dtype=np.int32)
    while True:
        ri, rj = root[i], root[j]
        joined = ri != rj
        if not joined.any():
            return root
        i, j, ri, rj = i[joined], j[joined], ri[joined], rj[joined]
        np.minimum.at(root, np.maximum(ri, rj), np.minimum(ri, rj))
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped


def _fold(n: int, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same components with at most n - 1 edges: each member linked to its component's first."""
    roots = _roots(n, i, j)
    linked = roots != np.arange(n)
    return roots[linked], np.flatnonzero(linked).astype(np.int32)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> list[np.ndarray]:
    """Connected components with more than one member, each in ascending order (vectorised: pair
    counts can be huge)."""
    roots = _roots(n, i, j)
    order = np.argsort(roots, kind="stable")
    splits = np.flatnonzero(np.diff(roots[order])) + 1
    return [c for c in np.split(order, splits) if len(c) > 1]


def _identical_rows(lib: Library) -> np.ndarray:
    """For each photo, the first photo with the very same hashes and embedding (itself if none).

    Such photos are near-duplicates of each other at any time gap; a flood of identical frames
    then costs the search one row instead of n²/2 pairs.
    """
    keys = np.stack([lib.ph, lib.dh], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    if lib.codes is not None:
        others = np.flatnonzero(rep != np.arange(len(rep)))
        for s in range(0, len(others), 4096):
            rows = others[s : s + 4096]
            same = (lib.codes[lib.code_rows[rows]] == lib.codes[lib.code_rows[rep[rows]]]).all(axis=1)
            rep[rows[~same]] = rows[~same]
    return rep


def _classes(lib: Library, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, Library]:
    """One row per set of identical photos, spanning its members' capture times; and each photo's row."""
    reps, slot = np.unique(rep, return_inverse=True)
    if len(reps) == len(rep):
        return reps, slot, lib
    tmin = np.full(len(reps), np.nan)
    tmax = np.full(len(reps), np.nan)
    np.fmin.at(tmin, slot, lib.tmin)  # fmin/fmax skip NaN: a class's span is its known times
    np.fmax.at(tmax, slot, lib.tmin)
    return reps, slot, lib.subset(reps, tmin, tmax)


class _Edges:
    """Near-duplicate pairs as they arrive, folded into the same components before they pile up."""

    def __init__(self, n: int) -> None:
        self.n, self.i, self.j, self.held = n, [np.empty(0, dtype=np.int32)], [np.empty(0, dtype=np.int32)], 0

    def add(self, i: np.ndarray, j: np.ndarray) -> None:
        self.i.append(i)
        self.j.append(j)
        self.held += len(i)
        if self.held > FOLD_EDGES:
            fi, fj = _fold(self.n, np.concatenate(self.i), np.concatenate(self.j))
            self.i, self.j, self.held = [fi], [fj], len(fi)

    def pairs(self) -> Pairs:
        return np.concatenate(self.i), np.concatenate(self.j)


def _run(tasks: Iterator[Task]) -> Iterator[Pairs]:
    """Search blocks two at a time on two threads (numpy releases the GIL)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        while batch := list(itertools.islice(tasks, 2)):
            yield from pool.map(lambda task: task(), batch)


def near_duplicate_pairs(lib: Library) -> Pairs:
    """Every near-duplicate pair of rows (or, past FOLD_EDGES pairs, edges giving the same components).

    Copies come first: a row without a capture time that is a strict near-duplicate of rows with
    one takes their span (lib.tmin/tmax are updated), so a messaging-app copy of a burst frame is
    then judged against the rest of the burst as a burst frame would be.
    """
    edges = _Edges(len(lib))
    unknown = np.isnan(lib.tmin)
    inherited_min = np.full(len(lib), np.nan)
    inherited_max = np.full(len(lib), np.nan)
    for i, j in _run(strict_pairs(lib)):
        edges.add(i, j)
        for copy, original in ((i, j), (j, i)):
            take = unknown[copy] & ~unknown[original]
            np.fmin.at(inherited_min, copy[take], lib.tmin[original[take]])
            np.fmax.at(inherited_max, copy[take], lib.tmax[original[take]])
    lib.tmin = np.where(unknown, inherited_min, lib.tmin)
    lib.tmax = np.where(unknown, inherited_max, lib.tmax)
    for i, j in _run(session_pairs(lib)):
        edges.add(i, j)
    return edges.pairs()


def _near_duplicate_components(lib: Library, rep: np.ndarray) -> list[np.ndarray]:
    """Components of the near-duplicate graph (a superset is fine: linkage inside is exact).

    Identical photos are searched as one row spanning their capture times; a pair found that way
    may be looser than the truth, which only makes a component larger, never a group wrong.
    Photos without a capture time take their row's span (their twins' or their originals' times).
    """
    n = len(lib)
    reps, slot, classes = _classes(lib, rep)
    ci, cj = near_duplicate_pairs(classes)
    if classes is not lib:
        unknown = np.isnan(lib.tmin)
        lib.tmin = np.where(unknown, classes.tmin[slot], lib.tmin)
        lib.tmax = np.where(unknown, classes.tmax[slot], lib.tmax)
    twins = np.flatnonzero(rep != np.arange(n)).astype(np.int32)
    i = np.concatenate([reps[ci], rep[twins]]).astype(np.int32)
    j = np.concatenate([reps[cj], twins]).astype(np.int32)
    return _components(n, i, j) if len(i) else []


def _split_cliques(components: list[np.ndarray], lib: Library) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Small components whose every pair is a near-duplicate are groups as they are; the rest need linkage.

    Most components of a real library are such cliques; judging them together, by size, spares
    tens of thousands of scipy linkage calls on a large library.
    """
    cliques = [c for c in components if len(c) == 2]  # a pair found as such
    rest = [c for c in components if len(c) > CLIQUE_CHECK_MAX]
    for size in range(3, CLIQUE_CHECK_MAX + 1):
        same = [c for c in components if len(c) == size]
        if not same:
            continue
        members = np.stack(same)
        ii, jj = np.triu_indices(size, 1)
        near = lib.near_pairs(members[:, ii].ravel(), members[:, jj].ravel()).reshape(len(same), -1).all(axis=1)
        cliques.extend(members[near])
        rest.extend(members[~near])
    return cliques, rest


def _complete_linkage(members: np.ndarray, lib: Library, rep: np.ndarray) -> list[np.ndarray]:
    """Split a component into groups whose every pair is a near-duplicate (diameter ≤ 1)."""
    if (rep[members] == rep[members[0]]).all():
        return [members]  # identical frames: every pair is a near-duplicate
    if len(members) > MAX_LINKAGE:
        return [
            c
            for s in range(0, len(members), MAX_CLIQUE_BLOCK)
            for c in _greedy_cliques(members[s : s + MAX_CLIQUE_BLOCK], lib.near)
        ]
    # imported here, only for a component that is not a clique: SciPy takes 0.3 s and 34 MB to import
    from scipy.cluster.hierarchy import linkage

    ii, jj = np.triu_indices(len(members), 1)  # the condensed order scipy expects
    condensed = np.minimum(lib.matrix(members, members)[ii, jj], FAR).astype(np.float64)
    return [members[c] for c in _cut(linkage(condensed, method="complete"), len(members)) if len(c) > 1]


def _cut(merges: np.ndarray, n: int) -> list[list[int]]:
    """The clusters of a complete-linkage tree cut at distance 1 (fcluster's answer without its checks).

    Complete linkage merges at increasing distances, so the merges at distance ≤ 1 come first.
    """
    clusters: dict[int, list[int]] = {k: [k] for k in range(n)}
    for k, (a, b, distance, _) in enumerate(merges):
        if distance > 1.0:
            break
        clusters[n + k] = clusters.pop(int(a)) + clusters.pop(int(b))
    return list(clusters.values())


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
    ``embeddings`` are int8 codes (groups/codes.py; zero rows: not scored) or float rows (NaN rows:
    not scored), which are turned into codes.
    """
    options = options or GroupingOptions()
    ph = np.ascontiguousarray(np.asarray(phash).astype(np.int64).view(np.uint64))
    dh = np.ascontiguousarray(np.asarray(dhash).astype(np.int64).view(np.uint64))
    codes = None
    if embeddings is not None:
        codes = embeddings if embeddings.dtype == np.int8 else quantise(embeddings)
    lib = Library(ph, dh, np.asarray(times, dtype=np.float64), options, codes)
    rep = _identical_rows(lib)
    cliques, rest = _split_cliques(_near_duplicate_components(lib, rep), lib)
    groups = [sorted(c.tolist()) for c in cliques]
    for members in rest:
        groups.extend(sorted(g.tolist()) for g in _complete_linkage(members, lib, rep))
    return sorted(groups, key=lambda g: g[0])
