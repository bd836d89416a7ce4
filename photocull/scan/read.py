"""Reading one photo once, at preview size, with its orientation, capture time and content digest.

Everything here runs inside decoding worker processes, so it must never import TensorFlow.

A photo file is opened and read once: the same bytes give the content digest (BLAKE3 of every byte,
which ``apply`` later compares before moving anything) and the decoded preview. Every header field
is untrusted input: a field that does not parse is dropped on its own, and metadata never makes a
photo unreadable. Decoding is bounded by memory, not only by pixel count.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import warnings
from dataclasses import dataclass
from struct import error as struct_error
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageFile

from photocull.base.files import NotARegularFile, bytes_digest, content_digest, open_regular
from photocull.scan.discover import sniff

try:  # HEIC/HEIF support is optional at import time so a broken libheif never stops a scan
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORT = True
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    HEIF_SUPPORT = False

MAX_MEGAPIXELS = 200
Image.MAX_IMAGE_PIXELS = MAX_MEGAPIXELS * 1_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False
# The draft request: JPEG decodes at 1/2, 1/4 or 1/8 scale, at least this big; HEIC uses an embedded
# thumbnail at least this big; other formats are decoded whole and reduced by the same factors.
DRAFT_SIZE = (256, 256)
MAX_REDUCE = 8
# The most memory one decode may take, the decoded image and its 8-bit conversion together.
MAX_DECODE_BYTES = 512 * 2**20
# A file up to this size is read into memory once, digested there and decoded from there, so the
# digest is of exactly the bytes decoded, even if the file changes meanwhile; a larger one is read
# twice, streamed to the digest and then to the decoder, to bound each process's memory. Reading the
# benchmark's 12 MP photos once saved 0.45–0.47 CPU ms a photo (median of 1,080 paired reads).
READ_ONCE_BYTES = 32 * 2**20

EXIF_IFD = 0x8769
TAG_ORIENTATION = 0x0112
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_DATETIME = 0x0132
TAG_DATETIME_ORIGINAL = 0x9003
TAG_SUBSEC_ORIGINAL = 0x9291
TAG_OFFSET_ORIGINAL = 0x9011
# EXIF orientation → the transpose that shows the photo upright (as Pillow's exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Bytes per pixel in Pillow's memory: one byte for single 8-bit bands, two for 16-bit grey, else four.
_ONE_BYTE_MODES = {"1", "L", "P"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_REDUCIBLE_MODES = {"L", "LA", "La", "RGB", "RGBA", "RGBa", "I", "F", "CMYK"}
_DIGITS = "0123456789"


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
    size: int  # bytes, from the descriptor that was read (consistent with ``digest``)
    mtime_ns: int
    digest: str | None = None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", " ").strip()
    return text or None


def _field(mapping: Any, tag: int) -> Any:
    """One header field, or None when reading it fails: a bad field never costs the photo."""
    try:
        return mapping.get(tag)
    except Exception:  # noqa: BLE001 - Pillow's lazy EXIF parsing can raise anything on hostile data
        return None


def parse_orientation(value: Any) -> int:
    """EXIF orientation 1–8 from a SHORT, an ASCII string (some writers) or a one-item array; else 1."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if isinstance(value, (bytes, str)):
        value = (_text(value) or "").strip()
        value = int(value) if value and all(ch in _DIGITS for ch in value) else 1
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 1
    return number if 1 <= number <= 8 else 1


