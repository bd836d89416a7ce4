"""When two photos are near-duplicates: hash distances judged against thresholds set by capture time.

Three kinds of pair, by the gap between capture times:
- a burst (≤ burst_seconds): the loosest thresholds, as frames of a burst shift and blur;
- the same session (≤ far_seconds): the default thresholds;
- different sessions, or a capture time unknown: the strictest, because nothing says the two were
  taken together, so they must look like copies.
Within a session, where both photos were scored, the thresholds are looser by embedding_bonus_bits
but the CNN embeddings must agree (cosine ≥ min_embedding_similarity): the embedding sees the same
scene through shifts and blur that move a hash. Keeping that loosening inside a session is what
lets grouping search by capture time instead of comparing every pair (groups/search.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from photocull.groups import codes as embedding_codes

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
    # Pairs in one session whose CNN embeddings are both known: thresholds loosened by this many
    # bits, but the embeddings' cosine similarity must reach min_embedding_similarity
    # (scripts/measure_grouping.py).
    embedding_bonus_bits: int = 12
    min_embedding_similarity: float = 0.9

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def session_radius(self) -> int:
        """The largest pHash distance a pair within one session can have."""
        return max(self.phash_threshold, self.burst_phash_threshold) + self.embedding_bonus_bits

    @property
    def strict_radius(self) -> int:
        """The largest pHash distance of a pair from different sessions or of unknown time."""
        return self.far_phash_threshold


def thresholds(gap: np.ndarray, options: GroupingOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pHash and dHash thresholds for pairs this many seconds apart (NaN: unknown), and which
    pairs are within one session (where agreeing embeddings may loosen them)."""
    o = options
    burst, session = gap <= o.burst_seconds, gap <= o.far_seconds
    tp = np.where(burst, o.burst_phash_threshold, np.where(session, o.phash_threshold, o.far_phash_threshold))
    td = np.where(burst, o.burst_dhash_threshold, np.where(session, o.dhash_threshold, o.far_dhash_threshold))
    return tp, td, session


def effective_distance(
    dp: np.ndarray, dd: np.ndarray, gap: np.ndarray, sim: np.ndarray | None, options: GroupingOptions
) -> np.ndarray:
    """Effective distance of pairs (any array shape, broadcast): ≤ 1 means near-duplicate.

    ``gap`` is NaN where a capture time is unknown. Each hash distance is divided by the threshold
    for the pair's kind and the larger of the two counts, so pHash and dHash must both agree.
    ``sim`` is NaN (or None) where a pair's embeddings are not both known. Agreeing embeddings only
    ever loosen: a heavily blurred frame's embedding drifts (cosine 0.7–0.9 to its burst) while its
    hashes stay close, so a disagreeing embedding is no evidence against a pair.
    """
    o = options
    tp, td, session = thresholds(gap, o)
    tp = tp.astype(np.float32)
    td = td.astype(np.float32)
    eff: np.ndarray = np.maximum(dp / np.maximum(tp, 0.5), dd / np.maximum(td, 0.5)).astype(np.float32)
    if sim is not None:
        bonus = np.float32(o.embedding_bonus_bits)
        confirmed = session & (sim >= o.min_embedding_similarity)  # NaN (unknown) never confirms
        loosened = np.maximum(dp / np.maximum(tp + bonus, 0.5), dd / np.maximum(td + bonus, 0.5))
        eff = np.where(confirmed, np.minimum(eff, loosened), eff).astype(np.float32)
    return eff


