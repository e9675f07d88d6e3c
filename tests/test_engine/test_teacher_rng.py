"""kdseg.engine.teacher_rng: the teacher's forward leaves the student's random stream alone."""
import torch
from torch import nn

from kdseg.engine.teacher_rng import isolate_rng

from .conftest import TAT_DEMO, build_model, demo_config


def test_isolated_forward_leaves_the_generator_where_it_was():
    teacher = isolate_rng(nn.Dropout(0.5))
    x = torch.ones(64)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    teacher(x)
    assert torch.equal(torch.get_rng_state(), before)
    # the caller's next draw is the one it makes without a teacher ...
    student_draw = nn.functional.dropout(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(nn.functional.dropout(x, 0.5), student_draw)
    # ... and the teacher's own mask is not a copy of it
    torch.manual_seed(0)
    assert not torch.equal(teacher(x), student_draw)


def test_distiller_student_draws_what_the_student_alone_draws(train_batch):
    """The demo distiller's teacher and student both have dropout (PSPNet decode heads); the
    student's losses inside the distiller equal the student's own losses from the same
    generator state, which needs the same dropout masks."""
    model = build_model(demo_config(TAT_DEMO))
    model.train()
    data = model.data_preprocessor(train_batch, training=True)
    torch.manual_seed(1)
    distilled = model.loss(data['inputs'], data['data_samples'])
    after_distiller = torch.get_rng_state()
    torch.manual_seed(1)
    alone = model.architecture.loss(data['inputs'], data['data_samples'])
    assert torch.equal(torch.get_rng_state(), after_distiller)
    for name in ('decode.loss_ce', 'aux.loss_ce'):
        torch.testing.assert_close(distilled[f'student.{name}'], alone[name], rtol=0, atol=0)
