"""The Keras port of torchvision's MobileNetV2 classifies known photos as torchvision does."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from photocull.mood.backbone import (
    INPUT_SIZE,
    LAST_CONV_LAYER,
    imagenet_labels,
    load_backbone,
    load_imagenet_classifier,
)
from photocull.scan.model_input import to_model_input


@pytest.fixture(scope="module")
def classifier():
    return load_imagenet_classifier()


def _predict(model, arrays: list[np.ndarray]) -> np.ndarray:
    batch = np.stack([to_model_input(Image.fromarray(a)) for a in arrays]).astype(np.float32)
    return np.asarray(model.predict_on_batch(batch))


def test_known_photos_get_their_imagenet_class(classifier):
    probs = _predict(classifier, [data.coffee(), data.chelsea()])
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert int(probs[0].argmax()) == 967  # espresso
    assert 281 <= int(probs[1].argmax()) <= 285  # domestic cat classes


def test_labels_are_the_1000_imagenet_names():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[967] == "espresso"
    assert labels[0] == "tench"


def test_backbone_gives_a_1280_embedding_and_exposes_last_conv():
    backbone = load_backbone()
    assert backbone.input_shape == (None, INPUT_SIZE, INPUT_SIZE, 3)
    assert backbone.output_shape == (None, 1280)
    assert backbone.get_layer(LAST_CONV_LAYER).output.shape[1:] == (7, 7, 1280)
    assert not backbone.trainable
    emb = _predict(backbone, [data.coffee()])
    assert emb.shape == (1, 1280)
    assert (emb >= 0).all() and (emb <= 6).all()  # pooled ReLU6 activations