def parse_exif_time(date: str | None, subsec: str | None, offset: str | None) -> tuple[str, float] | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (+ sub-seconds, + offset) → (ISO 8601, wall-clock seconds).

    The second value ignores the offset on purpose: it is only compared between photos, and two
    frames of one burst share a clock whether or not the camera wrote an offset. Sub-seconds and
    offset are each dropped on their own when they do not parse; a date that does not parse gives None.
    """
    if not date:
        return None
    try:
        when = dt.datetime.strptime(date[:19], "%Y:%m:%d %H:%M:%S")
        wall = when.replace(tzinfo=dt.UTC).timestamp()
    except (ValueError, OverflowError):
        return None
    digits = "".join(ch for ch in (subsec or "") if ch in _DIGITS)  # ASCII only: "²".isdigit() is True
    if digits:
        micro = int((digits + "000000")[:6])
        when = when.replace(microsecond=micro)
        wall += micro / 1e6
    if offset:
        try:
            sign = -1 if offset.strip().startswith("-") else 1
            hours, minutes = offset.strip().lstrip("+-").split(":")
            if not (hours + minutes) or any(ch not in _DIGITS for ch in hours + minutes):
                raise ValueError(offset)
            when = when.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes))))
        except (ValueError, OverflowError):
            pass
    return when.isoformat(), wall


@dataclass
class _Header:
    orientation: int = 1
    captured: tuple[str, float] | None = None
    make: str | None = None
    model: str | None = None


def _header(img: Image.Image) -> _Header:
    """Orientation, capture time and camera, each field on its own (see ``_field``)."""
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - hostile EXIF: keep the photo, lose the metadata
        return _Header()
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:  # noqa: BLE001 - malformed EXIF sub-IFD: keep the photo, lose the time
        sub = {}
    captured = None
    try:
        captured = parse_exif_time(
            _text(_field(sub, TAG_DATETIME_ORIGINAL)) or _text(_field(exif, TAG_DATETIME)),
            _text(_field(sub, TAG_SUBSEC_ORIGINAL)),
            _text(_field(sub, TAG_OFFSET_ORIGINAL)),
        )
    except Exception:  # noqa: BLE001 - belt and braces: a capture time is never worth the photo
        captured = None
    return _Header(
        orientation=parse_orientation(_field(exif, TAG_ORIENTATION)),
        captured=captured,
        make=_text(_field(exif, TAG_MAKE)),
        model=_text(_field(exif, TAG_MODEL)),
    )


def _bytes_per_pixel(mode: str) -> int:
    return 1 if mode in _ONE_BYTE_MODES else 2 if mode in _SIXTEEN_BIT_MODES else 4


def _decode_cost(mode: str, width: int, height: int) -> int:
    """Bytes the decoded image and its 8-bit RGB/L conversion take together at full decode size."""
    pixels = width * height
    if mode in ("RGB", "L"):
        converted = 0
    elif mode in ("1",) or mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        converted = pixels  # to 8-bit grey
    else:
        converted = 4 * pixels  # palettes, alpha, CMYK… to RGB
    return pixels * _bytes_per_pixel(mode) + converted


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float images as 8-bit grey, scaled by their bit depth rather than clipped."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode in ("I", "F"):
        arr = np.asarray(img)
        if img.mode == "F":
            top = 1.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
            scaled = np.nan_to_num(arr, nan=0.0) * (255.0 / top)
        else:
            top = 65535.0 if img.mode in _SIXTEEN_BIT_MODES or int(arr.max(initial=0)) > 255 else 255.0
            scaled = arr.astype(np.float32) * (255.0 / top)
        return Image.fromarray(np.clip(scaled + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "1":
        return img.convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))  # transparency onto white
        return background
    if img.mode not in ("RGB", "L"):
        return img.convert("RGB")
    return img


def _reduce(img: Image.Image, draft_size: tuple[int, int]) -> Image.Image:
    """Shrink a whole-decoded image by the integer factor JPEG's draft mode would have used."""
    factor = min(img.width // max(draft_size[0], 1), img.height // max(draft_size[1], 1), MAX_REDUCE)
    return img.reduce(factor) if factor >= 2 else img


def _small_8bit(img: Image.Image, draft_size: tuple[int, int]) -> Image.Image:
    """The decoded image reduced and in 8-bit RGB or L, reducing first wherever Pillow can (less memory)."""
    if img.mode in _REDUCIBLE_MODES:
        return _to_8bit(_reduce(img, draft_size))
    return _reduce(_to_8bit(img), draft_size)


def read_preview(
    path: str, draft_size: tuple[int, int] = DRAFT_SIZE, digest: bool = False, grey: bool = False
) -> Preview:
    """Decode ``path`` once at about ``draft_size`` (or larger), upright; with ``digest``, its content digest too.

    ``grey``: for a reader that needs only grey (the measures), a colour JPEG is decoded as its luma
    alone, about 1 CPU ms less a 12 MP photo. It is the grey its colour decode converts to: on the
    scan benchmark's 720 photos, 11 previews differ at one pixel by one level, and every hash and
    measure is the same. Other formats come back as usual.
    """
    try:
        f = open_regular(path)
    except IsADirectoryError:
        raise UnreadablePhoto("a folder, not a photo") from None
    except NotARegularFile:
        raise UnreadablePhoto("not a regular file (a pipe, socket or device): nothing to read") from None
    with f:
        st = os.fstat(f.fileno())
        source: BinaryIO = f
        if st.st_size <= READ_ONCE_BYTES:  # the digest is of exactly the bytes decoded
            data = f.read()
            source = io.BytesIO(data)
            named = bytes_digest(data) if digest else None
        else:
            named = content_digest(f) if digest else None
            f.seek(0)
        head = source.read(16)
        source.seek(0)
        if not head:
            raise UnreadablePhoto("empty file (0 bytes)")
        kind = sniff(head)
        if kind is None or kind == "video":
            raise UnreadablePhoto("not an image: its content is not JPEG, PNG, WebP, HEIC/HEIF, TIFF or GIF")
        if kind == "heif" and not HEIF_SUPPORT:
            raise UnreadablePhoto("HEIC/HEIF support is missing: install pillow-heif")
        image, fmt, full_w, full_h, header = _decode(source, kind, draft_size, "L" if grey else "RGB")
    if header.orientation in (5, 6, 7, 8):
        full_w, full_h = full_h, full_w
    return Preview(
        image=image,
        format=fmt,
        width=full_w,
        height=full_h,
        orientation=header.orientation,
        captured_at=header.captured[0] if header.captured else None,
        captured_ts=header.captured[1] if header.captured else None,
        camera_make=header.make,
        camera_model=header.model,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        digest=named,
    )


def _decode(
    f: BinaryIO, kind: str, draft_size: tuple[int, int], mode: str
) -> tuple[Image.Image, str, int, int, _Header]:
    """The decoding proper: every failure of the image data becomes an UnreadablePhoto with a reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(f)
        with img:
            fmt = (img.format or kind).lower()
            full_w, full_h = img.size
            header = _header(img)
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            img.draft(mode, draft_size)
            cost = _decode_cost(img.mode, *img.size)
            if cost > MAX_DECODE_BYTES:
                raise UnreadablePhoto(
                    f"refused: decoding this {full_w}×{full_h} {img.mode} image would take about "
                    f"{cost / 2**20:.0f} MB (limit {MAX_DECODE_BYTES / 2**20:.0f} MB) and {fmt.upper()} "
                    "cannot be decoded at reduced size; convert it to JPEG to include it"
                )
            img.load()
            small = _small_8bit(img, draft_size)
            if small is img:
                small = img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadablePhoto(f"refused: over {MAX_MEGAPIXELS} megapixels, a possible decompression bomb") from None
    except OSError as exc:
        message = str(exc)
        if "truncated" in message:
            raise UnreadablePhoto("truncated file: the image data ends early") from None
        if message.startswith("cannot identify image file"):  # Pillow names its file object, not ours
            raise UnreadablePhoto("corrupt or unsupported image: its header matches no image format") from None
        raise UnreadablePhoto(f"corrupt or unsupported image: {message}") from None
    except (SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct_error) as exc:
        raise UnreadablePhoto(f"corrupt image: {exc}") from None
    if header.orientation in UPRIGHT:
        small = small.transpose(UPRIGHT[header.orientation])
    return small, fmt, full_w, full_h, header
