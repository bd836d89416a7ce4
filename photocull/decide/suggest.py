"""Keep/discard suggestions with reasons a person can read.

Within a near-duplicate group every member gets one score (see README, "How photocull chooses"):
a weighted sum of signals each normalised to 0–1 within the group — sharpness (a fraction of the
sharpest), exposure (distance from mid-grey plus clipped pixels), resolution and file size
(relative to the largest, so a downscaled or recompressed re-save loses to its original) and the
happy probability (differences within the model's measured noise count as none). The best
member is kept; another is kept too when it scores nearly as well, differs enough from every kept
photo and is not clearly blurrier than one; the rest are suggested for discarding. Photos without
near-duplicates are kept unless they are clear junk, which is marked 'review', never 'discard'.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import sqlite_utils

from photocull.base.bits import hamming
from photocull.base.heads import has_eyes_closed, is_smiling
from photocull.base.names import shown
from photocull.base.sizes import shown_size
from photocull.decide.config import load_config
from photocull.decide.ranker import Ranker, group_features
from photocull.store.faces import faces_by_photo
from photocull.store.photos import save_suggestions, suggestion_inputs
from photocull.store.ranker import groups_with_decisions, load_ranker


@dataclass
class Reason:
    """A reason as data; ``text`` renders it for people."""

    code: str
    mine: float | str | None = None
    theirs: float | str | None = None
    other: str | None = None

    def text(self) -> str:
        other = f" {self.other}" if self.other else ""
        fmt = {
            "best": lambda: f"best of {self.mine} similar photos",
            "sharper": lambda: f"sharper ({self.mine:.0f} vs {self.theirs:.0f})",
            "faces_sharper": lambda: f"faces sharper ({self.mine:.0f} vs {self.theirs:.0f})",
            "faces_less_sharp": lambda: f"faces less sharp than{other} ({self.mine:.0f} vs {self.theirs:.0f})",
            "eyes_closed": lambda: f"eyes closed ({self.mine} of {self.theirs} faces)",
            "eyes_open": lambda: (
                "everyone's eyes open" if self.mine == 0 else f"fewer eyes closed ({self.mine} vs {self.theirs})"
            ),
            "everyone_smiling": lambda: "everyone smiling",
            "more_smiles": lambda: f"more smiles ({self.mine} vs {self.theirs} faces)",
            "fewer_smiles": lambda: f"fewer smiles than{other} ({self.mine} vs {self.theirs} faces)",
            "less_sharp": lambda: f"less sharp than{other} ({self.mine:.0f} vs {self.theirs:.0f})",
            "happier": lambda: f"happier ({self.mine:.2f} vs {self.theirs:.2f})",
            "less_happy": lambda: f"less happy than{other} ({self.mine:.2f} vs {self.theirs:.2f})",
            "better_exposed": lambda: f"better exposed ({self.mine:.2f} vs {self.theirs:.2f})",
            "worse_exposed": lambda: f"worse exposed than{other} ({self.mine:.2f} vs {self.theirs:.2f})",
            "larger": lambda: f"higher resolution ({self.mine} vs {self.theirs})",
            "smaller_resave": lambda: f"smaller re-save of{other} ({self.mine} vs {self.theirs})",
            "recompressed": lambda: f"recompressed copy of{other} ({self.mine} vs {self.theirs})",
            "personal_keep": lambda: f"the frame you usually keep: {self.mine} than the others",
            "personal_discard": lambda: (
                f"you usually keep the {self.mine} frame ({self.other.strip() if self.other else ''})"
            ),
            "lower_score": lambda: (
                f"near-identical to{other}, which scores higher ({self.mine:.3f} vs {self.theirs:.3f})"
            ),
            "no_capture_time": lambda: f"copy of{other} without the camera's capture time",
            "also_keep": lambda: f"also worth keeping: differs from{other}",
            "no_duplicates": lambda: "no near-duplicates",
            "too_dark": lambda: f"almost black (brightness {self.mine:.2f})",
            "too_bright": lambda: f"almost white (brightness {self.mine:.2f})",
            "very_blurry": lambda: f"very blurry (sharpness {self.mine:.0f})",
        }
        return fmt[self.code]()


@dataclass
class Suggestion:
    photo_id: int
    suggestion: str
    score: float | None
    reasons: list[Reason] = field(default_factory=list)


def exposure_score(brightness: float, highlights: float, shadows: float) -> float:
    """1 for a mid-toned frame with nothing clipped, falling towards 0 for dark, bright or clipped ones."""
    return max(0.0, min(1.0, 1.0 - 1.6 * abs(brightness - 0.47) - 2.0 * (highlights + shadows)))


def file_quality(members: list[dict]) -> np.ndarray:
    """Half for carrying the camera's capture time (re-saves usually lose EXIF), half for bytes
    relative to the largest member of the same format and resolution (recompression loses bytes).

    Sizes are never compared across formats: a PNG or HEIC copy is not better for being bigger.
    """
    out = np.zeros(len(members))
    for k, m in enumerate(members):
        peers = [
            p["size"] or 0
            for p in members
            if (p["format"], p["width"], p["height"]) == (m["format"], m["width"], m["height"])
        ]
        out[k] = 0.5 * (m["time_source"] == "exif") + 0.5 * (m["size"] or 0) / max(*peers, 1)
    return out


def _name(m: dict) -> str:
    return shown(os.path.basename(m["path"]))


SHARPER = 1.25  # a sharpness ratio a reason mentions: above the most sensor noise added (scan/measure.py)


def rank_group(members: list[dict], config: dict) -> list[Suggestion]:
    """Suggestions for one group; ``members`` are photo rows (dicts), in a stable order (by path).

    Sharpness counts as a fraction of the group's sharpest, so a frame with half the detail loses
    a whole share of the weight. Happiness within ``happy_noise`` of the group's happiest counts as
    the happiest: between frames of one burst such differences are the model's noise, not a smile.
    """
    w = config["weights"]
    keep_cfg = config["keep"]
    noise = keep_cfg["happy_noise"]
    sharp = np.array([max(m["sharpness"] or 0.0, 0.0) for m in members])
    pixels = np.array([float(m["width"] * m["height"]) for m in members])
    expo = np.array([exposure_score(m["brightness"], m["highlights"], m["shadows"]) for m in members])
    happy = np.array([m["happy"] if m.get("happy") is not None else 0.5 for m in members])
    faces: list[FaceSummary | None] = [m.get("faces") for m in members]
    everyone = [f for f in faces if f is not None]
    signals = {
        "sharpness": sharp / max(sharp.max(), 1e-9),
        "exposure": expo,
        "resolution": pixels / max(pixels.max(), 1.0),
        "file_quality": file_quality(members),
        "happy": np.where(happy.max() - happy <= noise, happy.max(), happy),
    }
    if len(everyone) == len(faces):  # people in every frame: their faces count, more than the mood
        face_sharp = np.array([f.sharpness for f in everyone], dtype=np.float64)
        signals["face_sharpness"] = face_sharp / max(face_sharp.max(), 1e-9)
        signals["eyes_open"] = np.array([1.0 - f.eyes_closed / f.subjects for f in everyone])
        smiles = np.array([f.smiling / f.subjects for f in everyone])
        signals["smiles"] = smiles / smiles.max() if smiles.max() > 0 else np.ones(len(faces))
    score = sum(w.get(name, 0.0) * values for name, values in signals.items())
    order = [int(k) for k in np.argsort(-np.round(score, 9), kind="stable")]
    best = order[0]
    kept = [best]
    for k in order[1:]:
        distinct = all(
            (
                hamming(members[k]["phash"], members[j]["phash"]) >= keep_cfg["distinct_phash_bits"]
                and not _same_moment(members[k], members[j], keep_cfg["moment_seconds"])
            )
            or abs(happy[k] - happy[j]) >= keep_cfg["distinct_happy"]
            for j in kept
        )
        blurrier = any(sharp[k] < keep_cfg["min_relative_sharpness"] * sharp[j] for j in kept)
        mine = faces[k]
        blinked = mine is not None and any(
            (theirs := faces[j]) is not None and mine.eyes_closed > theirs.eyes_closed for j in kept
        )
        if distinct and not blurrier and not blinked and score[k] >= keep_cfg["min_relative_score"] * score[best]:
            kept.append(k)
    out = []
    for k, m in enumerate(members):
        if k == best:
            runner = order[1] if len(order) > 1 else best
            reasons = [Reason("best", len(members)), *_advantages(members, best, runner, happy, expo, noise)]
            out.append(Suggestion(m["id"], "keep", float(score[k]), reasons))
        elif k in kept:
            out.append(Suggestion(m["id"], "keep", float(score[k]), [Reason("also_keep", other=_name(members[best]))]))
        else:
            reasons = _disadvantages(members, k, best, happy, expo, noise) or [
                Reason("lower_score", float(score[k]), float(score[best]), _name(members[best]))
            ]
            out.append(Suggestion(m["id"], "discard", float(score[k]), reasons))
    return out


SUBJECT = 0.5  # faces at least this fraction of the largest face's width are the photo's subjects


@dataclass(frozen=True)
class FaceSummary:
    """What a frame's subject faces (at least ``SUBJECT`` of the widest one's width) add up to.

    Small faces in the background do not count: one blurred face or one blink among the people
    photographed spoils the frame, a passer-by's does not."""

    subjects: int
    sharpness: float  # the least sharp subject face's
    eyes_closed: int  # subject faces with their eyes closed
    smiling: int  # subject faces smiling


