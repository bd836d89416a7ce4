"""The Scorer gives well-formed, batch-independent, deterministic scores in one pass."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from photocull.base.heads import EMOTIONS
from photocull.mood.backbone import LAST_CONV_LAYER
from photocull.mood.scoring import Scorer, load_classifier
from photocull.scan.model_input import to_model_input


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.load()


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([to_model_input(Image.fromarray(f())) for f in (data.coffee, data.chelsea, data.astronaut)])


def test_scores_are_probabilities_with_the_right_shapes(scorer, photos):
    results = scorer.score(photos)
    assert len(results) == 3
    for r in results:
        assert 0.0 <= r["happy"] <= 1.0
        assert list(r["emotions"]) == list(EMOTIONS)
        assert sum(r["emotions"].values()) == pytest.approx(1.0, abs=1e-5)
        assert r["top_emotion"] == max(r["emotions"], key=r["emotions"].get)
        assert r["embedding"].shape == (1280,) and r["embedding"].dtype == np.float16
    assert "+" in scorer.version


def test_batch_and_single_agree_and_repeat_exactly(scorer, photos):
    batch = scorer.score(photos)
    single = scorer.score(photos[1:2])[0]
    assert single["happy"] == pytest.approx(batch[1]["happy"], abs=1e-5)
    for c in EMOTIONS:
        assert single["emotions"][c] == pytest.approx(batch[1]["emotions"][c], abs=1e-5)
    again = scorer.score(photos)
    assert [r["happy"] for r in again] == [r["happy"] for r in batch]
    np.testing.assert_array_equal(again[0]["embedding"], batch[0]["embedding"])


def test_rejects_wrong_shapes_and_accepts_empty(scorer):
    assert scorer.score(np.zeros((0, 224, 224, 3), np.uint8)) == []
    with pytest.raises(ValueError):
        scorer.score(np.zeros((2, 100, 100, 3), np.uint8))


@pytest.mark.parametrize("name, n_classes", [("happy-sad", 2), ("emotion", 8)])
def test_classifier_exposes_last_conv_for_grad_cam(name, n_classes, photos, scorer):
    model, classes = load_classifier(name)
    assert len(classes) == n_classes
    assert model.get_layer(LAST_CONV_LAYER).output.shape[1:] == (7, 7, 1280)
    probs = np.asarray(model.predict_on_batch(photos[:1].astype(np.float32)))
    assert probs.shape == (1, n_classes)
    expected = scorer.score(photos[:1])[0]
    if name == "happy-sad":
        assert probs[0, classes.index("happy")] == pytest.approx(expected["happy"], abs=1e-5)
    else:
        assert probs[0] == pytest.approx([expected["emotions"][c] for c in classes], abs=1e-5)
