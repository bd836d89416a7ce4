"""The same files give the same groups, group ids and suggestions, whatever order the workers finish in."""

from __future__ import annotations

import pytest

from photocull import pipeline
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db


def _outcome(db_path) -> dict:
    db = open_db(db_path)
    rows = list(db.query("select * from photos where missing_since is null"))
    members: dict[int, set[str]] = {}
    for r in rows:
        if r["group_id"] is not None:
            members.setdefault(r["group_id"], set()).add(r["path"])
    return {
        r["path"]: (
            r["group_id"],
            frozenset(members.get(r["group_id"], ())),
            r["suggestion"],
            r["reasons"],
            r["happy"],
            r["embedding"],
            r["sharpness"],
        )
        for r in rows
    }


@pytest.mark.slow
def test_worker_count_and_finishing_order_change_nothing(library, tmp_path, monkeypatch):
    from photocull.mood.litert import LiteRTScorer

    scorer = LiteRTScorer()
    scan(open_db(tmp_path / "one.db"), [library.root], scorer=scorer, options=ScanOptions(workers=1))
    scan(open_db(tmp_path / "two.db"), [library.root], scorer=scorer, options=ScanOptions(workers=2, batch_size=5))

    results = pipeline._results

    def reversed_results(tasks, decoding, in_flight):  # the last photo finishes first, and so on
        return reversed(list(results(tasks, decoding, in_flight)))

    monkeypatch.setattr(pipeline, "_results", reversed_results)
    scan(open_db(tmp_path / "reversed.db"), [library.root], scorer=scorer, options=ScanOptions(workers=2))

    one, two, backwards = (_outcome(tmp_path / f"{name}.db") for name in ("one", "two", "reversed"))
    assert sum(1 for v in one.values() if v[0] is not None) >= 6  # the fixture really has groups
    assert one == two
    assert one == backwards
