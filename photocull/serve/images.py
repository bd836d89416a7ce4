"""What the web app sends of a photo: thumbnails (cached), the full image, and scores of an upload.

Photos are found by database id only, never by a path from a request, and a stored path is served
only while it still lies inside the folder that was scanned (a symlink swapped in since cannot point
the server elsewhere).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from photocull.base.errors import PhotocullError
from photocull.scan.read import UnreadablePhoto, read_preview

if TYPE_CHECKING:
    from photocull.faces.analyse import FaceAnalyser
    from photocull.mood.litert import LiteRTScorer

THUMB_SIZES = (160, 320, 480, 640, 1024)  # a requested size is rounded up to one of these
CACHE_BYTES = 64 * 2**20  # thumbnails kept in memory, least recently used dropped first
BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
UPLOAD_LIMIT = 30 * 2**20


class NotServed(PhotocullError):
    """A stored photo that the server will not send; the message says why."""


def checked_file(path: str, root: str) -> str:
    """``path`` resolved, if it is a regular file inside ``root`` (both resolved), else NotServed."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, real_root]) != real_root:
        raise NotServed("the photo's file now lies outside the scanned folder: rescan it")
    if not os.path.isfile(real):
        raise NotServed("the photo's file is gone or is not a regular file: rescan its folder")
    return real


def thumb_size(requested: int) -> int:
    return next((s for s in THUMB_SIZES if s >= requested), THUMB_SIZES[-1])


class ThumbnailCache:
    """Upright JPEG thumbnails by (photo id, content digest, size), bounded in bytes."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit, self.used = limit, 0
        self.items: OrderedDict[tuple[int, str, int], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def cached(self, photo_id: int, digest: str, size: int) -> bytes | None:
        """The thumbnail if it is in memory (cheap: callers try this before going to a thread)."""
        key = (photo_id, digest, size)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def get(self, photo_id: int, digest: str, path: str, size: int) -> bytes:
        """The thumbnail, made (and remembered) when it is not in memory."""
        found = self.cached(photo_id, digest, size)
        if found is not None:
            return found
        key = (photo_id, digest, size)
        data = thumbnail_bytes(path, size)
        with self.lock:
            if key not in self.items:
                self.items[key] = data
                self.used += len(data)
            while self.used > self.limit and self.items:
                self.used -= len(self.items.popitem(last=False)[1])
        return data


def thumbnail_bytes(path: str, size: int) -> bytes:
    """A JPEG of the upright photo, its long side ``size`` pixels at most."""
    try:
        img = read_preview(path, draft_size=(size, size)).image.convert("RGB")
    except UnreadablePhoto as exc:
        raise NotServed(f"cannot read the photo: {exc}") from None
    img.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=1.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@dataclass
class FullImage:
    """The photo as a browser can show it: the file itself, or an upright JPEG made from it."""

    path: str | None
    data: bytes | None
    media_type: str


def full_image(path: str, fmt: str | None) -> FullImage:
    """JPEG, PNG, WebP and GIF files go as they are (browsers apply their EXIF orientation);
    HEIC and TIFF, which browsers don't show, as a full-size upright JPEG."""
    media_type = BROWSER_FORMATS.get((fmt or "").upper())
    if media_type is not None:
        return FullImage(path, None, media_type)
    try:
        preview = read_preview(path, draft_size=(1 << 16, 1 << 16))
    except UnreadablePhoto as exc:
        raise NotServed(f"cannot read the photo: {exc}") from None
    buf = io.BytesIO()
    preview.image.convert("RGB").save(buf, "JPEG", quality=92)
    return FullImage(None, buf.getvalue(), "image/jpeg")


class Predictor:
    """The scan's own models (LiteRT) on an uploaded image, loaded on first use; nothing is stored."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._models: tuple[LiteRTScorer, FaceAnalyser] | None = None

    def predict(self, data: bytes, filename: str) -> dict:
        """``happy``, ``top_emotion``, ``emotions`` and ``faces`` as the export names them; an
        upload that is not a photo raises UnreadablePhoto with the reason."""
        from photocull.faces.analyse import FaceAnalyser
        from photocull.mood.litert import LiteRTScorer
        from photocull.scan.model_input import to_model_input

        suffix = Path(filename).suffix.lower()[:8] if filename else ""
        with tempfile.TemporaryDirectory(prefix="photocull-upload-") as folder:
            upload = Path(folder) / f"upload{suffix if suffix.isascii() and suffix[1:].isalnum() else ''}"
            upload.write_bytes(data)
            preview = read_preview(str(upload))  # the scan's checks: format sniffing, bomb guard
        with self.lock:  # one interpreter each, not thread-safe
            if self._models is None:
                self._models = (LiteRTScorer(threads=1), FaceAnalyser())
            scorer, analyser = self._models
            scores = scorer.score(to_model_input(preview.image)[None])[0]
            faces = analyser.analyse(preview.image, preview.width, preview.height)
        return {
            "happy": scores["happy"],
            "top_emotion": scores["top_emotion"],
            "emotions": scores["emotions"],
            "faces": faces,
            "width": preview.width,
            "height": preview.height,
        }
