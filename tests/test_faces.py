"""Faces: found where they are (upright, at the border, in rotated photos), none where there are none,
stored and exported, re-analysed only when needed, and a blurred face loses its burst.

Face photos are scikit-image's astronaut (public domain, NASA) and compositions made from it.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from photocull.faces.analyse import FaceStage
from photocull.pipeline import ScanOptions, scan
from photocull.store.export import photo_records, to_csv
from synthetic import sample_photos, save_photo, variant

# The astronaut's face in the 512-px original, [x, y, w, h] (the detector on the original photo).
FACE = np.array([175.0, 74.0, 100.0, 100.0])
SIDE = 1024  # test photos are the astronaut at twice its size


def astronaut() -> Image.Image:
    return sample_photos()["astronaut"].resize((SIDE, SIDE), Image.Resampling.BICUBIC)


def records(db) -> dict[str, dict]:
    return {r["path"].rsplit("/", 1)[-1]: r for r in photo_records(db)}


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "Pictures"
    when = dt.datetime(2024, 5, 1, 12, 0, 0)
    save_photo(astronaut(), root / "upright.jpg", when)
    save_photo(astronaut(), root / "portrait-rotated.jpg", when + dt.timedelta(hours=1), orientation=6)
    save_photo(astronaut().crop((300, 0, SIDE, SIDE)), root / "face-at-border.jpg", when + dt.timedelta(hours=2))
    save_photo(sample_photos()["coffee"], root / "no-people.jpg", when + dt.timedelta(hours=3))
    return root


def test_faces_are_found_in_displayed_pixels_and_exported(photos, db):
    scan(db, [photos], faces=FaceStage(), options=ScanOptions(workers=1))
    r = records(db)
    expected = FACE * SIDE / 512
    for name, shift in (("upright.jpg", 0.0), ("portrait-rotated.jpg", 0.0), ("face-at-border.jpg", 300.0)):
        (face,) = r[name]["faces"]
        box = np.array(face["box"])
        assert np.abs(box - (expected - [shift, 0, 0, 0])).max() < 0.02 * SIDE, (name, box)
        assert face["confidence"] > 0.8 and face["sharpness"] > 0
        eyes = np.array(face["keypoints"][:2])
        assert (eyes[:, 1] < box[1] + box[3] / 2).all()  # eyes in the upper half: the photo was turned upright
        assert face["expression"] is None and face["smile"] is None and face["eyes_closed"] is None
    assert r["face-at-border.jpg"]["faces"][0]["box"][0] < 0.06 * SIDE
    assert r["no-people.jpg"]["faces"] == []
    assert "face_count" in to_csv(photo_records(db)).splitlines()[0]


def test_without_the_face_stage_faces_are_null_and_a_later_scan_adds_them(photos, db):
    scan(db, [photos], options=ScanOptions(workers=1))
    assert all(rec["faces"] is None for rec in records(db).values())
    again = scan(db, [photos], faces=FaceStage(), options=ScanOptions(workers=1))
    assert again.counts["unchanged"] == 4 and again.counts["faces"] == 3  # read again for faces only
    assert records(db)["no-people.jpg"]["faces"] == []
    third = scan(db, [photos], faces=FaceStage(), options=ScanOptions(workers=1))
    assert third.counts["faces"] == 0 and third.counts["measured"] == 0  # nothing to do


def test_a_frame_whose_face_is_blurred_loses_its_burst(tmp_path, db):
    root = tmp_path / "burst"
    base = astronaut()
    when = dt.datetime(2024, 5, 1, 12, 0, 0)
    box = tuple(int(v) for v in (FACE * SIDE / 512 + [0, 0, *(FACE[:2] * SIDE / 512)]))  # x0, y0, x1, y1
    for k in range(3):
        frame = variant(base, np.random.default_rng(k), 0.2)
        if k == 1:  # the face moved during the exposure; the rest of the frame is as sharp as the others
            frame.paste(frame.crop(box).filter(ImageFilter.GaussianBlur(6)), box[:2])
        save_photo(frame, root / f"IMG_{k}.jpg", when + dt.timedelta(milliseconds=300 * k))
    scan(db, [root], faces=FaceStage(), options=ScanOptions(workers=1))
    r = records(db)
    assert r["IMG_0.jpg"]["group"] is not None and r["IMG_0.jpg"]["group"] == r["IMG_1.jpg"]["group"]
    assert r["IMG_1.jpg"]["suggestion"] == "discard"
    reasons = r["IMG_1.jpg"]["reasons"]
    assert any(t.startswith("faces less sharp than IMG_") for t in reasons), reasons
    kept = [n for n, rec in r.items() if rec["suggestion"] == "keep"]
    assert kept and "IMG_1.jpg" not in kept
    data = json.loads(db.execute("select reason_data from photos where path like '%IMG_1.jpg'").fetchone()[0])
    assert "faces_less_sharp" in [d["code"] for d in data]
