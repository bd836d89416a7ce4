"""`photocull learn`: a simulated person with a hidden preference decides half the bursts; the
personal ranker must then suggest what they would keep on the other half, and say why."""

from __future__ import annotations

import json

from click.testing import CliRunner
from measure_learning import build_bursts, simulate

from photocull.cli.main import cli
from photocull.decide.learn import MIN_GROUPS
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from photocull.store.decisions import set_decisions
from photocull.store.ranker import load_ranker


def test_a_hidden_preference_is_learnt_and_used(tmp_path):
    result = simulate(tmp_path, 30, "darker")
    assert result["bursts_found"] == 30
    learnt = result["learn"]
    assert learnt["in_use"] and learnt["pairs"] == 15 * 3 and learnt["groups"] == 15
    assert learnt["personal_agreement"] > learnt["default_agreement"]
    assert result["held_out_agreement_personal"] >= 0.9
    assert result["held_out_agreement_personal"] > result["held_out_agreement_default"]
    db = open_db(tmp_path / "learn.db")
    reasons = [json.loads(r["reasons"]) for r in db.query("select reasons from photos where suggestion = 'discard'")]
    assert any("you usually keep the darker frame" in " ".join(r) for r in reasons)
    model, report = load_ranker(db)
    assert report["in_use"] and len(model["weights"]) == len(model["features"])
    # a rescan recomputes suggestions: undecided groups still follow the person's ranker
    before = {r["id"]: r["suggestion"] for r in db.query("select id, suggestion from photos")}
    scan(db, [tmp_path / "library"], options=ScanOptions(workers=1))
    assert {r["id"]: r["suggestion"] for r in db.query("select id, suggestion from photos")} == before


def test_too_few_decisions_change_nothing(tmp_path):
    build_bursts(tmp_path / "lib", 4)
    db_path = tmp_path / "few.db"
    db = open_db(db_path)
    scan(db, [tmp_path / "lib"], options=ScanOptions(workers=1))
    group = [r["id"] for r in db.query("select id from photos where group_id is not null order by path")][:4]
    set_decisions(db, {group[0]: "keep", group[1]: "discard", group[2]: "discard", group[3]: "discard"})
    before = list(db.query("select id, suggestion, reasons from photos order by id"))
    answer = CliRunner().invoke(cli, ["--db", str(db_path), "learn", "--json"])
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.stdout)
    assert set(report) >= {"pairs", "groups", "personal_agreement", "default_agreement", "in_use"}
    assert report["groups"] == 1 < MIN_GROUPS and not report["in_use"] and report["personal_agreement"] is None
    assert f"at least {MIN_GROUPS} groups" in report["note"]
    assert list(db.query("select id, suggestion, reasons from photos order by id")) == before
    assert load_ranker(db) is None
