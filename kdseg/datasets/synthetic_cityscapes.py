"""Procedural street scenes written in the on-disk layout of Cityscapes (Cordts et al., CVPR 2016).

The files are what mmseg's ``CityscapesDataset`` and metrics read from a real Cityscapes root::

    root/leftImg8bit/{train,val}/<city>/<city>_<seq:06d>_000019_leftImg8bit.png       RGB, 8 bit
    root/gtFine/{train,val}/<city>/<city>_<seq:06d>_000019_gtFine_labelTrainIds.png   uint8
    root/gtFine/{train,val}/<city>/<city>_<seq:06d>_000019_gtFine_labelIds.png        uint8
    root/gtFine/{train,val}/<city>/<city>_<seq:06d>_000019_gtFine_instanceIds.png     uint16
    root/gtFine/{train,val}/<city>/<city>_<seq:06d>_000019_gtFine_color.png           RGB

``labelTrainIds`` holds the 19 train ids (0..18) and 255 for ignored pixels; ``labelIds`` and
``instanceIds`` follow the official cityscapesscripts label table (:data:`CITYSCAPES_LABELS`):
ignored pixels are label id 0 ('unlabeled'), and pixels of instance classes are
``label_id * 1000 + k`` in ``instanceIds``, as the official instance-level evaluation expects.

A scene is a ground plane seen from a camera 1.3 m above it: sky, a row of buildings, a road
between sidewalks (sometimes terrain), walls or fences along the building line, trees, poles
carrying signs or traffic lights, cars, the odd bus and pedestrians, all sized in metres and
projected, so near objects are large and far ones small. Every class has its own colour and
texture (window grids on buildings, tile lines on sidewalks, leafy noise on vegetation, ...) and
every image its own horizon, layout, illumination, noise and blur: a small CNN learns it in a few
hundred CPU iterations without it being trivial. Image ``index`` of ``split`` depends only on
``(seed, split, index)``, so the same arguments give byte-identical files.
"""
import colorsys
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Sequence, Tuple, Union

import cv2
import numpy as np

from .output_folder import prepare_root

__all__ = [
    'APPEARANCES', 'CITYSCAPES_CLASSES', 'CITYSCAPES_DRAWN_CLASSES', 'CITYSCAPES_LABELS',
    'CITYSCAPES_SPLIT_CITIES', 'IGNORE_INDEX', 'UNLABELED_ID', 'CityscapesLabel', 'StreetScene',
    'generate_cityscapes', 'make_street_scene', 'train_ids_to_label_ids'
]


class CityscapesLabel(NamedTuple):
    """One row of the official Cityscapes label table (cityscapesscripts ``helpers/labels.py``)."""

    name: str
    label_id: int
    train_id: int
    color: Tuple[int, int, int]
    has_instances: bool


# The 19 evaluated classes, in train-id order (the order of mmseg's CityscapesDataset.METAINFO).
CITYSCAPES_LABELS: Tuple[CityscapesLabel, ...] = (
    CityscapesLabel('road', 7, 0, (128, 64, 128), False),
    CityscapesLabel('sidewalk', 8, 1, (244, 35, 232), False),
    CityscapesLabel('building', 11, 2, (70, 70, 70), False),
    CityscapesLabel('wall', 12, 3, (102, 102, 156), False),
    CityscapesLabel('fence', 13, 4, (190, 153, 153), False),
    CityscapesLabel('pole', 17, 5, (153, 153, 153), False),
    CityscapesLabel('traffic light', 19, 6, (250, 170, 30), False),
    CityscapesLabel('traffic sign', 20, 7, (220, 220, 0), False),
    CityscapesLabel('vegetation', 21, 8, (107, 142, 35), False),
    CityscapesLabel('terrain', 22, 9, (152, 251, 152), False),
    CityscapesLabel('sky', 23, 10, (70, 130, 180), False),
    CityscapesLabel('person', 24, 11, (220, 20, 60), True),
    CityscapesLabel('rider', 25, 12, (255, 0, 0), True),
    CityscapesLabel('car', 26, 13, (0, 0, 142), True),
    CityscapesLabel('truck', 27, 14, (0, 0, 70), True),
    CityscapesLabel('bus', 28, 15, (0, 60, 100), True),
    CityscapesLabel('train', 31, 16, (0, 80, 100), True),
    CityscapesLabel('motorcycle', 32, 17, (0, 0, 230), True),
    CityscapesLabel('bicycle', 33, 18, (119, 11, 32), True),
)
CITYSCAPES_CLASSES: Tuple[str, ...] = tuple(label.name for label in CITYSCAPES_LABELS)
IGNORE_INDEX = 255  # train id of pixels that no metric counts
UNLABELED_ID = 0  # label id ('unlabeled') that ignored pixels get in labelIds / instanceIds
# Fake city names; image i of a split lives in city i % len(cities), sequence i // len(cities).
CITYSCAPES_SPLIT_CITIES: Dict[str, Tuple[str, ...]] = {
    'train': ('alphaburg', 'betaheim', 'gammastadt'),
    'val': ('deltadorf', 'epsilonfeld'),
}
_FRAME = 19  # the annotated frame of every real Cityscapes snippet is _000019

