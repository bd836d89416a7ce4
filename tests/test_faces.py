"""Faces: found where they are (upright, at the border, in rotated photos, small), none where there are
none, read by the face heads, stored and exported, re-analysed only when needed; a blurred face or a
blink loses its burst; ``models evaluate`` measures the face heads.

Face photos are scikit-image's astronaut (public domain, NASA) and compositions made from it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter

from photocull.base.heads import EXPRESSIONS
from photocull.cli.main import cli
from photocull.faces import detect
from photocull.faces.analyse import FaceStage
from photocull.faces.detect import SHORT_SURE, FaceDetector
from photocull.pipeline import ScanOptions, scan
from photocull.store.export import photo_records, to_csv
from synthetic import close_eyes, sample_photos, save_photo, variant

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
        assert set(face["expression"]) == set(EXPRESSIONS)
        assert abs(sum(face["expression"].values()) - 1) < 1e-3
        assert face["eyes_closed"] < 0.2, (name, face["eyes_closed"])  # her eyes are open
        assert 0 <= face["smile"] <= 1
    assert r["upright.jpg"]["faces"][0]["smile"] > 0.5  # and she smiles
    assert r["face-at-border.jpg"]["faces"][0]["box"][0] < 0.06 * SIDE
    assert r["no-people.jpg"]["faces"] == []
    csv_rows = list(csv.DictReader(io.StringIO(to_csv(photo_records(db)))))
    upright = next(row for row in csv_rows if row["path"].endswith("upright.jpg"))
    assert (upright["face_count"], upright["eyes_closed_count"], upright["smiling_count"]) == ("1", "0", "1")


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


def _group_photo(people: list[Image.Image]) -> Image.Image:
    """People side by side on a plain wall, each head and shoulders 500 px wide."""
    canvas = Image.new("RGB", (1600, 900), (196, 188, 176))
    for k, person in enumerate(people):
        canvas.paste(person.crop((250, 60, 750, 560)), (80 + 520 * k, 200))
    return canvas


def test_a_blink_in_a_group_photo_loses_its_burst(tmp_path, db):
    root = tmp_path / "group"
    when = dt.datetime(2024, 5, 1, 12, 0, 0)
    person = astronaut()
    faces = FaceDetector().detect(person)
    blinking = close_eyes(person, faces[0].keypoints[:2])
    for k in range(3):
        people = [person, blinking if k == 1 else person, person]
        frame = variant(_group_photo(people), np.random.default_rng(k), 0.2)
        save_photo(frame, root / f"IMG_{k}.jpg", when + dt.timedelta(milliseconds=300 * k))
    scan(db, [root], faces=FaceStage(), options=ScanOptions(workers=1))
    r = records(db)
    assert len({rec["group"] for rec in r.values()}) == 1 and r["IMG_0.jpg"]["group"] is not None
    assert [len(rec["faces"]) for rec in r.values()] == [3, 3, 3]
    closed = [[f["eyes_closed"] >= 0.5 for f in sorted(rec["faces"], key=lambda f: f["box"][0])] for rec in r.values()]
    assert closed == [[False] * 3, [False, True, False], [False] * 3]
    assert r["IMG_1.jpg"]["suggestion"] == "discard"
    assert "eyes closed (1 of 3 faces)" in r["IMG_1.jpg"]["reasons"]
    # why this frame over that one: the eyes decided, so the eyes head's maps come with the mood's
    from photocull.report.explain import explain_group_to_file

    rows, out = explain_group_to_file(db, r["IMG_0.jpg"]["group"], tmp_path / "why.png")
    assert [title.split(":")[0] for title, _ in rows] == ["happy-sad", "eyes"]
    eyes = rows[1][1]
    assert all(e is not None and e.class_name == "closed" for e in eyes)
    with Image.open(out) as png:
        assert png.width >= 3 * 360 and png.height > 2 * 360


def test_small_faces_in_a_large_frame_are_found(tmp_path, db):
    """Faces a tenth and a twenty-fifth of the frame's width (2000×1500), as in a group shot."""
    root = tmp_path / "small"
    frame = sample_photos()["coffee"].resize((2000, 1500))
    frame.paste(astronaut().crop((250, 60, 750, 560)), (200, 400))  # face 200 px wide, its box at (300, 488)
    frame.paste(astronaut().resize((400, 400)).crop((100, 40, 300, 260)), (1500, 300))  # face about 80 px
    save_photo(frame, root / "room.jpg", dt.datetime(2024, 5, 1, 12))
    scan(db, [root], faces=FaceStage(), options=ScanOptions(workers=1))
    large, small = records(db)["room.jpg"]["faces"]
    assert np.abs(np.array(large["box"]) - [300, 488, 200, 200]).max() < 0.02 * 2000, large["box"]
    x, y, w, _ = small["box"]
    assert 1500 <= x + w / 2 <= 1700 and 300 <= y <= 520 and 0.03 * 2000 <= w <= 0.05 * 2000, small["box"]


