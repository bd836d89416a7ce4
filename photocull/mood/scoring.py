"""One entry point for the mood models: batched scoring for scans, single classifiers for explaining.

Both heads read the same frozen MobileNetV2 embedding, so the scorer joins them into one Keras model
and every photo goes through the backbone once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import keras
import numpy as np

from photocull.base.heads import HEADS, HeadSpec
from photocull.base.modelfiles import model_path
from photocull.mood.backbone import (
    EMBEDDING_LAYER,
    load_imagenet_classifier,
)
from photocull.mood.files import scorer_version
from photocull.mood.records import check_batch, score_records


def _load_head(spec: HeadSpec) -> tuple[keras.Model, dict]:
    head = keras.models.load_model(model_path(spec.head_file), compile=False)
    card = json.loads(model_path(spec.card_file).read_text(encoding="utf-8"))
    if tuple(card["classes"]) != spec.classes:
        raise ValueError(f"{spec.card_file} lists classes {card['classes']}, expected {list(spec.classes)}")
    return head, card


def _backbone_graph() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Input and embedding tensors of one flat backbone graph (so `last_conv_relu` is a top-level layer)."""
    classifier = load_imagenet_classifier()
    return classifier.input, classifier.get_layer(EMBEDDING_LAYER).output


def _apply_head(head: keras.Model, embedding: keras.KerasTensor) -> keras.KerasTensor:
    """Re-apply the head's layers to the embedding, so the classifier is one flat graph whose last
    layer is the softmax Activation (explainers swap it for a linear one)."""
    x = embedding
    for layer in head.layers[1:]:
        x = layer(x)
    return x


@dataclass
class Scorer:
    """Scores photos for happiness and the 8 FI emotions, plus the embedding for similarity search."""

    model: keras.Model
    emotions: tuple[str, ...]
    happy_index: int
    version: str

    @classmethod
    def load(cls) -> Scorer:
        """Load the backbone and both heads once; build image → [embedding, happy/sad, emotion]."""
        hs_spec, emo_spec = HEADS["happy-sad"], HEADS["emotion"]
        hs_head, _ = _load_head(hs_spec)
        emo_head, _ = _load_head(emo_spec)
        image, embedding = _backbone_graph()
        # heads stay nested (their layer names would clash in one flat graph)
        model = keras.Model(image, [embedding, hs_head(embedding), emo_head(embedding)], name="photocull_scorer")
        model.trainable = False
        return cls(model, emo_spec.classes, hs_spec.classes.index("happy"), scorer_version())

    def score(self, images: np.ndarray) -> list[dict]:
        """Score a batch of uint8 RGB photos [N, 224, 224, 3] in one forward pass.

        Returns per photo: ``happy`` (probability), ``emotions`` (class → probability),
        ``top_emotion`` and a float16 ``embedding`` (1280,) compact enough to store.
        """
        images = check_batch(images)
        if len(images) == 0:
            return []
        emb, hs, emo = (np.asarray(t) for t in self.model.predict_on_batch(images.astype(np.float32)))
        return score_records(emb, hs, emo, self.emotions, self.happy_index)


def load_classifier(name: str) -> tuple[keras.Model, list[str]]:
    """Image (float RGB 0..255, 224×224×3) → class probabilities for one head, for Grad-CAM.

    The graph is flat, so ``model.get_layer("last_conv_relu")`` reaches the last conv activation and
    the final layer is a softmax Activation that explainers can swap for a linear one.
    """
    if name not in HEADS:
        raise ValueError(f"unknown classifier {name!r}; choose one of {', '.join(HEADS)}")
    spec = HEADS[name]
    head, _ = _load_head(spec)
    image, embedding = _backbone_graph()
    model = keras.Model(image, _apply_head(head, embedding), name=f"{spec.stem}_classifier")
    model.trainable = False
    return model, list(spec.classes)
