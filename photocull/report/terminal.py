"""Rich rendering of scan summaries and groups for people (``--json`` bypasses all of this)."""

from __future__ import annotations

import os
from collections import Counter

from rich.console import Console
from rich.console import Group as Group_
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from photocull.base.heads import has_eyes_closed, is_smiling
from photocull.base.names import shown
from photocull.base.sizes import shown_size
from photocull.decide.apply import ApplyReport
from photocull.pipeline import ScanSummary
from photocull.store.groups import Group
from photocull.store.records import shown_emotion, shown_time, verdict


class _SpeedColumn(ProgressColumn):
    """Photos done over the time since the bar started: rich's own speed is a recent window's,
    which overstates a scan whose slow files came first (say, full-size HEIC decodes)."""

    def render(self, task: Task) -> Text:
        speed = task.completed / task.elapsed if task.elapsed and task.completed else None
        return Text(f"{speed:5.1f} photos/s" if speed else "  –  photos/s", style="cyan")


class RichProgress:
    """Adapts the library's progress callbacks to a rich progress bar with photos/s and ETA."""

    def __init__(self, console: Console, label: str = "scanning"):
        self.progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            _SpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start(self, total: int) -> None:
        self.task = self.progress.add_task("scan", total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None and n:
            self.progress.advance(self.task, n)


def summary_table(summary: ScanSummary) -> Table:
    c = summary.counts
    table = Table(title="scan interrupted: run the same command again to resume" if summary.interrupted else "scan")
    table.add_column("")
    table.add_column("count", justify="right")
    rows = [
        ("photos", summary.photos),
        ("  new", c["new"]),
        ("  changed", c["changed"]),
        ("  unchanged", c["unchanged"]),
        ("  read again to record their content (first scan by this version)", c["read_again"]),
        ("  moved", c["moved"]),
        ("unreadable files, not photos (see `photocull export --errors`)", c["errors"]),
        ("scored by the models", c["scored"]),
        ("faces found", c["faces"]),
        ("missing since last scan", c["missing"]),
        ("videos (counted, not scanned)", c["videos"]),
        ("other files", c["other_files"]),
        ("hidden/system items skipped", c["skipped_hidden"]),
        ("symlinks not followed", c["skipped_links"]),
        ("second names of a file (hard links), counted once", c["other_names"]),
        ("near-duplicate groups", summary.groups),
        ("photos in groups", summary.grouped_photos),
        ("suggested: keep", summary.suggestions.get("keep", 0)),
        ("suggested: discard", summary.suggestions.get("discard", 0)),
        ("suggested: review (possible junk)", summary.suggestions.get("review", 0)),
    ]
    for label, value in rows:
        if value or label in ("photos", "near-duplicate groups"):
            table.add_row(label, str(value))
    table.caption = f"{summary.seconds:.1f} s"
    return table


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _when(m: dict) -> str:
    """Capture time to the hundredth of a second; file times are flagged."""
    text = shown_time(m["captured_at"])
    return text if not text or m["time_source"] == "exif" else text + " (file date)"


MARKS = {"keep": ("✓ keep", "green"), "discard": ("✗ discard", "red"), "review": ("? review", "yellow")}


def _verdict(m: dict) -> Text:
    """The person's decision, else the suggestion, as a mark that reads without colour too."""
    mark, style = MARKS.get(verdict(m) or "", ("  –", "dim"))
    return Text(mark + (" (yours)" if m.get("decision") else ""), style=style)


def _facts(m: dict) -> str:
    """One line of what was measured, the export's names in words."""
    parts = [
        _when(m),
        f"{m['width']}×{m['height']}" if m.get("width") else "",
        shown_size(m["size"]) if m.get("size") else "",
    ]
    if m.get("sharpness") is not None:
        parts.append(f"sharpness {m['sharpness']:.0f}")
    if m.get("exposure") is not None:
        parts.append(f"exposure {m['exposure']:.2f}")
    if m.get("happy") is not None:
        emotion = shown_emotion(m)
        parts.append(f"happy {m['happy']:.2f}" + (f" ({emotion})" if emotion else ""))
    faces = m.get("faces")
    if faces:
        closed, smiling = sum(map(has_eyes_closed, faces)), sum(map(is_smiling, faces))
        parts.append(f"{len(faces)} face{'s' if len(faces) > 1 else ''}, {smiling} smiling, {closed} eyes closed")
    return " · ".join(p for p in parts if p)


def photo_lines(rows: list[dict], numbered: bool = False) -> Table:
    """Photos one per row: the mark, then the file name, what was measured and the reasons on
    lines of their own, so nothing is squeezed whatever the terminal's width."""
    grid = Table.grid(padding=(0, 1))
    if numbered:
        grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True, min_width=13)
    grid.add_column(overflow="fold", ratio=1)
    for k, m in enumerate(rows, 1):
        body = Text(shown(os.path.basename(m["path"])), style="bold")
        facts = _facts(m)
        if facts:
            body.append("\n" + facts, style="dim")
        for reason in m.get("reasons") or []:
            body.append("\n· " + str(reason))
        grid.add_row(*([str(k)] if numbered else []), _verdict(m), body)
    return grid