class Library:
    """Hashes, capture times and embedding codes of the rows being grouped.

    A row may stand for several identical photos taken at different times: its times are the span
    [tmin, tmax], and the gap between two rows is the smallest gap between their members, so a
    row is judged by the loosest thresholds any of its photos would get (a superset of the truth,
    which complete linkage on the photos themselves then makes exact).
    """

    def __init__(
        self,
        ph: np.ndarray,
        dh: np.ndarray,
        tmin: np.ndarray,
        options: GroupingOptions,
        codes: np.ndarray | None = None,
        tmax: np.ndarray | None = None,
        code_rows: np.ndarray | None = None,
        norms: np.ndarray | None = None,
    ) -> None:
        self.ph, self.dh, self.options = ph, dh, options
        self.tmin = tmin
        self.tmax = tmin if tmax is None else tmax
        self.codes = codes
        # rows of ``codes`` for each row here: a subset shares its parent's codes instead of copying them
        self.code_rows = np.arange(len(ph)) if code_rows is None else code_rows
        self.norms = None if codes is None else embedding_codes.norms(codes) if norms is None else norms

    def __len__(self) -> int:
        return len(self.ph)

    def subset(self, rows: np.ndarray, tmin: np.ndarray, tmax: np.ndarray) -> Library:
        """The library of some rows with new capture-time spans, sharing this one's embedding codes."""
        return Library(
            self.ph[rows], self.dh[rows], tmin, self.options, self.codes, tmax, self.code_rows[rows], self.norms
        )

    def gap(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Seconds between rows a and b (broadcast); NaN where either has no capture time."""
        gap: np.ndarray = np.maximum(0.0, np.maximum(self.tmin[b] - self.tmax[a], self.tmin[a] - self.tmax[b]))
        return gap

    def _sim_pairs(self, i: np.ndarray, j: np.ndarray, chunk: int = 4096) -> np.ndarray:
        assert self.codes is not None and self.norms is not None
        i, j = self.code_rows[i], self.code_rows[j]
        dot = np.empty(len(i), dtype=np.float32)
        for s in range(0, len(i), chunk):  # gathered in chunks: 1280 values per row add up fast
            e = slice(s, s + chunk)
            dot[e] = np.einsum("ij,ij->i", self.codes[i[e]].astype(np.float32), self.codes[j[e]].astype(np.float32))
        denominator = self.norms[i] * self.norms[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, dot / denominator, np.nan).astype(np.float32)

    def _sim_matrix(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        assert self.codes is not None and self.norms is not None
        rows, cols = self.code_rows[rows], self.code_rows[cols]
        dot = self.codes[rows].astype(np.float32) @ self.codes[cols].astype(np.float32).T
        denominator = self.norms[rows][:, None] * self.norms[cols][None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, dot / denominator, np.nan).astype(np.float32)

    def near_pairs(self, i: np.ndarray, j: np.ndarray, dp: np.ndarray | None = None) -> np.ndarray:
        """Whether each pair (i[k], j[k]) is a near-duplicate."""
        if dp is None:
            dp = np.bitwise_count(self.ph[i] ^ self.ph[j])
        dd = np.bitwise_count(self.dh[i] ^ self.dh[j])
        gap = self.gap(i, j)
        sim = None
        if self.codes is not None:
            sim = np.full(len(i), np.nan, dtype=np.float32)
            # only pairs the embedding could decide: same session and within the loosened radius
            ask = np.flatnonzero((gap <= self.options.far_seconds) & (dp <= self.options.session_radius))
            if len(ask):
                sim[ask] = self._sim_pairs(i[ask], j[ask])
        near: np.ndarray = effective_distance(dp.astype(np.float32), dd.astype(np.float32), gap, sim, self.options) <= 1
        return near

    def matrix(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Effective distances of every (row, col) pair as a 2-D array."""
        dp = np.bitwise_count(self.ph[rows][:, None] ^ self.ph[cols][None, :]).astype(np.float32)
        dd = np.bitwise_count(self.dh[rows][:, None] ^ self.dh[cols][None, :]).astype(np.float32)
        gap = self.gap(rows[:, None], cols[None, :])
        sim = None if self.codes is None else self._sim_matrix(rows, cols)
        return effective_distance(dp, dd, gap, sim, self.options)

    def near(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether each (row, col) pair is a near-duplicate, as a 2-D array: ``matrix(...) <= 1``
        without the divisions (d / max(t, 0.5) ≤ 1 is d ≤ t for whole distances), for floods of frames."""
        o = self.options
        dp = np.bitwise_count(self.ph[rows][:, None] ^ self.ph[cols][None, :])
        dd = np.bitwise_count(self.dh[rows][:, None] ^ self.dh[cols][None, :])
        tp, td, session = thresholds(self.gap(rows[:, None], cols[None, :]), o)
        near: np.ndarray = (dp <= tp) & (dd <= td)
        if self.codes is not None:
            bonus = o.embedding_bonus_bits
            confirmed = session & (self._sim_matrix(rows, cols) >= o.min_embedding_similarity)
            near |= confirmed & (dp <= tp + bonus) & (dd <= td + bonus)
        return near
