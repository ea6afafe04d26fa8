"""config/tree.py: the composed config as a tree, printed at start and saved plain."""

from fashion_resnet.config import tree as config_tree


def test_config_tree_is_printed_and_saved(compose_cfg, tmp_path, capsys):
    cfg = compose_cfg("train", ["optimizer.lr=0.0123"])
    config_tree.show(cfg, tmp_path / "config_tree.txt")
    saved = (tmp_path / "config_tree.txt").read_text()
    assert saved.splitlines()[0] == "CONFIG"
    assert "lr: 0.0123" in saved and "_target_: torch.optim.Adam" in saved
    assert saved.index("data") < saved.index("model") < saved.index("optimizer")
    assert "\x1b[" not in saved  # plain text in the file
    assert "lr: 0.0123" in capsys.readouterr().out
    assert "hydra" not in [line.strip("├└─ ") for line in saved.splitlines()]
