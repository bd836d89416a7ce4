"""Measure near-duplicate pair detection on generated fixtures: hash thresholds, and whether the CNN
embedding (cosine similarity) improves on hashes alone.

Builds the test fixture folder and, separately, harder bursts (2.5× the motion), scans each with the
models, then reports pair precision/recall for the default rule, for looser pHash thresholds, and for each
with an embedding-similarity filter.

    python scripts/measure_grouping.py
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photocull.groups.cluster import group
from photocull.groups.rule import GroupingOptions
from photocull.mood.scoring import Scorer
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from synthetic import build_library, sample_photos, save_photo, variant


def hard_bursts(root: Path) -> list[set[str]]:
    """Bursts with 2.5× the usual motion, one per sample photo, a minute apart."""
    rng = np.random.default_rng(7)
    groups = []
    t0 = dt.datetime(2024, 8, 1, 18, 0, 0)
    for k, (name, img) in enumerate(sample_photos().items()):
        members = set()
        for f in range(3):
            path = save_photo(variant(img, rng, 2.5), root / f"{name}_{f}.jpg", t0 + dt.timedelta(minutes=k, seconds=f))
            members.add(str(path.relative_to(root)))
        groups.append(members)
    return groups


def pairs_of(groups: list[set[str]]) -> set[frozenset]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


def evaluate(name: str, root: Path, truth_groups: list[set[str]], scorer: Scorer, work: Path) -> dict:
    db = open_db(work / f"{name}.db")
    scan(db, [root], scorer=scorer, options=ScanOptions(workers=2))
    rows = list(
        db.query(
            "select path, phash, dhash, captured_ts, time_source, embedding from photos where missing_since is null order by id"
        )
    )
    rel = [str(Path(r["path"]).relative_to(root)) for r in rows]
    phash = np.array([r["phash"] for r in rows], dtype=np.int64)
    dhash = np.array([r["dhash"] for r in rows], dtype=np.int64)
    times = np.array([r["captured_ts"] if r["time_source"] == "exif" else np.nan for r in rows])
    emb = np.stack(
        [np.frombuffer(r["embedding"], dtype=np.float16).astype(np.float32) for r in rows]
    )  # every photo here is scored
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    truth = pairs_of(truth_groups)
    sims = emb @ emb.T
    index_pairs = list(itertools.combinations(range(len(rows)), 2))
    same = [sims[i, j] for i, j in index_pairs if frozenset((rel[i], rel[j])) in truth]
    diff = [sims[i, j] for i, j in index_pairs if frozenset((rel[i], rel[j])) not in truth]
    report = {
        "fixture": name,
        "photos": len(rows),
        "true_pairs": len(truth),
        "cosine_true_pairs_min": round(float(min(same)), 3),
        "cosine_other_pairs_max": round(float(max(diff)), 3),
        "rules": [],
    }
    base = GroupingOptions()
    for loosen in (0, 4, 8, 12):
        for min_sim in (None, 0.8, 0.9):
            # min cosine None: hashes alone, thresholds loosened by `loosen` bits;
            # otherwise loosened by `loosen` bits only for pairs whose embeddings agree.
            opts = dataclasses.replace(base, embedding_bonus_bits=loosen, min_embedding_similarity=min_sim or 0.0)
            if min_sim is None:
                opts = dataclasses.replace(
                    opts,
                    phash_threshold=base.phash_threshold + loosen,
                    dhash_threshold=base.dhash_threshold + loosen,
                    burst_phash_threshold=base.burst_phash_threshold + loosen,
                    burst_dhash_threshold=base.burst_dhash_threshold + loosen,
                    embedding_bonus_bits=0,
                )
            found = pairs_of(
                [{rel[k] for k in g} for g in group(phash, dhash, times, opts, None if min_sim is None else emb)]
            )
            tp = len(found & truth)
            report["rules"].append(
                f"loosen {loosen:2d} bits, min cosine {min_sim}: precision {tp / max(len(found), 1):.3f} "
                f"recall {tp / len(truth):.3f} false pairs {len(found - truth)}"
            )
    return report


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="photocull-grouping-"))
    scorer = Scorer.load()
    lib = build_library(work / "Phone")
    reports = [evaluate("standard", lib.root, lib.groups, scorer, work)]
    hard_root = work / "Hard"
    reports.append(evaluate("hard", hard_root, hard_bursts(hard_root), scorer, work))
    print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
