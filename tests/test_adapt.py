"""Adapting a mood head to a person's corrections (`models train NAME --from-feedback`): a
simulated person who calls every photo of some scenes sad and the rest happy corrects the model
through the web API; the adapted head must agree with them more on held-out corrections, and the
next scan must score with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from measure_learning import build_bursts
from starlette.testclient import TestClient

from photocull.base.heads import HEADS
from photocull.cli.main import cli
from photocull.mood.adapt import MIN_CORRECTIONS, train_from_feedback, user_head_path
from photocull.mood.litert import LiteRTScorer
from photocull.pipeline import ScanOptions, scan
from photocull.serve.app import create_app
from photocull.store.database import open_db
from photocull.store.export import photo_records


def test_corrections_adapt_the_head_and_the_next_scan_uses_it(tmp_path):
    root, db_path = tmp_path / "lib", tmp_path / "adapt.db"
    build_bursts(root, 16)  # 16 scenes × 4 frames; scene k is a crop of sample photo k % 7 (or so)
    db = open_db(db_path)
    scan(db, [root], scorer=LiteRTScorer(), options=ScanOptions(workers=1))
    records = list(photo_records(db))
    sad_scenes = {f"burst{k:03d}" for k in range(0, 16, 2)}  # the person's own idea of "sad"
    client = TestClient(create_app(db_path, token="t"), base_url="http://127.0.0.1:8765")
    few = CliRunner().invoke(cli, ["--db", str(db_path), "models", "train", "happy-sad", "--from-feedback"])
    assert few.exit_code == 1 and f"at least {MIN_CORRECTIONS}" in few.output
    for r in records:
        label = "sad" if Path(r["path"]).parent.name in sad_scenes else "happy"
        answer = client.post(
            "/api/feedback",
            json={"photo": r["id"], "model": "happy-sad", "label": label},
            headers={"X-Photocull-Token": "t"},
        )
        assert answer.status_code == 201
    result = CliRunner().invoke(cli, ["--db", str(db_path), "models", "train", "happy-sad", "--from-feedback"])
    assert result.exit_code == 0, result.output
    assert "64 corrections, 64 with scores" in result.output
    report = train_from_feedback(db, HEADS["happy-sad"])  # what the command printed, as data
    assert report.held_out >= 12 and report.after is not None and report.before is not None
    assert report.after >= 0.9 and report.after > report.before, report
    assert report.changed_elsewhere is None  # every photo was corrected: none left to compare
    assert user_head_path(HEADS["happy-sad"]).exists()
    lite = LiteRTScorer()
    assert "happy-sad:user-" in lite.version
    scan(db, [root], scorer=lite, options=ScanOptions(workers=1))  # re-scored: the version changed
    rescored = list(photo_records(db))
    agree = sum((r["happy"] < 0.5) == (Path(r["path"]).parent.name in sad_scenes) for r in rescored)
    assert agree >= 0.9 * len(rescored)


def test_the_shipped_heads_read_without_keras_are_keras_own():
    """explain and adapting read the shipped heads' weights from the ``.keras`` zip without Keras:
    the same arrays and temperature as Keras loads, and the same probabilities."""
    import keras
    import numpy as np

    from photocull.base.modelfiles import model_path
    from photocull.mood.adapt import shipped_head

    embeddings = np.random.default_rng(0).uniform(0.0, 3.0, (8, 1280)).astype(np.float32)
    for spec in HEADS.values():
        ours = shipped_head(spec)
        model = keras.saving.load_model(model_path(spec.head_file), compile=False)
        for ours_w, theirs_w in zip(
            (ours.hidden_w, ours.hidden_b, ours.logits_w, ours.logits_b),
            model.get_layer("hidden").get_weights() + model.get_layer("logits").get_weights(),
        ):
            np.testing.assert_array_equal(ours_w, theirs_w)
        assert ours.temperature == model.get_layer("temperature").get_config()["scale"]
        np.testing.assert_allclose(ours.probabilities(embeddings), model.predict_on_batch(embeddings), atol=1e-6)


def test_explain_draws_with_the_head_the_scan_scores_with():
    """After ``models train --from-feedback``, explain's scores are the scan's (the adapted head's),
    on both the TensorFlow-free default and the Keras methods; a new head gets a new explainer."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from photocull.mood.adapt import NumpyHead, shipped_head
    from photocull.report import maps
    from photocull.scan.model_input import to_model_input

    spec = HEADS["happy-sad"]
    photo = to_model_input(Image.fromarray(data.chelsea()))
    before = maps.explainer("happy-sad").scores(photo)
    base = shipped_head(spec)
    swapped = NumpyHead(  # the two classes' logits swapped: an adapted head that reads every photo the other way
        base.hidden_w, base.hidden_b, base.logits_w[:, ::-1].copy(), base.logits_b[::-1].copy(), base.temperature
    )
    swapped.save(user_head_path(spec))
    after = maps.explainer("happy-sad").scores(photo)
    assert after["happy"] == pytest.approx(before["sad"], abs=1e-5)
    assert maps.explainer("happy-sad", "gradcam++").scores(photo)["happy"] == pytest.approx(after["happy"], abs=1e-5)
    scanned = LiteRTScorer().score(photo[None])[0]["happy"]
    assert scanned == pytest.approx(after["happy"], abs=1e-5)
    assert np.isclose(maps.explain_image(Image.fromarray(data.chelsea())).scores["happy"], after["happy"], atol=1e-5)


# Keras 3.15's saving calls np.array on its variables the way NumPy 2 deprecates: not this code's warning
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_a_head_trained_without_a_hidden_layer_reads_as_the_identity(tmp_path, monkeypatch):
    """``models train`` may choose a head without a hidden layer; reading it without Keras gives the
    same probabilities (embeddings are never negative, so an identity hidden layer is exact)."""
    import numpy as np

    from photocull.mood.adapt import shipped_head
    from photocull.mood.training import HeadConfig, build_head

    spec = HEADS["happy-sad"]
    model = build_head(len(spec.classes), HeadConfig(hidden=0), temperature=1.7)  # random (Glorot) weights
    model.save(tmp_path / spec.head_file)
    monkeypatch.setenv("PHOTOCULL_MODELS", str(tmp_path))
    head = shipped_head(spec)
    embeddings = np.random.default_rng(0).uniform(0.0, 3.0, (8, 1280)).astype(np.float32)
    np.testing.assert_allclose(head.probabilities(embeddings), model.predict_on_batch(embeddings), atol=1e-6)
