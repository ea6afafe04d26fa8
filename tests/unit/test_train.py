"""train.py's own steps, short of training: the model built from its groups, the device
defaults filled in, the warnings said first."""

import pytest

from fashion_resnet.errors import ConfigError
from fashion_resnet.train import train


def test_the_deprecated_name_is_one_line_at_start(compose_cfg, capsys):

    with pytest.raises(ConfigError):  # stops before any data: the warning comes first
        train(compose_cfg("train", ["experiment=seed", "data.batch_size=0"]))
    assert capsys.readouterr().err.splitlines()[0] == (
        "fashion-train: warning: experiment=seed is deprecated and will be removed in the next "
        "release: use experiment=reference"
    )