def face_summary(faces: list[dict]) -> FaceSummary | None:
    """The frame's subject faces summed up; None when it has no face (or faces were not analysed)."""
    if not faces:
        return None
    widest = max(f["box"][2] for f in faces)
    subjects = [f for f in faces if f["box"][2] >= SUBJECT * widest]
    return FaceSummary(
        subjects=len(subjects),
        sharpness=float(min(f["sharpness"] for f in subjects)),
        eyes_closed=sum(map(has_eyes_closed, subjects)),
        smiling=sum(map(is_smiling, subjects)),
    )


def _same_moment(a: dict, b: dict, seconds: float) -> bool:
    """Whether two photos' camera capture times are within ``seconds`` (frames of one burst)."""
    if a["time_source"] != "exif" or b["time_source"] != "exif" or None in (a["captured_ts"], b["captured_ts"]):
        return False
    return bool(abs(a["captured_ts"] - b["captured_ts"]) <= seconds)


def _advantages(
    members: list[dict], k: int, other: int, happy: np.ndarray, expo: np.ndarray, noise: float
) -> list[Reason]:
    me, them = members[k], members[other]
    reasons = []
    if (me["sharpness"] or 0) >= SHARPER * (them["sharpness"] or 0) and me["sharpness"]:
        reasons.append(Reason("sharper", me["sharpness"], them["sharpness"]))
    mine, theirs = me.get("faces"), them.get("faces")
    if mine is not None and theirs is not None:
        if mine.eyes_closed < theirs.eyes_closed:
            reasons.append(Reason("eyes_open", mine.eyes_closed, theirs.eyes_closed))
        if mine.smiling > theirs.smiling:
            reasons.append(
                Reason("everyone_smiling")
                if mine.smiling == mine.subjects
                else Reason("more_smiles", mine.smiling, theirs.smiling)
            )
        if mine.sharpness >= SHARPER * theirs.sharpness:
            reasons.append(Reason("faces_sharper", mine.sharpness, theirs.sharpness))
    if happy[k] - happy[other] > noise and me.get("happy") is not None:
        reasons.append(Reason("happier", float(happy[k]), float(happy[other])))
    if expo[k] - expo[other] >= 0.1:
        reasons.append(Reason("better_exposed", float(expo[k]), float(expo[other])))
    if me["width"] * me["height"] >= 1.2 * them["width"] * them["height"]:
        reasons.append(Reason("larger", f"{me['width']}×{me['height']}", f"{them['width']}×{them['height']}"))
    return reasons


