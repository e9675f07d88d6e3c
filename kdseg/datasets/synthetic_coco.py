"""Procedural shapes written as a COCO-format instance dataset (Lin et al., ECCV 2014).

The files are what pycocotools, mmdet's ``CocoDataset`` and ``CocoMetric`` read from a real COCO
root::

    root/annotations/instances_train2017.json
    root/annotations/instances_val2017.json
    root/train2017/<image_id:012d>.jpg        JPEG, quality 95
    root/val2017/<image_id:012d>.jpg

Each image holds 1 to 6 instances of :data:`SYNTHETIC_COCO_CLASSES` (rotated rectangles, ellipses
and triangles of random size and aspect) on a textured, noisy background. Colour and texture are
drawn per instance, independently of the class, so only the shape tells the class. Instances
never overlap (they keep a few pixels apart), so every annotation describes a fully visible
object: its polygon is the drawn outline, ``area`` is the pixel area of the polygon rasterised
by pycocotools (the very mask that was painted), ``bbox`` is the tight ``[x, y, w, h]`` box of
that mask and ``iscrowd`` is 0. Category ids start at 1; image ids start at 1 in each split.
Image ``index`` of ``split`` depends only on ``(seed, split, index)``, so the same arguments give
byte-identical files.
"""
import colorsys
import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Tuple, Union

import cv2
import numpy as np

from pycocotools import mask as mask_utils

from .output_folder import prepare_root

__all__ = ['APPEARANCES', 'SYNTHETIC_COCO_CLASSES', 'ShapeInstance', 'ShapesImage', 'generate_coco',
           'make_shapes_image']

SYNTHETIC_COCO_CLASSES: Tuple[str, ...] = ('rectangle', 'ellipse', 'triangle')
_JPEG_QUALITY = 95
_MIN_AREA = 48  # pixels; smaller shapes are redrawn
_GAP = 5  # instances keep at least (_GAP - 1) / 2 pixels apart (dilation kernel size)


class ShapeInstance(NamedTuple):
    """One annotated object: its COCO ``category_id``, the flat polygon ``[x1, y1, x2, y2, ...]``
    and the (H, W) uint8 mask that pycocotools rasterises from that polygon."""

    category_id: int
    polygon: List[float]
    mask: np.ndarray


class ShapesImage(NamedTuple):
    """One rendered image, (H, W, 3) RGB uint8, and its instances."""

    image: np.ndarray
    instances: List[ShapeInstance]


def _outline(name: str, rng: np.random.Generator) -> np.ndarray:
    """Vertices (N, 2) of a shape of class ``name`` centred at 0 with radius about 1."""
    if name == 'rectangle':
        half = np.array([1.0, rng.uniform(0.4, 1.0)])
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    if name == 'ellipse':
        angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        return np.stack([np.cos(angles), rng.uniform(0.45, 1.0) * np.sin(angles)], axis=1)
    if name == 'triangle':
        angles = np.pi / 2 + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    raise ValueError(f'unknown shape {name!r}; expected one of {SYNTHETIC_COCO_CLASSES}')


def _place(rng: np.random.Generator, outline: np.ndarray, height: int,
           width: int) -> np.ndarray:
    """Rotate and scale ``outline`` randomly and move it fully inside the image; the vertices
    are rounded to 0.01 px, as they are written to the JSON file."""
    radius = rng.uniform(0.07, 0.22) * min(height, width)
    angle = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = outline @ rotation.T * radius
    low, high = points.min(axis=0), points.max(axis=0)
    centre = rng.uniform(1 - low, np.array([width, height]) - 2 - high)
    return np.round(points + centre, 2)


def _rasterise(polygon: List[float], height: int, width: int) -> np.ndarray:
    """The (H, W) uint8 mask pycocotools decodes from one polygon (what evaluation will use)."""
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([polygon], height, width)))


def _random_colour(rng: np.random.Generator, saturation: Tuple[float, float],
                   value: Tuple[float, float]) -> np.ndarray:
    """An RGB colour (0..255 floats) with a random hue and saturation/value in the ranges."""
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return np.array(rgb, np.float32) * 255


