"""Rendering explanations as PNGs: the map over the photo, every class's score, group members side by side.

TensorFlow-free: it draws what ``saliency`` computed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photocull.base.atomic import atomic_write


@dataclass(frozen=True)
class Explanation:
    """One heat map and the scores it explains."""

    heatmap: np.ndarray  # float32 (height, width) in 0..1, at the photo's displayed aspect
    class_name: str
    scores: dict[str, float]  # every class of the model → probability
    method: str
    model: str
    against: str | None = None  # contrast: the class the map weighs ``class_name`` against (low values)


def resize_map(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stretch a map over the squashed model input back to the photo's own aspect, scaled to 0..1."""
    resized = np.asarray(Image.fromarray(raw.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))
    low, high = float(resized.min()), float(resized.max())
    if high <= low:
        return np.zeros(resized.shape, np.float32)
    return ((resized - low) / (high - low)).astype(np.float32)


PANEL_WIDTH = 300
COLUMN_WIDTH = 360  # one group member's column
_PAD = 12
_LINE = 22
_BAR_ROW = 26
_BACKGROUND = (250, 250, 250)
_INK = (30, 30, 30)
_MUTED = (110, 110, 110)
_HIGHLIGHT = (230, 110, 20)
_BAR = (170, 170, 170)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def jet(values: np.ndarray) -> np.ndarray:
    """The 'jet' colormap (blue → cyan → yellow → red) of values in 0..1, as uint8 RGB."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
    return (np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0) * 255).astype(np.uint8)


def overlay(heatmap: np.ndarray, photo: Image.Image) -> Image.Image:
    """The photo with the map blended in: strong where the model looked, nearly clear elsewhere."""
    rgb = photo.convert("RGB")
    if heatmap.shape != (rgb.height, rgb.width):
        heatmap = resize_map(heatmap, rgb.size)
    alpha = (0.15 + 0.45 * heatmap)[..., None]
    blended = np.asarray(rgb, np.float32) * (1 - alpha) + jet(heatmap).astype(np.float32) * alpha
    return Image.fromarray(blended.round().astype(np.uint8))


def _panel_height(explanation: Explanation, caption_lines: int = 0) -> int:
    return 2 * _PAD + (3 + caption_lines) * _LINE + _PAD + len(explanation.scores) * _BAR_ROW + _PAD + 2 * _LINE


def score_panel(explanation: Explanation, width: int = PANEL_WIDTH, caption: Sequence[str] = ()) -> Image.Image:
    """The photo (``caption``: its name and capture time), then model, method and class explained,
    a bar per class (the explained one highlighted) and the colour key."""
    panel = Image.new("RGB", (width, _panel_height(explanation, len(caption))), _BACKGROUND)
    draw = ImageDraw.Draw(panel)
    title, small = _font(16), _font(13)
    y = _PAD
    for k, line in enumerate(caption):
        draw.text(
            (_PAD, y),
            _fit(draw, line, title if k == 0 else small, width - 2 * _PAD),
            fill=_INK,
            font=title if k == 0 else small,
        )
        y += _LINE
    draw.text((_PAD, y), f"model: {explanation.model}", fill=_INK, font=title)
    against = f" rather than {explanation.against}" if explanation.against else ""
    draw.text(
        (_PAD, y + _LINE),
        _fit(draw, f"explains: {explanation.class_name}{against}", title, width - 2 * _PAD),
        fill=_HIGHLIGHT,
        font=title,
    )
    draw.text((_PAD, y + 2 * _LINE), f"method: {explanation.method}", fill=_MUTED, font=small)
    y += 3 * _LINE + _PAD
    label_w, value_w = 90, 52
    bar_w = width - 2 * _PAD - label_w - value_w
    for name, score in explanation.scores.items():
        colour = _HIGHLIGHT if name == explanation.class_name else _BAR
        ink = _HIGHLIGHT if name == explanation.class_name else _INK
        draw.text((_PAD, y + 3), name, fill=ink, font=small)
        x0 = _PAD + label_w
        draw.rectangle((x0, y + 4, x0 + bar_w, y + _BAR_ROW - 6), outline=(215, 215, 215))
        draw.rectangle((x0, y + 4, x0 + max(1, round(bar_w * score)), y + _BAR_ROW - 6), fill=colour)
        draw.text((x0 + bar_w + 6, y + 3), f"{100 * score:.1f}%", fill=ink, font=small)
        y += _BAR_ROW
    y += _PAD
    key = Image.fromarray(np.repeat(jet(np.linspace(0, 1, width - 2 * _PAD))[None], 10, axis=0))
    panel.paste(key, (_PAD, y))
    low, high = (
        (f"for {explanation.against}", f"for {explanation.class_name}")
        if explanation.against
        else ("ignored", "looked at")
    )
    draw.text((_PAD, y + 14), low, fill=_MUTED, font=small)
    draw.text((width - _PAD, y + 14), high, fill=_MUTED, font=small, anchor="ra")
    return panel


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """``text`` shortened in the middle (the start and the extension stay) to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    keep = len(text)
    while keep > 4 and draw.textlength(text[: keep // 2] + "…" + text[-(keep - keep // 2) :], font=font) > width:
        keep -= 1
    return text[: keep // 2] + "…" + text[-(keep - keep // 2) :]


def render_png(
    explanation: Explanation, photo_image: Image.Image, out_path: str | Path, caption: Sequence[str] = ()
) -> Path:
    """Save the overlaid photo with the score panel to its right (``caption`` on top: which photo);
    returns the path written."""
    shown = overlay(explanation.heatmap, photo_image)
    panel = score_panel(explanation, caption=caption)
    canvas = Image.new("RGB", (shown.width + panel.width, max(shown.height, panel.height)), _BACKGROUND)
    canvas.paste(shown, (0, 0))
    canvas.paste(panel, (shown.width, 0))
    return _save(canvas, out_path)


def _wrapped(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """``text`` broken between words into lines no wider than ``width`` pixels."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(lines[-1] + " " + word, font=font) <= width:
            lines[-1] += " " + word
        else:
            lines.append(_fit(draw, word, font, width))
    return lines


def _column(
    rows: Sequence[tuple[str, Explanation | None]], photo: Image.Image, caption: Sequence[str], reasons: Sequence[str]
) -> Image.Image:
    """One group member: caption lines, its reasons, then per deciding signal the title, the
    overlaid photo scaled to the column width and the score panel (a grey box: no face to read)."""
    small = _font(13)
    reason_lines = [line for r in reasons for line in _wrapped("· " + r, small, COLUMN_WIDTH)]
    parts: list[Image.Image] = []
    for title, explanation in rows:
        label = Image.new("RGB", (COLUMN_WIDTH, _LINE + _PAD // 2), _BACKGROUND)
        ImageDraw.Draw(label).text((0, _PAD // 2), title, fill=_HIGHLIGHT, font=_font(14))
        parts.append(label)
        height = max(1, round(photo.height * COLUMN_WIDTH / photo.width))
        if explanation is None:
            blank = Image.new("RGB", (COLUMN_WIDTH, height), (225, 225, 225))
            ImageDraw.Draw(blank).text(
                (COLUMN_WIDTH // 2, height // 2), "no face here", fill=_MUTED, font=small, anchor="mm"
            )
            parts.append(blank)
            continue
        parts.append(overlay(explanation.heatmap, photo).resize((COLUMN_WIDTH, height), Image.Resampling.LANCZOS))
        parts.append(score_panel(explanation, COLUMN_WIDTH))
    top = _PAD + (len(caption) + len(reason_lines)) * _LINE
    column = Image.new("RGB", (COLUMN_WIDTH, top + sum(p.height for p in parts)), _BACKGROUND)
    draw = ImageDraw.Draw(column)
    for i, line in enumerate([*caption, *reason_lines]):
        draw.text(
            (0, _PAD // 2 + i * _LINE), line, fill=_INK if i == 0 else _MUTED, font=_font(15) if i == 0 else small
        )
    y = top
    for part in parts:
        column.paste(part, (0, y))
        y += part.height
    return column


def render_group_png(
    rows: Sequence[tuple[str, Sequence[Explanation | None]]],
    images: Sequence[Image.Image],
    out_path: str | Path,
    captions: Sequence[Sequence[str]] | None = None,
    reasons: Sequence[Sequence[str]] | None = None,
) -> Path:
    """Save the members of a near-duplicate group side by side — each with its caption, its reasons
    and, per signal that decided (``rows``: a title and one explanation per member), its map and
    scores — so a person can see why one frame is kept over the others."""
    if not images or any(len(explanations) != len(images) for _, explanations in rows):
        raise ValueError("need one explanation (or None) per image in every row, and at least one image")
    captions = captions or [[] for _ in images]
    reasons = reasons or [[] for _ in images]
    columns = [
        _column([(title, explanations[k]) for title, explanations in rows], img, captions[k], reasons[k])
        for k, img in enumerate(images)
    ]
    canvas = Image.new(
        "RGB", (len(columns) * (COLUMN_WIDTH + _PAD) + _PAD, max(c.height for c in columns) + _PAD), _BACKGROUND
    )
    for i, column in enumerate(columns):
        canvas.paste(column, (_PAD + i * (COLUMN_WIDTH + _PAD), 0))
    return _save(canvas, out_path)


def _save(canvas: Image.Image, out_path: str | Path) -> Path:
    return atomic_write(out_path, lambda f: canvas.save(f, format="PNG"))
