"""The work done for one photo in a decoding process: read once, measure, prepare the model input.

Workers are started with the ``spawn`` method and import nothing that pulls in TensorFlow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .measure import measure
from .modelinput import to_model_input
from .reading import UnreadablePhoto, fingerprint, read_preview


@dataclass(frozen=True)
class Task:
    path: str
    size: int
    mtime_ns: int
    measure: bool = True  # False: the file is unchanged and only needs model scores
    model_input: bool = False


@dataclass
class Result:
    task: Task
    record: dict | None = None
    model_input: np.ndarray | None = None
    error: str | None = None


def _mtime_capture(mtime_ns: int) -> str:
    return dt.datetime.fromtimestamp(mtime_ns / 1e9).astimezone().isoformat()


def process(task: Task) -> Result:
    """Never raises for a bad photo: the reason comes back as ``Result.error``."""
    try:
        preview = read_preview(task.path)
        record = None
        if task.measure:
            m = measure(preview.image)
            record = {
                "path": task.path,
                "size": task.size,
                "mtime_ns": task.mtime_ns,
                "fingerprint": fingerprint(task.path, task.size),
                "format": preview.format,
                "width": preview.width,
                "height": preview.height,
                "orientation": preview.orientation,
                "captured_at": preview.captured_at or _mtime_capture(task.mtime_ns),
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
            }
        model_input = to_model_input(preview.image) if task.model_input else None
        return Result(task, record, model_input)
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

