"""The gradient of one tensor of a LiteRT file with respect to its input, in NumPy, without TensorFlow.

SmoothGrad (``explain --method saliency``) needs the gradient of a class score with respect to every
input pixel, through the whole network; LiteRT only runs networks forwards. The networks photocull
explains (the scan's MobileNetV2 scorer and the face heads) use a dozen operators, so this module
runs their graph forwards in NumPy, keeping what each operator's gradient needs, and then
backwards: importing TensorFlow and building the Keras model took 4–5 s of the 9–10 s a cold
SmoothGrad map took. tests/test_explain.py and tests/test_faces.py check the maps against tf-keras-vis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from photocull.base.litert import op_code

_OPS = schema.BuiltinOperator
_RELU, _RELU6 = schema.ActivationFunctionType.RELU, schema.ActivationFunctionType.RELU6
_SAME = schema.Padding.SAME
_DTYPES = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT32: np.int32}


@dataclass
class _Op:
    kind: int
    inputs: list[int]  # tensor indices (-1: none)
    output: int
    options: Any


def _options(op: schema.Operator, kind: int) -> Any:
    """The operator's options table, typed (None for operators without options this module reads)."""
    table = op.BuiltinOptions()
    classes = {
        _OPS.CONV_2D: schema.Conv2DOptions,
        _OPS.DEPTHWISE_CONV_2D: schema.DepthwiseConv2DOptions,
        _OPS.ADD: schema.AddOptions,
        _OPS.SUB: schema.SubOptions,
        _OPS.MUL: schema.MulOptions,
        _OPS.FULLY_CONNECTED: schema.FullyConnectedOptions,
        _OPS.MAX_POOL_2D: schema.Pool2DOptions,
        _OPS.MEAN: schema.ReducerOptions,
        _OPS.CONCATENATION: schema.ConcatenationOptions,
        _OPS.RESIZE_BILINEAR: schema.ResizeBilinearOptions,
    }
    if table is None or kind not in classes:
        return None
    options = classes[kind]()
    options.Init(table.Bytes, table.Pos)
    return options


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of TFLite's SAME padding."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _conv_padding(
    options: Any, shape: tuple[int, ...], kernel: tuple[int, int], stride: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)): the rows and columns a convolution pads its input [N, H, W, C] with."""
    if options.Padding() != _SAME:
        return (0, 0), (0, 0)
    rows, columns = _same_padding(shape[1], kernel[0], stride), _same_padding(shape[2], kernel[1], stride)
    return rows[1:], columns[1:]


def _windows(kernel: tuple[int, int], stride: int, out: tuple[int, ...]) -> list[tuple[int, int, tuple[slice, ...]]]:
    """(row, column, slice) of each kernel tap: the input cells that tap reads for every output cell."""
    return [
        (
            a,
            b,
            (
                slice(None),
                slice(a, a + stride * (out[0] - 1) + 1, stride),
                slice(b, b + stride * (out[1] - 1) + 1, stride),
            ),
        )
        for a in range(kernel[0])
        for b in range(kernel[1])
    ]


def _matmul(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``x`` [..., in] @ ``weights`` [in, out] as one matrix product (a stack of small ones is slower)."""
    result: np.ndarray = (x.reshape(-1, x.shape[-1]) @ weights).reshape(*x.shape[:-1], weights.shape[-1])
    return result


def _activation_mask(z: np.ndarray, kind: int) -> np.ndarray | None:
    """Where a fused activation passes its gradient (None: everywhere): ReLU above 0, ReLU6 strictly between 0 and 6."""
    if kind == _RELU:
        return z > 0
    if kind == _RELU6:
        return (z > 0) & (z < 6)
    if kind != schema.ActivationFunctionType.NONE:
        raise ValueError(f"fused activation {kind} is not supported")
    return None


def _activate(z: np.ndarray, kind: int) -> np.ndarray:
    result: np.ndarray = np.maximum(z, 0) if kind == _RELU else np.clip(z, 0, 6) if kind == _RELU6 else z
    return result