def test_a_sure_close_up_stands_without_confirmation(monkeypatch):
    """A face filling the photo (a selfie) is one the full-range model reads poorly: with its
    confirmation refusing every box, the short-range model's sure box is still kept, and only that."""
    monkeypatch.setattr(detect, "confirmed", lambda *args: False)
    crop = sample_photos()["astronaut"].crop((160, 45, 300, 200))
    scale = 256 / crop.width
    crop = crop.resize((256, round(crop.height * scale)), Image.Resampling.BICUBIC)
    (face,) = FaceDetector().detect(crop)
    assert face.confidence >= SHORT_SURE
    x, y = (FACE[0] - 160) * scale, (FACE[1] - 45) * scale
    expected = np.array([x, y, x + FACE[2] * scale, y + FACE[3] * scale])
    assert np.abs(face.box - expected).max() < 0.1 * 256, face.box
    assert FaceDetector(short_sure=2).detect(crop) == []


def test_a_face_both_models_found_is_confirmed_without_a_crop_look(monkeypatch):
    """The whole-frame looks are evidence: a face both models found there needs no look at its crop,
    so a photo with one clear face costs the three looks alone; a box only one model found still
    gets its crop looked at."""
    looks: list[tuple[int, int]] = []
    original = detect.BlazeFace.faces

    def counted(self, img):
        looks.append(img.size)
        return original(self, img)

    monkeypatch.setattr(detect.BlazeFace, "faces", counted)
    photo = astronaut().resize((504, 504), Image.Resampling.BILINEAR)
    (face,) = FaceDetector().detect(photo)
    assert len(looks) == 3, looks  # short-range, full-range, larger canvas: no crop
    expected = FACE * 504 / 512
    assert np.abs(face.box - [*expected[:2], *(expected[:2] + expected[2:])]).max() < 0.03 * 504, face.box

    looks.clear()
    box = np.array([10.0, 10.0, 60.0, 60.0])  # where neither model found anything
    assert not detect.confirmed(FaceDetector().short, photo, box, seen=[])
    assert len(looks) == 1