def _disadvantages(
    members: list[dict], k: int, best: int, happy: np.ndarray, expo: np.ndarray, noise: float
) -> list[Reason]:
    me, them = members[k], members[best]
    name = _name(them)
    reasons = []
    if me["width"] * me["height"] <= 0.8 * them["width"] * them["height"]:
        reasons.append(
            Reason("smaller_resave", f"{me['width']}×{me['height']}", f"{them['width']}×{them['height']}", name)
        )
    elif (me["format"], me["width"], me["height"]) == (them["format"], them["width"], them["height"]) and (
        me["size"] or 0
    ) <= 0.7 * (them["size"] or 0):
        reasons.append(Reason("recompressed", shown_size(me["size"] or 0), shown_size(them["size"] or 0), name))
    if me["time_source"] != "exif" and them["time_source"] == "exif":
        reasons.append(Reason("no_capture_time", other=name))
    if (them["sharpness"] or 0) >= SHARPER * (me["sharpness"] or 0):
        reasons.append(Reason("less_sharp", me["sharpness"] or 0.0, them["sharpness"] or 0.0, name))
    mine, theirs = me.get("faces"), them.get("faces")
    if mine is not None and theirs is not None:
        if mine.eyes_closed > theirs.eyes_closed:
            reasons.append(Reason("eyes_closed", mine.eyes_closed, mine.subjects))
        if mine.smiling < theirs.smiling:
            reasons.append(Reason("fewer_smiles", mine.smiling, theirs.smiling, name))
        if theirs.sharpness >= SHARPER * mine.sharpness:
            reasons.append(Reason("faces_less_sharp", mine.sharpness, theirs.sharpness, name))
    if happy[best] - happy[k] > noise and me.get("happy") is not None:
        reasons.append(Reason("less_happy", float(happy[k]), float(happy[best]), name))
    if expo[best] - expo[k] >= 0.1:
        reasons.append(Reason("worse_exposed", float(expo[k]), float(expo[best]), name))
    return reasons


