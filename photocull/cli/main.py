"""The ``photocull`` command: a thin click layer over the library.

Heavy imports (TensorFlow, the models) happen inside the commands that need them, so ``--help``,
``review`` and ``export`` start fast.

Exit codes, the same for every command: 0 all done; 1 any failure, partial or total, or a refusal
(the message says which file and what to do); 2 a usage error; 130 interrupted (Ctrl-C or SIGTERM;
what was finished is saved).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click
from rich.console import Console
from rich.text import Text

from photocull import __version__
from photocull.base.errors import PhotocullError
from photocull.base.names import json_text, shown
from photocull.cli.models import models as models_group

if TYPE_CHECKING:  # imported by the commands that open the database, not by --help (0.1 s with NumPy)
    import sqlite_utils

stderr = Console(stderr=True)
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
NOTHING_TO_DISCARD = "Nothing to discard: no photo is marked discard, by you or by the suggestions."
REVIEW_LIMIT = 10  # groups `review` shows by default: a summary that reads in a terminal


def _stdout_console() -> Console:
    """A terminal's own width; piped or redirected, ``COLUMNS`` if set, else 80 (never a pager)."""
    if sys.stdout.isatty():
        return Console()
    columns = os.environ.get("COLUMNS", "")
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 0 else 80)


def _show(console: Console, *renderables: Any) -> None:
    """Print to stdout; piped or redirected, without the padding rich adds at the end of lines."""
    if console.is_terminal:
        console.print(*renderables)
        return
    with console.capture() as captured:
        console.print(*renderables)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


class _Group(click.Group):
    """Every outcome becomes a message and a documented exit code, never a bare traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PhotocullError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            stderr.print("interrupted; what was finished is saved")
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug, unless another process holds the database
            from photocull.store.database import BUSY, is_busy

            if is_busy(exc):
                raise click.ClickException(BUSY) from None
            # a bug: say so in one line, keep the details in a file
            raise click.ClickException(_crash_report(exc)) from None


def _crash_report(exc: Exception) -> str:
    """Write the traceback of an unexpected error to the user directory; the line says where."""
    from photocull.base.paths import user_dir

    detail = "".join(traceback.format_exception(exc))
    try:
        folder = user_dir()
        folder.mkdir(parents=True, exist_ok=True)
        report = folder / f"crash-{dt.datetime.now():%Y%m%d-%H%M%S}.txt"
        report.write_text(" ".join(sys.argv) + "\n\n" + detail, encoding="utf-8", errors="backslashreplace")
        where = f"the details are in {report}"
    except OSError:
        where = "the details follow:\n" + detail
    return (
        f"internal error ({type(exc).__name__}: {shown(str(exc))}); this is a bug in photocull, nothing was "
        f"lost. Please report it; {where}"
    )


def _said(message: str, path: str | Path) -> Text:
    """A message naming a user's file, never read as rich markup (file names may hold "[")."""
    return Text(f"{message} {shown(str(path))}")


def _db(ctx: click.Context) -> sqlite_utils.Database:
    from photocull.store.database import open_db

    return open_db(ctx.obj["db_path"])


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="photocull")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite database to use (default: photocull.db in the user data directory; env PHOTOCULL_DB).",
)
@click.pass_context
def cli(ctx: click.Context, db_path: Path | None) -> None:
    """Curate a photo library: find near-duplicates, score photos, suggest what to keep."""
    ctx.obj = {"db_path": db_path}


