"""Paired runs: every arm of a comparison starts from the same student and random state."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import set_random_seed

from ..weights import load_weights

__all__ = ['StudentInitHook', 'student_of']


def student_of(model):
    """The student of ``model``: a distiller's ``architecture``, else the model itself."""
    model = model.module if is_model_wrapper(model) else model
    return getattr(model, 'architecture', model)


@HOOKS.register_module()
class StudentInitHook(Hook):
    """Start the student from ``checkpoint`` and every generator from the run's seed.

    A distiller builds its teacher, connectors and losses before (mmrazor: around) its student,
    so at the same ``randomness.seed`` a distilled student starts from other weights, and draws
    other dropout masks and augmentations, than the same student trained alone: a distiller with
    every distillation weight at 0 scored 5 mIoU above the student alone at the same seed. With
    this hook in both runs, before iteration 1 the student (the model, or a distiller's
    ``model.architecture``) loads ``checkpoint`` strictly (:func:`kdseg.engine.load_weights`; a
    distiller checkpoint's ``architecture.*`` part is accepted), then python, numpy and torch are
    reseeded with the runner's seed. The data order is the sampler's, seeded by the same seed.
    Together with :mod:`kdseg.engine.teacher_rng` the two runs see the same student, batches,
    augmentations and dropout masks; only the distillation differs.

    A resumed run (iteration > 0) keeps its checkpoint's weights and random state.

    Args:
        checkpoint: the student's initial weights (``tools/train.py --student-init``).
    """

    priority = 'VERY_HIGH'  # before any hook that draws random numbers or reads the weights

    def __init__(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint

    def before_train(self, runner) -> None:
        if runner.iter > 0:
            return
        student = student_of(runner.model)
        load_weights(student, self.checkpoint, prefixes=('architecture.', ),
                     key='--student-init', what='the student')
        set_random_seed(runner.seed)
        print_log(f'StudentInitHook: student ({type(student).__name__}) loaded from '
                  f'{self.checkpoint}; random generators reseeded with {runner.seed}',
                  logger='current')
