"""``photocull review --interactive``: one group at a time, single keys, decisions stored at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

import click
import sqlite_utils
from rich.console import Console
from rich.text import Text

from photocull.base.heads import HEADS
from photocull.report.terminal import group_view
from photocull.store.decisions import record_feedback, set_decisions
from photocull.store.groups import load_groups

KEYS = (
    "[bold]a[/]ccept suggestion · [bold]k[/]eep all · [bold]c[/]hoose which to keep · [bold]s[/]kip · "
    "[bold]m[/]ood is wrong · [bold]q[/]uit"
)


def parse_mood(text: str, n: int) -> tuple[int, str, str]:
    """ "2 sad" → (1, "happy-sad", "sad"); "1 awe" → (0, "emotion", "awe"); ValueError otherwise."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= n:
        raise ValueError(f"type a photo number between 1 and {n} and its mood, e.g. '2 sad'")
    label = parts[1].lower()
    for model in ("happy-sad", "emotion"):
        if label in HEADS[model].classes:
            return int(parts[0]) - 1, model, label
    moods = ", ".join((*HEADS["happy-sad"].classes, *HEADS["emotion"].classes))
    raise ValueError(f"{label!r} is not a mood photocull knows: one of {moods}")


def parse_choice(text: str, n: int) -> set[int]:
    """ "1 3" or "1,3" → {0, 2}; raises ValueError with a message for anything else."""
    picks = set()
    for token in text.replace(",", " ").split():
        if not token.isdigit() or not 1 <= int(token) <= n:
            raise ValueError(f"{token!r} is not a photo number between 1 and {n}")
        picks.add(int(token) - 1)
    if not picks:
        raise ValueError("choose at least one photo to keep")
    return picks


def piped_input(stream: TextIO) -> tuple[Callable[[], str], Callable[[str], str]]:
    """Keys and answers from a pipe or file, for scripts and sessions without a terminal.

    Each non-blank character is one key; the answer to "which to keep" is the rest of that line, or
    the next line; the end of the input quits (decisions made so far are kept).
    """

    def getchar() -> str:
        while True:
            ch = stream.read(1)
            if ch == "":
                return "q"
            if not ch.isspace():
                return ch

    def prompt(text: str) -> str:
        line = stream.readline()
        if not line.strip():
            line = stream.readline()
        return line.strip()

    return getchar, prompt


def run_interactive(
    db: sqlite_utils.Database,
    console: Console,
    getchar: Callable[[], str] = click.getchar,
    prompt: Callable[[str], str] = lambda text: click.prompt(text, default="", show_default=False),
) -> dict[str, int]:
    """Walk the groups that still need a decision; returns counts of what the person did."""
    done = {"accepted": 0, "kept_all": 0, "chosen": 0, "skipped": 0, "moods_corrected": 0}
    pending = [g for g in load_groups(db) if not g.decided]
    if not pending:
        console.print("Every group has a decision. [bold]photocull apply --dry-run[/] shows what would move.")
        return done
    for number, g in enumerate(pending, 1):
        console.print(group_view(g, numbered=True))
        console.print(f"group {number} of {len(pending)} — {KEYS}")
        while True:
            key = getchar().lower()
            if key == "a":
                set_decisions(db, {m["id"]: "discard" if m["suggestion"] == "discard" else "keep" for m in g.members})
                done["accepted"] += 1
            elif key == "k":
                set_decisions(db, {m["id"]: "keep" for m in g.members})
                done["kept_all"] += 1
            elif key == "c":
                try:
                    picks = parse_choice(prompt("numbers of the photos to keep (e.g. 1 3)"), len(g.members))
                except ValueError as exc:
                    console.print(Text(str(exc), style="red"))
                    continue
                set_decisions(db, {m["id"]: "keep" if k in picks else "discard" for k, m in enumerate(g.members)})
                done["chosen"] += 1
            elif key == "m":  # a correction for the mood models (models train NAME --from-feedback)
                try:
                    k, model, label = parse_mood(prompt("photo number and its mood (e.g. 2 sad)"), len(g.members))
                except ValueError as exc:
                    console.print(Text(str(exc), style="red"))
                    continue
                record_feedback(db, g.members[k]["id"], model, label)
                done["moods_corrected"] += 1
                console.print(f"noted: photo {k + 1} is {label}")
                continue
            elif key == "s":
                done["skipped"] += 1
            elif key in ("q", "\x03", "\x04"):
                return done
            else:
                console.print(Text(f"unknown key {key!r}", style="yellow"), f"— {KEYS}")
                continue
            break
    return done
