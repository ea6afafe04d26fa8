"""callbacks/divergence.py: the stop on a non-finite loss, checked without a sync per step."""

from types import SimpleNamespace

from fashion_resnet.callbacks.divergence import DivergenceGuard


def test_divergence_check_runs_once_per_step_reached_under_gradient_accumulation():
    guard, checked = DivergenceGuard(every_n_steps=2), []
    guard.check = lambda trainer: (checked.append(trainer.global_step),
                                   setattr(guard, "last_check", trainer.global_step))  # fmt: skip
    for step in (0, 0, 1, 1, 2, 2, 3, 3, 4, 4):  # accumulate_grad_batches=2
        guard.on_train_batch_end(SimpleNamespace(global_step=step), None, None, None, 0)
    assert checked == [2, 4]  # not at step 0 (nothing stepped), not twice at a step
