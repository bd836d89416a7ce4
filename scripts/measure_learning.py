"""Measure `photocull learn` with a simulated person who has a hidden preference.

A generated library holds --groups bursts of 4 frames (each burst a different crop of a
scikit-image photo; the frames differ in exposure, −25% … +40%, and a little in sharpness). The
simulated person decides the first half of the bursts by their preference (``brighter``: keeps
the brightest frame; ``darker``: the darkest), `learn` fits the personal ranker on those, and on
the other half the personal ranker's suggestions and the default rule's are each compared with
what the person would keep (agreement: the kept set is exactly theirs).

    python scripts/measure_learning.py --groups 100 --preference brighter
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from photocull.decide.config import load_config  # noqa: E402
from photocull.decide.learn import learn  # noqa: E402
from photocull.decide.suggest import rank_group  # noqa: E402
from photocull.pipeline import ScanOptions, scan  # noqa: E402
from photocull.store.database import open_db  # noqa: E402
from photocull.store.decisions import set_decisions  # noqa: E402
from photocull.store.photos import suggestion_inputs  # noqa: E402
from synthetic import blur, sample_photos, save_photo, variant  # noqa: E402

PREFERENCES = {"brighter": 1, "darker": -1}


def build_bursts(root: Path, groups: int, seed: int = 0) -> None:
    """``groups`` bursts of 4 frames, each burst its own crop of a sample photo, an hour apart."""
    rng = np.random.default_rng(seed)
    photos = [img.convert("RGB") for img in sample_photos().values()]
    t0 = dt.datetime(2024, 5, 1, 8)
    for g in range(groups):
        src = photos[g % len(photos)]
        w, h = src.size
        cw, ch = int(w * 0.55), int(h * 0.55)
        x, y = int(rng.uniform(0, w - cw)), int(rng.uniform(0, h - ch))
        base = src.crop((x, y, x + cw, y + ch)).resize((480, 360), Image.Resampling.BICUBIC)
        if g // len(photos) % 2:
            base = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        for f, gain in enumerate(rng.permutation([0.75, 0.95, 1.15, 1.4])):
            frame = variant(base, rng, strength=0.5)
            frame = Image.fromarray(np.clip(np.asarray(frame, np.float32) * gain, 0, 255).astype(np.uint8))
            frame = blur(frame, float(rng.uniform(0, 0.8)))
            when = t0 + dt.timedelta(hours=g, milliseconds=400 * f)
            save_photo(frame, root / f"burst{g:03d}" / f"IMG_{g:03d}_{f}.jpg", when)


def simulate(work: Path, groups: int, preference: str) -> dict:
    """Build, scan, let the person decide half, learn, and measure both rules on the other half."""
    build_bursts(work / "library", groups)
    db = open_db(work / "learn.db")
    scan(db, [work / "library"], options=ScanOptions(workers=2))
    sign = PREFERENCES[preference]
    rows = suggestion_inputs(db)
    by_group: dict[int, list[dict]] = {}
    for r in rows:
        if r["group_id"] is not None:
            by_group.setdefault(r["group_id"], []).append(r)
    bursts = sorted(by_group.values(), key=lambda ms: min(m["path"] for m in ms))
    wanted = {}
    for members in bursts:
        choice = max(members, key=lambda m: sign * m["brightness"])
        wanted[choice["group_id"]] = {choice["id"]}
    half = len(bursts) // 2
    for members in bursts[:half]:
        set_decisions(db, {m["id"]: "keep" if m["id"] in wanted[m["group_id"]] else "discard" for m in members})
    report = learn(db)
    config = load_config()
    personal = default = 0
    for members in bursts[half:]:
        gid = members[0]["group_id"]
        suggested = {
            r["id"] for r in db.query("select id from photos where group_id = ? and suggestion = 'keep'", [gid])
        }
        personal += suggested == wanted[gid]
        ordered = sorted(members, key=lambda m: m["path"])
        for m in ordered:
            m["faces"] = None
        default += {m["id"] for m, s in zip(ordered, rank_group(ordered, config)) if s.suggestion == "keep"} == wanted[
            gid
        ]
    held_out = len(bursts) - half
    return {
        "preference": preference,
        "bursts_found": len(bursts),
        "decided_groups": half,
        "held_out_groups": held_out,
        "learn": report.as_dict(),
        "held_out_agreement_personal": round(personal / held_out, 3),
        "held_out_agreement_default": round(default / held_out, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--preference", choices=sorted(PREFERENCES), default="brighter")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="measure-learning-") as work:
        print(json.dumps(simulate(Path(work), args.groups, args.preference), indent=1))


if __name__ == "__main__":
    main()
