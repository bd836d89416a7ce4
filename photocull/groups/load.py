"""Reading near-duplicate groups back out of the database for review and reports."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlite_utils


@dataclass
class Group:
    id: int
    members: list[dict]


def load_groups(db: sqlite_utils.Database, group_id: int | None = None) -> list[Group]:
    """Current groups, largest first (then oldest id), members in path order."""
    where = "p.group_id is not null and p.missing_since is null"
    params: list = []
    if group_id is not None:
        where += " and p.group_id = ?"
        params.append(group_id)
    rows = db.query(
        f"""select p.*, d.decision from photos p left join decisions d on d.photo_id = p.id
        where {where} order by p.group_id, p.path""",
        params,
    )
    by_group: dict[int, list[dict]] = {}
    for row in rows:
        by_group.setdefault(row["group_id"], []).append(_member(row))
    groups = [Group(gid, members) for gid, members in by_group.items()]
    return sorted(groups, key=lambda g: (-len(g.members), g.id))


def load_review_singles(db: sqlite_utils.Database) -> list[dict]:
    """Photos without near-duplicates that look like junk (suggested 'review') and have no decision yet."""
    rows = db.query(
        "select p.*, d.decision from photos p left join decisions d on d.photo_id = p.id "
        "where p.suggestion = 'review' and p.missing_since is null and d.decision is null order by p.path"
    )
    return [_member(row) for row in rows]


def _member(row: dict) -> dict:
    """A photo row as reports use it: JSON columns decoded, the embedding blob left out."""
    row = dict(row)
    row.pop("embedding", None)
    row["reasons"] = json.loads(row["reasons"]) if row["reasons"] else []
    row["emotions"] = json.loads(row["emotions"]) if row["emotions"] else None
    return row
