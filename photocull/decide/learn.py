"""``photocull learn``: fit the personal ranker on the person's decisions, and say whether it helps.

Agreement is measured per group: a rule *agrees* with the person on a group when the set of photos
it keeps is exactly the set they kept. The personal ranker's agreement is cross-validated (each
group judged by a ranker fitted on the other folds' groups); the default rule's is measured on the
same groups. The ranker is used for suggestions only when it agrees better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import sqlite_utils

from photocull.decide.config import load_config
from photocull.decide.ranker import fit_ranker, group_features, preference_pairs
from photocull.decide.suggest import face_summary, rank_group, suggest_all
from photocull.store.faces import faces_by_photo
from photocull.store.photos import suggestion_inputs
from photocull.store.ranker import decided_groups, save_ranker

FOLDS = 5
MIN_GROUPS = 10  # fewer decided groups than this: too few to tell whether the ranker helps


@dataclass
class LearnReport:
    pairs: int
    groups: int
    personal_agreement: float | None
    default_agreement: float | None
    in_use: bool
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _decided_members(db: sqlite_utils.Database) -> list[tuple[list[dict], set[int]]]:
    """Each fully decided group with at least one kept and one discarded photo: its members
    (suggestion inputs, by path) and the indices the person kept."""
    decided = decided_groups(db)
    rows = suggestion_inputs(db)
    faces = faces_by_photo(db)
    by_group: dict[int, list[dict]] = {}
    for row in rows:
        if row["group_id"] in decided:
            row["faces"] = face_summary(faces.get(row["id"], []))
            by_group.setdefault(row["group_id"], []).append(row)
    out = []
    for gid, members in sorted(by_group.items()):
        members.sort(key=lambda m: m["path"])
        kept = {k for k, m in enumerate(members) if decided[gid].get(m["id"]) == "keep"}
        if 0 < len(kept) < len(members):
            out.append((members, kept))
    return out


def agreement(groups: list[tuple[list[dict], set[int]]], config: dict) -> tuple[float, float]:
    """(personal, default) agreement over ``groups``: the personal ranker cross-validated by fold."""
    folds = np.arange(len(groups)) % FOLDS
    personal = default = 0
    feats = [group_features(members) for members, _ in groups]
    for fold in range(FOLDS):
        train = [(feats[i], groups[i][1]) for i in range(len(groups)) if folds[i] != fold]
        ranker = fit_ranker(preference_pairs(train))
        for i in np.flatnonzero(folds == fold):
            members, kept = groups[i]
            personal += {int(np.argmax(ranker.scores(feats[i])))} == kept
            rule = rank_group(members, config)
            default += {k for k, s in enumerate(rule) if s.suggestion == "keep"} == kept
    return personal / len(groups), default / len(groups)


def learn(db: sqlite_utils.Database, config: dict | None = None) -> LearnReport:
    """Fit on every decided group, store the ranker with its measured agreement, and recompute
    suggestions (undecided groups then follow the ranker if it is in use)."""
    config = config or load_config()
    groups = _decided_members(db)
    pairs = preference_pairs([(group_features(m), kept) for m, kept in groups])
    if len(groups) < MIN_GROUPS:
        return LearnReport(
            len(pairs),
            len(groups),
            None,
            None,
            False,
            f"decide at least {MIN_GROUPS} groups (keep some photos, discard others) first; "
            f"{len(groups)} so far. Nothing was changed.",
        )
    personal, default = agreement(groups, config)
    ranker = fit_ranker(pairs)
    report = LearnReport(len(pairs), len(groups), round(personal, 4), round(default, 4), personal > default)
    report.note = (
        "your ranker now makes the suggestions of groups you have not decided"
        if report.in_use
        else "the default rule agrees with you as well or better: it stays in use"
    )
    save_ranker(db, ranker.as_dict(), report.as_dict())
    suggest_all(db, config)
    return report
