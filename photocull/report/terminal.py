"""Rich rendering of scan summaries and groups for people (``--json`` bypasses all of this)."""

from __future__ import annotations

import datetime as dt
import os

from rich.console import Console
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

from photocull.base.names import shown
from photocull.decide.apply import ApplyReport
from photocull.pipeline import ScanSummary
from photocull.store.groups import Group


class _SpeedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed or (task.completed / task.elapsed if task.elapsed else None)
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
        ("photos found", c["photos_found"]),
        ("  new", c["new"]),
        ("  changed", c["changed"]),
        ("  unchanged", c["unchanged"]),
        ("  read again to record their content (first scan by this version)", c["read_again"]),
        ("  moved", c["moved"]),
        ("scored by the models", c["scored"]),
        ("faces found", c["faces"]),
        ("missing since last scan", c["missing"]),
        ("unreadable (see `photocull export --errors`)", c["errors"]),
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
        if value or label in ("photos found", "near-duplicate groups"):
            table.add_row(label, str(value))
    table.caption = f"{summary.seconds:.1f} s"
    return table


def _size(n: int | None) -> str:
    return f"{n / 1e6:.1f} MB" if n else ""


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _when(m: dict) -> str:
    """Capture time to the hundredth of a second (bursts differ there); file times are flagged."""
    if not m["captured_at"]:
        return ""
    when = dt.datetime.fromisoformat(m["captured_at"])
    text = when.strftime("%Y-%m-%d %H:%M:%S") + (f".{when.microsecond // 10000:02d}" if when.microsecond else "")
    return text if m["time_source"] == "exif" else text + " (file date)"


def group_table(g: Group, numbered: bool = False) -> Table:
    table = Table(title=f"group {g.id} · {len(g.members)} photos", title_justify="left", expand=False)
    if numbered:
        table.add_column("#", justify="right")
    longest = max(len(shown(os.path.basename(m["path"]))) for m in g.members)
    table.add_column("photo", no_wrap=True, min_width=min(longest, 60))
    for name in ("captured", "size", "resolution", "sharpness", "exposure", "clipped hi/lo"):
        table.add_column(name, justify="left" if name == "captured" else "right")
    has_scores = any(m.get("happy") is not None for m in g.members)
    has_suggestions = any(m.get("suggestion") for m in g.members)
    if has_scores:
        table.add_column("happy", justify="right")
        table.add_column("emotion")
    if has_suggestions:
        table.add_column("suggestion")
        table.add_column("why")
    for k, m in enumerate(g.members, 1):
        row: list[str | Text] = [str(k)] if numbered else []
        row += [
            Text(shown(os.path.basename(m["path"]))),
            Text(_when(m)),
            _size(m["size"]),
            f"{m['width']}×{m['height']}",
            _fmt(m["sharpness"], ".0f"),
            _fmt(m["brightness"], ".2f"),
            f"{_fmt(m['highlights'], '.1%')}/{_fmt(m['shadows'], '.1%')}",
        ]
        if has_scores:
            row += [_fmt(m.get("happy"), ".2f"), m.get("top_emotion") or ""]
        if has_suggestions:
            decision = m.get("decision")
            label = decision or m.get("suggestion") or ""
            style = {"keep": "green", "discard": "red", "review": "yellow"}.get(label, "")
            row += [
                Text(label + (" (yours)" if decision else ""), style=style),
                Text("; ".join(m.get("reasons") or [])),
            ]
        table.add_row(*row)
    return table


def singles_table(rows: list[dict]) -> Table:
    table = Table(title=f"{len(rows)} photos to look at (no near-duplicates, but possibly junk)", title_justify="left")
    table.add_column("photo", no_wrap=True)
    table.add_column("why")
    for r in rows:
        table.add_row(Text(shown(r["path"])), Text("; ".join(r["reasons"])))
    return table


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
