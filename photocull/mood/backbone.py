"""torchvision's ImageNet MobileNetV2, rebuilt layer by layer in Keras.

The architecture is plain Keras code (functional API, standard layers only) so the saved weights
load without custom objects and Grad-CAM tools can address any layer by name. It matches torchvision
exactly: 3×3 stride-2 convolutions pad symmetrically by one pixel (Keras' own MobileNetV2 pads
asymmetrically, which shifts every feature map), BatchNorm epsilon is 1e-5, activations are ReLU6.
"""

from __future__ import annotations

import json

import keras
from keras import layers

from photocull.base.heads import EMBEDDING_DIM
from photocull.base.modelfiles import model_path

INPUT_SIZE = 224
WEIGHTS_FILE = "mobilenet_v2_imagenet.weights.h5"
CLASSES_FILE = "imagenet_classes.json"
LAST_CONV_LAYER = "last_conv_relu"
EMBEDDING_LAYER = "embedding"

# ImageNet statistics of 0..1 pixels, as torchvision trained with; applied inside the model on 0..255 input.
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_BN_EPSILON = 1e-5

# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper / torchvision.
_INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, relu: bool = True, depthwise: bool = False
) -> keras.KerasTensor:
    """Conv (or depthwise conv) + BatchNorm (+ ReLU6) with torchvision's symmetric padding."""
    if kernel == 3 and stride == 2:
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=f"{name}_dwconv")(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=0.9, name=f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(6.0, name=f"{name}_relu")(x)
    return x


def _inverted_residual(
    x: keras.KerasTensor, in_channels: int, out_channels: int, stride: int, expand: int, name: str
) -> keras.KerasTensor:
    """One MobileNetV2 block: 1×1 expand, 3×3 depthwise, linear 1×1 project, residual when shapes match."""
    shortcut = x
    if expand != 1:
        x = _conv_bn(x, in_channels * expand, 1, 1, f"{name}_expand")
    x = _conv_bn(x, 0, 3, stride, f"{name}_depthwise", depthwise=True)
    x = _conv_bn(x, out_channels, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def mobilenet_v2_embedding(image: keras.KerasTensor) -> keras.KerasTensor:
    """The architecture applied to ``image`` (float RGB 0..255, any square of 32 px or more), up to
    the global-average-pooled 1280-d ``embedding``: one flat graph whatever comes before it, so a
    head built on it keeps every layer addressable by name (Grad-CAM needs ``last_conv_relu``)."""
    x = layers.Normalization(
        mean=[255.0 * m for m in _MEAN], variance=[(255.0 * s) ** 2 for s in _STD], name="imagenet_normalize"
    )(image)
    x = _conv_bn(x, 32, 3, 2, "stem")
    channels = 32
    block = 1
    for expand, out_channels, repeats, first_stride in _INVERTED_RESIDUAL_SETTING:
        for i in range(repeats):
            stride = first_stride if i == 0 else 1
            x = _inverted_residual(x, channels, out_channels, stride, expand, f"block{block}")
            channels = out_channels
            block += 1
    x = layers.Conv2D(EMBEDDING_DIM, 1, use_bias=False, name="last_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=0.9, name="last_conv_bn")(x)
    x = layers.ReLU(6.0, name=LAST_CONV_LAYER)(x)
    result: keras.KerasTensor = layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)
    return result


def build_mobilenet_v2(include_top: bool = False, input_size: int = INPUT_SIZE) -> keras.Model:
    """The untrained architecture; input is float RGB 0..255, shape (None, 224, 224, 3).

    include_top=False ends at the global-average-pooled 1280-d ``embedding``; True adds the
    1000-class linear layer (``logits``) and softmax (``predictions``). torchvision's dropout
    is left out because it does nothing at inference. ``input_size`` builds it for another
    square (the weights fit any size: every layer is a convolution until the global average).
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = mobilenet_v2_embedding(inputs)
    if include_top:
        x = layers.Dense(1000, name="logits")(x)
        x = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="mobilenet_v2")


def load_imagenet_classifier() -> keras.Model:
    """The full ImageNet classifier with the converted torchvision weights (softmax output)."""
    model = build_mobilenet_v2(include_top=True)
    model.load_weights(model_path(WEIGHTS_FILE))
    model.trainable = False
    return model


def load_backbone() -> keras.Model:
    """The frozen feature extractor: image → 1280-d embedding, shared by every photocull head.

    The weights file holds the full classifier, so the backbone is the classifier cut at ``embedding``.
    """
    classifier = load_imagenet_classifier()
    backbone = keras.Model(classifier.input, classifier.get_layer(EMBEDDING_LAYER).output, name="mobilenet_v2_backbone")
    backbone.trainable = False
    return backbone


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names in output order, shipped so nothing is downloaded at run time."""
    return json.loads(model_path(CLASSES_FILE).read_text(encoding="utf-8"))
