"""Draw explanations: the heat map over the crop the model saw, a caption, contact sheets.

Only Pillow and numpy: the colours are a jet-like ramp (blue: no evidence, red: most), the
text Pillow's built-in font, so the pictures come out the same on a machine without
matplotlib or system fonts.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Anchors of the colour ramp: heat value -> RGB (dark blue, blue, cyan, yellow, red, dark red).
_RAMP = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])
_RAMP_RGB = np.array([(0, 0, 128), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 0), (128, 0, 0)], float)

TITLE_SIZE = 18
NOTE_SIZE = 13
MARGIN = 8
GAP = 6
MIN_SIDE = 224  # small inputs (75x75) are scaled up to at least this for display


def to_uint8(image) -> np.ndarray:
    """A model input (float in [-1, 1], as both preprocessings give) or a uint8 image -> uint8 RGB."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip((image.astype("float32") + 1.0) * 127.5 + 0.5, 0, 255).astype("uint8")


def heat_colors(heatmap) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 colours of the ramp."""
    h = np.clip(np.asarray(heatmap, dtype="float64"), 0.0, 1.0)
    rgb = np.stack([np.interp(h, _RAMP, _RAMP_RGB[:, c]) for c in range(3)], axis=-1)
    return np.round(rgb).astype("uint8")


def overlay(image, heatmap, alpha: float = 0.5) -> np.ndarray:
    """The heat map's colours blended over ``image`` (same height and width) with opacity ``alpha``."""
    base = to_uint8(image).astype("float32")
    if base.shape[:2] != np.shape(heatmap):
        raise ValueError(f"the heat map {np.shape(heatmap)} and the image {base.shape[:2]} differ in size")
    mixed = (1.0 - alpha) * base + alpha * heat_colors(heatmap).astype("float32")
    return np.clip(mixed + 0.5, 0, 255).astype("uint8")


def font(size: int):
    """Pillow's built-in font at ``size`` pixels (the small bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _fit(draw, text: str, width: int, face) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def render(image, explanation, title: str, note: str | None = None, *, alpha: float = 0.5,
           min_side: int = MIN_SIDE):
    """One picture: the crop, the crop under the heat map with its peak ringed, and a caption.

    Args:
        image: the model's input for this image (float in [-1, 1]) or uint8 RGB, ``H x W x 3``.
        explanation: an :class:`~inception_keras.explain.Explanation` of it.
        title: the caption's first line, e.g. ``"tabby cat  87.3%"``.
        note: a smaller second line (file name, method, layer).
        alpha: the heat map's opacity.
        min_side: small inputs are scaled up to this side for display.

    Returns:
        A ``PIL.Image`` (RGB).
    """
    crop = to_uint8(image)
    height, width = crop.shape[:2]
    scale = max(1.0, min_side / max(height, width))
    size = (round(width * scale), round(height * scale))
    # whole-number scales keep the pixels sharp; the heat map is resized smoothly either way
    sharp = float(scale).is_integer()
    base = Image.fromarray(crop).resize(size, Image.NEAREST if sharp else Image.LANCZOS) if scale > 1 else \
        Image.fromarray(crop)
    heat = Image.fromarray(np.asarray(explanation.heatmap, dtype="float32")).resize(size, Image.BILINEAR)
    left = base
    right = Image.fromarray(overlay(np.asarray(base), np.asarray(heat), alpha))
    title_font, note_font = font(TITLE_SIZE), font(NOTE_SIZE)
    caption = MARGIN + TITLE_SIZE + 4 + (NOTE_SIZE + 4 if note else 0) + MARGIN
    canvas = Image.new("RGB", (2 * size[0] + GAP + 2 * MARGIN, MARGIN + size[1] + caption), "white")
    canvas.paste(left, (MARGIN, MARGIN))
    canvas.paste(right, (MARGIN + size[0] + GAP, MARGIN))
    draw = ImageDraw.Draw(canvas)
    if explanation.peak is not None:  # the peak, ringed in white and black so that it shows on any colour
        px = MARGIN + size[0] + GAP + (explanation.peak[0] + 0.5) * scale
        py = MARGIN + (explanation.peak[1] + 0.5) * scale
        for radius, colour in ((8, "black"), (7, "white"), (6, "black")):
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), outline=colour, width=1)
    else:
        note = (note + "; " if note else "") + "empty heat map: nothing here speaks for this class"
    text_width = canvas.width - 2 * MARGIN
    y = MARGIN + size[1] + MARGIN
    draw.text((MARGIN, y), _fit(draw, title, text_width, title_font), fill="black", font=title_font)
    if note:
        draw.text((MARGIN, y + TITLE_SIZE + 4), _fit(draw, note, text_width, note_font), fill=(80, 80, 80),
                  font=note_font)
    return canvas


def contact_sheet(pictures, columns: int | None = None, title: str | None = None):
    """``pictures`` (PIL images) on a white grid, row by row; ``columns`` defaults to a
    near-square layout of at most 4 columns. An optional ``title`` goes on top."""
    pictures = list(pictures)
    if not pictures:
        raise ValueError("a contact sheet needs at least one picture")
    columns = columns or min(4, math.ceil(math.sqrt(len(pictures))))
    rows = math.ceil(len(pictures) / columns)
    cell_w = max(p.width for p in pictures)
    cell_h = max(p.height for p in pictures)
    top = (MARGIN + TITLE_SIZE + MARGIN) if title else 0
    sheet = Image.new("RGB", (columns * cell_w + (columns + 1) * GAP, top + rows * cell_h + (rows + 1) * GAP),
                      (235, 235, 235))
    for i, picture in enumerate(pictures):
        row, col = divmod(i, columns)
        sheet.paste(picture, (GAP + col * (cell_w + GAP), top + GAP + row * (cell_h + GAP)))
    if title:
        face = font(TITLE_SIZE)
        draw = ImageDraw.Draw(sheet)
        draw.text((GAP + MARGIN, MARGIN), _fit(draw, title, sheet.width - 2 * MARGIN, face), fill="black", font=face)
    return sheet
