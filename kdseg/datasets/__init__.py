"""Procedural synthetic data in the real on-disk formats of Cityscapes and COCO.

Both generators are seeded and deterministic (same arguments, byte-identical files) and fast
enough to run inside a test; ``tools/make_synthetic_data.py`` is their command line.
"""
from .synthetic_cityscapes import (CITYSCAPES_CLASSES, CITYSCAPES_DRAWN_CLASSES, CITYSCAPES_LABELS,
                                   CITYSCAPES_SPLIT_CITIES, IGNORE_INDEX, UNLABELED_ID,
                                   CityscapesLabel, StreetScene, generate_cityscapes,
                                   make_street_scene, train_ids_to_label_ids)
from .synthetic_coco import (SYNTHETIC_COCO_CLASSES, ShapeInstance, ShapesImage, generate_coco,
                             make_shapes_image)

__all__ = [
    'CITYSCAPES_CLASSES', 'CITYSCAPES_DRAWN_CLASSES', 'CITYSCAPES_LABELS',
    'CITYSCAPES_SPLIT_CITIES', 'IGNORE_INDEX', 'SYNTHETIC_COCO_CLASSES', 'UNLABELED_ID',
    'CityscapesLabel', 'ShapeInstance', 'ShapesImage', 'StreetScene', 'generate_cityscapes',
    'generate_coco', 'make_shapes_image', 'make_street_scene', 'train_ids_to_label_ids'
]