@cli.command()
@click.argument("roots", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--no-models", is_flag=True, help="Fast hash-only scan: skip the happy/sad and emotion models (and faces)."
)
@click.option("--no-faces", is_flag=True, help="Skip finding faces (boxes, face sharpness).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Decoding processes.")
@click.option(
    "--batch-size", type=click.IntRange(1, 4096), default=64, show_default=True, help="Photos per write/scoring batch."
)
@click.option(
    "--phash-threshold",
    type=click.IntRange(0, 32),
    help="Max pHash distance for a near-duplicate pair taken within one session (6 h).",
)
@click.option(
    "--burst-threshold", type=click.IntRange(0, 32), help="Max pHash distance for frames taken within --burst-seconds."
)
@click.option(
    "--burst-seconds", type=click.FloatRange(0), help="Frames closer than this in EXIF time count as a burst."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def scan(
    ctx: click.Context,
    roots: tuple[Path, ...],
    no_models: bool,
    no_faces: bool,
    workers: int,
    batch_size: int,
    phash_threshold: int | None,
    burst_threshold: int | None,
    burst_seconds: float | None,
    as_json: bool,
) -> None:
    """Scan ROOTS for photos, score them and group near-duplicates.

    A rescan re-reads only new or changed files. Ctrl-C stops cleanly; run again to resume.
    """
    from photocull.groups.rule import GroupingOptions
    from photocull.pipeline import ScanOptions
    from photocull.pipeline import scan as run_scan
    from photocull.report.terminal import RichProgress, summary_table

    grouping = GroupingOptions()
    if phash_threshold is not None:
        grouping.phash_threshold = phash_threshold
    if burst_threshold is not None:
        grouping.burst_phash_threshold = burst_threshold
    if burst_seconds is not None:
        grouping.burst_seconds = burst_seconds
    db = _db(ctx)
    scorer = None
    if not no_models:
        from photocull.mood.litert import LiteRTScorer

        scorer = LiteRTScorer()
    faces = None
    if not (no_models or no_faces):
        from photocull.faces.analyse import FaceStage

        faces = FaceStage()
    with RichProgress(stderr) as progress:
        summary = run_scan(
            db,
            roots,
            scorer=scorer,
            faces=faces,
            options=ScanOptions(workers, batch_size, grouping),
            progress=progress,
        )
    if as_json:
        click.echo(json_text(summary.as_dict(), indent=2))
    else:
        stderr.print(summary_table(summary))
        if not summary.counts["photos_found"] and not summary.interrupted:
            stderr.print(
                _said("No photos found under", ", ".join(summary.roots)).append(
                    ": photocull reads JPEG, PNG, WebP, HEIC/HEIF, TIFF and GIF files, in subfolders too "
                    "(hidden folders are skipped; the table says what else was there)."
                )
            )
    if summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.option("--all", "show_all", is_flag=True, help="Show every group, decided ones too, with no limit.")
@click.option(
    "--limit",
    type=click.IntRange(1),
    help=f"Show at most this many groups, largest first [default: {REVIEW_LIMIT}; --all: no limit].",
)
@click.option("--group", "group_id", type=int, help="Show one group.")
@click.option("--interactive", "-i", is_flag=True, help="Decide group by group with single keys.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML contact sheet.",
)
@click.pass_context
def review(
    ctx: click.Context,
    as_json: bool,
    show_all: bool,
    limit: int | None,
    group_id: int | None,
    interactive: bool,
    html_path: Path | None,
) -> None:
    """Show near-duplicate groups (largest first) with suggestions, reasons and scores.

    By default a summary, then the largest groups that still need a decision; --json prints
    every such group (--limit and --all apply to it too).
    """
    from photocull.store.groups import load_groups, load_review_singles

    db = _db(ctx)
    console = _stdout_console()
    if html_path:
        from photocull.report.sheet import render_contact_sheet
        from photocull.report.terminal import RichProgress

        with RichProgress(stderr, "contact sheet") as progress:
            out = render_contact_sheet(db, html_path, progress)
        stderr.print(_said("wrote", out))
        return
    if interactive:
        from photocull.report.interactive import piped_input, run_interactive

        if sys.stdin.isatty():
            done = run_interactive(db, console)
        else:  # no terminal (a script, a pipe): keys come from standard input
            done = run_interactive(db, console, *piped_input(sys.stdin))
        console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()))
        return
    groups = [g for g in load_groups(db, group_id) if show_all or group_id is not None or not g.decided]
    singles = [] if group_id is not None else load_review_singles(db)
    if as_json:
        from photocull.store.records import SCHEMA_VERSION

        payload = {
            "schema_version": SCHEMA_VERSION,
            "groups": [g.as_dict() for g in groups[:limit]],
            "singles": singles,
        }
        click.echo(json_text(payload, indent=2))
        return
    if not groups and not singles:
        from photocull.store.photos import present_count

        scanned = present_count(db)
        console.print(
            "No photos scanned yet: run [bold]photocull scan FOLDER[/] first."
            if not scanned
            else f"Nothing to review: {scanned} photo{'s' if scanned != 1 else ''} scanned, no near-duplicate group "
            "waits for a decision and none looks like junk. `--all` shows the groups already decided."
        )
        return
    from photocull.report.terminal import group_view, review_summary, singles_view

    shown_groups = groups[: limit or (None if show_all or group_id is not None else REVIEW_LIMIT)]
    parts: list[Any] = (
        [] if group_id is not None else [review_summary(groups, len(shown_groups), len(singles), show_all)]
    )
    parts += [group_view(g) for g in shown_groups]
    if singles:
        parts.append(singles_view(singles, None if show_all else limit or REVIEW_LIMIT))
    _show(console, *parts)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to FILE instead of stdout.",
)
@click.option("--errors", "errors_only", is_flag=True, help="List the files that could not be read instead of photos.")
@click.option("--xmp", is_flag=True, help="Write/merge XMP sidecars (IMG_1.jpg.xmp) with rating and label instead.")
@click.option(
    "--keep-rating", type=click.IntRange(0, 5), help="With --xmp: star rating for kept photos (default: leave as is)."
)
@click.option(
    "--xmp-naming",
    type=click.Choice(["full", "stem"]),
    default="full",
    show_default=True,
    help="With --xmp: IMG_1.jpg.xmp (darktable, digiKam) or IMG_1.xmp.",
)
@click.pass_context
def export(
    ctx: click.Context,
    fmt: str,
    output: Path | None,
    errors_only: bool,
    xmp: bool,
    keep_rating: int | None,
    xmp_naming: Literal["full", "stem"],
) -> None:
    """Export one record per photo (or per unreadable file) as JSON or CSV, or XMP sidecars."""
    from photocull.base.atomic import atomic_write, check_output_folder
    from photocull.store.export import error_records, photo_records, to_csv, to_json

    if output:
        check_output_folder(output)
    db = _db(ctx)
    if xmp:
        from photocull.decide.xmp import write_sidecars

        report = write_sidecars(db, keep_rating=keep_rating, naming=xmp_naming)
        stderr.print(
            f"sidecars: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped"
        )
        for path, why in report.skipped:
            stderr.print(f"  skipped {shown(path)}: {why}", markup=False)
        if report.skipped:
            sys.exit(EXIT_FAILURE)
        return
    records = error_records(db) if errors_only else photo_records(db)
    text = to_json(records) if fmt == "json" else to_csv(records, ("path", "error")) if errors_only else to_csv(records)
    data = text.encode("utf-8", "surrogateescape")  # CSV keeps a non-UTF-8 name's bytes; JSON has none left
    if output:
        atomic_write(output, lambda f: f.write(data))
        stderr.print(_said("wrote", output))
    else:
        click.echo(data, nl=False)


