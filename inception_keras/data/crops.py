"""Multi-crop evaluation protocols: the geometry of each, as pure functions (no TensorFlow).

Each protocol lists the crop boxes it takes from an image of a given size; the evaluation
pipeline (:func:`inception_keras.data.preprocessing.crop_views`) resizes, cuts, mirrors and resizes as
the boxes say, the model scores every crop, and the crops' softmax probabilities are averaged.

    >>> from inception_keras.data.crops import crop_boxes
    >>> from inception_keras.data.datasets import Preprocessing
    >>> boxes = crop_boxes("144", 375, 500, Preprocessing("slim", 224))
    >>> len(boxes), boxes[0]
    (144, CropBox(top=0, left=0, height=224, width=224, mirrored=False, scale=256))

A :class:`CropBox` is ``(top, left, height, width)`` in the image resized so that its shorter
side is ``scale`` (0: the image as decoded, not resized), whether the crop is mirrored (left to
right, after it has been brought to the model's input size), and the crop is then resized to
``image_size x image_size`` when it has another size.

Protocols (``image_size`` is the model's input, 299 for the published weights):

* ``1``: the preprocessing's own single crop (``slim``: the central ``crop_fraction`` of each
  side of the decoded image; ``resize-crop``: the central square of the image resized to a
  shorter side of ``image_size / crop_fraction``).
* ``flip``: that crop and its mirror (2 forward passes).
* ``10``: the image resized so its shorter side is ``image_size / crop_fraction``; its four
  corner and its central ``image_size`` squares, and their mirrors (10).
* ``144``: GoogLeNet's (Szegedy et al. 2014, "Going deeper with convolutions", section 7): 4
  scales (shorter side 256, 288, 320, 352, times ``image_size / 224``); at each, the left,
  centre and right squares (top, centre, bottom for a portrait image); in each square its 4
  corner and central ``image_size`` crops and the square itself; and their mirrors
  (4 x 3 x 6 x 2 = 144).
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

GOOGLENET_SCALES = (256, 288, 320, 352)  # shorter sides for a 224 input (the paper's)
GOOGLENET_INPUT = 224


@dataclasses.dataclass(frozen=True)
class CropBox:
    """One crop: ``(top, left, height, width)`` in the image resized to a shorter side of
    ``scale`` (0: not resized), mirrored or not."""

    top: int
    left: int
    height: int
    width: int
    mirrored: bool
    scale: int


def scaled_size(height: int, width: int, shorter: int) -> tuple[int, int]:
    """(height, width) of a ``height x width`` image resized so its shorter side is ``shorter``
    (aspect ratio kept, the longer side rounded); ``shorter`` 0: the size as it is."""
    if not shorter:
        return height, width
    if height <= width:
        return shorter, max(shorter, int(round(width * shorter / height)))
    return max(shorter, int(round(height * shorter / width))), shorter


def _with_mirrors(boxes):
    """Each box followed by its mirror."""
    out = []
    for box in boxes:
        out += [box, dataclasses.replace(box, mirrored=True)]
    return out


def _central(height: int, width: int, size: int, scale: int) -> CropBox:
    return CropBox((height - size) // 2, (width - size) // 2, size, size, False, scale)


def single_crop(height: int, width: int, prep) -> list[CropBox]:
    """Protocol ``1``: the preprocessing's central crop (``prep``: a
    :class:`~inception_keras.data.preprocessing.Preprocessing`)."""
    if prep.name == "slim":
        # tf.image.central_crop's box: float64 arithmetic, start truncated
        top = int((height - height * prep.crop_fraction) / 2)
        left = int((width - width * prep.crop_fraction) / 2)
        return [CropBox(top, left, height - 2 * top, width - 2 * left, False, 0)]
    h, w = scaled_size(height, width, prep.resize_to)
    return [_central(h, w, prep.image_size, prep.resize_to)]


def flip_crops(height: int, width: int, prep) -> list[CropBox]:
    """Protocol ``flip``: the single crop and its mirror."""
    return _with_mirrors(single_crop(height, width, prep))


def ten_crops(height: int, width: int, prep) -> list[CropBox]:
    """Protocol ``10``: the four corner and the central ``image_size`` squares of the image
    resized to a shorter side of ``image_size / crop_fraction``, each followed by its mirror."""
    size, scale = prep.image_size, int(round(prep.image_size / prep.crop_fraction))
    h, w = scaled_size(height, width, scale)
    corners = [CropBox(top, left, size, size, False, scale)
               for top in (0, h - size) for left in (0, w - size)]
    return _with_mirrors([*corners, _central(h, w, size, scale)])


def googlenet_scales(image_size: int) -> tuple[int, ...]:
    """GoogLeNet's four shorter sides scaled from a 224 input to ``image_size``."""
    return tuple(int(round(s * image_size / GOOGLENET_INPUT)) for s in GOOGLENET_SCALES)


