"""The candidate search finds exactly the pairs the grouping rule calls near-duplicates.

Checked against every pair judged one by one, on libraries built so that many pairs sit at the
edges of each threshold: bursts, one session, days apart and unknown times, with and without
embeddings, through both the all-pairs and the multi-index path of the strict search.
"""

from __future__ import annotations

import numpy as np
import pytest

from photocull.groups import search
from photocull.groups.cluster import _roots, group, near_duplicate_pairs
from photocull.groups.codes import quantise
from photocull.groups.rule import GroupingOptions, Library, effective_distance


def _flip(rng: np.random.Generator, h: np.uint64, bits: int) -> np.uint64:
    for b in rng.choice(64, size=bits, replace=False):
        h ^= np.uint64(1) << np.uint64(b)
    return h


def _library(n_scenes: int, seed: int, with_embeddings: bool) -> tuple[np.ndarray, ...]:
    """Scenes of 2–6 photos, each a few to ~20 bits from its scene, at times that cover every kind of gap."""
    rng = np.random.default_rng(seed)
    ph, dh, times, emb = [], [], [], []
    for s in range(n_scenes):
        base_p, base_d = rng.integers(0, 2**63, dtype=np.int64), rng.integers(0, 2**63, dtype=np.int64)
        vector = rng.normal(size=64)
        t0 = rng.choice([np.nan, s * 86400.0 * 3])
        for _ in range(rng.integers(2, 7)):
            ph.append(_flip(rng, np.uint64(base_p), int(rng.integers(0, 9))))
            dh.append(_flip(rng, np.uint64(base_d), int(rng.integers(0, 11))))
            kind = rng.integers(0, 5)
            offset = [rng.uniform(0, 12), rng.uniform(0, 7 * 3600), rng.uniform(0, 40 * 86400), 0, np.nan][kind]
            times.append(t0 + offset if kind < 4 else np.nan)
            emb.append(
                vector + rng.normal(scale=rng.choice([0.2, 0.5]), size=64) if rng.random() < 0.8 else [np.nan] * 64
            )
    codes = quantise(np.array(emb, dtype=np.float32)) if with_embeddings else None
    return np.array(ph, dtype=np.uint64), np.array(dh, dtype=np.uint64), np.array(times), codes


def _near_by_brute_force(lib: Library) -> np.ndarray:
    n = len(lib)
    ii, jj = np.triu_indices(n, 1)
    dp = np.bitwise_count(lib.ph[ii] ^ lib.ph[jj]).astype(np.float32)
    dd = np.bitwise_count(lib.dh[ii] ^ lib.dh[jj]).astype(np.float32)
    sim = None
    if lib.codes is not None:
        c = lib.codes.astype(np.float64)
        norm = np.linalg.norm(c, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            full = (c @ c.T) / np.outer(norm, norm)
        sim = np.where(np.outer(norm, norm) > 0, full, np.nan)[ii, jj].astype(np.float32)
    near: np.ndarray = effective_distance(dp, dd, lib.gap(ii, jj), sim, lib.options) <= 1
    return near


def _brute_force(lib: Library) -> set[tuple[int, int]]:
    """Every pair judged, after photos without a time take the times of the timed photos they copy."""
    ii, jj = np.triu_indices(len(lib), 1)
    before = _near_by_brute_force(lib)
    unknown = np.isnan(lib.tmin)
    tmin, tmax = lib.tmin.copy(), lib.tmax.copy()
    for a, b in zip(ii[before].tolist(), jj[before].tolist(), strict=True):
        for copy, original in ((a, b), (b, a)):
            if unknown[copy] and not unknown[original]:
                tmin[copy] = np.fmin(tmin[copy], lib.tmin[original])
                tmax[copy] = np.fmax(tmax[copy], lib.tmax[original])
    after = Library(lib.ph, lib.dh, tmin, lib.options, lib.codes, tmax)
    near = before | _near_by_brute_force(after)
    return set(zip(ii[near].tolist(), jj[near].tolist(), strict=True))


@pytest.mark.parametrize("with_embeddings", [False, True])
@pytest.mark.parametrize("index", [False, True])
def test_search_finds_exactly_the_near_duplicate_pairs(monkeypatch, with_embeddings, index):
    if index:
        monkeypatch.setattr(search, "ALL_PAIRS_BELOW", 0)  # the multi-index path, as for a big library
    monkeypatch.setattr(search, "BLOCK_ELEMENTS", 5000)  # many blocks, several rows each
    monkeypatch.setattr(search, "CHUNK_PAIRS", 50)
    ph, dh, times, codes = _library(250, seed=3 + index, with_embeddings=with_embeddings)
    lib = Library(ph, dh, times, GroupingOptions(), codes)
    want = _brute_force(lib)
    i, j = near_duplicate_pairs(lib)
    found = {(min(a, b), max(a, b)) for a, b in zip(i.tolist(), j.tolist(), strict=True)}
    assert (~np.isnan(lib.tmin)).sum() > (~np.isnan(times)).sum()  # copies without a time took their originals'

    gaps = lib.gap(*np.array(sorted(want)).T)
    kinds = [(gaps <= 10).sum(), ((gaps > 10) & (gaps <= 6 * 3600)).sum(), (~(gaps <= 6 * 3600)).sum()]
    assert min(kinds) > 40, kinds  # the library really has pairs of every kind: burst, session, strict
    assert found == want


def test_strict_index_agrees_with_all_pairs_on_copies_across_days(monkeypatch):
    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**63, size=400, dtype=np.int64).view(np.uint64)
    copies = np.array([_flip(rng, h, int(rng.integers(0, 9))) for h in base], dtype=np.uint64)
    ph = np.concatenate([base, copies])
    times = np.concatenate([np.arange(400) * 86400.0, np.full(400, np.nan)])
    groups_all = group(ph, ph, times)
    monkeypatch.setattr(search, "ALL_PAIRS_BELOW", 0)
    assert group(ph, ph, times) == groups_all
    assert sum(len(g) for g in groups_all) > 300  # the copies within 6 bits found their originals


@pytest.mark.parametrize("with_embeddings", [False, True])
def test_near_matrix_is_the_rule(with_embeddings):
    """The division-free near() used for floods says exactly what effective_distance says."""
    ph, dh, times, codes = _library(60, seed=9, with_embeddings=with_embeddings)
    lib = Library(ph, dh, times, GroupingOptions(), codes)
    rows = np.arange(len(lib))
    assert (lib.near(rows, rows) == (lib.matrix(rows, rows) <= 1.0)).all()


@pytest.mark.parametrize(("n", "edges"), [(1, 0), (50, 0), (200, 150), (2000, 1500), (2000, 6000), (5000, 40000)])
def test_components_without_scipy_are_scipys(n, edges):
    """The NumPy union (hooking and pointer jumping) partitions every random graph exactly as
    SciPy's connected_components, chains and self-loops included; each node's root is the smallest
    node of its component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(n + edges)
    i, j = rng.integers(0, n, edges), rng.integers(0, n, edges)
    chain = rng.permutation(n)[: n // 4]  # a long path in shuffled order: the worst case for jumping
    i, j = np.concatenate([i, chain[:-1]]), np.concatenate([j, chain[1:]])
    roots = _roots(n, i, j)
    _, labels = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    smallest = np.full(labels.max() + 1, n)
    np.minimum.at(smallest, labels, np.arange(n))
    assert np.array_equal(roots, smallest[labels])