@cli.command(name="apply")
@click.option("--trash", is_flag=True, help="Send discarded photos to the system trash instead of the holding folder.")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def apply_cmd(ctx: click.Context, trash: bool, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Move discarded photos (your decision, else the suggestion) out of the library.

    By default they go to _photocull_discarded/ inside their scanned folder, mirroring their
    relative paths. Every move is journaled; `photocull undo` puts them back. Nothing is deleted.
    """
    from photocull.decide.apply import apply, plan
    from photocull.report.terminal import RichProgress, apply_report

    db = _db(ctx)
    if not dry_run and not yes:
        planned = plan(db, trash=trash)
        if not planned:
            stderr.print(NOTHING_TO_DISCARD)
            return
        where = "the system trash" if trash else "the _photocull_discarded folder of each scanned root"
        click.confirm(f"Move {len(planned)} photos to {where}?", abort=True, err=True)
    with RichProgress(stderr, "moving") as progress:
        report = apply(db, trash=trash, dry_run=dry_run, progress=None if dry_run else progress)
    if as_json:
        click.echo(json_text(report.as_dict(), indent=2))
    elif dry_run and not (report.planned or report.skipped or report.failed):
        stderr.print(NOTHING_TO_DISCARD)
    else:
        _stdout_console().print(apply_report(report))
        if report.skipped:
            stderr.print(f"{len(report.skipped)} photos left in place on purpose (see the table for why).")
        if report.failed:
            stderr.print(
                f"[bold red]{len(report.failed)} moves failed[/] (see the table for why); they are still in place."
            )
        if report.apply_id:
            state = "stopped early" if report.interrupted else "done"
            stderr.print(f"apply {report.apply_id} {state}: {len(report.moved)} moved. `photocull undo` reverses it.")
        elif not dry_run:
            stderr.print("Nothing was moved.")
    if report.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if report.failed or report.skipped:
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("apply_id", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def undo(ctx: click.Context, apply_id: int | None, as_json: bool) -> None:
    """Put back every photo moved by the last apply (or by APPLY_ID)."""
    from photocull.decide.apply import undo as run_undo

    report = run_undo(_db(ctx), apply_id)
    if as_json:
        click.echo(json_text(report.as_dict(), indent=2))
    else:
        stderr.print(f"apply {report.apply_id}: {report.status}; {len(report.restored)} photos restored")
        for note in report.problems:
            stderr.print(f"  {shown(note.path)}: {note.reason}", markup=False)
    if report.problems:
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("photo", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_id", type=int, help="Explain every member of near-duplicate group N side by side.")
@click.option(
    "--model",
    type=click.Choice(["happy-sad", "emotion", "expression", "smile", "eyes"]),
    default="happy-sad",
    show_default=True,
    help="A mood model (the whole photo) or a face head (one face: see --face).",
)
@click.option("--class", "class_name", help="Class to explain (default: the model's top class).")
@click.option(
    "--face",
    "face",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="With a face head: which face, as the export's faces list (0 = the largest).",
)
@click.option(
    "--method",
    type=click.Choice(["contrast", "gradcam++", "gradcam", "saliency", "scorecam"]),
    default="contrast",
    show_default=True,
    help="contrast: why this class rather than the runner-up (the default: it passes the sanity checks); "
    "the others are kept for comparison (README, 'Explanations you can trust').",
)
@click.option(
    "--save-map",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the raw map: float32 .npy of the photo's displayed height × width, values 0–1.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG to write (default: <photo>.explain.png here).",
)
@click.option("--open", "open_after", is_flag=True, help="Open the PNG when it is written.")
@click.pass_context
def explain(
    ctx: click.Context,
    photo: Path | None,
    group_id: int | None,
    model: str,
    class_name: str | None,
    face: int,
    method: str,
    save_map: Path | None,
    output: Path | None,
    open_after: bool,
) -> None:
    """Show why a model scored PHOTO as it did: a saliency map over the photo, with every class's score.

    With --group N: every frame of the group side by side with its reasons and the maps of the
    signals that decided (the mood model's; the eyes or smile head's when faces decided).
    """
    if (photo is None) == (group_id is None):
        raise click.UsageError("give either a PHOTO or --group N")
    if save_map is not None and photo is None:
        raise click.UsageError("--save-map writes one photo's map: give a PHOTO")
    from photocull.base.atomic import check_output_folder

    for target in (output, save_map):
        if target:
            check_output_folder(target)
    from photocull.report.explain import (
        explain_group_to_file,
        explain_to_file,
        record_explanation,
    )
    from photocull.store.photos import photo_id

    db = _db(ctx)
    with stderr.status("explaining…"):
        if group_id is not None:
            _, out = explain_group_to_file(db, group_id, output, model=model, class_name=class_name, method=method)
        elif photo is not None:  # one of the two, checked above
            explanation, out = explain_to_file(
                photo, output, model=model, class_name=class_name, method=method, face=face, map_out=save_map
            )
            if save_map is not None:
                stderr.print(_said("wrote the map", save_map))
            pid = photo_id(db, str(photo.resolve()))
            if pid is not None:
                record_explanation(db, pid, out, explanation)
    click.echo(shown(str(out)))
    if open_after:
        click.launch(str(out))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check the install: model files load and answer, HEIC decodes, the database can be written.

    Exits 0 when every check passes, 1 otherwise; each failed check says what to do.
    """
    from photocull.report.doctor import run_checks, versions

    with stderr.status("checking…"):
        checks = run_checks(ctx.obj["db_path"])
    if as_json:
        click.echo(json_text({"versions": versions(), "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        stdout = _stdout_console()
        stdout.print(versions(), markup=False, highlight=False)
        for c in checks:
            mark = Text("ok  ", style="green") if c.ok else Text("FAIL", style="bold red")
            stdout.print(Text.assemble(mark, f" {c.name}: {c.detail}"))
            if c.fix:
                stdout.print(Text(f"      what to do: {c.fix}"))
    if not all(c.ok for c in checks):
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.argument("decision", type=click.Choice(["keep", "discard", "clear"]))
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def decide(ctx: click.Context, decision: str, paths: tuple[Path, ...]) -> None:
    """Record your decision for scanned photos (the same decisions as review -i and serve).

    clear forgets a decision, so the suggestion applies again. Paths that were never scanned are
    named and the command exits 1; the others are still recorded.
    """
    from photocull.store.decisions import clear_decisions, set_decisions
    from photocull.store.photos import photo_id

    db = _db(ctx)
    ids, unknown = [], []
    for path in paths:
        pid = photo_id(db, os.path.realpath(path))
        if pid is None:
            unknown.append(path)
        else:
            ids.append(pid)
    if ids:
        if decision == "clear":
            clear_decisions(db, ids)
        else:
            set_decisions(db, dict.fromkeys(ids, decision))
        verb = "cleared the decision on" if decision == "clear" else f"marked {decision}:"
        stderr.print(f"{verb} {len(ids)} photo{'s' if len(ids) > 1 else ''}")
    for path in unknown:
        stderr.print(Text(f"not a scanned photo: {shown(str(path))} (scan its folder first)", style="red"))
    if unknown:
        sys.exit(EXIT_FAILURE)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def learn(ctx: click.Context, as_json: bool) -> None:
    """Learn which frames you keep from your decisions, and use that when it agrees with you better.

    Fits a personal ranker on every group you decided (each kept photo is preferred over each
    discarded one), measures how often it and the default rule keep exactly what you kept
    (cross-validated), and makes the suggestions of undecided groups with it only if it does better.
    """
    from photocull.decide.learn import learn as fit

    with stderr.status("learning from your decisions…"):
        report = fit(_db(ctx))
    if as_json:
        click.echo(json_text(report.as_dict(), indent=2))
        return
    console = _stdout_console()
    console.print(f"{report.groups} decided groups, {report.pairs} preferences (a kept photo over a discarded one)")
    if report.personal_agreement is not None and report.default_agreement is not None:
        console.print(
            f"keeps exactly what you kept: your ranker {report.personal_agreement:.0%} of groups "
            f"(cross-validated), the default rule {report.default_agreement:.0%}"
        )
    console.print(report.note)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option("--open", "open_browser", is_flag=True, help="Open the app in the default browser.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_browser: bool) -> None:
    """Review and decide in the browser: a local web app over the database, and its JSON API.

    Listens on 127.0.0.1 only, unless --host says otherwise (then anyone who can reach this
    machine on that address could see your photos: a warning says so). Ctrl-C stops it.
    """
    import socket

    import uvicorn

    from photocull.base.paths import default_db_path
    from photocull.serve.app import create_app
    from photocull.serve.security import is_loopback

    db_path = ctx.obj["db_path"] or default_db_path()
    _db(ctx)  # a database this version cannot use is refused here, with its message
    if not is_loopback(host):
        stderr.print(
            Text(
                f"warning: serving on {host}, not only on this machine: anyone who can reach {host}:{port} "
                "can see your photos and change decisions once they load a page",
                style="bold yellow",
            )
        )
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise PhotocullError(f"cannot listen on {host}:{port}: {exc.strerror}. Pass another --port.") from None
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown_host}:{port}/"
    stderr.print(f"photocull serves {shown(str(db_path))} at [bold]{url}[/] — Ctrl-C stops it")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(create_app(db_path, host, port), host=host, port=port, log_level="warning", access_log=False)


cli.add_command(models_group)


def main() -> None:
    cli()