def group_view(g: Group, numbered: bool = False) -> Group_:
    """A group as a heading line and its photos (``numbered`` for choosing by number)."""
    marks = g.marks
    counts = ", ".join(f"{k} {marks[k]}" for k in ("keep", "discard", "review") if marks[k])
    timed = [m for m in g.members if m.get("captured_at")]
    first = min(timed, key=lambda m: m["captured_at"]) if timed else None
    heading = Text(f"Group {g.id} · {len(g.members)} photos", style="bold")
    if first is not None:
        heading.append(" · " + _when(first).split(".")[0])
    if counts:
        heading.append(" · " + counts)
    if g.decided:
        heading.append(" · decided", style="green")
    return Group_(heading, photo_lines(g.members, numbered), Text(""))


def review_summary(groups: list[Group], shown_groups: int, singles: int, show_all: bool) -> Text:
    """What the review holds, before the groups: counts, and how to see more."""
    photos = sum(len(g.members) for g in groups)
    marks = Counter(m.get("suggestion") for g in groups for m in g.members if not m.get("decision"))
    what = "groups" if show_all else "groups need a decision"
    text = Text(f"{len(groups)} {what} ({photos} photos", style="bold")
    if marks["keep"] or marks["discard"]:
        text.append(f"; suggested: keep {marks['keep']}, discard {marks['discard']}")
    text.append(")")
    if singles:
        text.append(f"\n{singles} single photo{'s' if singles > 1 else ''} to look at (possibly junk)")
    if shown_groups < len(groups):
        text.append(
            f"\nShowing the {shown_groups} largest. More: --limit N, or --all for every group (decided ones too).",
            style="dim",
        )
    text.append("\nDecide: photocull review -i  ·  in a browser: photocull review --html sheet.html\n", style="dim")
    return text


def singles_view(rows: list[dict], limit: int | None = None) -> Group_:
    """Photos without near-duplicates that look like junk; at most ``limit`` of them."""
    heading = Text(f"{len(rows)} single photos to look at (no near-duplicates, but possibly junk)", style="bold")
    parts: list[Text | Table] = [heading, photo_lines(rows[:limit])]
    if limit is not None and len(rows) > limit:
        parts.append(Text(f"… and {len(rows) - limit} more (--all shows them)", style="dim"))
    return Group_(*parts)


def apply_report(report: ApplyReport) -> Table:
    """What ``photocull apply`` did (or, for a dry run, would do)."""
    moves = report.planned if report.dry_run else report.moved
    verb = "would move" if report.dry_run else "moved"
    table = Table(
        title=f"{verb} {len(moves)} photos" + (" to the trash" if report.mode == "trash" else ""), title_justify="left"
    )
    table.add_column("photo", no_wrap=True)
    table.add_column("to")
    table.add_column("because")
    for m in moves:
        table.add_row(Text(shown(m.src)), Text(shown(m.dst) or "system trash"), m.because)
    for note in report.skipped:
        table.add_row(Text(shown(note.path)), Text("not moved", style="yellow"), Text(note.reason))
    for note in report.failed:
        table.add_row(Text(shown(note.path)), Text("failed", style="bold red"), Text(note.reason))
    return table