def _pattern(rng: np.random.Generator, shape: Tuple[int, int]) -> np.ndarray:
    """A random brightness pattern (roughly in [-1, 1]): flat, stripes at a random angle and
    period, a checkerboard, blotches or a linear gradient."""
    kind = rng.integers(5)
    yy, xx = np.indices(shape, dtype=np.float32)
    if kind == 0:
        return np.zeros(shape, np.float32)
    if kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
        return np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * np.float32(2 * np.pi / period))
    if kind == 2:
        cell = int(rng.integers(3, 9))
        return np.where((yy // cell + xx // cell) % 2 == 0, 1.0, -1.0).astype(np.float32)
    if kind == 3:
        coarse = rng.standard_normal((shape[0] // 6 + 2, shape[1] // 6 + 2)).astype(np.float32)
        return cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_LINEAR)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = xx * np.cos(angle) + yy * np.sin(angle)
    return (2 * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0) - 1).astype(np.float32)


# (saturation, value) ranges of the backdrop and of the instances per appearance: 'target' is the
# benchmark's data (muted backdrop, vivid shapes); 'source', the gain benchmark's pretraining data,
# swaps them (vivid backdrop, muted shapes), so only the shapes' outlines carry over.
APPEARANCES: Dict[str, Dict[str, Tuple[Tuple[float, float], Tuple[float, float]]]] = {
    'target': dict(background=((0.0, 0.3), (0.3, 0.75)), instance=((0.5, 1.0), (0.45, 1.0))),
    'source': dict(background=((0.5, 1.0), (0.45, 1.0)), instance=((0.0, 0.3), (0.3, 0.75))),
}


def _colours(appearance: str) -> Dict[str, Tuple[Tuple[float, float], Tuple[float, float]]]:
    if appearance not in APPEARANCES:
        raise ValueError(f'appearance must be one of {sorted(APPEARANCES)}, got {appearance!r}')
    return APPEARANCES[appearance]


def _background(rng: np.random.Generator, height: int, width: int,
                colour: Tuple[Tuple[float, float], Tuple[float, float]]) -> np.ndarray:
    """A backdrop of ``colour`` (saturation and value ranges) with colour blotches and a faint
    pattern."""
    base = _random_colour(rng, *colour)
    coarse = rng.standard_normal((height // 32 + 2, width // 32 + 2, 3)).astype(np.float32)
    blotches = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    pattern = _pattern(rng, (height, width))[..., None]
    return base * (1 + 0.08 * pattern) + 20 * blotches


def make_shapes_image(rng: np.random.Generator, height: int = 192, width: int = 256,
                      max_instances: int = 6, appearance: str = 'target') -> ShapesImage:
    """Draw one image of non-overlapping shapes and annotate them.

    Args:
        rng: The random generator; the image is a deterministic function of its state.
        height: Image height in pixels (at least 32). Defaults to 192.
        width: Image width in pixels (at least 32). Defaults to 256.
        max_instances: At most this many instances (at least one is always drawn). Defaults to 6.
        appearance: ``'target'`` (muted backdrop, vivid shapes) or ``'source'`` (the other way
            round: the gain benchmark's pretraining data).

    Returns:
        The RGB image and its instances, in drawing order.
    """
    if height < 32 or width < 32:
        raise ValueError(f'height and width must be at least 32, got {height}x{width}')
    if max_instances < 1:
        raise ValueError(f'max_instances must be at least 1, got {max_instances}')
    colours = _colours(appearance)
    image = _background(rng, height, width, colours['background'])
    occupied = np.zeros((height, width), np.uint8)  # instances grown by the gap
    gap_kernel = np.ones((_GAP, _GAP), np.uint8)
    instances: List[ShapeInstance] = []
    for _ in range(rng.integers(1, max_instances + 1)):
        for _attempt in range(30):  # rejection sampling of a free spot
            category = int(rng.integers(len(SYNTHETIC_COCO_CLASSES)))
            points = _place(rng, _outline(SYNTHETIC_COCO_CLASSES[category], rng), height, width)
            polygon = points.ravel().tolist()
            mask = _rasterise(polygon, height, width)
            if mask.sum() >= _MIN_AREA and not (occupied & mask).any():
                break
        else:
            continue
        occupied |= cv2.dilate(mask, gap_kernel)
        colour = _random_colour(rng, *colours['instance'])
        shade = 1 + rng.uniform(0.1, 0.3) * _pattern(rng, (height, width))
        inside = mask.astype(bool)
        image[inside] = colour * shade[inside][:, None]
        instances.append(ShapeInstance(category + 1, polygon, mask))
    image += rng.uniform(2.0, 6.0) * rng.standard_normal((height, width, 1), np.float32)
    return ShapesImage(np.clip(np.round(image), 0, 255).astype(np.uint8), instances)


def _annotation(instance: ShapeInstance, annotation_id: int, image_id: int) -> Dict[str, Any]:
    """The COCO annotation of ``instance``: a tight mask box and the mask's pixel area."""
    columns = np.flatnonzero(instance.mask.any(axis=0))
    rows = np.flatnonzero(instance.mask.any(axis=1))
    x, y = float(columns[0]), float(rows[0])
    bbox = [x, y, float(columns[-1] + 1) - x, float(rows[-1] + 1) - y]
    return dict(id=annotation_id, image_id=image_id, category_id=instance.category_id, bbox=bbox,
                area=float(instance.mask.sum()), segmentation=[instance.polygon], iscrowd=0)


def generate_coco(root: Union[str, Path], num_train: int = 100, num_val: int = 20,
                  height: int = 192, width: int = 256, seed: int = 0,
                  overwrite: bool = False, appearance: str = 'target') -> Dict[str, Any]:
    """Write a synthetic COCO-format instance dataset under ``root``.

    Args:
        root: Dataset root; ``annotations/``, ``train2017/`` and ``val2017/`` are created in it.
        num_train: Number of training images. Defaults to 100.
        num_val: Number of validation images. Defaults to 20.
        height: Image height in pixels. Defaults to 192.
        width: Image width in pixels. Defaults to 256.
        seed: Non-negative seed; image ``i`` of a split depends only on (seed, split, i).
        overwrite: Replace existing ``annotations/``, ``train2017/`` and ``val2017/`` in ``root``;
            without it a non-empty one raises ``FileExistsError``.
        appearance: ``'target'`` or ``'source'`` (see :func:`make_shapes_image`).

    Returns:
        ``dict(root, height, width, seed, splits)`` where ``splits[split]`` is
        ``dict(ann_file, img_dir, num_images, num_instances)`` with paths relative to root.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val), ('seed', seed)):
        if value < 0:
            raise ValueError(f'{name} must be non-negative, got {value}')
    if height < 32 or width < 32:
        raise ValueError(f'height and width must be at least 32, got {height}x{width}')
    _colours(appearance)
    root = Path(root)
    prepare_root(root, ('annotations', 'train2017', 'val2017'), overwrite)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SYNTHETIC_COCO_CLASSES)]
    splits: Dict[str, Dict[str, Any]] = {}
    for split_code, (split, count) in enumerate((('train', num_train), ('val', num_val))):
        img_dir = root / f'{split}2017'
        img_dir.mkdir(parents=True, exist_ok=True)
        images: List[Dict[str, Any]] = []
        annotations: List[Dict[str, Any]] = []
        for index in range(count):
            image_id = index + 1
            file_name = f'{image_id:012d}.jpg'
            rng = np.random.default_rng([seed, split_code, index])
            scene = make_shapes_image(rng, height, width, appearance=appearance)
            bgr = cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(img_dir / file_name), bgr,
                               [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]):
                raise OSError(f'could not write {img_dir / file_name}')
            images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
            for instance in scene.instances:
                annotations.append(_annotation(instance, len(annotations) + 1, image_id))
        ann_file = f'annotations/instances_{split}2017.json'
        dataset = dict(info=dict(description='kdseg synthetic shapes', version='1.0'),
                       licenses=[], images=images, annotations=annotations,
                       categories=categories)
        with open(root / ann_file, 'w') as f:
            json.dump(dataset, f)
        splits[split] = dict(ann_file=ann_file, img_dir=f'{split}2017/', num_images=count,
                             num_instances=len(annotations))
    return dict(root=str(root), height=height, width=width, seed=seed, splits=splits)
