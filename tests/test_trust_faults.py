"""Faults from outside: killed processes, a full disk, outputs that cannot be written, no terminal.

Each test checks what a person would: exit codes, one-line messages, processes left behind, the
database's integrity and rows, and the bytes of every file involved.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from blake3 import blake3
from click.testing import CliRunner

from photocull.base import atomic
from photocull.base.errors import PhotocullError
from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.store import photos as store
from photocull.store.database import open_db


def cli_run(db: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input)


def integrity(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("pragma integrity_check").fetchone()[0]


def count_photos(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("select count(*) from photos").fetchone()[0]


def family(pid: int) -> list[psutil.Process]:
    """The process and every process it started (decoding workers, multiprocessing's resource tracker)."""
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def wait_gone(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    return alive


# --- processes ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_scan_leaves_no_worker_behind(many_photos, tmp_path, proc_env, photocull_argv, wait_for_rows):
    db_path = tmp_path / "k.db"
    proc = subprocess.Popen(
        photocull_argv(
            "--db", str(db_path), "scan", str(many_photos), "--no-models", "--workers", "2", "--batch-size", "2"
        ),
        env=proc_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_rows(db_path, 4, proc)
    workers = family(proc.pid)[1:]
    assert len(workers) >= 2
    proc.kill()
    proc.wait(10)
    alive = wait_gone(workers, 5)
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    assert integrity(db_path) == "ok"


@pytest.mark.slow
def test_sigterm_stops_a_scan_like_ctrl_c(many_photos, tmp_path, proc_env, photocull_argv, wait_for_rows):
    db_path = tmp_path / "t.db"
    total = sum(1 for p in many_photos.rglob("*") if p.is_file())
    proc = subprocess.Popen(
        photocull_argv(
            "--db", str(db_path), "scan", str(many_photos), "--no-models", "--workers", "2", "--batch-size", "2"
        ),
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_rows(db_path, 4, proc)
    everyone = family(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not wait_gone(everyone[1:], 5)
    assert integrity(db_path) == "ok"
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("select status from scans").fetchone()[0] == "interrupted"
    saved = count_photos(db_path)
    db = open_db(db_path)
    resumed = scan(db, [many_photos], options=ScanOptions(workers=1))
    assert resumed.counts["measured"] == total - saved and db["photos"].count == total


# --- a full disk ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_scan_on_a_full_disk_keeps_whole_batches_and_resumes(
    many_photos, tmp_path, proc_env, photocull_argv, file_size_limit
):
    db_path = tmp_path / "full.db"
    total = sum(1 for p in many_photos.rglob("*") if p.is_file())
    open_db(db_path).conn.close()
    proc = subprocess.run(
        photocull_argv(
            "--db", str(db_path), "scan", str(many_photos), "--no-models", "--workers", "1", "--batch-size", "4"
        ),
        env=proc_env,
        check=False,
        capture_output=True,
        text=True,
        preexec_fn=file_size_limit(64_000),
    )
    assert proc.returncode == 1, proc.stderr
    assert "could not write to the database" in proc.stderr and "Traceback" not in proc.stderr
    assert integrity(db_path) == "ok"
    saved = count_photos(db_path)
    assert saved < total and saved % 4 == 0  # whole batches only
    db = open_db(db_path)
    assert db.execute("select status from scans").fetchone()[0] in ("failed", "running")
    resumed = scan(db, [many_photos], options=ScanOptions(workers=1))
    assert resumed.counts["measured"] == total - saved and db["photos"].count == total
    assert [r[0] for r in db.execute("select status from scans order by id")][-1] == "done"


def test_an_io_error_in_the_middle_of_a_batch_rolls_that_batch_back(library, tmp_path, monkeypatch):
    db = open_db(tmp_path / "eio.db")
    real = store.write_batch
    calls = []

    def failing(db_, root, records, errors, scores, *faces):
        calls.append(len(records))
        if len(calls) == 2:
            with db_.atomic():  # half the batch is written inside its transaction, then the disk fails
                real(db_, root, records[: len(records) // 2], [], [])
                raise sqlite3.OperationalError("disk I/O error")
        return real(db_, root, records, errors, scores, *faces)

    monkeypatch.setattr(store, "write_batch", failing)
    with pytest.raises(PhotocullError, match="disk I/O error"):
        scan(db, [library.root], options=ScanOptions(workers=1, batch_size=3))
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert db["photos"].count == calls[0]  # the first batch, whole; nothing of the second
    assert db.execute("select status from scans").fetchone()[0] == "failed"


def _export_file(tmp_path: Path) -> tuple[Path, Path, bytes]:
    db_path = tmp_path / "e.db"
    out = tmp_path / "export.json"
    out.write_text("[]  previous export\n")
    return db_path, out, out.read_bytes()


def test_export_on_a_full_disk_keeps_the_previous_file(library, tmp_path, monkeypatch):
    db_path, out, old = _export_file(tmp_path)
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    result = cli_run(db_path, "export", "-o", str(out))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "previous file is unchanged" in lines[0]
    assert out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir() if "export" in p.name) == ["export.json"]


@pytest.mark.slow
def test_export_cut_off_by_a_real_write_limit_keeps_the_previous_file(
    many_photos, tmp_path, proc_env, photocull_argv, file_size_limit
):
    db_path, out, old = _export_file(tmp_path)
    scan(open_db(db_path), [many_photos], options=ScanOptions(workers=2))
    proc = subprocess.run(
        photocull_argv("--db", str(db_path), "export", "-o", str(out)),
        env=proc_env,
        check=False,
        capture_output=True,
        text=True,
        preexec_fn=file_size_limit(40_000),  # the database opens (32 KiB shared memory); the 80 kB export does not fit
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot write" in proc.stderr and out.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir() if "export" in p.name) == ["export.json"]


# --- where outputs go ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["export", "-o", "missing/dir/f.json"],
        ["review", "--html", "missing/dir/sheet.html"],
        ["explain", "PHOTO", "-o", "missing/dir/x.png"],
    ],
)
def test_output_into_a_missing_folder_is_refused_and_creates_nothing(library, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    photo = next(library.root.rglob("IMG_0000.jpg"))
    args = [str(photo) if a == "PHOTO" else a for a in args]
    result = cli_run(tmp_path / "o.db", *args)
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Create it first" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()


def test_output_names_with_markup_characters_are_written_and_named(library, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db_path = tmp_path / "m.db"
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))
    result = cli_run(db_path, "review", "--html", "[red]x.html")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "[red]x.html").is_file() and "[red]x.html" in result.output
    export = cli_run(db_path, "export", "-o", "[bold]e.json")
    assert export.exit_code == 0 and json.loads((tmp_path / "[bold]e.json").read_text())


# --- no terminal ---------------------------------------------------------------------------------


def test_interactive_review_reads_keys_from_a_pipe_and_survives_markup(library, tmp_path):
    db_path = tmp_path / "r.db"
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))
    result = cli_run(db_path, "review", "-i", input="c\n[/]\n[bold]\n")
    assert result.exit_code == 0, result.output
    assert "'[/]' is not a photo number" in result.output
    db = open_db(db_path)
    assert db["decisions"].count == 0  # nothing decided from nonsense
    accepted = cli_run(db_path, "review", "-i", input="a")
    assert accepted.exit_code == 0 and "accepted: 1" in accepted.output
    assert db["decisions"].count > 0


@pytest.mark.slow
def test_interactive_review_with_no_terminal_at_all(library, tmp_path, proc_env, photocull_argv):
    db_path = tmp_path / "n.db"
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))
    proc = subprocess.run(
        photocull_argv("--db", str(db_path), "review", "-i"),
        env=proc_env,
        check=False,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no controlling terminal, no /dev/tty
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "skipped: 0" in proc.stdout


def test_a_bug_is_one_line_and_a_crash_report_not_a_traceback(library, tmp_path, monkeypatch):
    from photocull.store import export

    def broken(db):
        raise RuntimeError("a bug")

    monkeypatch.setattr(export, "photo_records", broken)
    result = cli_run(tmp_path / "b.db", "export")
    assert result.exit_code == 1 and "internal error (RuntimeError: a bug)" in result.output
    assert "Traceback" not in result.output
    (report,) = Path(os.environ["PHOTOCULL_HOME"]).glob("crash-*.txt")
    assert str(report) in result.output and "RuntimeError: a bug" in report.read_text()


def test_content_digest_is_the_files_blake3(library, tmp_path):
    db = open_db(tmp_path / "d.db")
    scan(db, [library.root], options=ScanOptions(workers=2))
    rows = list(db.query("select path, digest from photos"))
    assert rows and all(r["digest"] == "blake3:" + blake3(Path(r["path"]).read_bytes()).hexdigest() for r in rows)


def test_workers_exit_when_their_parent_is_gone(tmp_path):
    """The watchdog itself: a worker started by a process that then dies exits within seconds."""
    script = tmp_path / "child.py"
    script.write_text(
        "import multiprocessing as mp, sys, time\n"
        "from photocull.scan.worker import start_worker\n"
        "def idle():\n"
        "    start_worker()\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=idle)\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    time.sleep(0.5)
    parent.kill()
    parent.wait(10)
    assert not wait_gone([child], 5)


def test_a_decoding_process_that_dies_stops_the_scan_with_a_message_not_a_hang(many_photos, tmp_path):
    """A worker killed mid-scan (as a decoder crash would) fails every photo in flight; the scan says
    what happened and what to do, and keeps what it had stored."""
    db = open_db(tmp_path / "crash.db")

    class KillAWorker:
        def start(self, total: int) -> None:
            pass

        def advance(self, n: int = 1) -> None:
            if n:  # the first batch is stored: now a decoding process dies (not multiprocessing's tracker)
                workers = [p for p in psutil.Process().children() if "resource_tracker" not in " ".join(p.cmdline())]
                workers[0].kill()

    with pytest.raises(PhotocullError, match="a decoding process crashed"):
        scan(db, [many_photos], options=ScanOptions(workers=2, batch_size=8), progress=KillAWorker())
    assert db["photos"].count >= 8


def test_processes_opening_a_new_database_at_once_all_get_the_whole_schema(tmp_path):
    """`serve` and `scan` started together on a first run: before, 7 of 30 opens in 10 such races
    failed ("database is locked" or a migration applied twice: "no such column")."""
    code = "import sys; from photocull.store.database import open_db; print(sorted(open_db(sys.argv[1]).table_names()))"
    for k in range(3):
        path = str(tmp_path / f"race{k}.db")
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        assert outputs[0][0] == outputs[1][0] == outputs[2][0] and "photos" in outputs[0][0]
        applied = [r["name"] for r in open_db(path).table("_migrations").rows]
        assert len(applied) == len(set(applied))


def test_a_decision_waits_for_another_process_writing_instead_of_failing(
    library, tmp_path, monkeypatch, hold_write_lock
):
    """A read-then-write transaction used to fail at once with "database is locked" while another
    process wrote, whatever the busy timeout: SQLite does not wait to upgrade a read transaction."""
    db_path = tmp_path / "p.db"
    scan(open_db(db_path), [library.root], options=ScanOptions(workers=1))
    photo = next(iter(open_db(db_path).query("select path from photos limit 1")))["path"]
    holder = hold_write_lock(db_path, 1.0)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "decide", "keep", photo])
    holder.wait(timeout=30)
    assert result.exit_code == 0, result.output
    assert [r["decision"] for r in open_db(db_path).query("select decision from decisions")] == ["keep"]

    monkeypatch.setattr("photocull.store.database.BUSY_TIMEOUT_S", 1)
    holder = hold_write_lock(db_path, 4.0)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "decide", "discard", photo])
    holder.kill()
    assert result.exit_code == 1 and "database is busy" in result.output and "internal error" not in result.output
    assert [r["decision"] for r in open_db(db_path).query("select decision from decisions")] == ["keep"]