def googlenet_crops(height: int, width: int, prep) -> list[CropBox]:
    """Protocol ``144``: per scale, the three squares along the longer side, from each the 4
    corner and central ``image_size`` crops plus the whole square (resized), each followed by
    its mirror: 4 x 3 x 6 x 2 boxes, in that order."""
    size = prep.image_size
    boxes = []
    for scale in googlenet_scales(size):
        h, w = scaled_size(height, width, scale)
        if w >= h:  # landscape (or square): left, centre, right
            squares = [(0, left) for left in (0, (w - scale) // 2, w - scale)]
        else:  # portrait: top, centre, bottom
            squares = [(top, 0) for top in (0, (h - scale) // 2, h - scale)]
        for top, left in squares:
            far = scale - size
            boxes += [CropBox(top + dy, left + dx, size, size, False, scale) for dy in (0, far) for dx in (0, far)]
            boxes.append(CropBox(top + far // 2, left + far // 2, size, size, False, scale))
            boxes.append(CropBox(top, left, scale, scale, False, scale))  # the square, resized to size
    return _with_mirrors(boxes)


PROTOCOLS = {"1": single_crop, "flip": flip_crops, "10": ten_crops, "144": googlenet_crops}
DESCRIPTIONS = {
    "1": "the preprocessing's central crop",
    "flip": "the central crop and its mirror",
    "10": "4 corner + central crops of the image resized to a shorter side of input/{fraction:g}, and their mirrors",
    "144": "GoogLeNet 144 crops: 4 scales (shorter side {scales}) x 3 squares x (4 corners + centre + the whole "
           "square) x mirror",
}


def check_protocol(protocol: str) -> str:
    """``protocol`` as a key of :data:`PROTOCOLS`, or ValueError naming the choices."""
    protocol = str(protocol)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown crop protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol


def crop_boxes(protocol: str, height: int, width: int, prep) -> list[CropBox]:
    """The crop boxes of ``protocol`` for a ``height x width`` image and the preprocessing ``prep``."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return PROTOCOLS[check_protocol(protocol)](int(height), int(width), prep)


def forward_passes(protocol: str, prep=None) -> int:
    """Forward passes (crops) per image of ``protocol``: 1, 2, 10 or 144."""
    prep = prep or SimpleNamespace(name="slim", image_size=299, crop_fraction=0.875, resize_to=342)
    return len(crop_boxes(protocol, 2 * prep.image_size, 3 * prep.image_size, prep))


def describe(protocol: str, prep) -> str:
    """A line saying what ``protocol`` does for ``prep``, with the sizes filled in."""
    scales = "/".join(str(s) for s in googlenet_scales(prep.image_size))
    return DESCRIPTIONS[check_protocol(protocol)].format(fraction=prep.crop_fraction, scales=scales)


def structure(protocol: str, prep) -> list[tuple[int, bool, int, int]]:
    """(scale, mirrored, height, width) of each box of the ``10`` and ``144`` protocols: the same
    for every image size (only the positions change), so the pipeline builds its graph from it
    and reads the positions per image."""
    boxes = crop_boxes(protocol, 2 * prep.image_size, 3 * prep.image_size, prep)
    return [(b.scale, b.mirrored, b.height, b.width) for b in boxes]
