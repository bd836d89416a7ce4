"""Reviewing groups: the listing, interactive decisions (library and CLI), and their persistence."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from rich.console import Console

from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.report.interactive import parse_choice, parse_mood, run_interactive
from photocull.store.groups import load_groups
from photocull.store.records import shown_emotion


def keys(*chars: str):
    it = iter(chars)
    return lambda: next(it)


def decisions(db) -> dict[str, str]:
    return {
        r["path"].rsplit("/", 1)[-1]: r["decision"]
        for r in db.query("select p.path, d.decision from decisions d join photos p on p.id = d.photo_id")
    }


def test_accept_keep_all_choose_skip_quit(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    groups = load_groups(db)
    assert len(groups) == 4
    console = Console(file=io.StringIO())
    # group 1: unknown key, a mood correction, then accept; group 2: keep all; group 3: choose #2; group 4: skip
    answers = {"mood": "1 sad", "keep": "2"}
    done = run_interactive(
        db,
        console,
        getchar=keys("x", "m", "a", "k", "c", "s"),
        prompt=lambda text: next(v for k, v in answers.items() if k in text),
    )
    assert done == {"accepted": 1, "kept_all": 1, "chosen": 1, "skipped": 1, "moods_corrected": 1}
    assert [(r["photo_id"], r["model"], r["label"]) for r in db["feedback"].rows] == [
        (groups[0].members[0]["id"], "happy-sad", "sad")
    ]
    d = decisions(db)
    g1, g2, g3, g4 = groups
    assert all(
        d[m["path"].rsplit("/", 1)[-1]] == ("discard" if m["suggestion"] == "discard" else "keep") for m in g1.members
    )
    assert all(d[m["path"].rsplit("/", 1)[-1]] == "keep" for m in g2.members)
    chosen = [d[m["path"].rsplit("/", 1)[-1]] for m in g3.members]
    assert chosen == ["discard", "keep"] + ["discard"] * (len(g3.members) - 2)
    assert not any(m["path"].rsplit("/", 1)[-1] in d for m in g4.members)
    # only the skipped group still needs a decision; a rescan keeps every decision
    scan(db, [library.root], options=ScanOptions(workers=1))
    assert decisions(db) == d
    again = run_interactive(db, console, getchar=keys("q"))
    assert again == {"accepted": 0, "kept_all": 0, "chosen": 0, "skipped": 0, "moods_corrected": 0}


def test_parse_choice_and_mood():
    assert parse_choice("1, 3", 3) == {0, 2}
    assert parse_mood("2 sad", 3) == (1, "happy-sad", "sad")
    assert parse_mood("1 Awe", 3) == (0, "emotion", "awe")


@pytest.mark.parametrize(
    "parse, bad",
    [(parse_choice, bad) for bad in ("0", "4", "x", "")]
    + [(parse_mood, bad) for bad in ("4 sad", "1 ecstatic", "sad", "")],
)
def test_parsers_reject_bad_answers_with_a_message(parse, bad):
    with pytest.raises(ValueError, match=r"\w"):
        parse(bad, 3)


def test_cli_review_lists_undecided_and_interactive_by_keys(library, tmp_path):
    db = str(tmp_path / "r.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "scan", str(library.root), "--no-models", "--workers", "1"]).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["--db", db, "review", "--json"]).stdout)
    assert len(listed["groups"]) == 4
    text = runner.invoke(cli, ["--db", db, "review"], terminal_width=200).stdout
    assert "discard" in text and "smaller re-save of" in text
    result = runner.invoke(cli, ["--db", db, "review", "--interactive"], input="aaaa")
    assert result.exit_code == 0, result.output
    assert "accepted: 4" in result.stdout
    assert json.loads(runner.invoke(cli, ["--db", db, "review", "--json"]).stdout)["groups"] == []
    assert len(json.loads(runner.invoke(cli, ["--db", db, "review", "--json", "--all"]).stdout)["groups"]) == 4


def test_the_scenes_emotion_is_shown_with_how_sure_the_model_is():
    record = {"top_emotion": "anger", "emotions": {"anger": 0.381, "excitement": 0.22}}
    assert shown_emotion(record) == "anger 0.38"
    assert shown_emotion({"top_emotion": "awe", "emotions": None}) == "awe"
    assert shown_emotion({"top_emotion": None}) == ""
