"""Candidate search: the near-duplicate pairs of a library without comparing every pair.

Every near-duplicate pair is one of two kinds (groups/rule.py), and each has its own index:
- **same session** (both capture times known, at most far_seconds apart): photos sorted by time,
  each compared with the ones that follow it within the session window. Cost grows with the
  photos per session, not with the library.
- **strict** (different sessions or a time unknown): pHash within ``far_phash_threshold`` bits.
  Multi-index hashing: the 64 bits are cut into r + m blocks; two hashes within r bits agree
  exactly on at least m blocks, so the pairs sharing every choice of m blocks are a superset of
  the answer. Each pair is kept only from the first choice of m blocks it agrees on, so none is
  judged twice. Small libraries use a blocked all-pairs search instead (faster below ~50,000).

Both are exact: every pair the rule calls near-duplicate is found (tests and
scripts/bench_grouping.py check against all pairs). Memory is bounded per block.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np

from photocull.groups.rule import Library

BLOCK_ELEMENTS = 4_000_000  # pair comparisons per block of a search
CHUNK_PAIRS = 4_000_000  # candidate pairs judged at once
MIN_KEY_BITS = 20  # a multi-index key this long leaves about one photo per bucket at a million
MAX_TABLES = 200  # more block choices than this (a loose strict threshold): all-pairs is cheaper
ALL_PAIRS_BELOW = 50_000  # rows: under this the blocked all-pairs search is faster than the index

Pairs = tuple[np.ndarray, np.ndarray]
Task = Callable[[], Pairs]  # one block of a search, run on a worker thread


# --- same session ------------------------------------------------------------------------------


def session_pairs(lib: Library) -> Iterator[Task]:
    """Near-duplicate pairs (i, j) of rows whose capture times are at most far_seconds apart."""
    window = lib.options.far_seconds
    known = np.flatnonzero(~np.isnan(lib.tmin))
    order = known[np.argsort(lib.tmin[known], kind="stable")]
    if len(order) < 2:
        return
    reach = np.searchsorted(lib.tmin[order], lib.tmax[order] + window, side="right")
    widest = np.maximum.accumulate(reach)  # columns a block of rows s..e needs: s .. widest[e-1]
    s = 0
    while s < len(order):
        e = _block_end(s, widest, len(order))
        yield partial(_session_block, lib, order, reach, s, e, int(widest[e - 1]))
        s = e


def _block_end(s: int, widest: np.ndarray, n: int) -> int:
    """The largest e > s with (e - s) rows × their columns within BLOCK_ELEMENTS (at least one row)."""
    lo, hi = s + 1, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if (mid - s) * (int(widest[mid - 1]) - s) <= BLOCK_ELEMENTS:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _session_block(lib: Library, order: np.ndarray, reach: np.ndarray, s: int, e: int, stop: int) -> Pairs:
    rows, cols = order[s:e], order[s:stop]
    col_pos = np.arange(s, stop)
    inside = (col_pos[None, :] > np.arange(s, e)[:, None]) & (col_pos[None, :] < reach[s:e, None])
    dp = np.bitwise_count(lib.ph[rows][:, None] ^ lib.ph[cols][None, :])
    candidate = inside & (dp <= lib.options.session_radius)
    flat = np.flatnonzero(candidate)
    if len(flat) * 8 > candidate.size:  # a flood of similar frames: judge the block as a whole
        flat = np.flatnonzero(inside & lib.near(rows, cols))
        ii, jj = np.divmod(flat, len(cols))
        return rows[ii].astype(np.int32), cols[jj].astype(np.int32)
    ii, jj = np.divmod(flat, len(cols))
    i, j = rows[ii], cols[jj]
    ok = lib.near_pairs(i, j, dp[ii, jj])
    return i[ok].astype(np.int32), j[ok].astype(np.int32)


# --- strict: different sessions or unknown times -------------------------------------------------


def strict_pairs(lib: Library) -> Iterator[Task]:
    """Near-duplicate pairs whose capture times are unknown or more than far_seconds apart."""
    radius = lib.options.strict_radius
    m = max(1, math.ceil(MIN_KEY_BITS * radius / (64 - MIN_KEY_BITS)))
    if len(lib) < ALL_PAIRS_BELOW or math.comb(radius + m, m) > MAX_TABLES:
        yield from _strict_all_pairs(lib, radius)
    else:
        yield from _strict_index(lib, radius, m)


def _judge_strict(lib: Library, i: np.ndarray, j: np.ndarray, dp: np.ndarray) -> Pairs:
    """Pairs within the strict radius that session_pairs does not already judge."""
    gap = lib.gap(i, j)
    outside = ~(gap <= lib.options.far_seconds)
    i, j, dp = i[outside], j[outside], dp[outside]
    ok = lib.near_pairs(i, j, dp)
    return i[ok].astype(np.int32), j[ok].astype(np.int32)


def _strict_all_pairs(lib: Library, radius: int) -> Iterator[Task]:
    rows = max(1, BLOCK_ELEMENTS // max(len(lib), 1))
    for start in range(0, len(lib), rows):
        yield partial(_strict_block, lib, radius, start, start + rows)


def _strict_block(lib: Library, radius: int, start: int, stop: int) -> Pairs:
    dist = np.bitwise_count(lib.ph[start:stop, None] ^ lib.ph[None, start:])
    # pairs within one session are session_pairs' to judge: leaving them out here spares a flood
    # of similar frames from being listed twice
    gap = lib.gap(np.arange(start, min(stop, len(lib)))[:, None], np.arange(start, len(lib))[None, :])
    ii, jj = np.divmod(np.flatnonzero((dist <= radius) & ~(gap <= lib.options.far_seconds)), dist.shape[1])
    keep = jj > ii
    ii, jj = ii[keep], jj[keep]
    return _judge_strict(lib, ii + start, jj + start, dist[ii, jj])


def _strict_index(lib: Library, radius: int, m: int) -> Iterator[Task]:
    k = radius + m
    edges = np.linspace(0, 64, k + 1).astype(int)
    blocks = [((lib.ph >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)) for lo, hi in itertools.pairwise(edges)]
    for choice in itertools.combinations(range(k), m):
        yield partial(_strict_table, lib, radius, m, edges, blocks, choice)


def _strict_table(
    lib: Library, radius: int, m: int, edges: np.ndarray, blocks: list[np.ndarray], choice: tuple[int, ...]
) -> Pairs:
    """The pairs agreeing on the blocks in ``choice`` (and on no earlier choice of m blocks)."""
    key = np.zeros(len(lib), dtype=np.uint64)
    for c in choice:
        key = (key << np.uint64(edges[c + 1] - edges[c])) | blocks[c]
    choice_mask = sum(1 << c for c in choice)
    found: list[Pairs] = [(np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32))]
    for a, b in _equal_key_pairs(lib, key):
        distance = np.bitwise_count(lib.ph[a] ^ lib.ph[b])
        close = np.flatnonzero(distance <= radius)
        i, j, dp = a[close], b[close], distance[close]
        first = _first_agreeing_blocks(blocks, i, j, m) == choice_mask
        found.append(_judge_strict(lib, i[first], j[first], dp[first]))
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def _first_agreeing_blocks(blocks: list[np.ndarray], i: np.ndarray, j: np.ndarray, m: int) -> np.ndarray:
    """Bit mask of the first m blocks on which each pair's hashes agree."""
    agree = np.zeros(len(i), dtype=np.int64)
    for b, values in enumerate(blocks):
        agree |= (values[i] == values[j]).astype(np.int64) << b
    first = np.zeros(len(i), dtype=np.int64)
    for _ in range(m):
        lowest = agree & -agree
        first |= lowest
        agree ^= lowest
    return first


def _equal_key_pairs(lib: Library, key: np.ndarray) -> Iterator[Pairs]:
    """Pairs of rows sharing a key, in chunks; runs whose rows all fall in one session are skipped."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    lengths = np.diff(np.r_[starts, len(key)])
    shared = lengths > 1
    starts, lengths = starts[shared], lengths[shared]
    if not len(starts):
        return
    tmin, tmax = lib.tmin[order], lib.tmax[order]
    lowest = np.minimum.reduceat(tmin, starts)  # NaN if any member's time is unknown
    highest = np.maximum.reduceat(tmax, starts)
    needed = ~(highest - lowest <= lib.options.far_seconds)
    starts, lengths = starts[needed], lengths[needed]
    pos = np.repeat(starts, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    count = np.repeat(starts + lengths, lengths) - pos - 1
    total = np.cumsum(count)
    cuts = np.searchsorted(total, np.arange(CHUNK_PAIRS, int(total[-1]) if len(total) else 0, CHUNK_PAIRS))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(pos)]):
        c = count[a:b]
        if not c.sum():
            continue
        i = np.repeat(pos[a:b], c)
        j = i + 1 + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))
        yield order[i], order[j]
