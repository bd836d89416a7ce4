"""Near-duplicate groups in the database: what grouping reads and saves, and what reports read back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import sqlite_utils

from photocull.store.photos import now
from photocull.store.records import query_records, verdict


@dataclass
class Group:
    """A near-duplicate group: its id and its photos as records (photocull.store.records)."""

    id: int
    members: list[dict]

    @property
    def decided(self) -> bool:
        """Whether the person has decided every photo of the group."""
        return all(m["decision"] is not None for m in self.members)

    @property
    def marks(self) -> Counter[str]:
        """How many photos will be kept, discarded, reviewed (the person's decision, else the
        suggestion); "none" for photos without either."""
        return Counter(verdict(m) or "none" for m in self.members)

    @property
    def cover(self) -> dict:
        """The photo that stands for the group: the first one to be kept, else the first."""
        return next((m for m in self.members if verdict(m) == "keep"), self.members[0])

    def as_dict(self) -> dict:
        """The group as the JSON outputs show it (review --json, the web app's API)."""
        return {"id": self.id, "size": len(self.members), "decided": self.decided, "photos": self.members}


def load_groups(db: sqlite_utils.Database, group_id: int | None = None) -> list[Group]:
    """Current groups, largest first (then oldest id), members in path order."""
    where, params = "p.group_id is not null", []
    if group_id is not None:
        where, params = "p.group_id = ?", [group_id]
    by_group: dict[int, list[dict]] = {}
    for record in query_records(db, where, params, order="p.group_id, p.path"):
        by_group.setdefault(record["group"], []).append(record)
    groups = [Group(gid, members) for gid, members in by_group.items()]
    return sorted(groups, key=lambda g: (-len(g.members), g.id))


def pending_group_ids(db: sqlite_utils.Database) -> list[int]:
    """Ids of the groups that still need a decision, in ``load_groups``' order (largest first, then
    oldest id), from one aggregate query: no records built."""
    rows = db.execute(
        """select p.group_id, count(*) as n, sum(d.decision is null) as undecided
        from photos p left join decisions d on d.photo_id = p.id
        where p.group_id is not null and p.missing_since is null
        group by p.group_id order by n desc, p.group_id"""
    )
    return [gid for gid, _, undecided in rows if undecided]


def load_review_singles(db: sqlite_utils.Database) -> list[dict]:
    """Photos without near-duplicates that look like junk (suggested 'review') and have no decision yet."""
    return list(query_records(db, "p.suggestion = 'review' and d.decision is null"))


def grouping_inputs(db: sqlite_utils.Database) -> tuple[int, Iterator[dict], bool]:
    """Count, then rows (id, hashes, capture time, and embedding once any exist) of every present,
    measured photo, streamed: a million embeddings as Python bytes would need gigabytes."""
    use_embeddings = db.execute("select 1 from photos where embedding is not null limit 1").fetchone() is not None
    where = "where missing_since is null and phash is not null"
    count = db.execute(f"select count(*) from photos {where}").fetchone()[0]
    columns = "id, phash, dhash, captured_ts, time_source" + (", embedding" if use_embeddings else "")
    # by path: the same files give the same groups and group ids, whatever order a scan stored them in
    return count, db.query(f"select {columns} from photos {where} order by path, id"), use_embeddings


def other_members(db: sqlite_utils.Database, group_id: int, photo_id: int) -> list[dict]:
    """The rest of a group, with what apply needs to know each one is still there as scanned."""
    return list(
        db.query(
            """select p.id, p.path, p.size, p.mtime_ns, p.digest, p.missing_since, p.suggestion, d.decision
        from photos p left join decisions d on d.photo_id = p.id where p.group_id = ? and p.id != ?""",
            [group_id, photo_id],
        )
    )


def save_groups(db: sqlite_utils.Database, groups: list[list[int]]) -> dict[int, list[int]]:
    """Store groups of photo ids; a group whose membership is unchanged keeps its id.

    Returns {group id: member ids}. Ids of dissolved groups are never handed out again.
    """
    current = {r["members"]: r["id"] for r in db.query("select id, members from groups where dissolved_at is null")}
    next_id = (db.execute("select coalesce(max(id), 0) from groups").fetchone()[0] or 0) + 1
    stamp = now()
    result: dict[int, list[int]] = {}
    new_rows = []
    for members in groups:
        key = ",".join(str(m) for m in sorted(members))
        gid = current.pop(key, None)
        if gid is None:
            gid, next_id = next_id, next_id + 1
            new_rows.append({"id": gid, "members": key, "size": len(members), "created_at": stamp})
        result[gid] = sorted(members)
    with db.atomic():
        db.conn.executemany(
            "update groups set dissolved_at = ? where id = ?", [(stamp, gid) for gid in current.values()]
        )
        if new_rows:
            db.table("groups").insert_all(new_rows)
        db.execute("update photos set group_id = null where group_id is not null")
        db.conn.executemany(
            "update photos set group_id = ? where id = ?",
            [(gid, pid) for gid, members in result.items() for pid in members],
        )
    return result