_ROAD, _SIDEWALK, _BUILDING, _WALL, _FENCE, _POLE, _LIGHT, _SIGN = range(8)
_VEGETATION, _TERRAIN, _SKY, _PERSON, _CAR, _BUS = 8, 9, 10, 11, 13, 15

# Lookup tables indexed by train id; the ignore index maps to 'unlabeled' and black.
_TRAIN_TO_LABEL_ID = np.full(256, UNLABELED_ID, np.uint8)
_TRAIN_TO_LABEL_ID[:len(CITYSCAPES_LABELS)] = [label.label_id for label in CITYSCAPES_LABELS]
_TRAIN_TO_COLOR = np.zeros((256, 3), np.uint8)
_TRAIN_TO_COLOR[:len(CITYSCAPES_LABELS)] = [label.color for label in CITYSCAPES_LABELS]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Map a train-id map (0..18, 255 ignore) to Cityscapes label ids (ignore becomes 0)."""
    return _TRAIN_TO_LABEL_ID[train_ids]


class _Appearance(NamedTuple):
    """How a class is rendered: mean RGB, per-segment jitter, texture kind and its amplitude."""

    rgb: Tuple[int, int, int]
    jitter: float
    texture: str
    amplitude: float


# Colours are plausible but kept apart; each class also has its own texture (see _texture).
_APPEARANCE: Dict[int, _Appearance] = {
    _ROAD: _Appearance((88, 82, 92), 0.06, 'grain', 0.12),
    _SIDEWALK: _Appearance((178, 142, 152), 0.08, 'tiles', 0.3),
    _BUILDING: _Appearance((128, 108, 92), 0.2, 'windows', 0.35),
    _WALL: _Appearance((150, 152, 180), 0.08, 'bricks', 0.25),
    _FENCE: _Appearance((165, 128, 100), 0.08, 'lattice', 0.3),
    _POLE: _Appearance((150, 150, 150), 0.1, 'flat', 0.1),
    _LIGHT: _Appearance((40, 40, 28), 0.1, 'flat', 0.1),
    _SIGN: _Appearance((232, 208, 40), 0.08, 'flat', 0.1),
    _VEGETATION: _Appearance((62, 122, 42), 0.12, 'leaves', 0.35),
    _TERRAIN: _Appearance((152, 172, 96), 0.08, 'smooth', 0.15),
    _SKY: _Appearance((125, 172, 228), 0.05, 'sky', 0.15),
    _PERSON: _Appearance((196, 52, 72), 0.25, 'vstripes', 0.3),
    _CAR: _Appearance((42, 62, 158), 0.25, 'shine', 0.25),
    _BUS: _Appearance((40, 126, 136), 0.12, 'bands', 0.35),
    IGNORE_INDEX: _Appearance((30, 30, 34), 0.1, 'flat', 0.1),
}
# The pretraining source of the gain benchmark (``appearance='source'``): the same scenes and
# classes with another look, as ImageNet differs from Cityscapes: every class colour turned half
# way round the hue circle with its brightness turned over (value v -> 1.1 - v, within [0.15, 0.95];
# saturation kept) and every texture kind moved five places along _TEXTURES, so no class keeps
# its colour or its texture.
_TEXTURES = ('flat', 'grain', 'smooth', 'leaves', 'sky', 'tiles', 'windows', 'bricks', 'lattice',
             'vstripes', 'shine', 'bands')


def _source_look(look: _Appearance) -> _Appearance:
    hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255 for c in look.rgb))
    rgb = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, saturation, min(max(1.1 - value, 0.15), 0.95))
    texture = _TEXTURES[(_TEXTURES.index(look.texture) + 5) % len(_TEXTURES)]
    return look._replace(rgb=tuple(int(round(255 * c)) for c in rgb), texture=texture)


APPEARANCES: Dict[str, Dict[int, _Appearance]] = {
    'target': _APPEARANCE,
    'source': {train_id: _source_look(look) for train_id, look in _APPEARANCE.items()},
}
# Names of the classes a scene can contain (one image holds a subset of them).
CITYSCAPES_DRAWN_CLASSES: Tuple[str, ...] = tuple(
    CITYSCAPES_CLASSES[i] for i in sorted(_APPEARANCE) if i != IGNORE_INDEX)

_CAMERA_HEIGHT = 1.3  # metres; a ground row y then has (y - horizon) / 1.3 pixels per metre


class StreetScene(NamedTuple):
    """One rendered scene: ``image`` (H, W, 3) RGB uint8, ``train_ids`` (H, W) uint8,
    ``instance_ids`` (H, W) uint16 in the Cityscapes ``instanceIds`` convention."""

    image: np.ndarray
    train_ids: np.ndarray
    instance_ids: np.ndarray


class _Canvas:
    """A painter's-algorithm segment map: later segments overwrite earlier ones.

    Every drawn part is a segment with its own train id and colour tint (one building, one car);
    instance classes also get their Cityscapes instance number.
    """

    def __init__(self, height: int, width: int) -> None:
        self.index = np.zeros((height, width), np.uint16)
        self.train_ids: List[int] = []
        self.instances: List[int] = []
        self._counts: Dict[int, int] = {}

    def segment(self, train_id: int) -> int:
        """Open a new segment of class ``train_id`` and return its index."""
        has_instances = train_id != IGNORE_INDEX and CITYSCAPES_LABELS[train_id].has_instances
        if has_instances:
            number = self._counts.get(train_id, 0)
            self._counts[train_id] = number + 1
            self.instances.append(CITYSCAPES_LABELS[train_id].label_id * 1000 + number)
        else:
            self.instances.append(int(_TRAIN_TO_LABEL_ID[train_id]))
        self.train_ids.append(train_id)
        return len(self.train_ids) - 1

    def polygon(self, segment: int, points: Sequence[Tuple[float, float]]) -> None:
        """Fill the polygon with ``points`` (x, y), which may lie outside the image."""
        cv2.fillPoly(self.index, [np.round(np.asarray(points)).astype(np.int32)], segment)

    def rect(self, segment: int, x0: float, y0: float, x1: float, y1: float) -> None:
        """Fill the axis-aligned box [x0, x1] x [y0, y1], at least one pixel wide and high."""
        x0, x1 = round(x0), max(round(x1), round(x0))
        y0, y1 = round(y0), max(round(y1), round(y0))
        cv2.rectangle(self.index, (x0, y0), (x1, y1), segment, thickness=-1)

    def ellipse(self, segment: int, cx: float, cy: float, rx: float, ry: float) -> None:
        """Fill the axis-aligned ellipse centred at (cx, cy) with semi-axes (rx, ry)."""
        axes = (max(round(rx), 1), max(round(ry), 1))
        cv2.ellipse(self.index, (round(cx), round(cy)), axes, 0, 0, 360, segment, thickness=-1)


class _Ground:
    """The ground-plane projection: lateral metres X at image row y map to x = vx + X * ppm(y)."""

    def __init__(self, horizon: float, vanish_x: float) -> None:
        self.horizon = horizon
        self.vanish_x = vanish_x

    def ppm(self, y: float) -> float:
        """Pixels per metre at image row ``y`` (zero at the horizon)."""
        return (y - self.horizon) / _CAMERA_HEIGHT

    def x(self, lateral: float, y: float) -> float:
        """Image column of the ground point ``lateral`` metres beside the camera at row ``y``."""
        return self.vanish_x + lateral * self.ppm(y)

    def band(self, left: float, right: float, bottom: float) -> List[Tuple[float, float]]:
        """The ground strip between lateral ``left`` and ``right`` metres, horizon to ``bottom``."""
        return [(self.vanish_x, self.horizon), (self.x(right, bottom), bottom),
                (self.x(left, bottom), bottom)]


def _draw_buildings(rng: np.random.Generator, canvas: _Canvas, ground: _Ground) -> None:
    """A row of building blocks from their roofs down to the image bottom (the ground covers
    their lower part), some with a gable roof."""
    height, width = canvas.index.shape
    x = -rng.uniform(0.0, 0.1) * width
    while x < width:
        block_width = rng.uniform(0.08, 0.3) * width
        top = rng.uniform(0.04, 0.85) * ground.horizon
        segment = canvas.segment(_BUILDING)
        canvas.rect(segment, x, top, x + block_width, height)
        if rng.random() < 0.25:
            canvas.polygon(segment, [(x, top), (x + block_width, top),
                                     (x + block_width / 2, top - 0.4 * block_width)])
        x += block_width


def _draw_ground(rng: np.random.Generator, canvas: _Canvas, ground: _Ground) -> Dict[str, Any]:
    """Road, sidewalks and optional terrain strips; returns their lateral edges in metres."""
    height = canvas.index.shape[0]
    road = (-rng.uniform(2.0, 5.0), rng.uniform(2.0, 5.0))
    sidewalk = (road[0] - rng.uniform(1.5, 4.0), road[1] + rng.uniform(1.5, 4.0))
    terrain = rng.uniform(1.0, 4.0, 2) * (rng.random(2) < 0.5)  # each side has it half the time
    outer = (sidewalk[0] - terrain[0], sidewalk[1] + terrain[1])  # where the buildings start
    for left, right, train_id in ((outer[0], sidewalk[0], _TERRAIN),
                                  (sidewalk[1], outer[1], _TERRAIN),
                                  (sidewalk[0], sidewalk[1], _SIDEWALK), (road[0], road[1], _ROAD)):
        if right > left:
            canvas.polygon(canvas.segment(train_id), ground.band(left, right, height))
    return dict(road=road, sidewalk=sidewalk, outer=outer)


def _draw_barriers(rng: np.random.Generator, canvas: _Canvas, ground: _Ground,
                   outer: Tuple[float, float]) -> None:
    """Walls and fences: vertical planes along the building line, receding to the horizon."""
    height = canvas.index.shape[0]
    for side in (0, 1):
        if rng.random() < 0.45:
            train_id = _WALL if rng.random() < 0.5 else _FENCE
            top_m = rng.uniform(1.0, 2.5)
            far, near = sorted(_depth_row(rng, ground, height, 0.05, 1.1) for _ in range(2))
            lateral = outer[side]
            canvas.polygon(canvas.segment(train_id), [
                (ground.x(lateral, far), far), (ground.x(lateral, near), near),
                (ground.x(lateral, near), near - top_m * ground.ppm(near)),
                (ground.x(lateral, far), far - top_m * ground.ppm(far))])


def _depth_row(rng: np.random.Generator, ground: _Ground, height: int, low: float = 0.12,
               high: float = 1.05) -> float:
    """A ground row between ``low`` and ``high`` of the way from the horizon to the image bottom."""
    return ground.horizon + (height - ground.horizon) * rng.uniform(low, high)


def _tree(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
          foot: float) -> None:
    """A trunk and an elliptic crown (Cityscapes labels both as vegetation)."""
    ppm = ground.ppm(foot)
    x = ground.x(lateral, foot)
    segment = canvas.segment(_VEGETATION)
    crown_y = foot - rng.uniform(3.5, 5.5) * ppm
    canvas.rect(segment, x - 0.15 * ppm, crown_y, x + 0.15 * ppm, foot)
    canvas.ellipse(segment, x, crown_y, rng.uniform(1.2, 2.8) * ppm, rng.uniform(1.5, 2.8) * ppm)


def _bush(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
          foot: float) -> None:
    """A low hedge blob standing on the building line."""
    ppm = ground.ppm(foot)
    radius = rng.uniform(0.6, 1.4) * ppm
    canvas.ellipse(canvas.segment(_VEGETATION), ground.x(lateral, foot), foot - 0.5 * radius,
                   rng.uniform(1.5, 3.0) * radius, radius)


def _pole(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
          foot: float) -> None:
    """A pole carrying nothing, a traffic sign (box, triangle or disc) or a traffic light."""
    ppm = ground.ppm(foot)
    x = ground.x(lateral, foot)
    top = foot - rng.uniform(3.5, 6.5) * ppm
    half = max(rng.uniform(0.07, 0.12) * ppm, 0.5)
    canvas.rect(canvas.segment(_POLE), x - half, top, x + half, foot)
    kind = rng.random()
    size = rng.uniform(0.6, 0.9) * ppm
    if kind < 0.4:
        sign = canvas.segment(_SIGN)
        shape = rng.integers(3)
        if shape == 0:
            canvas.rect(sign, x - size / 2, top, x + size / 2, top + size)
        elif shape == 1:
            canvas.polygon(sign, [(x - size / 2, top), (x + size / 2, top), (x, top + size)])
        else:
            canvas.ellipse(sign, x, top + size / 2, size / 2, size / 2)
    elif kind < 0.7:
        canvas.rect(canvas.segment(_LIGHT), x - 0.2 * size, top, x + 0.2 * size, top + 1.2 * size)


def _car(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
         foot: float) -> None:
    """A car seen from behind: body box plus a narrower cabin."""
    ppm = ground.ppm(foot)
    x = ground.x(lateral, foot)
    half = rng.uniform(0.8, 0.95) * ppm
    body = rng.uniform(0.75, 0.95) * ppm
    cabin = rng.uniform(0.5, 0.65) * ppm
    segment = canvas.segment(_CAR)
    canvas.rect(segment, x - half, foot - body, x + half, foot)
    canvas.polygon(segment, [(x - half, foot - body), (x + half, foot - body),
                             (x + 0.75 * half, foot - body - cabin),
                             (x - 0.75 * half, foot - body - cabin)])


def _bus(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
         foot: float) -> None:
    """A bus seen from behind: a tall box."""
    ppm = ground.ppm(foot)
    x = ground.x(lateral, foot)
    half = rng.uniform(1.2, 1.3) * ppm
    canvas.rect(canvas.segment(_BUS), x - half, foot - rng.uniform(2.9, 3.3) * ppm, x + half, foot)


def _person(rng: np.random.Generator, canvas: _Canvas, ground: _Ground, lateral: float,
            foot: float) -> None:
    """A pedestrian: head, torso and two legs."""
    ppm = ground.ppm(foot)
    x = ground.x(lateral, foot)
    tall = rng.uniform(1.55, 1.9) * ppm
    head = 0.065 * tall
    hip = foot - 0.47 * tall
    segment = canvas.segment(_PERSON)
    canvas.ellipse(segment, x, foot - tall + head, head, head)
    canvas.rect(segment, x - 0.13 * tall, foot - tall + 2 * head, x + 0.13 * tall, hip)
    stride = rng.uniform(0.0, 0.08) * tall
    for offset in (-1, 1):
        leg_x = x + offset * (0.06 * tall + stride)
        canvas.rect(segment, leg_x - 0.045 * tall, hip, leg_x + 0.045 * tall, foot)


def _between(rng: np.random.Generator, a: float, b: float) -> float:
    """A uniform draw between ``a`` and ``b`` in either order."""
    return rng.uniform(min(a, b), max(a, b))


def _draw_objects(rng: np.random.Generator, canvas: _Canvas, ground: _Ground,
                  edges: Dict[str, Any]) -> None:
    """Trees, poles, vehicles and pedestrians, painted far to near so near ones occlude."""
    height = canvas.index.shape[0]
    road, sidewalk, outer = edges['road'], edges['sidewalk'], edges['outer']
    placed: List[Tuple[float, Callable[..., None], float]] = []  # (foot row, painter, lateral)
    for _ in range(rng.integers(0, 4)):  # on the terrain, or the outer metre of the sidewalk
        side = rng.integers(2)
        inward = 1.0 if side == 0 else -1.0
        placed.append((_depth_row(rng, ground, height), _tree,
                       _between(rng, sidewalk[side] + inward, outer[side])))
    for _ in range(rng.integers(0, 3)):
        side = rng.integers(2)
        placed.append((_depth_row(rng, ground, height), _bush, outer[side]))
    for _ in range(rng.integers(0, 5)):
        side = rng.integers(2)
        placed.append((_depth_row(rng, ground, height), _pole,  # half a metre off the kerb
                       road[side] + (-0.5 if side == 0 else 0.5)))
    for _ in range(rng.integers(0, 5)):
        placed.append((_depth_row(rng, ground, height, 0.12, 0.8), _car,
                       rng.uniform(road[0] + 1.0, road[1] - 1.0)))
    if rng.random() < 0.2:
        placed.append((_depth_row(rng, ground, height, 0.12, 0.4), _bus,
                       rng.uniform(road[0] + 1.3, road[1] - 1.3)))
    for _ in range(rng.integers(0, 7)):
        side = rng.integers(2)
        inward = 0.3 if side == 0 else -0.3
        placed.append((_depth_row(rng, ground, height), _person,
                       _between(rng, sidewalk[side] + inward, road[side] - inward)))
    for foot, painter, lateral in sorted(placed, key=lambda item: item[0]):
        painter(rng, canvas, ground, lateral, foot)


def _noise_field(rng: np.random.Generator, shape: Tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise of about unit amplitude with features about ``cell`` pixels across."""
    height, width = shape
    coarse = rng.standard_normal((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def _texture(kind: str, rng: np.random.Generator, grain: np.ndarray, horizon: float) -> np.ndarray:
    """Brightness modulation (roughly in [-1, 1]) of texture ``kind`` over the whole image.

    ``grain`` is the image's i.i.d. pixel noise. Periods and phases are drawn per image, so a
    class texture is a distribution, not a fixed stamp.
    """
    shape = grain.shape
    if kind == 'flat':
        return grain
    if kind == 'grain':  # asphalt: fine speckle plus stains
        return grain + 0.5 * _noise_field(rng, shape, 16)
    if kind == 'smooth':  # grass: low-frequency blotches
        return _noise_field(rng, shape, int(rng.integers(10, 20))) + 0.3 * grain
    if kind == 'leaves':  # foliage: mid-frequency clumps plus speckle
        return 0.8 * _noise_field(rng, shape, int(rng.integers(3, 6))) + 0.6 * grain
    yy, xx = np.indices(shape, dtype=np.int32)
    if kind == 'sky':  # brighter towards the horizon, soft clouds
        return yy / np.float32(max(horizon, 1.0)) - 0.5 + 0.6 * _noise_field(rng, shape, 24)
    period = int(rng.integers(4, 9))
    yy += rng.integers(period)
    xx += rng.integers(period)
    if kind == 'tiles':  # paving slabs: dark joints on a grid
        pattern = np.where((yy % period == 0) | (xx % period == 0), -1.0, 0.3)
    elif kind == 'windows':  # facades: dark windows on a grid
        window = (xx % period < period // 2) & (yy % (period + 2) < (period + 2) // 2)
        pattern = np.where(window, -1.2, 0.4)
    elif kind == 'bricks':  # thin horizontal mortar lines
        pattern = np.where(yy % (period // 2 + 1) == 0, -1.0, 0.3)
    elif kind == 'lattice':  # diagonal wire or slats
        pattern = np.where(((xx + yy) % period < 2) | ((xx - yy) % period < 2), 0.9, -0.9)
    elif kind == 'vstripes':  # clothing: narrow vertical stripes
        pattern = np.where(xx % (period // 2 + 1) == 0, -1.0, 0.4)
    elif kind == 'shine':  # car paint: soft horizontal reflections
        pattern = np.cos(yy * np.float32(2 * np.pi / (period + 2)))
    elif kind == 'bands':  # bus: a dark window band every few rows
        pattern = np.where(yy % (2 * period) < period, -1.0, 0.5)
    else:
        raise ValueError(f'unknown texture kind {kind!r}')
    return pattern.astype(np.float32) + 0.2 * grain


def _render(rng: np.random.Generator, canvas: _Canvas, horizon: float,
            looks: Dict[int, _Appearance]) -> np.ndarray:
    """Colour every segment with its class texture and tint (``looks``: an entry of
    :data:`APPEARANCES`), then light, blur and add noise."""
    shape = canvas.index.shape
    train_ids = np.asarray(canvas.train_ids, np.int64)
    # Per segment: its own tint around the class colour (each building, car, person differs).
    jitter = np.asarray([looks[t].jitter for t in train_ids], np.float32)[:, None]
    base = np.asarray([looks[t].rgb for t in train_ids], np.float32)
    tints = base * (1 + jitter * rng.standard_normal((len(train_ids), 3), np.float32))
    tints *= 1 + jitter * rng.standard_normal((len(train_ids), 1), np.float32)
    pixel_classes = train_ids[canvas.index]
    grain = rng.standard_normal(shape, np.float32)
    modulation = np.empty(shape, np.float32)
    for train_id in np.flatnonzero(np.bincount(pixel_classes.ravel())):
        look = looks[int(train_id)]
        mask = pixel_classes == train_id
        modulation[mask] = 1 + look.amplitude * _texture(look.texture, rng, grain, horizon)[mask]
    # Illumination: global gain, colour cast and a left-right light gradient.
    gain = rng.uniform(0.7, 1.25) * rng.uniform(0.9, 1.1, 3)
    ramp = 1 + rng.uniform(-0.15, 0.15) * np.linspace(-1, 1, shape[1], dtype=np.float32)
    image = tints[canvas.index] * (modulation * ramp)[..., None] * gain.astype(np.float32)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (3, 3), 0)
    image += rng.uniform(2.0, 8.0) * rng.standard_normal(shape + (1, ), np.float32)  # luminance
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_street_scene(rng: np.random.Generator, height: int = 128, width: int = 256,
                      appearance: str = 'target') -> StreetScene:
    """Draw one street scene and its labels.

    Args:
        rng: The random generator; the scene is a deterministic function of its state.
        height: Image height in pixels (at least 32).
        width: Image width in pixels (at least 32).
        appearance: ``'target'`` (the benchmark's data) or ``'source'`` (the same scenes with
            other class colours and textures: the gain benchmark's pretraining data).

    Returns:
        The RGB image, the train-id map and the Cityscapes instance-id map.
    """
    if height < 32 or width < 32:
        raise ValueError(f'height and width must be at least 32, got {height}x{width}')
    looks = _looks(appearance)
    canvas = _Canvas(height, width)
    ground = _Ground(horizon=rng.uniform(0.35, 0.55) * height,
                     vanish_x=rng.uniform(0.35, 0.65) * width)
    canvas.rect(canvas.segment(_SKY), 0, 0, width, height)
    _draw_buildings(rng, canvas, ground)
    edges = _draw_ground(rng, canvas, ground)
    _draw_barriers(rng, canvas, ground, edges['outer'])
    _draw_objects(rng, canvas, ground, edges)
    if rng.random() < 0.25:  # the ego vehicle's bonnet, ignored like in Cityscapes
        canvas.ellipse(canvas.segment(IGNORE_INDEX), ground.vanish_x, height,
                       rng.uniform(0.4, 0.7) * width, rng.uniform(0.06, 0.12) * height)
    image = _render(rng, canvas, ground.horizon, looks)
    train_ids = np.asarray(canvas.train_ids, np.uint8)[canvas.index]
    instance_ids = np.asarray(canvas.instances, np.uint16)[canvas.index]
    return StreetScene(image, train_ids, instance_ids)


def _looks(appearance: str) -> Dict[int, _Appearance]:
    if appearance not in APPEARANCES:
        raise ValueError(f'appearance must be one of {sorted(APPEARANCES)}, got {appearance!r}')
    return APPEARANCES[appearance]


def _write_png(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (RGB if 3-channel) as a PNG, raising if OpenCV cannot."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), array):
        raise OSError(f'could not write {path}')


def generate_cityscapes(root: Union[str, Path], num_train: int = 200, num_val: int = 40,
                        height: int = 128, width: int = 256, seed: int = 0,
                        overwrite: bool = False, appearance: str = 'target') -> Dict[str, Any]:
    """Write a synthetic Cityscapes-format dataset under ``root``.

    Args:
        root: Dataset root; ``leftImg8bit/`` and ``gtFine/`` are created in it.
        num_train: Number of training images. Defaults to 200.
        num_val: Number of validation images. Defaults to 40.
        height: Image height in pixels. Defaults to 128.
        width: Image width in pixels. Defaults to 256.
        seed: Non-negative seed; image ``i`` of a split depends only on (seed, split, i).
        overwrite: Replace an existing ``leftImg8bit/`` and ``gtFine/`` in ``root``; without it a
            non-empty one raises ``FileExistsError``.
        appearance: ``'target'`` or ``'source'`` (see :func:`make_street_scene`).

    Returns:
        ``dict(root, height, width, seed, splits)`` where ``splits[split]`` is
        ``dict(img_dir, seg_map_dir, num_images, cities)`` with directories relative to root.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val), ('seed', seed)):
        if value < 0:
            raise ValueError(f'{name} must be non-negative, got {value}')
    if height < 32 or width < 32:
        raise ValueError(f'height and width must be at least 32, got {height}x{width}')
    _looks(appearance)
    root = Path(root)
    prepare_root(root, ('leftImg8bit', 'gtFine'), overwrite)
    splits: Dict[str, Dict[str, Any]] = {}
    for split_code, (split, count) in enumerate((('train', num_train), ('val', num_val))):
        cities = CITYSCAPES_SPLIT_CITIES[split]
        for index in range(count):
            city = cities[index % len(cities)]
            stem = f'{city}_{index // len(cities):06d}_{_FRAME:06d}'
            img_dir = root / 'leftImg8bit' / split / city
            ann_dir = root / 'gtFine' / split / city
            img_dir.mkdir(parents=True, exist_ok=True)
            ann_dir.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([seed, split_code, index])
            scene = make_street_scene(rng, height, width, appearance)
            _write_png(img_dir / f'{stem}_leftImg8bit.png', scene.image)
            _write_png(ann_dir / f'{stem}_gtFine_labelTrainIds.png', scene.train_ids)
            _write_png(ann_dir / f'{stem}_gtFine_labelIds.png',
                       train_ids_to_label_ids(scene.train_ids))
            _write_png(ann_dir / f'{stem}_gtFine_instanceIds.png', scene.instance_ids)
            _write_png(ann_dir / f'{stem}_gtFine_color.png', _TRAIN_TO_COLOR[scene.train_ids])
        splits[split] = dict(img_dir=f'leftImg8bit/{split}', seg_map_dir=f'gtFine/{split}',
                             num_images=count, cities=cities[:count])
    return dict(root=str(root), height=height, width=width, seed=seed, splits=splits)
