"""The scan's LiteRT model gives the Keras models' scores: same probabilities within 1e-5 on real photos."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from photocull.base.heads import FACE_HEADS
from photocull.mood.litert import LiteRTScorer
from photocull.scan.model_input import to_model_input
from synthetic import sample_photos


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([to_model_input(img.convert("RGB")) for img in sample_photos().values()])


def test_litert_agrees_with_keras_on_real_photos(photos):
    from photocull.mood.scoring import Scorer

    keras_out = [np.asarray(t) for t in Scorer.load().model.predict_on_batch(photos.astype(np.float32))]
    lite = LiteRTScorer()
    for batch in (1, 3, len(photos)):  # resizing between batch sizes must not change a score
        lite_out = [
            np.concatenate(parts)
            for parts in zip(*(lite.outputs(photos[s : s + batch]) for s in range(0, len(photos), batch)))
        ]
        embedding, happy_sad, emotions = (np.abs(k - r).max() for k, r in zip(keras_out, lite_out))
        assert happy_sad < 1e-5 and emotions < 1e-5
        assert embedding < 1e-4  # values up to about 10; stored as float16 (1e-2 steps) anyway
        assert (keras_out[2].argmax(1) == lite_out[2].argmax(1)).all()


def test_scores_are_records_like_the_keras_scorer(photos):
    records = LiteRTScorer().score(photos[:2])
    assert len(records) == 2 and set(records[0]) == {"happy", "emotions", "top_emotion", "embedding"}
    assert abs(sum(records[0]["emotions"].values()) - 1) < 1e-5 and 0 <= records[0]["happy"] <= 1
    assert records[0]["embedding"].dtype == np.float16 and records[0]["embedding"].shape == (1280,)
    assert LiteRTScorer().score(np.zeros((0, 224, 224, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="expected images"):
        LiteRTScorer().score(np.zeros((1, 100, 100, 3), np.uint8))


def test_a_litert_model_runs_any_batch_size_and_names_a_missing_file(photos):
    from photocull.base.errors import PhotocullError
    from photocull.base.litert import LiteRTModel
    from photocull.mood.litert import SCORER_FILE

    model = LiteRTModel(SCORER_FILE)
    assert not model.loaded
    x = photos.astype(np.float32)
    whole = model.run(x)
    parts = [model.run(x[k : k + 1]) for k in range(len(x))]  # the tensors are re-planned each time the size changes
    for column, out in enumerate(whole):
        np.testing.assert_allclose(np.concatenate([p[column] for p in parts]), out, atol=1e-5)
    with pytest.raises(PhotocullError, match=r"cannot load the model no-such-model\.tflite: .*PHOTOCULL_MODELS"):
        LiteRTModel("no-such-model.tflite").run(x)


def test_a_fully_convolutional_model_runs_on_a_larger_canvas_with_its_own_weights():
    """The face detector's larger look: the same file, its upsampling sizes scaled with the input."""
    from photocull.base.errors import PhotocullError
    from photocull.base.litert import LiteRTModel, spatially_resized
    from photocull.base.modelfiles import model_path
    from photocull.faces.detect import FULL_RANGE

    content = model_path(FULL_RANGE).read_bytes()
    assert spatially_resized(content, 192, 192) == content  # its own size: not a byte changes
    resized = spatially_resized(content, 240, 320)
    assert len(resized) == len(content) and sum(a != b for a, b in zip(content, resized)) <= 3 * 8  # only sizes
    x = np.zeros((1, 240, 320, 3), np.float32)
    outputs = LiteRTModel(FULL_RANGE, input_size=(240, 320)).run(x)
    assert sorted(o.shape for o in outputs) == [(1, 60 * 80, 1), (1, 60 * 80, 16)]  # one anchor per 4×4 cell
    with pytest.raises(PhotocullError, match="does not scale"):
        LiteRTModel(FULL_RANGE, input_size=(200, 300)).run(np.zeros((1, 200, 300, 3), np.float32))


def test_a_fixed_batch_model_runs_any_number_of_inputs_in_slices_of_one_shape(photos):
    from photocull.base.litert import LiteRTModel
    from photocull.mood.litert import SCORER_FILE

    x = photos.astype(np.float32)
    whole = LiteRTModel(SCORER_FILE).run(x)
    sliced = LiteRTModel(SCORER_FILE, fixed_batch=2)
    for n in (len(x), 1, 3):  # odd counts are padded; the padding's outputs are dropped
        out = sliced.run(x[:n])
        for column, expected in enumerate(whole):
            np.testing.assert_allclose(out[column], expected[:n], atol=1e-5)
        assert sliced.load().get_input_details()[0]["shape"][0] == 2  # planned for 2, whatever n was


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/smaps")
def test_a_loaded_model_file_does_not_stay_in_the_processs_memory():
    """XNNPACK packs its own copy of the weights; the mapped file's pages are dropped after that
    (each decoding process held all of them: 23 MB with every model) and its outputs stay the same."""
    from photocull.base.litert import LiteRTModel
    from photocull.base.modelfiles import model_path

    model = LiteRTModel(FACE_HEADS["smile"].litert_file)
    faces = np.random.default_rng(0).uniform(0, 255, (1, 48, 48, 1)).astype(np.float32)
    first = model.run(faces)[0]
    assert np.array_equal(model.run(faces)[0], first)
    target, resident, current = str(model_path(model.file).resolve()), 0, ""
    with open("/proc/self/smaps", encoding="utf-8", errors="surrogateescape") as smaps:
        for line in smaps:
            if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                current = line.split(maxsplit=5)[-1].strip()
            elif line.startswith("Rss:") and current == target:
                resident += int(line.split()[1]) * 1024
    assert resident < 0.25 * model_path(model.file).stat().st_size
