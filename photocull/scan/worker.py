"""The work done for one photo in a decoding process: read once, measure, prepare the model input.

Workers are started with the ``spawn`` method and import nothing that pulls in TensorFlow. They
leave Ctrl-C to the main process and exit on their own as soon as the main process is gone, however
it died (SIGKILL included), so a killed scan never leaves workers behind.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from PIL import Image

from photocull.base.names import shown
from photocull.scan.measure import MEASURE_VERSION, measure
from photocull.scan.model_input import to_model_input
from photocull.scan.read import UnreadablePhoto, read_preview


class PhotoScorer(Protocol):
    """A model runtime that scores model inputs (224×224 RGB uint8) into per-photo records."""

    def score(self, images: np.ndarray) -> list[dict[str, object]]: ...


class FaceAnalyser(Protocol):
    """Finds and measures the faces of an upright preview; boxes in the displayed photo's pixels."""

    def analyse(self, preview: Image.Image, width: int, height: int) -> list[dict[str, object]]: ...


@dataclass(frozen=True)
class Task:
    path: str
    size: int
    mtime_ns: int
    measure: bool = True  # False: the file is unchanged and only needs model scores
    model_input: bool = False
    # Set: score the photo here, in the decoding process, with the scorer this returns (loaded once
    # per process); only the scores travel back. Unset: the model input goes back to be scored in batches.
    scorer: Callable[[], PhotoScorer] | None = None
    # Set: find and measure the photo's faces here, with the analyser this returns (once per process).
    faces: Callable[[], FaceAnalyser] | None = None
    # The summary count this file was counted in when planned ("new", "changed", …): a file that
    # turns out unreadable moves from that count to "errors".
    counted_as: str = ""


@dataclass
class Result:
    task: Task
    record: dict[str, object] | None = None
    model_input: np.ndarray | None = None
    error: str | None = None
    scores: dict[str, object] | None = None
    faces: list[dict[str, object]] | None = None  # None: not analysed
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of this process per stage


def start_worker() -> None:
    """Initializer of every decoding process: ignore Ctrl-C, and die with the main process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = mp.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True).start()


def _exit_with_parent(sentinel: int) -> None:
    """The parent's sentinel becomes ready when the parent exits, by any means: then leave at once."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _mtime_capture(mtime_ns: int) -> str:
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).astimezone().isoformat()


def process(task: Task) -> Result:
    """Never raises for a bad photo: the reason comes back as ``Result.error``.

    ``Result.cpu`` holds the CPU time each stage took (read, measure, inference), for the benchmark.
    """
    cpu: dict[str, float] = {}
    clock = time.process_time()
    try:
        # only the measures read it: grey is enough
        grey = not task.model_input and task.faces is None
        preview = read_preview(task.path, digest=task.measure, grey=grey)
        cpu["read"], clock = time.process_time() - clock, time.process_time()
        record = None
        if task.measure:
            m = measure(preview.image)
            record = {
                "path": task.path,
                "size": preview.size,
                "mtime_ns": preview.mtime_ns,
                "digest": preview.digest,
                "format": preview.format,
                "width": preview.width,
                "height": preview.height,
                "orientation": preview.orientation,
                "captured_at": preview.captured_at or _mtime_capture(preview.mtime_ns),
                "captured_ts": preview.captured_ts,
                "time_source": "exif" if preview.captured_at else "mtime",
                "camera_make": preview.camera_make,
                "camera_model": preview.camera_model,
                "phash": m.phash,
                "dhash": m.dhash,
                "sharpness": m.sharpness,
                "brightness": m.brightness,
                "highlights": m.highlights,
                "shadows": m.shadows,
                "measure_version": MEASURE_VERSION,
            }
        model_input = to_model_input(preview.image) if task.model_input else None
        cpu["measure"], clock = time.process_time() - clock, time.process_time()
    except UnreadablePhoto as exc:
        return Result(task, error=str(exc))
    except FileNotFoundError:
        return Result(task, error="file disappeared during the scan")
    except PermissionError:
        return Result(task, error="permission denied: photocull cannot read this file")
    except MemoryError:
        return Result(task, error="too large to decode in the memory available")
    except OSError as exc:
        return Result(task, error=f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - one photo never stops a scan; the reason is recorded
        return Result(task, error=f"could not be read ({type(exc).__name__}: {shown(str(exc))})")
    faces = None
    if task.faces is not None:  # like the scorer: a model that fails stops the scan, not the photo
        faces = task.faces().analyse(preview.image, preview.width, preview.height)
        cpu["faces"], clock = time.process_time() - clock, time.process_time()
    if model_input is not None and task.scorer is not None:  # a model that fails stops the scan, not the photo
        scores = task.scorer().score(model_input[None])[0]
        cpu["inference"] = time.process_time() - clock
        return Result(task, record, scores=scores, faces=faces, cpu=cpu)
    return Result(task, record, model_input, faces=faces, cpu=cpu)
