"""LiteRT models at scan time: one ``.tflite`` file each, TensorFlow-free, loaded once per process.

Every model the scan runs (the mood scorer today; the face detector, landmarks and face heads next)
goes through ``LiteRTModel``: adding one to the scan is its file in ``models/`` (with its card and
licence), a ``LiteRTModel(FILE)`` where the stage needs it, and ``run`` on a batch. Loading, batch
resizing, quiet start-up and the error that says what to do live here once.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from photocull.base.errors import PhotocullError
from photocull.base.modelfiles import WHAT_TO_DO, model_path
from photocull.base.quiet import muted_stderr

_MADV_DONTNEED = 4  # Linux's value

_RESIZE_OPS = (schema.BuiltinOperator.RESIZE_BILINEAR, schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR)


def op_code(model: schema.Model, op: schema.Operator) -> int:
    """The builtin operator an op of ``model`` runs (schema.BuiltinOperator; old files keep it elsewhere)."""
    code = model.OperatorCodes(op.OpcodeIndex())
    return int(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))


def spatially_resized(content: bytes, height: int, width: int) -> bytes:
    """A fully convolutional image model's file, changed to take ``height``×``width`` inputs.

    LiteRT resizes every tensor when the input is resized, except the constant output sizes of
    upsampling ops (a feature pyramid's), which would then disagree with the maps they join and
    fail at planning. Those sizes are scaled here by the same factors as the input; nothing else
    in the file changes (the weights are untouched).
    """
    data = bytearray(content)
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    shape = graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()
    own_height, own_width = int(shape[1]), int(shape[2])
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        if op_code(model, op) not in _RESIZE_OPS:
            continue
        sizes = model.Buffers(graph.Tensors(op.Inputs(1)).Buffer()).DataAsNumpy().view(np.int32)  # a view of ``data``
        if (int(sizes[0]) * height) % own_height or (int(sizes[1]) * width) % own_width:
            raise ValueError(f"{height}×{width} does not scale the model's {int(sizes[0])}×{int(sizes[1])} maps evenly")
        sizes[0], sizes[1] = int(sizes[0]) * height // own_height, int(sizes[1]) * width // own_width
    return bytes(data)


def with_outputs(content: bytes, tensors: list[int]) -> bytes:
    """A model file whose first graph also outputs ``tensors`` (indices of tensors inside it).

    LiteRT reuses the memory of inner tensors, so only outputs can be read after a run; an
    explanation needs a map from inside the network (the last convolution's), which the file the
    scan runs already computes. Rewriting the file costs about 0.1 s for a 13 MB model.
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    graph.outputs = np.concatenate([np.asarray(graph.outputs, np.int32), np.asarray(tensors, np.int32)])
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def pooled_dense(content: bytes) -> tuple[int, int, np.ndarray]:
    """Where a classifier file's last convolution map ends: (the map's tensor, the logits' tensor
    (the dense layer's output), the dense layer's weights [classes, channels]), for a file that ends
    map → [max pool] → global mean → fully connected → softmax or logistic, as the face heads do.
    Grad-CAM needs nothing else from the network (photocull.faces.cam)."""
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    producer = {graph.Operators(k).Outputs(0): graph.Operators(k) for k in range(graph.OperatorsLength())}
    final = producer[graph.Outputs(0)]
    dense = producer.get(final.Inputs(0))
    mean = None if dense is None else producer.get(dense.Inputs(0))
    if dense is None or mean is None or op_code(model, dense) != schema.BuiltinOperator.FULLY_CONNECTED:
        raise ValueError("the file does not end in a dense layer over a global mean")
    if op_code(model, mean) != schema.BuiltinOperator.MEAN:
        raise ValueError("the file does not end in a dense layer over a global mean")
    source = mean.Inputs(0)
    pool = producer.get(source)
    if pool is not None and op_code(model, pool) == schema.BuiltinOperator.MAX_POOL_2D:
        source = pool.Inputs(0)

    tensor = graph.Tensors(dense.Inputs(1))
    weights: np.ndarray = model.Buffers(tensor.Buffer()).DataAsNumpy().view(np.float32)
    return source, dense.Outputs(0), weights.reshape(tuple(tensor.ShapeAsNumpy())).copy()


def release_file_pages(path: Path) -> None:
    """Drop the pages of ``path``'s read-only mapping from this process's memory (Linux).

    LiteRT maps a model file and XNNPACK reads every weight once to pack its own copy when the
    tensors are first planned; after that the mapped pages sit unused in each decoding process's
    resident memory (23 MB a process with every model). They are clean file pages: if LiteRT ever
    reads one again, the kernel maps it back from the page cache, unchanged. Elsewhere, nothing.
    """
    if sys.platform != "linux":
        return
    target = str(path.resolve())
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == target and "w" not in fields[1]:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)


class LiteRTModel:
    """One float32 ``.tflite`` file with a single input, run on batches of any size.

    The file is loaded on first use (0.01–0.2 s), so a scan that finds nothing to score never
    loads it. Outputs come back in the file's output order. ``input_size`` (height, width) runs a
    fully convolutional model at another spatial size than its own (``spatially_resized``); ``edit``
    changes the file's bytes in other ways before loading (``with_outputs``).
    ``fixed_batch`` runs every batch in slices of exactly that many (the last one padded): the
    tensors are planned once and the memory stays that of a small batch, however many faces a
    photo holds (a model planned for 12 inputs keeps that memory for the rest of the scan).
    """

    def __init__(
        self,
        file: str,
        threads: int = 1,
        input_size: tuple[int, int] | None = None,
        fixed_batch: int | None = None,
        edit: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.file, self.threads, self.fixed_batch = file, threads, fixed_batch
        if input_size is not None:
            edit = functools.partial(spatially_resized, height=input_size[0], width=input_size[1])
        self.edit = edit
        self._interpreter: Interpreter | None = None
        self._shape: tuple[int, ...] | None = None
        self._input: tuple[int, type] = (0, np.float32)  # the input's index and dtype, read with the plan
        self._outputs: list[int] = []

    @property
    def loaded(self) -> bool:
        return self._interpreter is not None

    def load(self) -> Interpreter:
        """The interpreter, loading the file the first time."""
        if self._interpreter is None:
            try:
                if self.edit is None:
                    self._interpreter = Interpreter(model_path=str(model_path(self.file)), num_threads=self.threads)
                else:
                    content = self.edit(model_path(self.file).read_bytes())
                    self._interpreter = Interpreter(model_content=content, num_threads=self.threads)
            except (OSError, ValueError, RuntimeError) as exc:
                raise PhotocullError(f"cannot load the model {self.file}: {exc}. {WHAT_TO_DO}") from exc
            self._shape = None
        return self._interpreter

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for ``batch`` (its first axis is the batch)."""
        k = self.fixed_batch
        if k is None or len(batch) == k:
            return self._run(batch)
        padded = np.concatenate([batch, np.zeros((-len(batch) % k, *batch.shape[1:]), batch.dtype)])
        slices = [self._run(padded[s : s + k]) for s in range(0, len(padded), k)]
        return [np.concatenate(column)[: len(batch)] for column in zip(*slices)]

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        interpreter = self.load()
        if self._shape != batch.shape:
            (inp,) = interpreter.get_input_details()
            with muted_stderr():  # LiteRT announces its XNNPACK delegate on stderr when it first plans
                interpreter.resize_tensor_input(inp["index"], list(batch.shape))
                interpreter.allocate_tensors()
            if self.edit is None:  # a file LiteRT mapped (an edited model is bytes in memory)
                release_file_pages(model_path(self.file))
            self._shape = batch.shape
            # read once per plan: the details are rebuilt on every call, a few % of a small model's run
            self._input = (inp["index"], inp["dtype"])
            self._outputs = [o["index"] for o in interpreter.get_output_details()]
        index, dtype = self._input
        interpreter.set_tensor(index, batch.astype(dtype, copy=False))
        interpreter.invoke()
        return [interpreter.get_tensor(o) for o in self._outputs]
