"""The personal ranker ``photocull learn`` fits: one row, replaced on each fit."""

from __future__ import annotations

import json

import sqlite_utils

from photocull.store.photos import now


def save_ranker(db: sqlite_utils.Database, model: dict, report: dict) -> None:
    with db.atomic():
        db.execute("delete from ranker")
        db.table("ranker").insert(
            {
                "fitted_at": now(),
                "model": json.dumps(model),
                "pairs": report["pairs"],
                "groups": report["groups"],
                "personal_agreement": report["personal_agreement"],
                "default_agreement": report["default_agreement"],
                "in_use": int(report["in_use"]),
            }
        )


def load_ranker(db: sqlite_utils.Database) -> tuple[dict, dict] | None:
    """(model, report) of the stored ranker, or None when ``learn`` has not fitted one."""
    row = next(iter(db.query("select * from ranker order by id desc limit 1")), None)
    if row is None:
        return None
    report = {k: row[k] for k in ("fitted_at", "pairs", "groups", "personal_agreement", "default_agreement")}
    report["in_use"] = bool(row["in_use"])
    return json.loads(row["model"]), report


def decided_groups(db: sqlite_utils.Database) -> dict[int, dict[int, str]]:
    """Groups in which the person decided every present photo: group id → {photo id: decision}."""
    rows = db.query(
        "select p.group_id, p.id, d.decision from photos p left join decisions d on d.photo_id = p.id "
        "where p.group_id is not null and p.missing_since is null"
    )
    out: dict[int, dict[int, str]] = {}
    undecided: set[int] = set()
    for r in rows:
        if r["decision"] is None:
            undecided.add(r["group_id"])
        out.setdefault(r["group_id"], {})[r["id"]] = r["decision"]
    return {g: d for g, d in out.items() if g not in undecided}


def groups_with_decisions(db: sqlite_utils.Database) -> set[int]:
    """Groups where the person decided at least one photo (their suggestions are left alone)."""
    return {
        r[0]
        for r in db.execute(
            "select distinct p.group_id from photos p join decisions d on d.photo_id = p.id where p.group_id is not null"
        )
    }
