"""Synthetic phone folders built from real photos, for tests, threshold measurement and benchmarks.

A burst is made from one real photo the way a phone makes one: each frame slightly shifted,
rotated, zoomed, re-exposed and noisy, with EXIF capture times a fraction of a second apart.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from photocull.scan.read import (
    EXIF_IFD,
    TAG_DATETIME_ORIGINAL,
    TAG_MAKE,
    TAG_MODEL,
    TAG_OFFSET_ORIGINAL,
    TAG_ORIENTATION,
    TAG_SUBSEC_ORIGINAL,
)


def exif_bytes(
    when: dt.datetime | None, orientation: int = 1, make: str = "Pixel", model: str = "Synthetic 1"
) -> bytes:
    """EXIF with DateTimeOriginal + SubSecTimeOriginal + OffsetTimeOriginal, as phones write it."""
    exif = Image.Exif()
    exif[TAG_MAKE] = make
    exif[TAG_MODEL] = model
    if orientation != 1:
        exif[TAG_ORIENTATION] = orientation
    if when is not None:
        sub = exif.get_ifd(EXIF_IFD)
        sub[TAG_DATETIME_ORIGINAL] = when.strftime("%Y:%m:%d %H:%M:%S")
        sub[TAG_SUBSEC_ORIGINAL] = f"{when.microsecond // 1000:03d}"
        sub[TAG_OFFSET_ORIGINAL] = "+01:00"
    return exif.tobytes()


def save_photo(
    img: Image.Image, path: Path, when: dt.datetime | None = None, orientation: int = 1, quality: int = 90
) -> Path:
    """Save as JPEG (or HEIC/PNG by suffix) with EXIF, storing pixels rotated for ``orientation``.

    Orientation 6 means "rotate 90° clockwise to display", so the stored pixels are the upright
    photo turned 90° counter-clockwise.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
    pixels = img.transpose(stored[orientation]) if orientation in stored else img
    kwargs: dict = {"exif": exif_bytes(when, orientation)} if when is not None or orientation != 1 else {}
    if path.suffix.lower() in (".jpg", ".jpeg") or path.suffix.lower() in (".heic", ".heif"):
        kwargs["quality"] = quality
    pixels.save(path, **kwargs)
    return path


def variant(img: Image.Image, rng: np.random.Generator, strength: float = 1.0) -> Image.Image:
    """One burst frame: shift ≤2%, rotation ≤1°, zoom ≤3%, exposure ±8%, sensor noise."""
    w, h = img.size
    angle = rng.uniform(-1, 1) * strength
    frame = img.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False)
    zoom = 1 - rng.uniform(0, 0.03) * strength
    cw, ch = w * zoom, h * zoom
    dx = rng.uniform(-0.02, 0.02) * w * strength
    dy = rng.uniform(-0.02, 0.02) * h * strength
    left = max(0.0, min(w - cw, (w - cw) / 2 + dx))
    top = max(0.0, min(h - ch, (h - ch) / 2 + dy))
    frame = frame.crop((round(left), round(top), round(left + cw), round(top + ch))).resize(
        (w, h), Image.Resampling.BILINEAR
    )
    arr = np.asarray(frame, dtype=np.float32) * (1 + rng.uniform(-0.08, 0.08) * strength)
    arr += rng.normal(0, 3.0, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def blur(img: Image.Image, radius: float) -> Image.Image:
    from PIL import ImageFilter

    return img.filter(ImageFilter.GaussianBlur(radius))


def close_eyes(img: Image.Image, eyes: np.ndarray) -> Image.Image:
    """``img`` with both eyes painted shut: each eye (its centre in ``eyes``, [2, 2] pixels) is
    covered with the skin just below it and crossed by a dark lid line, softly blended in.
    Crude, but the eyes head reads it as closed at every size the scan sees (0.81–0.998)."""
    from PIL import ImageDraw, ImageFilter

    iod = float(np.hypot(*(eyes[1] - eyes[0])))
    pixels = np.asarray(img.convert("RGB"))
    painted = img.convert("RGB")
    draw = ImageDraw.Draw(painted)
    mask = Image.new("L", img.size, 0)
    for x, y in eyes:
        w, h = 0.30 * iod, 0.13 * iod
        cy, cx = int(y + 0.35 * iod), int(x)
        skin = pixels[cy - 3 : cy + 3, cx - 3 : cx + 3].reshape(-1, 3).mean(axis=0)
        draw.ellipse((x - w, y - h, x + w, y + h), fill=tuple(int(v) for v in skin))
        draw.arc((x - w, y - 1.6 * h, x + w, y + 0.9 * h), 20, 160, fill=(40, 30, 30), width=max(2, int(0.03 * iod)))
        ImageDraw.Draw(mask).ellipse((x - 0.36 * iod, y - 0.2 * iod, x + 0.36 * iod, y + 0.2 * iod), fill=255)
    return Image.composite(painted.filter(ImageFilter.GaussianBlur(0.01 * iod)), img.convert("RGB"), mask)


def paste_face(frame: Image.Image, face: Image.Image, fraction: float, rng: random.Random) -> tuple[int, int, int, int]:
    """Paste a GENKI-4K face photo into ``frame`` (in place) at a random place, sized so the face is
    ``fraction`` of the frame's width (a GENKI crop's face is about 60% of its width), no taller than
    the frame; returns where the pasted photo lies, (x, y, width, height)."""
    width = max(4, int(frame.width * fraction / 0.6))
    height = min(frame.height, max(1, int(width * face.height / face.width)))
    face = face.resize((width, height), Image.Resampling.BICUBIC)
    x, y = rng.randint(0, frame.width - width), rng.randint(0, frame.height - height)
    frame.paste(face, (x, y))
    return x, y, width, height


def sample_photos() -> dict[str, Image.Image]:
    """Real photos bundled with scikit-image (a test extra; they load offline)."""
    from skimage import data

    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "chelsea": Image.fromarray(data.chelsea()),
        "coffee": Image.fromarray(data.coffee()),
        "rocket": Image.fromarray(data.rocket()),
        "motorcycle": Image.fromarray(data.stereo_motorcycle()[0]),
        "hubble": Image.fromarray(data.hubble_deep_field()),
        "retina": Image.fromarray(data.retina()).resize((700, 700)),
        "immuno": Image.fromarray(data.immunohistochemistry()),
    }


