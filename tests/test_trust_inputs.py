"""Hostile and odd inputs a real library holds: each scan finishes, records what it could not use, and
stores every photo once, under a name that round-trips to the exact bytes on disk."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import resource
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from photocull import pipeline as scan_mod
from photocull.base.errors import PhotocullError
from photocull.cli.main import cli
from photocull.decide.apply import apply
from photocull.groups.cluster import group
from photocull.pipeline import ScanOptions, scan
from photocull.report.sheet import render_contact_sheet
from photocull.scan import worker as worker_mod
from photocull.scan.read import UnreadablePhoto, read_preview
from photocull.store.database import open_db
from photocull.store.decisions import set_decisions
from synthetic import save_photo, variant

BAD_NAME = b"bad\xff name.jpg"  # not UTF-8: a name a camera card or an old archive can hold


def cli_run(db: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input)


def burst(root: Path, name: str = "IMG_{:04d}.jpg", frames: int = 3, picture=data.chelsea) -> list[Path]:
    """A burst of slightly moved frames, a quarter second apart."""
    rng = np.random.default_rng(3)
    base = Image.fromarray(picture()).convert("RGB")
    when = dt.datetime(2024, 7, 14, 10, 30)
    return [
        save_photo(variant(base, rng), root / name.format(k), when + dt.timedelta(milliseconds=250 * k))
        for k in range(frames)
    ]


def sha(path: Path | bytes) -> str:
    return hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()


# --- one folder, one photo, once --------------------------------------------------------------------


def test_same_folder_through_a_symlink_is_stored_once_and_apply_moves_only_real_discards(tmp_path, db):
    root = tmp_path / "Pictures"
    frames = burst(root)
    link = tmp_path / "link-to-pictures"
    link.symlink_to(root)
    inner_link = root / "again"
    inner_link.symlink_to(root / ".")  # a loop back to the root through a link inside it

    scan(db, [root], options=ScanOptions(workers=1))
    summary = scan(db, [link], options=ScanOptions(workers=1))
    assert summary.counts["unchanged"] == 3 and summary.counts["new"] == 0
    both = scan(db, [root, link, root / "."], options=ScanOptions(workers=1))
    assert both.roots == [str(root)]
    assert sorted(r["path"] for r in db.query("select path from photos")) == sorted(str(f) for f in frames)

    before = {f: sha(f) for f in frames}
    report = apply(db)
    assert len(report.moved) == 2  # the burst keeps one frame; nothing is grouped with itself
    kept = [f for f in frames if f.exists()]
    assert len(kept) == 1 and sha(kept[0]) == before[kept[0]]


def test_a_file_with_two_names_is_one_photo(tmp_path, db):
    root = tmp_path / "Pictures"
    (first,) = burst(root, frames=1)
    os.link(first, root / "IMG_copy.jpg")
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["other_names"] == 1
    assert db["photos"].count == 1
    assert apply(db).moved == []


# --- names that are not UTF-8 -----------------------------------------------------------------------


def test_non_utf8_name_is_stored_losslessly_and_round_trips_through_every_output(tmp_path):
    root = tmp_path / "Pictures"
    frames = burst(root)
    bad = os.path.join(os.fsencode(root), BAD_NAME)
    os.rename(frames[0], bad)
    bad_str = os.fsdecode(bad)
    db_path = tmp_path / "p.db"

    result = cli_run(db_path, "scan", str(root), "--no-models", "--workers", "1")
    assert result.exit_code == 0, result.output
    db = open_db(db_path)
    assert db.execute("select status from scans").fetchone()[0] == "done"
    assert db.execute("select count(*) from photos where path = ?", [bad_str]).fetchone()[0] == 1
    assert cli_run(db_path, "scan", str(root), "--no-models", "--json").exit_code == 0  # the rescan, too

    exported = json.loads(cli_run(db_path, "export").stdout_bytes)
    assert os.fsencode(next(r["path"] for r in exported if "bad" in r["path"])) == bad
    rows = list(
        csv.DictReader(
            io.StringIO(cli_run(db_path, "export", "--format", "csv").stdout_bytes.decode("utf-8", "surrogateescape"))
        )
    )
    assert os.fsencode(next(r["path"] for r in rows if "bad" in r["path"])) == bad

    review = cli_run(db_path, "review", "--all")
    assert review.exit_code == 0 and "bad\\xff name.jpg" in review.output
    sheet = render_contact_sheet(db, tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert "bad\\xff name.jpg" in sheet

    before = sha(bad)
    set_decisions(
        db,
        {
            db.execute("select id from photos where path = ?", [bad_str]).fetchone()[0]: "discard",
            db.execute("select id from photos where path = ?", [str(frames[1])]).fetchone()[0]: "keep",
        },
    )
    report = apply(db)
    assert bad_str in [m.src for m in report.moved] and not os.path.exists(bad)
    assert cli_run(db_path, "undo").exit_code == 0
    assert sha(bad) == before


# --- metadata is untrusted ------------------------------------------------------------------------


def _exif(ifd0: list[tuple[int, bytes]], sub: list[tuple[int, bytes]]) -> bytes:
    """Little-endian EXIF whose every field is ASCII (type 2), as some writers store even numbers."""

    def ifd(entries: list[tuple[int, bytes]], offset: int, pointer: int | None) -> bytes:
        n = len(entries) + (pointer is not None)
        data_at = offset + 2 + 12 * n + 4
        body, blob = b"", b""
        for tag, text in entries:
            raw = text + b"\x00"
            if len(raw) <= 4:
                body += struct.pack("<HHI", tag, 2, len(raw)) + raw.ljust(4, b"\x00")
            else:
                body += struct.pack("<HHII", tag, 2, len(raw), data_at + len(blob))
                blob += raw + b"\x00" * (len(raw) % 2)
        if pointer is not None:
            body += struct.pack("<HHII", 0x8769, 4, 1, pointer)
        return struct.pack("<H", n) + body + struct.pack("<I", 0) + blob

    first_size = len(ifd(ifd0, 8, 0))
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd(ifd0, 8, 8 + first_size) + ifd(sub, 8 + first_size, None)


@pytest.mark.parametrize(
    ("orientation", "subsec", "upright"),
    [
        (b"6", "²".encode(), True),  # ASCII orientation; a superscript two "is a digit" to str.isdigit
        (b"six", b"\xff\xfe", False),  # nonsense in both
    ],
)
def test_odd_exif_never_costs_the_photo_or_the_folder(tmp_path, db, orientation, subsec, upright):
    root = tmp_path / "Pictures"
    frames = burst(root, frames=2)
    odd = root / "IMG_odd.jpg"
    Image.fromarray(data.coffee()).save(
        odd,
        exif=_exif([(0x0112, orientation)], [(0x9003, b"2024:07:14 10:30:05"), (0x9291, subsec), (0x9011, b"+9x:00")]),
    )
    summary = scan(db, [root], options=ScanOptions(workers=2))
    assert summary.counts["errors"] == 0 and summary.counts["measured"] == 3
    row = db.execute(
        "select width, height, captured_at, time_source, suggestion from photos where path = ?", [str(odd)]
    ).fetchone()
    coffee_h, coffee_w = data.coffee().shape[:2]
    assert (row[0], row[1]) == ((coffee_h, coffee_w) if upright else (coffee_w, coffee_h))
    assert row[2] == "2024-07-14T10:30:05" and row[3] == "exif"  # the date survives its broken neighbours
    assert row[4] == "keep"
    assert (
        db.execute(
            "select count(*) from photos where path in (?, ?) and group_id is not null", [str(f) for f in frames]
        ).fetchone()[0]
        == 2
    )


def test_an_unexpected_error_in_one_photo_is_recorded_and_the_scan_goes_on(tmp_path, db, monkeypatch):
    root = tmp_path / "Pictures"
    frames = burst(root)
    real = worker_mod.measure
    victim = read_preview(str(frames[1]), grey=True).image.tobytes()  # a scan without models reads grey

    def flaky(img):
        if img.tobytes() == victim:
            raise ValueError("a bug in a measure")
        return real(img)

    monkeypatch.setattr(worker_mod, "measure", flaky)  # workers=1 decodes in this process
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["measured"] == 2 and summary.counts["errors"] == 1
    assert "ValueError: a bug in a measure" in db.execute("select error from errors").fetchone()[0]
    assert (
        summary.groups == 1
        and db.execute("select count(*) from photos where suggestion is not null").fetchone()[0] == 2
    )


# --- files that change under the scan ------------------------------------------------------------


def test_renamed_and_unreadable_between_scans_is_recorded_not_a_crash(tmp_path, db, monkeypatch):
    root = tmp_path / "Pictures"
    frames = burst(root)
    scan(db, [root], options=ScanOptions(workers=1))
    moved = frames[0].with_name("renamed.jpg")
    frames[0].rename(moved)

    def unreadable(path: str, like: str | None = None) -> str:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(scan_mod, "file_digest", unreadable)  # root may read anything: fake the refusal
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["moved"] == 0 and summary.counts["new"] == 1
    assert db.execute("select status from scans order by id desc").fetchone()[0] == "done"


def test_a_file_vanishing_mid_scan_is_recorded_and_forgotten_next_time(tmp_path, db, monkeypatch):
    root = tmp_path / "Pictures"
    frames = burst(root)
    real = scan_mod.discover

    def discover_then_delete(*args, **kwargs):
        found = real(*args, **kwargs)
        frames[2].unlink()
        return found

    monkeypatch.setattr(scan_mod, "discover", discover_then_delete)
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["errors"] == 1
    assert "disappeared" in db.execute("select error from errors").fetchone()[0]
    monkeypatch.setattr(scan_mod, "discover", real)
    again = scan(db, [root], options=ScanOptions(workers=1))
    assert again.counts["errors"] == 0 and db["errors"].count == 0


def test_a_fifo_named_like_a_photo_never_hangs_the_scan(tmp_path, db):
    root = tmp_path / "Pictures"
    burst(root, frames=2)
    fifo = root / "IMG_pipe.jpg"
    os.mkfifo(fifo)
    done = threading.Event()
    threading.Thread(
        target=lambda: (scan(open_db(tmp_path / "fifo.db"), [root], options=ScanOptions(workers=1)), done.set()),
        daemon=True,
    ).start()
    assert done.wait(30), "the scan hung on a FIFO"
    with pytest.raises(UnreadablePhoto, match="not a regular file"):
        read_preview(str(fifo))  # a file replaced by a FIFO after discovery: refused at once


# --- pixels ------------------------------------------------------------------------------------------


def _png16_rgb(path: Path, value: int, size: tuple[int, int] = (64, 48)) -> None:
    """A 16-bit RGB PNG (Pillow cannot write one): mid-grey in 16 bits per channel."""
    import zlib

    w, h = size
    row = b"\x00" + struct.pack(">HHH", value, value, value) * w
    chunks = [
        (b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)),
        (b"IDAT", zlib.compress(row * h)),
        (b"IEND", b""),
    ]
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    path.write_bytes(out)


def test_16_bit_images_are_measured_by_their_bit_depth(tmp_path, db):
    root = tmp_path / "Pictures"
    root.mkdir()
    grey = np.full((48, 64), 30000, dtype=np.uint16)  # 0.46 of full scale
    Image.fromarray(grey).save(root / "grey16.png")
    Image.fromarray(grey).save(root / "grey16.tif")
    _png16_rgb(root / "rgb16.png", 30000)
    scan(db, [root], options=ScanOptions(workers=1))
    rows = list(db.query("select path, brightness, suggestion, reasons from photos order by path"))
    assert len(rows) == 3
    for r in rows:
        assert 0.42 < r["brightness"] < 0.50, r
        assert "almost white" not in r["reasons"]


def test_huge_one_bit_png_decodes_within_a_memory_bound(tmp_path):
    path = tmp_path / "bomb-1bit.png"
    Image.new("1", (14000, 14000), 1).save(path, optimize=False)
    code = (  # VmHWM: this process's own peak (ru_maxrss would count the forking parent's pages too)
        "import re, sys; from photocull.scan.read import read_preview; p = read_preview(sys.argv[1]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(p.image.size, p.width, int(hwm) // 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[-1]) < 600, f"peak RSS {out[-1]} MB"  # was 1.2 GB; decoded image + 8-bit copy ≈ 400 MB
    assert out[-2].rstrip(",") == "14000"


def test_huge_palette_png_is_refused_with_a_reason(tmp_path, db):
    root = tmp_path / "Pictures"
    root.mkdir()
    Image.new("P", (14000, 14000), 3).save(root / "bomb-palette.png")
    scan(db, [root], options=ScanOptions(workers=1))
    assert "would take about" in db.execute("select error from errors").fetchone()[0]


def test_ten_thousand_identical_frames_make_one_group_in_bounded_memory():
    n = 10_000
    frame = np.int64(0x1234567890ABCDEF)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    groups = group(np.full(n, frame), np.full(n, frame), np.arange(n) * 0.5)
    assert [len(g) for g in groups] == [n]
    # ru_maxrss only grows; this bounds what grouping added (it was 3.9 GB). Timing: scripts/bench_grouping.py
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 500 * 1024


def test_burst_with_embeddings_never_gathers_all_pairs_at_once():
    n = 3000  # 4.5 million pairs: gathering their 1280-d embeddings at once would need 46 GB
    rng = np.random.default_rng(0)
    base = 0x1234567890ABCDEF
    ph = np.array([base ^ (1 << int(b)) for b in rng.integers(0, 63, n)], dtype=np.int64)
    emb = np.tile(rng.normal(size=1280).astype(np.float32), (n, 1)) + rng.normal(scale=0.01, size=(n, 1280)).astype(
        np.float32
    )
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    groups = group(ph, ph, np.arange(n) * 0.5, embeddings=emb)
    assert sum(len(g) for g in groups) == n and all(len(g) > 1 for g in groups)


# --- refusals before any work -------------------------------------------------------------------------


def test_database_from_a_newer_photocull_is_refused_and_left_untouched(tmp_path):
    db_path = tmp_path / "new.db"
    db = open_db(db_path)
    db["_migrations"].insert({"name": "m999_from_the_future", "applied_at": "2030-01-01"})
    db.conn.close()
    before = sha(db_path)
    with pytest.raises(PhotocullError, match="newer version of photocull"):
        open_db(db_path)
    result = cli_run(db_path, "review")
    assert result.exit_code == 1 and "newer version" in result.output and "Traceback" not in result.output
    assert sha(db_path) == before


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[weights]\nsharpness = nan\n", "sharpness"),
        ("[weights]\nhappy = inf\n", "happy"),
        ("[weights]\nexposure = -0.5\n", "exposure"),
        ("[keep]\nmin_relative_score = 1.5\n", "min_relative_score"),
        (
            "[weights]\nsharpness = 0\nexposure = 0\nresolution = 0\nfile_quality = 0\nhappy = 0\nface_sharpness = 0\neyes_open = 0\nsmiles = 0\n",
            "positive weight",
        ),
    ],
)
def test_bad_config_stops_the_scan_before_any_work(tmp_path, monkeypatch, toml, key):
    config = tmp_path / "config.toml"
    config.write_text(toml)
    monkeypatch.setenv("PHOTOCULL_CONFIG", str(config))
    root = tmp_path / "Pictures"
    burst(root, frames=2)
    db_path = tmp_path / "c.db"
    result = cli_run(db_path, "scan", str(root), "--no-models")
    assert result.exit_code == 1 and key in result.output and str(config) in result.output
    assert "Traceback" not in result.output
    assert not db_path.exists() or open_db(db_path)["photos"].count == 0