def judge_single(m: dict, config: dict) -> Suggestion:
    """A photo with no near-duplicate: kept, unless it is clear junk (then 'review', never 'discard')."""
    junk = config["junk"]
    reasons = []
    if m["brightness"] <= junk["dark_brightness"]:
        reasons.append(Reason("too_dark", m["brightness"]))
    elif m["brightness"] >= junk["bright_brightness"]:
        reasons.append(Reason("too_bright", m["brightness"]))
    if (m["sharpness"] or 0.0) <= junk["blur_sharpness"]:
        reasons.append(Reason("very_blurry", m["sharpness"] or 0.0))
    return Suggestion(m["id"], "review" if reasons else "keep", None, reasons or [Reason("no_duplicates")])


def rank_personally(members: list[dict], ranker: Ranker) -> list[Suggestion]:
    """Suggestions for one group from the person's own ranker (``photocull learn``): its top frame
    is kept, the rest discarded, each with the signal that made the difference in words."""
    feats = group_features(members)
    score = ranker.scores(feats)
    order = [int(k) for k in np.argsort(-np.round(score, 9), kind="stable")]
    best = order[0]
    runner = order[1] if len(order) > 1 else best
    out = []
    for k, m in enumerate(members):
        if k == best:
            out.append(
                Suggestion(m["id"], "keep", float(score[k]), [Reason("personal_keep", ranker.why(feats, best, runner))])
            )
        else:
            why = Reason("personal_discard", ranker.why(feats, best, k), other=_name(members[best]))
            out.append(Suggestion(m["id"], "discard", float(score[k]), [why]))
    return out


def _personal_ranker(db: sqlite_utils.Database) -> Ranker | None:
    stored = load_ranker(db)
    if stored is None or not stored[1]["in_use"]:
        return None
    try:
        return Ranker.from_dict(stored[0])
    except ValueError:
        return None


def suggest_all(db: sqlite_utils.Database, config: dict | None = None) -> dict[str, int]:
    """Recompute and store every present photo's suggestion; a person's decisions are untouched.

    Groups without any decision are ranked by the person's own ranker when ``photocull learn``
    found it agrees with them better than the default rule does."""
    config = config or load_config()
    personal = _personal_ranker(db)
    touched = groups_with_decisions(db) if personal is not None else set()
    rows = suggestion_inputs(db)
    faces = faces_by_photo(db)
    for row in rows:
        row["faces"] = face_summary(faces.get(row["id"], []))
    by_group: dict[int, list[dict]] = {}
    suggestions: list[Suggestion] = []
    for row in rows:
        if row["group_id"] is None:
            suggestions.append(judge_single(row, config))
        else:
            by_group.setdefault(row["group_id"], []).append(row)
    for group_id, members in by_group.items():
        ordered = sorted(members, key=lambda m: m["path"])
        if personal is not None and group_id not in touched:
            suggestions.extend(rank_personally(ordered, personal))
        else:
            suggestions.extend(rank_group(ordered, config))
    save_suggestions(
        db,
        [
            (
                s.suggestion,
                s.score,
                json.dumps([r.text() for r in s.reasons], ensure_ascii=False),
                json.dumps([r.__dict__ for r in s.reasons], ensure_ascii=False),
                s.photo_id,
            )
            for s in suggestions
        ],
    )
    counts: dict[str, int] = {"keep": 0, "discard": 0, "review": 0}
    for s in suggestions:
        counts[s.suggestion] += 1
    return counts
