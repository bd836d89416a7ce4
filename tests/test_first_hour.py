"""What a newcomer meets first: review output that reads in an ordinary terminal, one JSON schema,
honest counts. The review tests use a database filled directly (60 groups of 4, long names and
reasons), so they measure the rendering, not a scan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from photocull.store.decisions import set_decisions
from photocull.store.export import photo_records

README = Path(__file__).resolve().parent.parent / "README.md"
LONG_NAME = "IMG_20240714_103005_BURST0001_COVER_holiday_with_the_family.jpg"  # 62 characters
LONG_REASON = (
    "sharper than the rest of its burst (212 vs 64), eyes open on every face, and the exposure is closest to the middle"
)


def _fill(db_path: Path, groups: int = 60, size: int = 4) -> None:
    db = open_db(db_path)
    rows, k = [], 0
    for g in range(1, groups + 1):
        for m in range(size):
            k += 1
            rows.append(
                {
                    "id": k,
                    "path": f"/photos/g{g:02d}/{LONG_NAME if m == 0 else f'IMG_{k:04d}.jpg'}",
                    "root": "/photos",
                    "size": 2_500_000,
                    "mtime_ns": 1,
                    "format": "JPEG",
                    "width": 4032,
                    "height": 3024,
                    "captured_at": f"2024-07-14T{10 + g // 60}:{g % 60:02d}:0{m}.250000+01:00",
                    "time_source": "exif",
                    "sharpness": 212.0 - m,
                    "brightness": 0.48,
                    "highlights": 0.01,
                    "shadows": 0.02,
                    "group_id": g,
                    "happy": 0.8,
                    "top_emotion": "amusement",
                    "suggestion": "keep" if m == 0 else "discard",
                    "reasons": json.dumps([LONG_REASON] if m == 0 else [f"blurrier than {LONG_NAME} (64 vs 212)"]),
                    "reason_data": "[]",
                    "fingerprint": "x",
                    "digest": "blake3:" + "0" * 64,
                    "measure_version": 1,
                }
            )
    for s in range(3):
        k += 1
        rows.append(
            {
                **rows[0],
                "id": k,
                "path": f"/photos/single{s}.jpg",
                "group_id": None,
                "suggestion": "review",
                "reasons": json.dumps(["very dark (exposure 0.03)"]),
            }
        )
    db["photos"].insert_all(rows)
    db["errors"].insert({"path": "/photos/broken.jpg", "error": "truncated JPEG", "size": 10, "mtime_ns": 1})
    set_decisions(db, {1: "keep", 2: "discard", 3: "discard", 4: "discard"})  # group 1 decided


def _review(db_path: Path, *args: str, columns: str | None = None) -> str:
    env = {"COLUMNS": columns} if columns else {"COLUMNS": ""}
    result = CliRunner().invoke(cli, ["--db", str(db_path), "review", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def sixty(tmp_path: Path) -> Path:
    path = tmp_path / "sixty.db"
    _fill(path)
    return path


def test_review_default_is_a_summary_that_fits_80_columns(sixty):
    out = _review(sixty)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80  # piped without COLUMNS: 80, never ~220
    assert len(out.encode()) < 20_000, len(out.encode())
    assert lines[0].startswith("59 groups need a decision (236 photos; suggested: keep 59, discard 177)")
    assert lines[1] == "3 single photos to look at (possibly junk)"
    assert "Showing the 10 largest" in out and "--limit N" in out and "--all" in out
    assert len(re.findall(r"^Group \d+ · 4 photos", out, re.M)) == 10
    assert "Group 1 ·" not in out  # decided
    # whole file names, marks in words, reasons as text (wrapped at spaces, never cut to "di…")
    assert LONG_NAME in out
    assert out.count("✓ keep") == 10 and out.count("✗ discard") == 30
    assert "…" not in out
    assert " ".join(out.split()).count(" ".join(LONG_REASON.split())) == 10


def test_review_honours_columns_limit_and_all(sixty):
    wide = _review(sixty, columns="160")
    assert LONG_REASON in wide  # one line at 160 columns
    assert max(len(line) for line in wide.splitlines()) <= 160
    assert len(re.findall(r"^Group \d+ ·", _review(sixty, "--limit", "3"), re.M)) == 3
    every = _review(sixty, "--all")
    assert len(re.findall(r"^Group \d+ ·", every, re.M)) == 60 and "Group 1 · 4 photos" in every
    assert "decided" in every


def test_review_json_is_the_export_schema(sixty):
    doc = json.loads(_review(sixty, "--json"))
    assert doc["schema_version"] == 1
    assert len(doc["groups"]) == 59 and {g["size"] for g in doc["groups"]} == {4}
    exported = {r["id"]: r for r in photo_records(open_db(sixty))}
    for g in doc["groups"]:
        assert set(g) >= {"id", "size", "decided", "photos"}
        for photo in g["photos"]:
            assert photo == exported[photo["id"]]  # the same record, the same names, nothing internal
    assert [p["path"] for p in doc["singles"]] == [f"/photos/single{s}.jpg" for s in range(3)]
    leaked = {"fingerprint", "reason_data", "mtime_ns", "brightness", "group_id", "digest", "embedding"}
    assert not leaked & set(doc["groups"][0]["photos"][0])


def test_readme_lists_exactly_the_record_fields(sixty):
    section = README.read_text().split("## Export format", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for line in section.splitlines():
        m = re.match(r"- ((?:`\w+`(?:, )?)+):", line)
        if m:
            documented |= set(re.findall(r"`(\w+)`", m.group(1)))
    record = next(photo_records(open_db(sixty)))
    assert documented == set(record)


def test_counts_say_photos_and_unreadable_apart(library, tmp_path):
    summary = scan(open_db(tmp_path / "c.db"), [library.root], options=ScanOptions(workers=1))
    found, errors = summary.counts["photos_found"], summary.counts["errors"]
    assert errors == len(library.errors) > 0
    assert summary.photos == found - errors == summary.counts["new"]  # unreadable new files are not "new"
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "d.db"), "scan", str(library.root), "--no-models", "--workers", "1"]
    )
    text = result.stderr if result.stderr_bytes else result.output
    assert re.search(rf"photos\s+│\s+{found - errors}\b", text), text
    assert re.search(rf"unreadable files, not photos.*│\s+{errors}\b", text), text
