"""Keep/discard suggestions: the ranking rule, junk, reasons in words, config, decisions kept."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from PIL import Image

from photocull.base.errors import PhotocullError
from photocull.base.sizes import shown_size
from photocull.decide.config import DEFAULTS, load_config
from photocull.decide.suggest import suggest_all
from photocull.pipeline import ScanOptions, scan
from synthetic import blur, sample_photos, save_photo, variant


def rows(db) -> dict[str, dict]:
    return {r["path"].rsplit("/", 1)[-1]: r for r in db.query("select * from photos")}


def test_every_group_keeps_one_and_resave_loses(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    by_group: dict[int, list[str]] = {}
    for r in db.query("select group_id, suggestion from photos where group_id is not null"):
        by_group.setdefault(r["group_id"], []).append(r["suggestion"])
    assert all("keep" in s and set(s) <= {"keep", "discard"} for s in by_group.values())
    r = rows(db)
    resave = r["IMG-20240714-WA0001.jpg"]
    assert resave["suggestion"] == "discard"
    reasons = json.loads(resave["reasons"])
    assert any(x.startswith("smaller re-save of IMG_10") for x in reasons), reasons
    assert json.loads(resave["reason_data"])[0]["code"] == "smaller_resave"
    for name in ("IMG_9001.jpg", "IMG_9002.jpg"):
        assert r[name]["suggestion"] == "keep" and json.loads(r[name]["reasons"]) == ["no near-duplicates"]


def test_a_recompressed_copy_says_how_much_smaller_in_units_that_show_it(tmp_path, db):
    """Both files are under 1 MB: the reason once read "(0.0 MB vs 0.1 MB)"."""
    base, when = sample_photos()["astronaut"], dt.datetime(2024, 5, 1, 9, 30)
    original = save_photo(base, tmp_path / "IMG_1.jpg", when, quality=95)
    copy = save_photo(base, tmp_path / "IMG_1 (1).jpg", when, quality=30)
    scan(db, [tmp_path], options=ScanOptions(workers=1))
    reasons = json.loads(rows(db)[copy.name]["reasons"])
    kb = [round(p.stat().st_size / 1000) for p in (copy, original)]
    assert f"recompressed copy of IMG_1.jpg ({kb[0]} KB vs {kb[1]} KB)" in reasons, reasons


def test_file_sizes_keep_two_or_three_significant_digits():
    assert [shown_size(n) for n in (0, 999, 40_240, 999_499, 999_600, 2_400_000, 31_000_000)] == [
        "0 B",
        "999 B",
        "40 KB",
        "999 KB",
        "1.0 MB",
        "2.4 MB",
        "31 MB",
    ]


def _burst_with_blurred_frame(root, rng):
    import numpy as np

    base = sample_photos()["astronaut"]
    t0 = dt.datetime(2024, 1, 1, 12, 0, 0)
    for f in range(3):
        frame = variant(base, np.random.default_rng(f), 0.3)
        if f == 1:
            frame = blur(frame, 3)
        save_photo(frame, root / f"IMG_{f}.jpg", t0 + dt.timedelta(milliseconds=300 * f))


def test_blurred_frame_discarded_sharpest_kept_with_reasons(tmp_path, db):
    _burst_with_blurred_frame(tmp_path / "burst", None)
    scan(db, [tmp_path / "burst"], options=ScanOptions(workers=1))
    r = rows(db)
    assert r["IMG_1.jpg"]["suggestion"] == "discard"
    text = json.loads(r["IMG_1.jpg"]["reasons"])
    assert any(t.startswith("less sharp than IMG_") and " vs " in t for t in text), text
    kept = [n for n, row in r.items() if row["suggestion"] == "keep"]
    assert "IMG_1.jpg" not in kept and kept
    assert json.loads(r[kept[0]]["reasons"])[0] == "best of 3 similar photos"


def test_happier_frame_wins_when_weighted(tmp_path, db):
    _burst_with_blurred_frame(tmp_path / "burst", None)
    scan(db, [tmp_path / "burst"], options=ScanOptions(workers=1))
    db.execute("update photos set happy = case when path like '%IMG_2.jpg' then 0.9 else 0.2 end")
    config = load_config()
    config["weights"] = {"happy": 1.0}
    suggest_all(db, config)
    r = rows(db)
    assert r["IMG_2.jpg"]["suggestion"] == "keep"
    assert "happier (0.90 vs 0.20)" in json.loads(r["IMG_2.jpg"]["reasons"])
    assert "less happy than IMG_2.jpg (0.20 vs 0.90)" in json.loads(r["IMG_0.jpg"]["reasons"])


def test_junk_single_is_review_not_discard(tmp_path, db):
    root = tmp_path / "junk"
    save_photo(Image.new("RGB", (400, 300), (3, 3, 3)), root / "pocket.jpg")
    save_photo(blur(sample_photos()["coffee"], 25), root / "shake.jpg")
    save_photo(sample_photos()["rocket"], root / "fine.jpg")
    scan(db, [root], options=ScanOptions(workers=1))
    r = rows(db)
    assert r["pocket.jpg"]["suggestion"] == "review"
    assert any("almost black" in t for t in json.loads(r["pocket.jpg"]["reasons"]))
    assert r["shake.jpg"]["suggestion"] == "review"
    assert any("very blurry" in t for t in json.loads(r["shake.jpg"]["reasons"]))
    assert r["fine.jpg"]["suggestion"] == "keep"


def test_config_file_overrides_and_rejects_nonsense(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[weights]\nsharpness = 0.9\nfaces = 0.2\n[junk]\nblur_sharpness = 3\n")
    monkeypatch.setenv("PHOTOCULL_CONFIG", str(cfg))
    config = load_config()
    assert config["weights"]["sharpness"] == 0.9 and config["weights"]["faces"] == 0.2
    assert config["junk"]["blur_sharpness"] == 3.0
    assert config["weights"]["happy"] == DEFAULTS["weights"]["happy"]
    cfg.write_text("[junk]\nblurry = 3\n")
    with pytest.raises(PhotocullError, match="unknown key 'blurry'"):
        load_config()
    cfg.write_text("[weights\n")
    with pytest.raises(PhotocullError, match="config.toml"):
        load_config()


def test_person_decision_survives_rescan_and_move(library, db):
    scan(db, [library.root], options=ScanOptions(workers=1))
    resave = next(db.query("select id from photos where path like '%WA0001.jpg'"))["id"]
    db["decisions"].insert({"photo_id": resave, "decision": "keep", "decided_at": "now"})
    new_folder = library.root / "Moved"
    new_folder.mkdir()
    (library.root / "WhatsApp" / "Images" / "IMG-20240714-WA0001.jpg").rename(new_folder / "x.jpg")
    scan(db, [library.root], options=ScanOptions(workers=1))
    row = next(db.query("select p.path, p.suggestion, d.decision from photos p join decisions d on d.photo_id = p.id"))
    assert row["path"].endswith("Moved/x.jpg")
    assert row["decision"] == "keep" and row["suggestion"] == "discard"


# --- burst rules, on rows as the store hands them over ---------------------------------------------


def _frame_row(k: int, sharpness: float, happy: float | None, phash: int = 0, ts: float | None = 0.0) -> dict:
    return {
        "id": k,
        "path": f"/p/IMG_{k}.jpg",
        "format": "JPEG",
        "width": 4000,
        "height": 3000,
        "size": 3_000_000,
        "time_source": "exif" if ts is not None else "mtime",
        "captured_ts": ts,
        "sharpness": sharpness,
        "brightness": 0.47,
        "highlights": 0.0,
        "shadows": 0.0,
        "phash": phash,
        "happy": happy,
    }


def test_mood_noise_within_a_burst_neither_ranks_nor_gives_a_reason():
    from photocull.decide.suggest import rank_group

    # frame 1 is sharper; frame 0 is 'happier' by less than the model's noise (0.20)
    out = rank_group([_frame_row(0, 400.0, 0.66), _frame_row(1, 447.0, 0.53)], load_config())
    assert [s.suggestion for s in out] == ["discard", "keep"]
    assert not any(r.code in ("less_happy", "happier") for s in out for r in s.reasons)
    # a real difference in expression still counts and is named
    out = rank_group([_frame_row(0, 400.0, 0.95), _frame_row(1, 447.0, 0.30)], load_config())
    assert [r.code for r in out[0].reasons] == ["best", "happier"]


def test_a_blurrier_frame_or_a_shaken_twin_is_never_also_kept():
    from photocull.decide.suggest import rank_group

    far = (1 << 12) - 1  # 12 pHash bits away: 'differs enough' for photos taken apart
    config = load_config()
    # taken a minute apart and as sharp: a second keeper
    out = rank_group([_frame_row(0, 450.0, 0.5), _frame_row(1, 440.0, 0.5, phash=far, ts=60.0)], config)
    assert [s.suggestion for s in out] == ["keep", "keep"]
    # the same frames within one burst: hand shake, not a different photo
    out = rank_group([_frame_row(0, 450.0, 0.5), _frame_row(1, 440.0, 0.5, phash=far, ts=0.4)], config)
    assert [s.suggestion for s in out] == ["keep", "discard"]
    # a minute apart but clearly blurrier (below 80% of the kept one): not worth keeping too
    config["keep"]["min_relative_score"] = 0.5
    out = rank_group([_frame_row(0, 450.0, 0.5), _frame_row(1, 300.0, 0.5, phash=far, ts=60.0)], config)
    assert [s.suggestion for s in out] == ["keep", "discard"]


def _faces(*people: tuple[float, float, float]) -> list[dict]:
    """Faces as the store hands them over: (sharpness, smile, eyes_closed) per person, equal sizes."""
    return [
        {"box": [100.0 * k, 0.0, 80.0, 80.0], "sharpness": s, "smile": smile, "eyes_closed": closed}
        for k, (s, smile, closed) in enumerate(people)
    ]


def test_a_blink_or_a_lost_smile_loses_to_a_frame_without_it_and_says_so():
    from photocull.decide.suggest import face_summary, rank_group

    config = load_config()

    def frames(*faces: list[dict], sharpness: tuple[float, ...] = ()) -> list[dict]:
        rows = []
        for k, f in enumerate(faces):
            row = _frame_row(k, sharpness[k] if sharpness else 400.0, 0.5)
            row["faces"] = face_summary(f)
            rows.append(row)
        return rows

    # frame 0 is sharper overall, but one of its three people blinked
    blink = _faces((300, 0.9, 0.97), (300, 0.9, 0.02), (300, 0.9, 0.01))
    open_ = _faces((300, 0.9, 0.03), (300, 0.9, 0.02), (300, 0.9, 0.01))
    out = rank_group(frames(blink, open_, sharpness=(450.0, 400.0)), config)
    assert [s.suggestion for s in out] == ["discard", "keep"]
    assert "eyes closed (1 of 3 faces)" in [r.text() for r in out[0].reasons]
    assert "everyone's eyes open" in [r.text() for r in out[1].reasons]
    # someone smiles in frame 1 and not in frame 0
    out = rank_group(frames(_faces((300, 0.1, 0.0), (300, 0.9, 0.0)), _faces((300, 0.8, 0.0), (300, 0.9, 0.0))), config)
    assert [s.suggestion for s in out] == ["discard", "keep"]
    assert "everyone smiling" in [r.text() for r in out[1].reasons]
    assert "fewer smiles than IMG_1.jpg (1 vs 2 faces)" in [r.text() for r in out[0].reasons]
    # a frame without a face (turned away, or missed) switches the face signals off for the group
    out = rank_group(frames(blink, [], sharpness=(450.0, 400.0)), config)
    assert out[0].suggestion == "keep" and not any(r.code == "eyes_closed" for s in out for r in s.reasons)
    # faces much smaller than the largest are the background: their blinks do not count
    background = [*_faces((300, 0.9, 0.0)), {"box": [0, 0, 20.0, 20.0], "sharpness": 50, "smile": 0, "eyes_closed": 1}]
    summary = face_summary(background)
    assert summary is not None and summary.subjects == 1 and summary.eyes_closed == 0
    assert face_summary([]) is None