@dataclass
class Library:
    """A generated folder and what a correct scan of it must find."""

    root: Path
    groups: list[set[str]] = field(default_factory=list)  # relative paths
    singles: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)  # relative path -> expected reason keyword
    rotated: str = ""
    videos: int = 0


def build_library(root: Path, seed: int = 0, heic: bool = True) -> Library:
    """The standard fixture: bursts, a rotated frame, a downscaled re-save, HEIC, junk, traps."""
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    lib = Library(root)
    t0 = dt.datetime(2024, 7, 14, 10, 30, 5)

    def rel(p: Path) -> str:
        return str(p.relative_to(root))

    # Three bursts: 4 frames each, 0.25 s apart; the rocket burst has a frame stored rotated.
    for k, name in enumerate(["astronaut", "chelsea", "rocket"]):
        base = photos[name].resize((photos[name].width * 2, photos[name].height * 2), Image.Resampling.BICUBIC)
        start = t0 + dt.timedelta(minutes=10 * k)
        members = set()
        for f in range(4):
            when = start + dt.timedelta(milliseconds=250 * f)
            orientation = 6 if (name == "rocket" and f == 2) else 1
            path = save_photo(variant(base, rng), root / "DCIM" / "Camera" / f"IMG_{k}{f:03d}.jpg", when, orientation)
            members.add(rel(path))
            if orientation == 6:
                lib.rotated = rel(path)
        if name == "chelsea":
            # A small re-save without EXIF, in another folder, must join its original.
            small = base.resize((base.width * 2 // 5, base.height * 2 // 5), Image.Resampling.LANCZOS)
            members.add(rel(save_photo(small, root / "WhatsApp" / "Images" / "IMG-20240714-WA0001.jpg", quality=75)))
        if name == "rocket" and heic:
            members.add(
                rel(
                    save_photo(
                        variant(base, rng, 0.5),
                        root / "DCIM" / "Camera" / "IMG_2900.heic",
                        start + dt.timedelta(seconds=1),
                    )
                )
            )
        lib.groups.append(members)

    # Unrelated photos taken in the same minute as the first burst: must not group.
    for k, name in enumerate(["coffee", "motorcycle", "hubble", "retina", "immuno"]):
        when = t0 + dt.timedelta(seconds=2 + k * 3)
        lib.singles.add(rel(save_photo(photos[name], root / "DCIM" / "Camera" / f"IMG_9{k:03d}.jpg", when)))
    # The same coffee photo re-saved as PNG (with transparency) in another folder: a format re-save.
    png = save_photo(photos["coffee"].convert("RGBA"), root / "Screenshots" / "coffee_shot.png")
    lib.singles.discard("DCIM/Camera/IMG_9000.jpg")
    lib.groups.append({"DCIM/Camera/IMG_9000.jpg", rel(png)})

    # Files that must be recorded as errors, never stop the scan.
    junk = root / "DCIM" / "Junk"
    junk.mkdir(parents=True)
    (junk / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + rng.bytes(4000))
    good = (root / "DCIM" / "Camera" / "IMG_0000.jpg").read_bytes()
    (junk / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (junk / "empty.jpg").write_bytes(b"")
    (junk / "notes.png").write_text("this is not a picture\n")
    lib.errors = {
        "DCIM/Junk/corrupt.jpg": "corrupt",
        "DCIM/Junk/truncated.jpg": "truncated",
        "DCIM/Junk/empty.jpg": "empty",
        "DCIM/Junk/notes.png": "not an image",
    }
    # Things to count or skip, never to scan.
    (root / "DCIM" / "Camera" / "VID_0001.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(100))
    lib.videos = 1
    save_photo(photos["coffee"], root / "DCIM" / ".thumbnails" / "thumb.jpg")
    save_photo(photos["coffee"], root / "DCIM" / "Camera" / ".trashed-1700000000-IMG_5.jpg")
    os.symlink("..", root / "DCIM" / "Camera" / "loop")  # relative, so copies of the folder loop too
    return lib
