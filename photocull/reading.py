"""Reading one photo once, at preview size, with its orientation and capture time.

Everything here runs inside decoding worker processes, so it must never import TensorFlow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps

from .discover import sniff

try:  # HEIC/HEIF support is optional at import time so a broken libheif never stops a scan
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pillow_heif = None

MAX_MEGAPIXELS = 200
Image.MAX_IMAGE_PIXELS = MAX_MEGAPIXELS * 1_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False
# The draft request: JPEG decodes at 1/2, 1/4 or 1/8 scale, at least this big; HEIC uses its thumbnail.
DRAFT_SIZE = (256, 256)

EXIF_IFD = 0x8769
TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_DATETIME = 0x0132
TAG_DATETIME_ORIGINAL = 0x9003
TAG_SUBSEC_ORIGINAL = 0x9291
TAG_OFFSET_ORIGINAL = 0x9011


class UnreadablePhoto(Exception):
    """The file cannot be used as a photo; the message is the reason shown to the user."""


@dataclass
class Preview:
    """A photo decoded at preview size, upright, with the facts read from its header."""

    image: Image.Image
    format: str
    width: int
    height: int
    orientation: int
    captured_at: str | None
    captured_ts: float | None
    camera_make: str | None
    camera_model: str | None


def fingerprint(path: str, size: int) -> str:
    """A cheap content identity (size + first and last 64 KiB) to recognise a moved file."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(65536))
        if size > 131072:
            f.seek(-65536, os.SEEK_END)
            h.update(f.read(65536))
    return h.hexdigest()


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip().strip("\x00").strip()
    return text or None


def parse_exif_time(date: str | None, subsec: str | None, offset: str | None) -> tuple[str, float] | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (+ sub-seconds, + offset) → (ISO 8601, wall-clock seconds).

    The second value ignores the offset on purpose: it is only compared between photos, and two
    frames of one burst share a clock whether or not the camera wrote an offset.
    """
    if not date:
        return None
    try:
        when = dt.datetime.strptime(date[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = "".join(ch for ch in (subsec or "") if ch.isdigit())
    if digits:
        when = when.replace(microsecond=int((digits + "000000")[:6]))
    wall = when.replace(tzinfo=dt.timezone.utc).timestamp()
    if offset:
        try:
            sign = -1 if offset.strip().startswith("-") else 1
            hours, minutes = offset.strip().lstrip("+-").split(":")
            tz = dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes)))
            when = when.replace(tzinfo=tz)
        except ValueError:
            pass
    return when.isoformat(), wall


def read_preview(path: str, draft_size: tuple[int, int] = DRAFT_SIZE) -> Preview:
    """Decode ``path`` once at about ``draft_size`` (or larger), orientation applied first."""
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise UnreadablePhoto("empty file (0 bytes)")
    kind = sniff(head)
    if kind is None or kind == "video":
        raise UnreadablePhoto("not an image: its content is not JPEG, PNG, WebP, HEIC/HEIF, TIFF or GIF")
    if kind == "heif" and pillow_heif is None:
        raise UnreadablePhoto("HEIC/HEIF support is missing: install pillow-heif")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            fmt = (img.format or kind).lower()
            full_w, full_h = img.size
            exif = img.getexif()
            orientation = int(exif.get(TAG_ORIENTATION, 1) or 1)
            try:
                sub = exif.get_ifd(EXIF_IFD)
            except Exception:  # malformed EXIF sub-IFD: keep the photo, lose the time
                sub = {}
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.draft("RGB", draft_size)
            img.load()
            upright = ImageOps.exif_transpose(img)
            if upright is img:
                upright = img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadablePhoto(
            f"refused: over {MAX_MEGAPIXELS} megapixels, a possible decompression bomb"
        ) from None
    except OSError as exc:
        message = str(exc)
        if "truncated" in message:
            raise UnreadablePhoto("truncated file: the image data ends early") from None
        raise UnreadablePhoto(f"corrupt or unsupported image: {message}") from None
    except (SyntaxError, ValueError, EOFError, IndexError, KeyError) as exc:  # Pillow's parsers raise these too
        raise UnreadablePhoto(f"corrupt image: {exc}") from None
    if upright.mode not in ("RGB", "L"):
        upright = _flatten(upright)
    if orientation in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    parsed = parse_exif_time(
        _text(sub.get(TAG_DATETIME_ORIGINAL)) or _text(exif.get(TAG_DATETIME)),
        _text(sub.get(TAG_SUBSEC_ORIGINAL)),
        _text(sub.get(TAG_OFFSET_ORIGINAL)),
    )
    return Preview(
        image=upright,
        format=fmt,
        width=full_w,
        height=full_h,
        orientation=orientation,
        captured_at=parsed[0] if parsed else None,
        captured_ts=parsed[1] if parsed else None,
        camera_make=_text(exif.get(TAG_MAKE)),
        camera_model=_text(exif.get(TAG_MODEL)),
    )


def _flatten(img: Image.Image) -> Image.Image:
    """Composite transparency onto white and drop palettes, so every photo is plain RGB."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")
