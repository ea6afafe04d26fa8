"""config/validate.py: a composed config checked before training, each bad value named with
its bounds or choices."""

import pytest
from omegaconf import OmegaConf

from fashion_resnet import errors
from fashion_resnet.config import validate
from fashion_resnet.config.validate import check_train


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (lambda c: validate.integer(c, "k", low=1), 0, "k=0: expected an integer >= 1"),
        (lambda c: validate.integer(c, "k", low=1), True, "k=True: expected an integer >= 1"),
        (lambda c: validate.integer(c, "k", low=0, high=9, unit="px"), 10,
         "k=10: expected an integer in [0, 9] (px)"),
        (lambda c: validate.number(c, "k", low=0.0, high=1.0), 1.5,
         "k=1.5: expected a number in [0, 1]"),
        (lambda c: validate.number(c, "k", above=0.0, optional=True), float("nan"),
         "k=nan: expected a number > 0 or null"),
    ],
)  # fmt: skip
def test_bounded_values_name_the_bounds(check, value, expected):

    with pytest.raises(errors.ConfigError) as raised:
        check(OmegaConf.create({"k": value}))
    assert str(raised.value) == expected


def test_bounded_values_pass_through_or_are_absent():

    cfg = OmegaConf.create({"k": 3, "x": 0.5, "n": None})
    assert validate.integer(cfg, "k", low=1, high=3) == 3
    assert validate.number(cfg, "x", low=0.0, high=1.0) == 0.5
    assert validate.integer(cfg, "n", low=1, optional=True) is None
    assert validate.integer(cfg, "absent", low=1) is None


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["data.image_size=16"], "data.image_size=16 is too small for the 'imagenet' stem"),
        (["ckpt_path=/no/such.ckpt"], "ckpt_path='/no/such.ckpt' does not exist"),
    ],
)  # fmt: skip
def test_bad_values_fail_before_training(compose_cfg, overrides, match):
    # A value's own range (model.net.arch and .stem, model.compile_mode, data.*) is its
    # constructor's one check: test_backbones, test_resnet, test_classifier, test_splits.
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        check_train(compose_cfg("train", overrides))


NOT_LOGGED = "is not a logged metric; choose one of: train/loss, train/loss_step, "


@pytest.mark.parametrize(
    "overrides,match",
    [
        (["optimized_metric=val/acc_bset"], f"optimized_metric='val/acc_bset' {NOT_LOGGED}"),
        (["test=false", "optimized_metric=test/acc"], "'test/acc' is not .*val/acc_best$"),
        (["callbacks.model_checkpoint.monitor=val_acc"], f"monitor='val_acc' {NOT_LOGGED}"),
        (["+scheduler.monitor=val/los"], f"scheduler.monitor='val/los' {NOT_LOGGED}"),
    ],
)
def test_unknown_metric_names_fail_naming_the_logged_ones(compose_cfg, overrides, match):
    with pytest.raises(ValueError, match=match):
        check_train(compose_cfg("train", overrides))