def test_models_evaluate_measures_a_face_head_on_a_folder_of_crops(tmp_path):
    person = astronaut()
    face = FaceDetector().detect(person)[0]
    x0, y0, x1, y1 = face.box
    box = (int(x0 - 40), int(y0 - 40), int(x1 + 40), int(y1 + 40))
    blinking = close_eyes(person, face.keypoints[:2])
    (tmp_path / "eyes" / "open").mkdir(parents=True)
    (tmp_path / "eyes" / "closed").mkdir(parents=True)
    person.crop(box).save(tmp_path / "eyes" / "open" / "astronaut.jpg")
    blinking.crop(box).save(tmp_path / "eyes" / "closed" / "astronaut.jpg")
    result = CliRunner().invoke(cli, ["models", "evaluate", "eyes", "--data", str(tmp_path / "eyes"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 2 and metrics["accuracy"] == 1.0 and metrics["without_landmarks"] == 0
    assert metrics["confusion_matrix"]["counts"] == [[1, 0], [0, 1]]
    (tmp_path / "eyes" / "blinking").mkdir()
    result = CliRunner().invoke(cli, ["models", "evaluate", "eyes", "--data", str(tmp_path / "eyes")])
    assert result.exit_code == 1 and "blinking" in result.output and "open, closed" in result.output


def test_explain_shows_a_face_heads_map_in_place_on_the_face(tmp_path, monkeypatch):
    from photocull.report.face_saliency import explain_face

    monkeypatch.chdir(tmp_path)  # where a PNG goes without -o
    photo = save_photo(astronaut(), tmp_path / "astronaut.jpg", dt.datetime(2024, 5, 1, 12))
    explanation, shown = explain_face(photo, model="smile")
    assert explanation.class_name == "smile" and explanation.scores["smile"] > 0.5
    heat = explanation.heatmap
    assert heat.shape == (shown.height, shown.width) and heat.max() == pytest.approx(1.0)
    x, y, w, h = (FACE * shown.width / 512).astype(int)
    inside = np.zeros_like(heat, dtype=bool)
    inside[y - h // 4 : y + h + h // 4, x - w // 4 : x + w + w // 4] = True
    assert heat[~inside].max() == 0.0  # the map covers the face and nothing else
    eyes, _ = explain_face(photo, model="eyes")
    assert eyes.class_name == "open" and set(eyes.scores) == {"open", "closed"}
    ys = np.nonzero(eyes.heatmap)[0]
    assert ys.max() < y + h / 2  # the eyes' map stays in the upper half of the face

    out = tmp_path / "smile.png"
    result = CliRunner().invoke(cli, ["explain", str(photo), "--model", "expression", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).width > shown.width
    saved = tmp_path / "smile.npy"
    result = CliRunner().invoke(cli, ["explain", str(photo), "--model", "smile", "--save-map", str(saved)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "astronaut.smile.face0.smile.explain.png").exists()  # named by the model, not its title
    raw = np.load(saved)
    assert raw.shape == (astronaut().height, astronaut().width)  # the export's height × width
    assert raw.dtype == np.float32 and raw.min() >= 0.0 and raw.max() <= 1.0
    outside = np.ones_like(raw, dtype=bool)
    fx, fy, fw, fh = (FACE * raw.shape[1] / 512).astype(int)
    outside[fy - fh // 4 : fy + fh + fh // 4, fx - fw // 4 : fx + fw + fw // 4] = False
    assert raw[outside].max() == 0.0 and raw.max() > 0.5  # the whole frame, zero outside the face
    result = CliRunner().invoke(cli, ["explain", str(photo), "--model", "smile", "--face", "2"])
    assert result.exit_code == 1 and "has 1 face(s): choose --face 0 to 0" in result.output
    empty = save_photo(sample_photos()["coffee"], tmp_path / "coffee.jpg")
    result = CliRunner().invoke(cli, ["explain", str(empty), "--model", "eyes"])
    assert result.exit_code == 1 and "no face found" in result.output


def test_the_expression_heads_equalization_is_opencvs():
    """The expression head reads faces (in the scan and in training) as its sharp FER-2013 copy was
    prepared: ×1.2 with saturation, then equalizeHist's table (worked by hand), each face on its
    own; a face of one grey level stays at it."""
    from photocull.faces.crops import equalized

    face = np.array([[0, 10], [10, 20]], np.uint8)  # ×1.2: 0, 12, 12, 24 → cdf 1, 3, 4 of 4
    bright = np.array([[200, 220], [250, 100]], np.uint8)  # ×1.2: 240, 255, 255, 120
    flat = np.full((2, 2), 7, np.uint8)
    out = equalized(np.stack([face, bright, flat]))
    assert out[0].tolist() == [[0, 170], [170, 255]]
    assert out[1].tolist() == [[85, 255], [255, 0]]
    assert out[2].tolist() == [[8, 8], [8, 8]]
    assert (equalized(face[None])[0] == out[0]).all()


def test_merged_expression_networks_average_their_logits():
    """scripts/merge_expression.py's one network reads a face as the mean of its members' logits."""
    import keras
    from face_training import build_cnn
    from merge_expression import logits, merged

    members = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        members.append(build_cnn(48, (4, 8), 7, "expression", dense=6))
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1)).astype(np.float32)
    model = merged(members)
    mean = np.mean([logits(m.predict(faces, verbose=0)) for m in members], axis=0)
    assert np.abs(logits(model.predict(faces, verbose=0)) - mean).max() < 1e-4
    assert model.get_layer("towers").output.shape[-1] == 16  # both members' last maps, for the CAM methods


def _astronaut_cuts(model: str) -> tuple:
    """(the face head's spec, its cuts of the astronaut's face with open and with closed eyes), cut as the scan cuts."""
    from photocull.base.heads import FACE_HEADS
    from photocull.faces.crops import equalized, eye_patches, face_crop

    person = astronaut()
    face = FaceDetector().detect(person)[0]
    spec = FACE_HEADS[model]
    cuts = []
    for photo in (person, close_eyes(person, face.keypoints[:2])):
        grey = photo.convert("L")
        cuts += list(eye_patches(grey, face)) if spec.input == "eyes" else [face_crop(grey, face)]
    if spec.equalized:
        cuts = list(equalized(np.stack(cuts)))
    return spec, cuts


@pytest.mark.parametrize("model", ["expression", "smile", "eyes"])
def test_a_face_heads_score_cam_and_smoothgrad_without_tensorflow_are_tf_keras_vis_own(model):
    """Score-CAM of a face head from LiteRT (photocull.base.cam.score_cam) against tf-keras-vis's
    Scorecam on the Keras head, for every class, with open and with closed eyes; SmoothGrad too. On a one-output
    head (smile, eyes) tf-keras-vis's softmax of the one output is always 1, so it is given the
    head as two logits, 0 and its own (photocull.report.saliency): before, its map was empty for
    the first class and the same for the second whatever the photo."""
    from photocull.report.face_saliency import face_litert_explainer
    from photocull.report.saliency import get_face_explainer

    spec, cuts = _astronaut_cuts(model)
    light, keras_explainer = face_litert_explainer(model), get_face_explainer(model)
    for cut in cuts:
        x = cut[..., None].astype(np.float32)
        for target in spec.classes:
            ours, our_target, _ = light.raw_map(x, class_name=target, method="scorecam")
            theirs, their_target, _ = keras_explainer.raw_map(x, class_name=target, method="scorecam")
            assert our_target == their_target == target and ours.shape == theirs.shape
            assert np.abs(ours - theirs).max() <= 1e-4 * max(np.abs(theirs).max(), 1e-6), target
        assert ours.max() > 0  # the second class's map is not empty
        # SmoothGrad: the head's file run forwards and backwards in NumPy (photocull.base.backprop)
        ours, _, _ = light.raw_map(x, class_name=target, method="saliency")
        theirs, _, _ = keras_explainer.raw_map(x, class_name=target, method="saliency")
        assert ours.shape == theirs.shape and theirs.max() > 0
        assert np.abs(ours - theirs).max() <= 1e-2 * theirs.max()


@pytest.mark.parametrize("model", ["expression", "smile", "eyes"])
def test_a_face_heads_gradient_maps_without_tensorflow_are_the_keras_ones(model):
    """The contrast, Grad-CAM and Grad-CAM++ maps of a face head from LiteRT and the file's own dense
    weights (photocull.faces.cam) against tf-keras-vis on the Keras head, on the astronaut's face
    with open and with closed eyes, for every class: the same maps and scores, to float rounding."""
    from photocull.report.face_saliency import face_litert_explainer
    from photocull.report.saliency import get_face_explainer

    spec, cuts = _astronaut_cuts(model)
    light, keras_explainer = face_litert_explainer(model), get_face_explainer(model)
    for cut in cuts:
        x = cut[..., None].astype(np.float32)
        for method in ("contrast", "gradcam", "gradcam++"):
            for target in spec.classes:
                ours, our_target, our_scores = light.raw_map(x, class_name=target, method=method)
                theirs, their_target, their_scores = keras_explainer.raw_map(x, class_name=target, method=method)
                assert our_target == their_target == target
                np.testing.assert_allclose(list(our_scores.values()), list(their_scores.values()), atol=1e-5)
                assert ours.shape == theirs.shape
                if method == "gradcam++":  # the same map up to the max pool's window area (photocull.base.cam)
                    ours, theirs = ours / max(ours.max(), 1e-30), theirs / max(theirs.max(), 1e-30)
                assert np.abs(ours - theirs).max() <= 1e-4 * max(np.abs(theirs).max(), 1e-6), (method, target)