def bilinear_matrix(size_in: int, size_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """[size_out, size_in]: TFLite's bilinear resize along one axis as a matrix (with corners aligned
    and without half-pixel centres, also SciPy's ``zoom(order=1)``)."""
    scale = (size_in - 1) / (size_out - 1) if align_corners and size_out > 1 else size_in / size_out
    position = (np.arange(size_out) + 0.5) * scale - 0.5 if half_pixel else np.arange(size_out) * scale
    position = np.clip(position, 0, None)
    low = np.minimum(np.floor(position).astype(int), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = position - low
    matrix = np.zeros((size_out, size_in), np.float64)
    matrix[np.arange(size_out), low] += 1 - frac
    matrix[np.arange(size_out), high] += frac
    return matrix


class GraphGradient:
    """One float32 LiteRT file's first graph, up to tensor ``output``, run forwards and backwards in NumPy.

    An operator or option it does not support is a ValueError when it is met. One pass at a time: a
    forward pass keeps, on the instance, what the backward pass reads.
    """

    def __init__(self, content: bytes, output: int) -> None:
        model = schema.Model.GetRootAs(content, 0)
        graph = model.Subgraphs(0)
        self.input = int(graph.Inputs(0))
        self.output = output
        self.ops: list[_Op] = []
        self.constants: dict[int, np.ndarray] = {}
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            kind = op_code(model, op)
            inputs = [int(op.Inputs(i)) for i in range(op.InputsLength())]
            self.ops.append(_Op(kind, inputs, int(op.Outputs(0)), _options(op, kind)))
            for index in inputs:
                tensor = graph.Tensors(index) if index >= 0 else None
                if tensor is None or index in self.constants:
                    continue
                data = model.Buffers(tensor.Buffer()).DataAsNumpy()
                if isinstance(data, np.ndarray) and data.size:
                    dtype = _DTYPES.get(tensor.Type())
                    if dtype is None:
                        raise ValueError(
                            f"constant tensor {index} has type {tensor.Type()}: only float32 files are supported"
                        )
                    self.constants[index] = data.view(dtype).reshape(tensor.ShapeAsNumpy())
            if int(op.Outputs(0)) == output:
                break
        else:
            raise ValueError(f"no operator computes tensor {output}")

    def _value(self, values: dict[int, np.ndarray], index: int) -> np.ndarray:
        return values[index] if index in values else self.constants[index]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Tensor ``output`` for the batch ``x``, and every tensor computed on the way."""
        values: dict[int, np.ndarray] = {self.input: np.asarray(x, np.float32)}
        self._pre: dict[int, np.ndarray] = {}  # pre-activation values of fused activations
        self._resizes: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # each bilinear resize's two matrices
        for op in self.ops:
            values[op.output] = self._forward(op, values)
        return values[self.output], values

    def _forward(self, op: _Op, values: dict[int, np.ndarray]) -> np.ndarray:
        x = self._value(values, op.inputs[0])
        kind, o = op.kind, op.options
        if kind in (_OPS.CONV_2D, _OPS.DEPTHWISE_CONV_2D):
            weights, bias = self.constants[op.inputs[1]], self.constants[op.inputs[2]]
            stride = o.StrideH()
            if o.StrideW() != stride or o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise ValueError("only square strides without dilation are supported")
            kh, kw = weights.shape[1:3]
            if kind == _OPS.DEPTHWISE_CONV_2D and weights.shape[3] != x.shape[3]:
                raise ValueError("only depthwise convolutions with a depth multiplier of 1 are supported")
            (top, bottom), (left, right) = _conv_padding(o, x.shape, (kh, kw), stride)
            x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
            oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
            z = np.zeros(
                (x.shape[0], oh, ow, weights.shape[0] if kind == _OPS.CONV_2D else weights.shape[3]), np.float32
            )
            for a, b, cells in _windows((kh, kw), stride, (oh, ow)):
                if kind == _OPS.CONV_2D:
                    z += _matmul(x[cells], weights[:, a, b, :].T)
                else:
                    z += x[cells] * weights[0, a, b, :]
            z += bias
            self._pre[op.output] = z
            return _activate(z, o.FusedActivationFunction())
        if kind in (_OPS.ADD, _OPS.SUB, _OPS.MUL):
            y = self._value(values, op.inputs[1])
            z = x + y if kind == _OPS.ADD else x - y if kind == _OPS.SUB else x * y
            self._pre[op.output] = z
            return _activate(z, o.FusedActivationFunction())
        if kind == _OPS.PAD:
            pads = self.constants[op.inputs[1]]
            if pads[0].any() or pads[-1].any():
                raise ValueError("only padding of rows and columns is supported")
            return np.pad(x, pads)
        if kind == _OPS.MEAN:
            axes = tuple(int(a) for a in np.atleast_1d(self.constants[op.inputs[1]]))
            mean: np.ndarray = x.mean(axis=axes, keepdims=bool(o.KeepDims()))
            return mean
        if kind == _OPS.FULLY_CONNECTED:
            weights = self.constants[op.inputs[1]]
            z = x.reshape(len(x), -1) @ weights.T
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                z = z + self.constants[op.inputs[2]]
            self._pre[op.output] = z
            return _activate(z, o.FusedActivationFunction())
        if kind == _OPS.MAX_POOL_2D:
            s, (kh, kw) = o.StrideH(), (o.FilterHeight(), o.FilterWidth())
            padded = o.Padding() == _SAME and any(
                _same_padding(size, k, s)[1:] != (0, 0) for size, k in ((x.shape[1], kh), (x.shape[2], kw))
            )
            if padded or o.StrideW() != s:
                raise ValueError("only max pooling with square strides and no padding is supported")
            oh, ow = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
            pooled: np.ndarray = np.max([x[cells] for _, _, cells in _windows((kh, kw), s, (oh, ow))], axis=0)
            return pooled
        if kind == _OPS.CONCATENATION:
            return np.concatenate([self._value(values, i) for i in op.inputs], axis=o.Axis())
        if kind == _OPS.RESIZE_BILINEAR:
            height, width = (int(v) for v in self.constants[op.inputs[1]])
            align, half = bool(o.AlignCorners()), bool(o.HalfPixelCenters())
            rows = bilinear_matrix(x.shape[1], height, align, half)
            cols = bilinear_matrix(x.shape[2], width, align, half)
            self._resizes[op.output] = (rows, cols)
            resized: np.ndarray = np.einsum("hH,nHWc,wW->nhwc", rows, x.astype(np.float64), cols, optimize=True)
            return resized.astype(np.float32)
        raise ValueError(f"operator {kind} is not supported")

    def gradient(self, x: np.ndarray, direction: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """d(Σ d · output) / d ``x``, where d = ``direction(output)`` (the gradient of a score with
        respect to the output, which may depend on the output itself, as a head's ReLU does)."""
        out, values = self.forward(x)
        grads: dict[int, np.ndarray] = {self.output: np.asarray(direction(out), np.float32)}
        for op in reversed(self.ops):
            g = grads.pop(op.output, None)
            if g is not None:
                self._backward(op, values, g, grads)
        return grads[self.input]

    def _add(self, grads: dict[int, np.ndarray], index: int, g: np.ndarray) -> None:
        if index in self.constants:
            return
        grads[index] = grads[index] + g if index in grads else g

    def _backward(self, op: _Op, values: dict[int, np.ndarray], g: np.ndarray, grads: dict[int, np.ndarray]) -> None:
        kind, o = op.kind, op.options
        x = self._value(values, op.inputs[0])
        if op.output in self._pre:
            mask = _activation_mask(self._pre[op.output], o.FusedActivationFunction())
            if mask is not None:
                g = g * mask
        if kind in (_OPS.CONV_2D, _OPS.DEPTHWISE_CONV_2D):
            weights = self.constants[op.inputs[1]]
            stride, (kh, kw) = o.StrideH(), weights.shape[1:3]
            (top, bottom), (left, right) = _conv_padding(o, x.shape, (kh, kw), stride)
            dx = np.zeros((x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3]), np.float32)
            for a, b, cells in _windows((kh, kw), stride, g.shape[1:3]):
                dx[cells] += _matmul(g, weights[:, a, b, :]) if kind == _OPS.CONV_2D else g * weights[0, a, b, :]
            self._add(grads, op.inputs[0], dx[:, top : top + x.shape[1], left : left + x.shape[2]])
        elif kind == _OPS.ADD:
            for index in op.inputs[:2]:
                self._add(grads, index, g)
        elif kind == _OPS.SUB:
            self._add(grads, op.inputs[0], g)
            self._add(grads, op.inputs[1], -g)
        elif kind == _OPS.MUL:
            y = self._value(values, op.inputs[1])
            self._add(grads, op.inputs[0], g * y)
            self._add(grads, op.inputs[1], g * x)
        elif kind == _OPS.PAD:
            (t, _), (left, _) = self.constants[op.inputs[1]][1:3]
            self._add(grads, op.inputs[0], g[:, t : t + x.shape[1], left : left + x.shape[2]])
        elif kind == _OPS.MEAN:
            axes = tuple(int(a) for a in np.atleast_1d(self.constants[op.inputs[1]]))
            count = int(np.prod([x.shape[a] for a in axes]))
            shaped = g if o.KeepDims() else np.expand_dims(g, axes)
            self._add(grads, op.inputs[0], np.broadcast_to(shaped / count, x.shape).astype(np.float32))
        elif kind == _OPS.FULLY_CONNECTED:
            self._add(grads, op.inputs[0], (g @ self.constants[op.inputs[1]]).reshape(x.shape))
        elif kind == _OPS.MAX_POOL_2D:
            s, (kh, kw) = o.StrideH(), (o.FilterHeight(), o.FilterWidth())
            taps = _windows((kh, kw), s, g.shape[1:3])
            chosen = np.argmax([x[cells] for _, _, cells in taps], axis=0)  # the first largest, as TensorFlow
            dx = np.zeros_like(x)
            for k, (_, _, cells) in enumerate(taps):
                dx[cells] += g * (chosen == k)
            self._add(grads, op.inputs[0], dx)
        elif kind == _OPS.CONCATENATION:
            start = 0
            for index in op.inputs:
                width = self._value(values, index).shape[o.Axis()]
                self._add(grads, index, np.take(g, range(start, start + width), axis=o.Axis()))
                start += width
        elif kind == _OPS.RESIZE_BILINEAR:
            rows, cols = self._resizes[op.output]
            dx = np.einsum("hH,nhwc,wW->nHWc", rows, g, cols, optimize=True)  # one matrix product at a time
            self._add(grads, op.inputs[0], dx.astype(np.float32))
        else:
            raise ValueError(f"operator {kind} is not supported")
