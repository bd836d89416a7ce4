"""LiteRT models at scan time: one ``.tflite`` file each, TensorFlow-free, loaded once per process.

Every model the scan runs (the mood scorer today; the face detector, landmarks and face heads next)
goes through ``LiteRTModel``: adding one to the scan is its file in ``models/`` (with its card and
licence), a ``LiteRTModel(FILE)`` where the stage needs it, and ``run`` on a batch. Loading, batch
resizing, quiet start-up and the error that says what to do live here once.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from photocull.base.errors import PhotocullError
from photocull.base.modelfiles import WHAT_TO_DO, model_path
from photocull.base.quiet import muted_stderr


class LiteRTModel:
    """One float32 ``.tflite`` file with a single input, run on batches of any size.

    The file is loaded on first use (0.01–0.2 s), so a scan that finds nothing to score never
    loads it. Outputs come back in the file's output order.
    """

    def __init__(self, file: str, threads: int = 1) -> None:
        self.file, self.threads = file, threads
        self._interpreter: Interpreter | None = None
        self._shape: tuple[int, ...] | None = None

    @property
    def loaded(self) -> bool:
        return self._interpreter is not None

    def load(self) -> Interpreter:
        """The interpreter, loading the file the first time."""
        if self._interpreter is None:
            try:
                self._interpreter = Interpreter(model_path=str(model_path(self.file)), num_threads=self.threads)
            except (OSError, ValueError, RuntimeError) as exc:
                raise PhotocullError(f"cannot load the model {self.file}: {exc}. {WHAT_TO_DO}") from exc
            self._shape = None
        return self._interpreter

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for ``batch`` (its first axis is the batch)."""
        interpreter = self.load()
        (inp,) = interpreter.get_input_details()
        if self._shape != batch.shape:
            with muted_stderr():  # LiteRT announces its XNNPACK delegate on stderr when it first plans
                interpreter.resize_tensor_input(inp["index"], list(batch.shape))
                interpreter.allocate_tensors()
            self._shape = batch.shape
        interpreter.set_tensor(inp["index"], batch.astype(inp["dtype"], copy=False))
        interpreter.invoke()
        return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]
